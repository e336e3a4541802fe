"""The coop_triangle table: the triangle (make train's command, two seeds) against a plain VAE
with the same nets at the same wall clock (best of three learning rates), and CoopNets."""
import functools
import json
import os

from absl import flags

from core.errors import ConfigError
from evaluation import results
from tools.reproduction import runner

FLAGS = flags.FLAGS  # defined by tools/reproduce.py

VAE_LRS = (3e-4, 1e-3, 3e-3)


# Completion blocks of the coop_triangle table: the seed's M30/M40/M50 on 64×64 images cover
# 22%, 39% and 61% of the image; 13, 17 and 22 pixels of 28×28 cover the same shares.
COMPLETION_BLOCKS = (('M30 (block:13)', 'block:13'), ('M40 (block:17)', 'block:17'),
                     ('M50 (block:22)', 'block:22'))


def _triangle_run(seed):
  """`make train`'s command with --set seed=SEED; starts it (pinned to a core of --cores when
  given) and returns a function that waits and returns (metrics, command, seconds).
  With --triangle_runs the given finished run is scored as it is instead."""
  given = FLAGS.triangle_runs[runner.SEEDS.index(seed)] if FLAGS.triangle_runs else ''
  tri = given or os.path.join(FLAGS.runs, f'triangle_seed{seed}')
  args = ['tools.train', '--algo=triangle', '--dataset=fashion_mnist', '--fresh',
          f'--workdir={tri}', '--set', f'seed={seed}']
  reuse = bool(given)
  started = None if reuse else runner.start(args, runner.next_core())

  def finish():
    if reuse:
      out = runner.load(tri, 'metrics.json')
      command = f'(the finished run in {tri}) {runner.command_line(args)}'
      seconds = out['wall_seconds']
    else:
      command, seconds = runner.wait(started)
      out = runner.load(tri, 'metrics.json')
    return out, command, seconds
  return finish


def _record_triangle(add, seed, out, command, seconds):
  names = {'triangle generator': 'triangle generator g(h) (EMA weights, as exported)',
           'triangle generator, raw weights': 'triangle generator g(h), raw weights',
           'real_vs_real': 'real test images', 'blurred_real': 'blurred test images (σ 1.5 px)'}
  runner.quality_records(add, out, names, f'seed {seed}', command, seconds)
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
  started = runner.start(['tools.train', '--algo=vae', '--dataset=fashion_mnist', '--fresh',
                          f'--workdir={vdir}', '--set', f'seed={seed}', '--set',
                          f'optim.gen_lr={lr:g}', '--set', f'optim.enc_lr={lr:g}', *budget,
                          '--set', 'train.sample_every=500', '--set', 'train.ckpt_every=500'],
                          runner.next_core())

  def finish():
    command, seconds = runner.wait(started)
    return runner.load(vdir, 'metrics.json'), command, seconds
  return finish


def _record_vae(add, seed, lr, label, result):
  out, command, seconds = result
  runner.quality_records(add, out, {'plain VAE': f'{label}, lr {lr:g}'}, f'seed {seed}', command,
                   seconds)
  add('plain VAE steps', f'{label}, lr {lr:g}', f'seed {seed}', 'steps', out['steps'],
      command, seconds)


def table():
  """Sample quality (Fréchet distance, KID, class coverage on the project classifier's
  features) of the triangle (make train's command, two seeds), of a plain VAE with the same
  nets and precision at the same wall clock (the best of VAE_LRS on seed 0, then that rate on
  seed 1), and of CoopNets (descriptor and generator), beside real and blurred test images;
  CoopNets completion vs interpolation; the triangle's test reconstructions."""
  if FLAGS.triangle_runs and (len(FLAGS.triangle_runs) != len(runner.SEEDS) or not all(
      os.path.isfile(os.path.join(runner.ROOT, w, 'metrics.json')) for w in FLAGS.triangle_runs)):
    raise ConfigError(f'--triangle_runs takes {len(runner.SEEDS)} finished workdirs (one per seed '
                      f'{runner.SEEDS}, each with a metrics.json), got '
                      f'{",".join(FLAGS.triangle_runs)}')
  if not all(c.isdigit() for c in FLAGS.cores):
    raise ConfigError(f'--cores takes CPU core numbers such as 0,1, got {",".join(FLAGS.cores)}')
  records = []
  setting = 'Fashion-MNIST'
  if 'coopnets' in FLAGS.reuse:  # keep the CoopNets records of the existing table
    old = json.load(open(os.path.join(runner.RESULTS, 'coop_triangle.json')))
    records = [r for r in old if 'CoopNets' in r['method'] or 'coopnets' in r['command']]
  add = results.adder(records)

  runs = dict(zip(runner.SEEDS, runner.in_waves([functools.partial(_triangle_run, seed)
                                    for seed in runner.SEEDS])))
  for seed, result in runs.items():
    _record_triangle(add, seed, *result)
  best_lr = None
  for seed in runner.SEEDS:
    out = runs[seed][0]
    train_seconds = _train_seconds(out)
    label = f'plain VAE, same wall clock ({train_seconds:.0f} s)'
    rates = VAE_LRS if best_lr is None else (best_lr,)
    vae = dict(zip(rates, runner.in_waves([functools.partial(_vae_run, seed, lr, train_seconds)
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
  command, seconds = runner.run(['tools.train', '--algo=coopnets', '--dataset=fashion_mnist',
                                 '--fresh', f'--workdir={coop}'])
  out = runner.load(coop, 'metrics.json')
  for name in ('coopnets descriptor', 'coopnets generator'):
    row = out['sample_quality']['rows'][name]
    method = name.replace('coopnets', 'CoopNets')
    for metric in ('fd', 'kid'):
      add(f'sample quality ({metric})', method, setting, metric, row[metric], command, seconds)
  for label, spec in COMPLETION_BLOCKS:
    runner.masked_task(add, coop, 'complete', label, spec, 'completion', 'completion', command,
                       seconds)
  return records
