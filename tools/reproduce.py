"""Reproduction tables: run every row's commands, time them, and write the results.

  python -m tools.reproduce --table=generator          # runs, then rewrites the docs
  python -m tools.reproduce --table=coop_triangle      # CoopNets, triangle, plain VAE
  python -m tools.reproduce --table=multigrid          # features, inpainting, conditional
  python -m tools.reproduce --table=multiview          # new views of held-out items, 2 seeds
  python -m tools.reproduce --render                   # only rebuild docs/RESULTS.md

Each row is a real `tools/train` + `tools/evaluate` run on this machine; its command line and
wall time go into docs/results/<table>.json (records {table, method, setting, metric, value,
command, seconds}), and docs/RESULTS.md is generated from those files alone, never typed.
"""
import functools
import json
import os
import subprocess
import sys
import time

from absl import flags

from core import files
from core.errors import ConfigError
from evaluation import results
from tools import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = results.RESULTS
FLAGS = flags.FLAGS
TABLES = ('generator', 'coop_triangle', 'multigrid', 'triangle_recipe', 'multiview', 'anchors')
flags.DEFINE_enum('table', None, list(TABLES), 'Which table to reproduce.')
flags.DEFINE_bool('render', False, 'Only regenerate docs/RESULTS.md from docs/results/*.json.')
flags.DEFINE_list('texture_figure', [], 'Write docs/figures/triangle_texture.png instead of a '
                  'table: 32 real test tops, then 32 samples of each named triangle_recipe '
                  'try (e.g. K,M; from their runs under --runs/recipe).')
flags.DEFINE_list('grid_figure', [], 'Write docs/figures/triangle_grids.png instead of a '
                  'table: real test images of the classes the first run\'s grid shows, then '
                  'the final grid of each given triangle workdir (make train\'s seeds 0, 1).')
flags.DEFINE_string('runs', 'runs/reproduce', 'Where runs are kept (relative to the repository).')
flags.DEFINE_integer('steps', 700, 'Training steps per run.')
flags.DEFINE_integer('infer_steps', 10, 'Langevin inference steps per training step.')
flags.DEFINE_integer('num_images', 1000, 'Test images per evaluation.')
flags.DEFINE_integer('multiview_steps', 0, 'multiview: training steps per seed (0: the '
                     'config\'s default, configs/multiview.py).')
flags.DEFINE_integer('rotate_steps', 300, 'multiview: test-time inference steps per identity.')
flags.DEFINE_list('tries', [], 'triangle_recipe: the tries to (re)run, by their letter '
                  '(A,B); the others keep their records. Default: all.')
flags.DEFINE_bool('curve', False, 'triangle_recipe: also score every kept checkpoint (the '
                  'averaged generator\'s FD by step; ~1 minute per checkpoint).')
flags.DEFINE_bool('recipe_pin', True, 'triangle_recipe: run the tries two at a time, each '
                  'pinned to one core with one TensorFlow thread (so both see the same '
                  'machine); --norecipe_pin: one at a time on the whole machine (a preset\'s '
                  'wall clock as a user sees it).')
flags.DEFINE_bool('score_only', False, 'triangle_recipe: score the tries\' existing runs '
                  'under --runs instead of training them again.')
flags.DEFINE_list('reuse', [], 'coop_triangle: parts kept from the existing table instead of '
                  'rerun (coopnets).')
flags.DEFINE_list('cores', [], 'coop_triangle: CPU cores to pin runs to, one TensorFlow thread '
                  'each, as many runs at a time as cores (needs the step-rate flags for a '
                  'fair VAE budget). Default: one unpinned run at a time.')
flags.DEFINE_float('triangle_steps_per_second', 0.0, 'coop_triangle: the triangle\'s step rate '
                   'measured alone (make train on a quiet machine); the VAE is then given '
                   'the triangle\'s steps / this rate seconds. 0: the run\'s own wall clock.')
flags.DEFINE_list('triangle_runs', [], 'coop_triangle: finished workdirs of make train\'s '
                  'command, one per seed (e.g. the triangle_recipe table\'s tries K,L), scored '
                  'as they are instead of training the triangle again.')
flags.DEFINE_float('vae_steps_per_second', 0.0, 'coop_triangle: the plain VAE\'s step rate '
                   'measured alone on this machine; its runs then take rate × the triangle\'s '
                   'training seconds steps instead of a wall-clock budget (which a loaded '
                   'machine would cut short). 0: train.time_budget.')

