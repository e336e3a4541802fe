"""The triangle's training speed in one process against N worker processes on this machine
(MultiWorkerMirroredStrategy over 127.0.0.1, one CPU device a worker), and how much of a
multi-worker step the cross-worker all-reduce of the gradients takes.

  python bench/multiworker.py                      # 1 process vs 2 workers, make train's config
  python bench/multiworker.py --workers=2 --steps=40 --pin

Each measurement runs in fresh processes (a strategy is chosen before TensorFlow starts): the
same trainer, config and global batch as `make train` (fashion_mnist, or --dataset), timed
over --steps steps after --warmup. The all-reduce row times, in the same workers, the
collective the optimizers run each step: one all-reduce per net of tensors shaped as its
trainable variables. On one 2-core machine N workers share the same cores, so no speed-up is
expected: this shows the overhead. --pin gives worker i core i (taskset) and one intra-op
thread, and the one process as many threads as the workers have cores together.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from core import cpu  # pylint: disable=g-import-not-at-top,wrong-import-position
cpu.tf_environment()  # before TensorFlow: quiet logs, oneDNN where it pays

from core import cluster as cluster_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def measure(args):
  """In one process (one worker of the cluster, when TF_CONFIG is set): JSON of its times."""
  from core import runtime  # pylint: disable=g-import-not-at-top
  multi = bool(os.environ.get(cluster_lib.ENV))
  strategy = runtime.make_strategy('multi_worker' if multi else 'default', cluster_timeout=120)
  runtime.configure()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  from trainers import registry  # pylint: disable=g-import-not-at-top
  from trainers import triangle  # pylint: disable=g-import-not-at-top
  cfg = registry.defaults('triangle', args.dataset)
  if args.batch:
    cfg.data.batch_size = args.batch
  precision = runtime.set_precision(cfg.train.precision)
  runtime.seed(cfg.seed)
  trainer = triangle.Triangle(cfg, strategy, data_lib.from_config(cfg))
  iterator = trainer.make_iterator(0)

  def steps(n):
    start = time.perf_counter()
    for _ in range(n):
      {k: float(v) for k, v in trainer.train_step(iterator).items()}  # as core/loop does
    return time.perf_counter() - start

  steps(args.warmup)
  seconds = steps(args.steps)
  out = {'workers': runtime.Workers(strategy).count, 'replicas': strategy.num_replicas_in_sync,
         'batch': cfg.data.batch_size, 'precision': precision, 'steps': args.steps,
         'steps_per_second': args.steps / seconds, 'ms_per_step': 1000 * seconds / args.steps}
  if multi:
    nets = [trainer.generator, trainer.encoder] + (
        [trainer.descriptor] if trainer.use_descriptor else [])
    shapes = [[v.shape for v in net.trainable_variables] for net in nets]

    @tf.function
    def allreduce():
      def replica():
        ctx = tf.distribute.get_replica_context()
        return [ctx.all_reduce(tf.distribute.ReduceOp.SUM, [tf.ones(s) for s in group])
                for group in shapes]
      got = strategy.run(replica)
      return strategy.reduce(tf.distribute.ReduceOp.SUM, got[0][0], axis=None)

    float(tf.reduce_sum(allreduce()))
    start = time.perf_counter()
    for _ in range(args.steps):
      float(tf.reduce_sum(allreduce()))
    out['allreduce_ms_per_step'] = 1000 * (time.perf_counter() - start) / args.steps
    out['gradient_floats'] = int(sum(s.num_elements() for g in shapes for s in g))
    out['allreduces'] = len(shapes)
  if runtime.Workers(strategy).is_chief:
    print(json.dumps(out), flush=True)


def run_one(args, cores, batch=0):
  """One process alone (on `cores` cores, at global batch `batch` or the default); its JSON."""
  cmd = [sys.executable, os.path.abspath(__file__), '--role=measure', *passthrough(args),
         f'--batch={batch or args.batch}']
  env = dict(os.environ)
  env.pop(cluster_lib.ENV, None)
  if args.pin:
    cmd = ['taskset', '-c', ','.join(map(str, range(cores))), *cmd]
    env['TF_NUM_INTRAOP_THREADS'] = str(cores)
  r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
  if r.returncode:
    sys.exit(f'the one-process run failed:\n{r.stderr[-3000:]}')
  return json.loads(r.stdout.strip().splitlines()[-1])


def run_workers(args):
  """N worker processes on 127.0.0.1; the chief's JSON."""
  addresses = [f'127.0.0.1:{p}' for p in cluster_lib.free_ports(args.workers)]
  procs = []
  for i in range(args.workers):
    cmd = [sys.executable, os.path.abspath(__file__), '--role=measure', *passthrough(args),
           f'--batch={args.batch}']
    env = dict(os.environ, TF_CONFIG=cluster_lib.tf_config(addresses, i))
    if args.pin:
      cmd = ['taskset', '-c', str(i % os.cpu_count()), *cmd]
      env['TF_NUM_INTRAOP_THREADS'] = '1'
    procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True))
  outs = [p.communicate(timeout=args.timeout) for p in procs]
  bad = [i for i, p in enumerate(procs) if p.returncode]
  if bad:
    sys.exit(f'worker {bad[0]} failed:\n{outs[bad[0]][1][-3000:]}')
  return json.loads(outs[0][0].strip().splitlines()[-1])


