"""make train's step, this tree against an earlier revision (and a PyTorch port), interleaved.

  python bench/triangle_step.py                    # this tree vs --before, 3 rounds
  python bench/triangle_step.py --torch            # and bench/torch_triangle.py each round
  python bench/triangle_step.py --profile          # where this tree's step goes (in-process)
  python bench/triangle_step.py --profile --root=DIR   # ... an earlier checkout's step

Timing: each variant is its own process (TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when
it starts): make train's command (the triangle on Fashion-MNIST, batch 64) for --steps steps,
read from metrics.jsonl's `time` column between --skip and --steps (tracing and the first
steps left out), the evaluation cut short. Round after round the variants take turns, so the
machine's drift hits all of them; prints each run, the medians and the ratios.
--before: a git revision of this repository, checked out in a temporary worktree and run
with the environment it had (TF_ENABLE_ONEDNN_OPTS as the caller's: unset, TensorFlow's own
default) — the step as it was. Default: 81de632, the step before the speed work (its
generator resized then convolved, R1 ran on every step, oneDNN was TensorFlow's default,
which is off on AVX2-only CPUs).

--profile: this (or --root's) tree's step in one process, and the same step with one part
taken away at a time (R1, the encoder's pass on g(h), the weight average, the descriptor),
so each part's cost is the difference; plus each net's forward and backward pass alone.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEFORE = '81de632'
# core.cpu.ONEDNN, spelled out: importing this tree's `core` here would shadow --root's.
ONEDNN = 'TF_ENABLE_ONEDNN_OPTS'


def train_run(root: str, steps: int, skip: int, workdir: str, env: dict) -> tuple:
  """make train's command run from `root` for `steps` steps (every step logged, the
  evaluation cut short): (seconds per step between skip and steps, {step: logged row})."""
  env = dict(env, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL='2')
  subprocess.run([sys.executable, '-m', 'tools.train', '--algo=triangle',
                  '--dataset=fashion_mnist', f'--workdir={workdir}', f'--steps={steps}',
                  '--set', 'train.log_every=1', '--set', 'eval.score=false',
                  '--set', 'eval.num_samples=64', '--set', 'eval.num_test=64'],
                 cwd=root, env=env, check=True, capture_output=True)
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = {r['step']: r for r in map(json.loads, f) if 'step' in r}
  return (rows[steps]['time'] - rows[skip]['time']) / (steps - skip), rows


def train_time(root: str, steps: int, skip: int, workdir: str, env: dict) -> float:
  return train_run(root, steps, skip, workdir, env)[0]


def torch_time(steps: int, skip: int) -> float:
  out = subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'torch_triangle.py'),
                        f'--steps={steps}', f'--skip={skip}'], check=True,
                       capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])['seconds_per_step']


def compare(a):
  env = {k: v for k, v in os.environ.items() if k != ONEDNN or a.keep_onednn_env}
  times = {}
  with tempfile.TemporaryDirectory() as tmp:
    old_root = os.path.join(tmp, 'before')
    subprocess.run(['git', '-C', ROOT, 'worktree', 'add', '--detach', old_root, a.before],
                   check=True, capture_output=True)
    try:
      variants = {f'before ({a.before})': lambda wd: train_time(old_root, a.steps, a.skip, wd,
                                                                env),
                  'this tree': lambda wd: train_time(ROOT, a.steps, a.skip, wd, env)}
      if a.torch:
        variants['PyTorch eager port'] = lambda wd: torch_time(a.steps, a.skip)
      for r in range(a.rounds):
        for name, run in variants.items():  # interleaved: the machine's drift hits all
          seconds = run(os.path.join(tmp, f'{r}-{len(times.get(name, []))}-{name[:6]}'))
          times.setdefault(name, []).append(seconds)
          print(f'round {r + 1}: {name:24s} {1000 * seconds:7.1f} ms/step', flush=True)
    finally:
      subprocess.run(['git', '-C', ROOT, 'worktree', 'remove', '--force', old_root],
                     check=False, capture_output=True)
  med = {k: statistics.median(v) for k, v in times.items()}
  print(f'median ms/step over {a.rounds} interleaved rounds (steps {a.skip}..{a.steps}, '
        f'batch 64): ' + ', '.join(f'{k} {1000 * v:.1f}' for k, v in med.items()))
  now = med['this tree']
  for k, v in med.items():
    if k != 'this tree':
      print(f'{k} / this tree: {v / now:.2f}× (steps per second of this tree over it)')


# ------------------------------------------------------------------ --profile


def profile(a):
  sys.path.insert(0, a.root)
  if os.path.realpath(a.root) == os.path.realpath(ROOT):  # this tree's start-up variables;
    from core import cpu  # pylint: disable=g-import-not-at-top
    cpu.tf_environment()  # another checkout runs with the caller's (its own defaults)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from core import runtime  # pylint: disable=g-import-not-at-top
  from trainers import registry, triangle  # pylint: disable=g-import-not-at-top
  runtime.configure()
  runtime.set_precision('float32')
  print(f'{a.root}: oneDNN {os.environ.get(ONEDNN, "unset (TensorFlow default)")}')
  variants = {'the whole step': {},
              'R1 on every step': {'optim.r1_every': 1},
              'without R1': {'optim.r1_penalty': 0.0},
              'without the encoder on g(h)': {'optim.wake_sleep': 0.0},
              'without the weight average': {'optim.ema_decay': 0.0},
              'without the descriptor (VAE)': {'model.use_descriptor': False}}
  train_set, times = None, {}
  for name, sets in variants.items():
    cfg = registry.defaults('triangle', 'fashion_mnist')
    if any(k.split('.')[1] not in cfg[k.split('.')[0]] for k in sets):
      continue  # a key this tree does not have
    for k, v in sets.items():
      cfg[k.split('.')[0]][k.split('.')[1]] = v
    train_set = train_set or triangle.Triangle.load_data(cfg)
    trainer = triangle.Triangle(registry.check(cfg), tf.distribute.get_strategy(), train_set)
    it = trainer.make_iterator(0)

    def steps(n, trainer=trainer, it=it):
      for _ in range(n):
        m = trainer.train_step(it)
        trainer.step.assign_add(1)
      return {k: float(v) for k, v in m.items()}
    steps(8)
    runs = []
    for _ in range(a.rounds):
      start = time.perf_counter()
      steps(a.profile_steps)
      runs.append((time.perf_counter() - start) / a.profile_steps)
    times[name] = statistics.median(runs)
    print(f'  {name:32s} {1000 * times[name]:7.1f} ms/step', flush=True)
  whole = times['the whole step']
  for name, t in times.items():
    if name.startswith('without'):
      print(f'  → {name[8:]:30s} {1000 * (whole - t):7.1f} ms of {1000 * whole:.1f}')
  nets_alone(a, tf)


def nets_alone(a, tf):
  """Each net's forward + backward at make train's batch (the generator and descriptor at
  twice it, as the step runs them)."""
  from trainers import nets  # pylint: disable=g-import-not-at-top
  from trainers import registry  # pylint: disable=g-import-not-at-top
  cfg = registry.defaults('triangle', 'fashion_mnist')
  b = cfg.data.batch_size
  for role, shape in (('generator', (2 * b, cfg.model.latent_dim)),
                      ('encoder', (b, 28, 28, 1)), ('descriptor', (2 * b, 28, 28, 1))):
    net = nets.build(cfg, role)
    x = tf.random.normal(shape)

    @tf.function
    def fb(x, net=net):
      with tf.GradientTape() as tape:
        loss = tf.add_n([tf.reduce_sum(t) for t in tf.nest.flatten(net(x, training=True))])
      return tape.gradient(loss, net.trainable_variables)
    fb(x)
    runs = []
    for _ in range(a.rounds):
      start = time.perf_counter()
      for _ in range(10):
        out = fb(x)
      float(out[0][0] if out[0].shape.rank == 1 else tf.reduce_sum(out[0]))
      runs.append((time.perf_counter() - start) / 10)
    print(f'  {role} forward + backward, batch {shape[0]}: '
          f'{1000 * statistics.median(runs):.1f} ms')


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--before', default=BEFORE, help='git revision to compare against')
  p.add_argument('--steps', type=int, default=60)
  p.add_argument('--skip', type=int, default=10)
  p.add_argument('--rounds', type=int, default=3)
  p.add_argument('--torch', action='store_true', help='also time bench/torch_triangle.py')
  p.add_argument('--keep_onednn_env', action='store_true',
                 help=f'pass the caller\'s {ONEDNN} to both trees (default: unset for both, '
                 'each tree\'s own default)')
  p.add_argument('--profile', action='store_true')
  p.add_argument('--profile_steps', type=int, default=20)
  p.add_argument('--root', default=ROOT, help='--profile: the checkout whose step to profile')
  a = p.parse_args()
  profile(a) if a.profile else compare(a)  # pylint: disable=expression-not-assigned


if __name__ == '__main__':
  main()