# Settings of the generator table (Fashion-MNIST, 28×28). Blocks of 9 and 13 pixels cover
# about the same share of a 28×28 image (10%, 22%) as the seed's 20 and 30 of 64×64.
LATENT_SIZES = (10, 20, 40, 100, 200)
MASKS = (('P.5', 'pixels:0.5'), ('P.7', 'pixels:0.7'), ('P.9', 'pixels:0.9'),
         ('block:9', 'block:9'), ('block:13', 'block:13'))
RECOVERY_LATENT = 40

# The coop_triangle table: the triangle's two seeds, and the plain VAE's learning rates (the
# generator's and encoder's; the best on seed 0 is rerun on seed 1).
SEEDS = (0, 1)
VAE_LRS = (3e-4, 1e-3, 3e-3)

# The tries behind the triangle's default recipe (`--table=triangle_recipe`): name → flags
# added to `make train`'s command. They run two at a time, each pinned to one core with one
# TensorFlow thread (so two tries see the same machine); a try's budget is a step count or
# train.time_budget seconds of that one core. Every checkpoint is kept and scored with the
# averaged (EMA) and the raw generator.
# Every setting a try changes is spelled out, so that a later default does not change it.
LEAN = ['--batch_size=64', '--set', 'model.descriptor_widths=32,64,128']
NO_R1 = ['--set', 'optim.r1_penalty=0']
R1 = ['--set', 'optim.r1_penalty=1']
BUDGET = ['--set', 'train.time_budget=1100']
LEAN_GE = ['--set', 'model.generator_widths=64,32', '--set', 'model.encoder_widths=32,64']
RECIPE_TRIES = {
    'A: registry nets, batch 100': ['--steps=540', '--batch_size=100', '--set',
                                    'model.descriptor_widths=64,128,256', *NO_R1, '--set',
                                    'train.ckpt_every=90'],
    'B: descriptor 32-64-128, batch 64': ['--steps=1250', *LEAN, *NO_R1],
    'C: B + R1 penalty 1 (1,100 s)': ['--steps=100000', *LEAN, '--set',
                                      'train.time_budget=1100', '--set', 'optim.r1_penalty=1'],
    'D: B + 5 Langevin revision steps (1,100 s)': ['--steps=100000', *LEAN, *NO_R1, '--set',
                                                    'train.time_budget=1100', '--set',
                                                    'langevin.steps=5'],
    'E: C + generator energy weight 5 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                   '--set', 'optim.gen_energy_weight=5'],
    'F: C + generator 64-32, encoder 32-64 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                        *LEAN_GE],
    'G: C + generator energy weight 10 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                    '--set', 'optim.gen_energy_weight=10'],
    'H: C + generator energy weight 25 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                    '--set', 'optim.gen_energy_weight=25'],
    'I: C + generator energy weight 50 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                    '--set', 'optim.gen_energy_weight=50'],
    'J: C + generator energy weight 100 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                     '--set', 'optim.gen_energy_weight=100'],
    'M: H + bilinear up-sampling in the generator (1,100 s)': [
        '--steps=100000', *LEAN, *BUDGET, *R1, '--set', 'optim.gen_energy_weight=25',
        '--set', 'model.generator_upsample=bilinear'],
    'N: H + R1 penalty 5 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, '--set',
                                      'optim.r1_penalty=5', '--set',
                                      'optim.gen_energy_weight=25'],
    # The default recipe (H's: energy weight 25) as make train ran it until 81de632: 1,300
    # steps. Their records were made with that step (R1 on every step, oneDNN off, the
    # generator resizing then convolving); rerun, they take today's step with R1 on every
    # step (Q and R isolate what changed).
    'K: default (make train), seed 0': ['--steps=1300', '--set', 'optim.r1_every=1'],
    'L: default (make train), seed 1': ['--steps=1300', '--set', 'optim.r1_every=1', '--set',
                                        'seed=1'],
    # The longer preset of that time: 5× the steps (seed 0).
    'P: default, 6,500 steps (the ~1 hour preset), seed 0': ['--steps=6500', '--set',
                                                             'optim.r1_every=1'],
    # The faster step (bench/triangle_step.py: oneDNN on, the one-pass nearest up-convolution,
    # g(z) and g(h) in one batch, lazy R1) at K's 1,300 steps, and its one lever that changes
    # the maths (lazy R1) taken back: each lever's FD at equal steps beside K.
    'Q: K with the faster step (R1 every 4th step, × 4), seed 0': ['--steps=1300'],
    'R: Q with R1 on every step again (optim.r1_every=1)': ['--steps=1300', '--set',
                                                            'optim.r1_every=1'],
    # The ~1 hour preset with the faster step: make train's command for 20,000 steps (55
    # minutes at the 6.08 it/s make train measured alone), seed 0; run with --norecipe_pin.
    'T: the ~1 hour preset, 20,000 steps, seed 0': ['--steps=20000'],
}