def passthrough(args):
  return [f'--dataset={args.dataset}', f'--steps={args.steps}', f'--warmup={args.warmup}']


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--workers', type=int, default=2)
  p.add_argument('--steps', type=int, default=30, help='timed steps')
  p.add_argument('--warmup', type=int, default=5, help='untimed steps first (tracing)')
  p.add_argument('--dataset', default='fashion_mnist')
  p.add_argument('--batch', type=int, default=0, help='global batch (default: the config\'s)')
  p.add_argument('--pin', action='store_true', help='one core and thread per worker')
  p.add_argument('--timeout', type=float, default=900)
  p.add_argument('--json', help='also write the results here')
  p.add_argument('--role', default='main', help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.role == 'measure':
    return measure(args)
  if args.workers < 2:
    p.error('--workers must be >= 2')
  if args.pin and not shutil.which('taskset'):
    p.error('--pin needs taskset (util-linux)')
  one = run_one(args, min(args.workers, os.cpu_count()))
  many = run_workers(args)
  # One worker's share of the work alone: its slice of the batch, on its share of the cores.
  share_alone = run_one(args, 1, one['batch'] // args.workers) if args.pin else None
  speedup = many['steps_per_second'] / one['steps_per_second']
  share = many['allreduce_ms_per_step'] / many['ms_per_step']
  print(f'triangle on {args.dataset}, global batch {one["batch"]}, {one["precision"]}, '
        f'{os.cpu_count()} CPU cores{", pinned" if args.pin else ""}; {args.steps} timed steps')
  print(f'  1 process        {one["steps_per_second"]:6.2f} steps/s  '
        f'{one["ms_per_step"]:7.1f} ms/step')
  print(f'  {many["workers"]} workers        {many["steps_per_second"]:6.2f} steps/s  '
        f'{many["ms_per_step"]:7.1f} ms/step  (×{speedup:.2f})')
  print(f'  all-reduce       {many["allreduce_ms_per_step"]:7.1f} ms/step of the '
        f'{many["workers"]}-worker step ({100 * share:.0f}%), '
        f'{many["gradient_floats"] / 1e6:.2f} M gradient floats in {many["allreduces"]} '
        f'all-reduces')
  if share_alone:
    rest = many['ms_per_step'] - many['allreduce_ms_per_step'] - share_alone['ms_per_step']
    print(f'  one share alone  {share_alone["ms_per_step"]:7.1f} ms/step (batch '
          f'{share_alone["batch"]}, 1 core, no cluster); the remaining {rest:.0f} ms/step of '
          f'the {many["workers"]}-worker step are the cluster\'s other costs, not '
          f'attributed here (gRPC threads on the same cores, the step\'s small collectives)')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'one_process': one, 'workers': many, 'one_share_alone': share_alone,
                 'speedup': speedup,
                 'allreduce_share': share, 'pinned': args.pin, 'cores': os.cpu_count()}, f,
                indent=2)


if __name__ == '__main__':
  main()