# Completion blocks of the coop_triangle table: the seed's M30/M40/M50 on 64×64 images cover
# 22%, 39% and 61% of the image; 13, 17 and 22 pixels of 28×28 cover the same shares.
COMPLETION_BLOCKS = (('M30 (block:13)', 'block:13'), ('M40 (block:17)', 'block:17'),
                     ('M50 (block:22)', 'block:22'))
# Inpainting masks of the multigrid table: the paper's "mask" (a block of half the side, a
# quarter of the image), "doodle" and "pepper" (half the pixels missing at random).
INPAINT_MASKS = (('mask (block:14)', 'block:14'), ('doodle', 'doodle'),
                 ('pepper (pepper:0.5)', 'pepper:0.5'))
INPAINT_CHAINS = 8  # chains averaged per image (an estimate of the posterior mean)

def _run(args, core=None):
  """Runs `python -m tools.X args`, returns (printable command, seconds); with `core`, pinned
  to that CPU core with one TensorFlow thread (taskset)."""
  return _wait(_start(args, core))


def _shown(args, core=None):
  """The command line of `python -m tools.X args` as the tables print it."""
  shown = 'tools/' + args[0].split('.')[1] + ' ' + ' '.join(args[1:])
  return shown if core is None else f'TF_NUM_INTRAOP_THREADS=1 taskset -c {core} {shown}'


def _start(args, core=None):
  cmd = [sys.executable, '-m'] + args
  shown = _shown(args, core)
  env = dict(os.environ, PYTHONPATH=ROOT)
  if core is not None:
    cmd = ['taskset', '-c', str(core)] + cmd
    env.update(TF_NUM_INTRAOP_THREADS='1', TF_NUM_INTEROP_THREADS='1')
  print(f'$ {shown}', flush=True)
  return shown, time.time(), subprocess.Popen(cmd, cwd=ROOT, env=env)


def _wait(started):
  shown, began, proc = started
  if proc.wait():
    raise RuntimeError(f'{shown} failed with exit code {proc.returncode}')
  return shown, round(time.time() - began, 1)


def _train_and_evaluate(workdir, train_flags, eval_flags):
  train = ['tools.train', '--algo=generator', '--dataset=fashion_mnist', '--fresh',
           f'--workdir={workdir}', f'--steps={FLAGS.steps}',
           '--set', f'langevin.steps={FLAGS.infer_steps}', *train_flags]
  c1, s1 = _run(train)
  c2, s2 = _run(['tools.evaluate', f'--workdir={workdir}',
                 f'--num_images={FLAGS.num_images}', *eval_flags])
  return f'{c1} && {c2}', round(s1 + s2, 1)


def generator_table():
  records = []
  add = results.adder(records)
  for d in LATENT_SIZES:
    wd = os.path.join(FLAGS.runs, f'abp_d{d}')
    command, seconds = _train_and_evaluate(wd, ['--set', f'model.latent_dim={d}'],
                                           ['--task=reconstruct'])
    for method, metrics in _load(wd, 'reconstruct.json')['methods'].items():
      add('reconstruction', method.split(' ')[0], f'd={d}', 'recon_mae', metrics['recon_mae'],
          command, seconds)
  for name, spec in MASKS:
    wd = os.path.join(FLAGS.runs, f'abp_{spec.replace(":", "-")}')
    command, seconds = _train_and_evaluate(
        wd, ['--set', f'model.latent_dim={RECOVERY_LATENT}', '--set', f'data.mask={spec}'],
        ['--task=recover', f'--mask={spec}'])
    for method, metrics in _load(wd, f'recover_{spec.replace(":", "-")}.json')['methods'].items():
      add('recovery', method, name, 'recovery_mae', metrics['recovery_mae'], command, seconds)
  return records


def _load(workdir, name):
  with open(os.path.join(ROOT, workdir, name)) as f:
    return json.load(f)


def _quality_records(add, out, method_names, setting, command, seconds):
  """fd, kid, classes present and the largest class share of the rows of a metrics.json
  named in `method_names` ({row: method}); the scoring classifier's hash goes into each
  record's `classifier`."""
  sq = out['sample_quality']
  for name, method in method_names.items():
    row = sq['rows'][name]
    for metric in ('fd', 'kid', 'classes_present', 'class_max_share'):
      add(f'sample quality ({metric})', method, setting, metric, row[metric], command, seconds,
          classifier=sq['classifier_sha256'])


def _triangle_run(seed):
  """`make train`'s command with --set seed=SEED; starts it (pinned to a core of --cores when
  given) and returns a function that waits and returns (metrics, command, seconds).
  With --triangle_runs the given finished run is scored as it is instead."""
  given = FLAGS.triangle_runs[SEEDS.index(seed)] if FLAGS.triangle_runs else ''
  tri = given or os.path.join(FLAGS.runs, f'triangle_seed{seed}')
  args = ['tools.train', '--algo=triangle', '--dataset=fashion_mnist', '--fresh',
          f'--workdir={tri}', '--set', f'seed={seed}']
  reuse = bool(given)
  started = None if reuse else _start(args, _core())

  def finish():
    if reuse:
      out = _load(tri, 'metrics.json')
      command, seconds = f'(the finished run in {tri}) {_shown(args)}', out['wall_seconds']
    else:
      command, seconds = _wait(started)
      out = _load(tri, 'metrics.json')
    return out, command, seconds
  return finish


def _record_triangle(add, seed, out, command, seconds):
  names = {'triangle generator': 'triangle generator g(h) (EMA weights, as exported)',
           'triangle generator, raw weights': 'triangle generator g(h), raw weights',
           'real_vs_real': 'real test images', 'blurred_real': 'blurred test images (σ 1.5 px)'}
  _quality_records(add, out, names, f'seed {seed}', command, seconds)
  add('reconstruction', 'triangle (encoder)', f'seed {seed}', 'recon_mae',
      out['test_recon_mae'], command, seconds)
  add('steps and training seconds', 'triangle', f'seed {seed}', 'steps', out['steps'],
      command, seconds, train_seconds=out['wall_seconds'])


def _train_seconds(out):
  """The triangle's training seconds that the VAE is given: its steps at the step rate
  measured alone (--triangle_steps_per_second), else the run's own wall clock."""
  if FLAGS.triangle_steps_per_second:
    return out['steps'] / FLAGS.triangle_steps_per_second
  return out['wall_seconds']


def _vae_run(seed, lr, train_seconds):
  """Starts a plain VAE (the triangle's nets, precision and batch, descriptor off) with
  generator and encoder learning rate `lr`, trained for `train_seconds` of wall clock, or for
  --vae_steps_per_second × train_seconds steps when that rate (measured alone) is given;
  returns a function that waits and returns (metrics, command, seconds)."""
  vdir = os.path.join(FLAGS.runs, f'vae_seed{seed}_lr{lr:g}')
  budget = (['--steps', str(round(FLAGS.vae_steps_per_second * train_seconds))]
            if FLAGS.vae_steps_per_second else
            ['--steps=100000000', '--set', f'train.time_budget={train_seconds:.1f}'])
  started = _start(['tools.train', '--algo=vae', '--dataset=fashion_mnist', '--fresh',
                    f'--workdir={vdir}', '--set', f'seed={seed}', '--set',
                    f'optim.gen_lr={lr:g}', '--set', f'optim.enc_lr={lr:g}', *budget,
                    '--set', 'train.sample_every=500', '--set', 'train.ckpt_every=500'],
                   _core())

  def finish():
    command, seconds = _wait(started)
    return _load(vdir, 'metrics.json'), command, seconds
  return finish


def _record_vae(add, seed, lr, label, result):
  out, command, seconds = result
  _quality_records(add, out, {'plain VAE': f'{label}, lr {lr:g}'}, f'seed {seed}', command,
                   seconds)
  add('plain VAE steps', f'{label}, lr {lr:g}', f'seed {seed}', 'steps', out['steps'],
      command, seconds)


_next_core = [0]


def _core():
  """The next core of --cores for a pinned run (round robin); None: unpinned."""
  if not FLAGS.cores:
    return None
  core = FLAGS.cores[_next_core[0] % len(FLAGS.cores)]
  _next_core[0] += 1
  return int(core)


def _in_waves(starters):
  """Runs the zero-argument starters len(--cores) at a time (one at a time unpinned);
  returns their finish() results in order."""
  width = max(1, len(FLAGS.cores))
  results = []
  for i in range(0, len(starters), width):
    results += [finish() for finish in [start() for start in starters[i:i + width]]]
  return results


def coop_triangle_table():
  """Sample quality (Fréchet distance, KID, class coverage on the project classifier's
  features) of the triangle (make train's command, two seeds), of a plain VAE with the same
  nets and precision at the same wall clock (the best of VAE_LRS on seed 0, then that rate on
  seed 1), and of CoopNets (descriptor and generator), beside real and blurred test images;
  CoopNets completion vs interpolation; the triangle's test reconstructions."""
  if FLAGS.triangle_runs and (len(FLAGS.triangle_runs) != len(SEEDS) or not all(
      os.path.isfile(os.path.join(ROOT, w, 'metrics.json')) for w in FLAGS.triangle_runs)):
    raise ConfigError(f'--triangle_runs takes {len(SEEDS)} finished workdirs (one per seed '
                      f'{SEEDS}, each with a metrics.json), got {",".join(FLAGS.triangle_runs)}')
  if not all(c.isdigit() for c in FLAGS.cores):
    raise ConfigError(f'--cores takes CPU core numbers such as 0,1, got {",".join(FLAGS.cores)}')
  records = []
  setting = 'Fashion-MNIST'
  if 'coopnets' in FLAGS.reuse:  # keep the CoopNets records of the existing table
    old = json.load(open(os.path.join(RESULTS, 'coop_triangle.json')))
    records = [r for r in old if 'CoopNets' in r['method'] or 'coopnets' in r['command']]
  add = results.adder(records)

  runs = dict(zip(SEEDS, _in_waves([functools.partial(_triangle_run, seed)
                                    for seed in SEEDS])))
  for seed, result in runs.items():
    _record_triangle(add, seed, *result)
  best_lr = None
  for seed in SEEDS:
    out = runs[seed][0]
    train_seconds = _train_seconds(out)
    label = f'plain VAE, same wall clock ({train_seconds:.0f} s)'
    rates = VAE_LRS if best_lr is None else (best_lr,)
    vae = dict(zip(rates, _in_waves([functools.partial(_vae_run, seed, lr, train_seconds)
                                     for lr in rates])))
    for lr, result in vae.items():
      _record_vae(add, seed, lr, label, result)
    if best_lr is None:
      best_lr = min(vae, key=lambda lr: vae[lr][0]['fd'])
    ratio = out['fd'] / vae[best_lr][0]['fd']
    add('triangle FD relative to the best plain VAE (fd_ratio)', 'triangle / best VAE',
        f'seed {seed}', 'fd_ratio', ratio, f'VAE lr {best_lr:g}', 0.0)
  if 'coopnets' in FLAGS.reuse:
    return records
  # CoopNets: both nets' samples, then completion of block-masked test images.
  coop = os.path.join(FLAGS.runs, 'coopnets')
  command, seconds = _run(['tools.train', '--algo=coopnets', '--dataset=fashion_mnist',
                           '--fresh', f'--workdir={coop}'])
  out = _load(coop, 'metrics.json')
  for name in ('coopnets descriptor', 'coopnets generator'):
    row = out['sample_quality']['rows'][name]
    method = name.replace('coopnets', 'CoopNets')
    for metric in ('fd', 'kid'):
      add(f'sample quality ({metric})', method, setting, metric, row[metric], command, seconds)
  for label, spec in COMPLETION_BLOCKS:
    c, s = _run(['tools.evaluate', '--task=complete', f'--mask={spec}', f'--workdir={coop}',
                 f'--num_images={FLAGS.num_images}'])
    result = _load(coop, f'complete_{spec.replace(":", "-")}.json')
    for method, metrics in result['methods'].items():
      for metric in ('completion_mae', 'completion_psnr'):
        add(f'completion ({metric})', method, label, metric, metrics[metric],
            f'{command} && {c}', round(seconds + s, 1))
  return records


def score_checkpoints(workdir, num_samples=5000, seed=7):
  """{step: {'fd', 'fd_raw', 'class_max_share', 'classes_present'}} of every checkpoint kept in
  a triangle/VAE workdir: the averaged generator (as exported) and the raw one."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from evaluation import reports  # pylint: disable=g-import-not-at-top
  from trainers import generator as generator_lib  # pylint: disable=g-import-not-at-top
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  state = tf.train.get_checkpoint_state(os.path.join(workdir, 'checkpoints'))
  out = {}
  for path in state.all_model_checkpoint_paths:
    step = int(path.rsplit('-', 1)[1])
    sets = {}
    for average in (True, False):
      cfg, built = run_lib.restore(workdir, ('generator',), checkpoint=path, average=average)
      sets['ema' if average else 'raw'] = generator_lib.sample(built['generator'], num_samples,
                                                               cfg.seed + seed)
    q = reports.sample_quality(cfg, sets, headline='ema')
    rows = q['sample_quality']['rows']
    out[step] = {'fd': rows['ema']['fd'], 'fd_raw': rows['raw']['fd'],
                 'class_max_share': rows['ema']['class_max_share'],
                 'classes_present': rows['ema']['classes_present'],
                 'classifier': q['sample_quality']['classifier_sha256']}
  return out


def scoring_classifier_sha():
  """The weights' hash of the Fashion-MNIST scoring classifier (evaluation/scoring.py)."""
  from evaluation import scoring  # pylint: disable=g-import-not-at-top
  return scoring.weights_sha256(scoring.load_classifier('fashion_mnist', 28, 1))


def triangle_recipe_table():
  """Each try of RECIPE_TRIES: FD of the averaged and raw generator at every checkpoint."""
  path = os.path.join(RESULTS, 'triangle_recipe.json')
  chosen = [k for k in RECIPE_TRIES if not FLAGS.tries or k.split(':')[0] in FLAGS.tries]
  records = [r for r in (json.load(open(path)) if os.path.isfile(path) else [])
             if r['method'] not in chosen and r['method'] in RECIPE_TRIES]
  add = results.adder(records)
  width = 2 if FLAGS.recipe_pin else 1
  for pair in (chosen[i:i + width] for i in range(0, len(chosen), width)):
    runs = {}
    for core, name in enumerate(pair):
      core = core if FLAGS.recipe_pin else None
      wd = os.path.join(FLAGS.runs, 'recipe', name.split(':')[0])
      args = ['tools.train', '--algo=triangle', '--dataset=fashion_mnist', '--fresh',
              f'--workdir={wd}', '--set', 'train.ckpt_every=250', '--set', 'train.keep=100',
              *RECIPE_TRIES[name]]
      if FLAGS.score_only:  # a run made before by this command: score it again
        runs[name] = (wd, (_shown(args, core), _load(wd, 'metrics.json')['wall_seconds']))
      else:
        runs[name] = (wd, _start(args, core))
    for name, (wd, started) in runs.items():
      command, seconds = started if FLAGS.score_only else _wait(started)
      out = _load(wd, 'metrics.json')
      rows = out['sample_quality']['rows']  # the final evaluation: the last checkpoint
      classifier = scoring_classifier_sha()
      for row, label in (('triangle generator', 'averaged (EMA) generator'),
                         ('triangle generator, raw weights', 'raw generator')):
        add('triangle recipe tries, last checkpoint (fd)', name, label, 'fd', rows[row]['fd'],
            command, seconds, classifier=classifier)
        hist = rows[row]['class_histogram']
        add('triangle recipe tries, last checkpoint (class_max_share)', name, label,
            'class_max_share', max(hist) / sum(hist), command, seconds, classifier=classifier)
      add('triangle recipe tries, steps in the budget (steps)', name, 'one core', 'steps',
          out['steps'], command, seconds)
      if FLAGS.curve:
        for step, row in sorted(score_checkpoints(os.path.join(ROOT, wd)).items()):
          add('triangle recipe tries, averaged generator by step (fd)', name, f'step {step}',
              'fd', row['fd'], command, seconds, classifier=row['classifier'])
  return records


def multigrid_table():
  """Linear-SVM test error on multi-grid features vs raw pixels and untrained nets;
  inpainting with the multi-grid prior vs interpolation; the conditional descriptor's test
  accuracy and how often the project classifier recognises its per-class samples."""
  records = []

  add = results.adder(records)

  mg = os.path.join(FLAGS.runs, 'multigrid')
  train_cmd, train_s = _run(['tools.train', '--algo=multigrid', '--dataset=fashion_mnist',
                             '--fresh', f'--workdir={mg}'])
  out = _load(mg, 'metrics.json')
  if 'sample_quality' in out:
    row = out['sample_quality']['rows']['multigrid descriptor']
    for metric in ('fd', 'kid'):
      add(f'multi-grid synthesis ({metric})', 'multigrid descriptors',
          f'{row["num_samples"]} samples', metric, row[metric], train_cmd, train_s)
  c, s = _run(['tools.evaluate', '--task=features', f'--workdir={mg}'])
  result = _load(mg, 'features.json')
  for method, rows in result['methods'].items():
    for n in result['label_counts']:
      add('linear SVM on features', method, f'labels={n}', 'svm_test_error_pct',
          rows[f'labels={n}']['svm_test_error_pct'], f'{train_cmd} && {c}',
          round(train_s + s, 1))
  for label, spec in INPAINT_MASKS:
    c, s = _run(['tools.evaluate', '--task=inpaint', f'--mask={spec}', f'--workdir={mg}',
                 f'--chains={INPAINT_CHAINS}',
                 f'--num_images={FLAGS.num_images}'])
    result = _load(mg, f'inpaint_{spec.replace(":", "-")}.json')
    for method, metrics in result['methods'].items():
      for metric in ('inpaint_mae', 'inpaint_psnr'):
        add(f'inpainting ({metric})', method, label, metric, metrics[metric],
            f'{train_cmd} && {c}', round(train_s + s, 1))

  cond = os.path.join(FLAGS.runs, 'conditional')
  c, s = _run(['tools.train', '--algo=descriptor', '--conditional', '--dataset=fashion_mnist',
               '--fresh', f'--workdir={cond}'])
  out = _load(cond, 'metrics.json')
  add('conditional descriptor (accuracy)', 'conditional descriptor', 'Fashion-MNIST test split',
      'accuracy', out['test_accuracy'], c, s)
  per_class = out.get('samples_recognised_pct_per_class', {})
  add('conditional samples recognised by the project classifier (samples_recognised_pct)',
      'conditional descriptor', 'all classes', 'samples_recognised_pct',
      out['samples_recognised_pct'], c, s)
  for k, v in per_class.items():
    add('conditional samples recognised by the project classifier (samples_recognised_pct)',
        'conditional descriptor', f'class {k}', 'samples_recognised_pct', v, c, s)
  return records


def multiview_table():
  """tools/evaluate --task=rotate on the built-in fashion_mnist_views for two seeds: per
  target view, the error of the view rendered from the standard view alone (and from it and
  a second view) beside the nearest-training-identity and mean-view baselines and the
  known-transform reference; docs/figures/multiview_rotate.png from seed 0's run."""
  records = []
  add = results.adder(records)
  for seed in SEEDS:
    wd = os.path.join(FLAGS.runs, f'multiview_s{seed}')
    steps = [f'--steps={FLAGS.multiview_steps}'] if FLAGS.multiview_steps else []
    c1, s1 = _run(['tools.train', '--algo=multiview', '--fresh', f'--workdir={wd}', *steps,
                   '--set', f'seed={seed}'])
    c2, s2 = _run(['tools.evaluate', '--task=rotate', f'--workdir={wd}',
                   f'--num_images={FLAGS.num_images}', f'--steps={FLAGS.rotate_steps}'])
    command, seconds = f'{c1} && {c2}', round(s1 + s2, 1)
    out = _load(wd, 'rotate.json')
    for k, (label, row) in enumerate(out['rows'].items()):
      for target, methods in row['targets'].items():
        for method, m in methods.items():
          metrics = ('mae', 'psnr') if k == 0 else ('mae',)
          for metric in metrics:
            add(f'new views of {out["num_identities"]} held-out items, {label} ({metric})',
                method, f'{target}, seed {seed}', metric, m[metric], command, seconds)
    if seed == SEEDS[0]:
      figure = os.path.join(ROOT, 'docs', 'figures', 'multiview_rotate.png')
      with open(os.path.join(ROOT, wd, 'rotate.png'), 'rb') as f:
        files.write_bytes(figure, f.read())
      print(f'wrote {figure}')
  return records


def texture_figure(tries, per=32, seed=7):
  """docs/figures/triangle_texture.png: blocks of `per` images, left to right: real test
  tops (T-shirt, pullover, coat, shirt), then the averaged generator's samples of each try
  (make train's sample seed), so garment texture can be compared by eye."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  from core import images as images_lib  # pylint: disable=g-import-not-at-top
  from trainers import generator as generator_lib  # pylint: disable=g-import-not-at-top
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  blocks = []
  for name in tries:
    cfg, built = run_lib.restore(os.path.join(ROOT, FLAGS.runs, 'recipe', name), ('generator',))
    blocks.append(generator_lib.sample(built['generator'], per, cfg.seed + seed))
  test = data_lib.from_config(cfg, 'test')
  tops = np.flatnonzero(np.isin(test.labels, (0, 2, 4, 6)))[:per]
  blocks.insert(0, data_lib.to_float(test.images[tops]))
  rows = per // 8
  grid = np.concatenate([b.reshape((rows, 8) + b.shape[1:]) for b in blocks], axis=1)
  path = os.path.join(ROOT, 'docs', 'figures', 'triangle_texture.png')
  images_lib.save_png(path, images_lib.grid(grid.reshape((-1,) + grid.shape[2:]),
                                            8 * len(blocks)))
  print(f'wrote {path}: real tops | ' + ' | '.join(f'try {t}' for t in tries))


def grid_figure(workdirs, figure='triangle_grids.png'):
  """docs/figures/FIGURE: 8×8 blocks, left to right: real test images of the same classes as
  the first run's final grid (the pinned classifier names each sample's class; each gets the
  next unused test image of that class, in test-split order), then each run's final grid (its
  averaged generator at the run's grid latents, as samples/step_N.png shows it)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  from core import images as images_lib  # pylint: disable=g-import-not-at-top
  from evaluation import scoring  # pylint: disable=g-import-not-at-top
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  from trainers import triangle  # pylint: disable=g-import-not-at-top
  grids = []
  for wd in workdirs:
    cfg, built = run_lib.restore(os.path.join(ROOT, wd), ('generator',))
    z = np.random.default_rng(cfg.seed).standard_normal(
        (triangle.GRID, cfg.model.latent_dim)).astype(np.float32)  # Triangle.grid_z
    grids.append(built['generator'](z, training=False).numpy())
  scorer = scoring.Scorer(cfg.data.dataset, 28, 1, train_if_missing=False)
  test = data_lib.from_config(cfg, 'test')
  unused = {int(k): list(np.flatnonzero(test.labels == k)) for k in np.unique(test.labels)}
  real = [test.images[unused[int(k)].pop(0)] for k in scorer.predict(grids[0])]
  blocks = [data_lib.to_float(np.stack(real))] + grids
  rows = np.concatenate([b.reshape((8, 8) + b.shape[1:]) for b in blocks], axis=1)
  path = os.path.join(ROOT, 'docs', 'figures', figure)
  images_lib.save_png(path, images_lib.grid(rows.reshape((-1,) + rows.shape[2:]),
                                            8 * len(blocks)))
  print(f'wrote {path}: real test images of the same classes | ' + ' | '.join(workdirs))


def anchors_table():
  """The reference rows every Fashion-MNIST score sits beside, on the pinned classifier: real
  test images 0..4999 vs 5000..9999 (the floor) and the same blurred by σ = 1.5 px; the same
  on every machine (evaluation/classifiers/, make classifier)."""
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  from evaluation import scoring  # pylint: disable=g-import-not-at-top
  began = time.time()
  scorer = scoring.Scorer('fashion_mnist', 28, 1, train_if_missing=False)
  if scorer.kind != 'pinned':
    raise ConfigError(f'the anchors are the pinned classifier\'s; unset '
                      f'{scoring.CLASSIFIER_ENV}')
  x = data_lib.to_float(data_lib.load('fashion_mnist', 'test', image_size=28,
                                      channels=1).images)
  half = len(x) // 2
  reference = f'fashion_mnist test images {half}..{2 * half - 1} ({half} images)'
  rows = scorer.reference_points(x[:half], x[half:2 * half], reference_name=reference)
  records = []
  add = results.adder(records)
  command = 'python -m tools.reproduce --table=anchors'
  seconds = round(time.time() - began, 1)
  for metric in ('fd', 'kid'):
    for method, row in (('real vs real (the floor)', rows['real_vs_real']),
                        (f'real blurred by σ = {scoring.BLUR_SIGMA_PX} px', rows['blurred_real'])):
      add(f'scoring anchors, classifier weights {scorer.sha256} ({metric})', method,
          f'{half} vs {half} test images', metric, row[metric], command, seconds,
          classifier=scorer.sha256)
  return records


def main(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}')
  if FLAGS.texture_figure:
    return texture_figure(FLAGS.texture_figure)
  if FLAGS.grid_figure:
    return grid_figure(FLAGS.grid_figure)
  if not FLAGS.render:
    if not FLAGS.table:
      raise ConfigError(f'pass --table={"|".join(TABLES)}, or --render to rebuild '
                        f'docs/RESULTS.md')
    records = {'generator': generator_table, 'coop_triangle': coop_triangle_table,
               'multigrid': multigrid_table,
               'triangle_recipe': triangle_recipe_table,
               'multiview': multiview_table, 'anchors': anchors_table}[FLAGS.table]()
    files.write_json(os.path.join(RESULTS, f'{FLAGS.table}.json'), records, indent=1)
  results.render(RESULTS, os.path.join(ROOT, 'docs', 'RESULTS.md'))
  print(f'wrote {os.path.join(ROOT, "docs", "RESULTS.md")}')


if __name__ == '__main__':
  cli.start(main)
