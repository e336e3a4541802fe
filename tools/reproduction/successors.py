"""The successors table: the triangle, CoopNets, the latent-space EBM prior, dual-MCMC teaching
and the plain VAE on Fashion-MNIST at equal wall clock on this machine, each with the best of
three learning rates (picked on seed 0, then run on seed 1), and the latent EBM's test
reconstructions beside ABP's at the same latent size (both by tools/evaluate
--task=reconstruct: the posterior mode from z = 0).

Every run trains alone for --budget seconds (train.time_budget, make train's 724 s of training
by default; 3,456 for the ~1 hour preset), one after the other: equal wall clock means each
gets the whole machine. A finished run (its workdir has a metrics.json from the same command)
is scored as it is, so the table can be built over several sittings; --methods picks the rows
to (re)run and keeps the others' records.
"""
import json
import os

from absl import flags

from core.errors import ConfigError
from evaluation import results
from tools.reproduction import runner

FLAGS = flags.FLAGS  # defined by tools/reproduce.py

# Each method: its --algo, the rate key(s) swept (set together) and the three rates (the
# default in the middle), and the sample sets of its metrics.json (row → the table's name).
METHODS = {
    'triangle': ('triangle', ('optim.gen_lr', 'optim.enc_lr'), (3e-4, 1e-3, 3e-3),
                 {'triangle generator': 'triangle (EMA generator)'}),
    'coopnets': ('coopnets', ('optim.gen_lr',), (3e-5, 1e-4, 3e-4),
                 {'coopnets generator': 'CoopNets generator',
                  'coopnets descriptor': 'CoopNets revised (descriptor)'}),
    'latent_ebm': ('latent_ebm', ('optim.gen_lr',), (3e-5, 1e-4, 3e-4),
                   {'latent EBM generator': 'latent EBM prior (generator of prior samples)'}),
    'dual_mcmc': ('dual_mcmc', ('optim.gen_lr', 'optim.enc_lr'), (3e-4, 1e-3, 3e-3),
                  {'dual-MCMC generator': 'dual-MCMC generator (EMA)',
                   'dual-MCMC descriptor': 'dual-MCMC revised (descriptor)'}),
    'vae': ('vae', ('optim.gen_lr', 'optim.enc_lr'), (3e-4, 1e-3, 3e-3),
            {'plain VAE': 'plain VAE'}),
    # ABP (the generator with the N(0, I) prior, latent 100 like the latent EBM's): only its
    # test reconstructions, at its default rate.
    'abp': ('generator', ('optim.lr',), (1e-3, 1e-3, 1e-3), {}),
}
RECON_STEPS = 300  # tools/evaluate --task=reconstruct: the posterior mode from z = 0
TABLE = 'successors at equal wall clock'


def workdir(method, seed, lr):
  return os.path.join(FLAGS.runs, 'successors', f'b{FLAGS.budget}',
                      f'{method}_seed{seed}_lr{lr:g}')


def args_of(method, seed, lr, wd):
  algo, keys, _, _ = METHODS[method]
  sets = [f'seed={seed}', f'train.time_budget={FLAGS.budget}', 'train.sample_every=500',
          'train.ckpt_every=500']
  if METHODS[method][3]:  # the methods whose samples are scored
    sets += ['eval.score=true', 'eval.num_samples=5000']
  sets += [f'{k}={lr:g}' for k in keys]
  return ['tools.train', f'--algo={algo}', '--dataset=fashion_mnist', '--fresh',
          f'--workdir={wd}', '--steps=100000000', *[a for s in sets for a in ('--set', s)]]


def trained(method, seed, lr):
  """(metrics.json, command, seconds) of one run: trained alone now, or the finished run of
  the same command scored as it is."""
  wd = workdir(method, seed, lr)
  args = args_of(method, seed, lr, wd)
  command = runner.command_line(args)
  done = os.path.join(runner.ROOT, wd, 'metrics.json')
  stamp = os.path.join(runner.ROOT, wd, 'table_command.txt')
  if os.path.isfile(done) and os.path.isfile(stamp):
    lines = open(stamp).read().splitlines()  # the command, then the run's seconds
    if lines and lines[0] == command:
      out = runner.load(wd, 'metrics.json')
      return out, command, float(lines[1]) if len(lines) > 1 else out['wall_seconds']
  command, seconds = runner.run(args)
  with open(stamp, 'w') as f:
    f.write(f'{command}\n{seconds}\n')
  return runner.load(wd, 'metrics.json'), command, seconds


def reconstruction(add, method, seed, lr, result):
  """tools/evaluate --task=reconstruct (the posterior mode by RECON_STEPS steps from z = 0,
  the same protocol for both) of a finished run: its recon_mae on 1,000 test images."""
  _, command, seconds = result
  wd = workdir(method, seed, lr)
  runner.run(['tools.evaluate', '--task=reconstruct', f'--workdir={wd}', '--num_images=1000',
              f'--steps={RECON_STEPS}'])
  out = runner.load(wd, 'reconstruct.json')
  mae = out['methods']['abp']['recon_mae'] if method == 'abp' else out['test_recon_mae']
  name = 'ABP (N(0, I) prior)' if method == 'abp' else 'latent EBM prior'
  add(f'test reconstruction at latent size 100, {FLAGS.budget} s (recon_mae)', name,
      f'seed {seed}', 'recon_mae', mae, command, seconds)


def record(add, method, seed, lr, result):
  out, command, seconds = result
  names = METHODS[method][3]
  setting = f'seed {seed}, lr {lr:g}'
  if not names:  # ABP: its reconstructions only
    return reconstruction(add, method, seed, lr, result)
  for row, name in names.items():
    add(f'{TABLE}, {FLAGS.budget} s (fd)', name, setting, 'fd',
        out['sample_quality']['rows'][row]['fd'], command, seconds,
        classifier=out['sample_quality']['classifier_sha256'])
  add(f'{TABLE}, {FLAGS.budget} s (steps)', METHODS[method][3][next(iter(names))], setting,
      'steps', out['steps'], command, seconds)
  return None


def best_fd(out, method):
  return out['sample_quality']['rows'][next(iter(METHODS[method][3]))]['fd']


def commands(chosen, seeds):
  return {runner.command_line(args_of(m, s, lr, workdir(m, s, lr)))
          for m in chosen for s in seeds for lr in METHODS[m][2]}


def table():
  chosen = FLAGS.methods or list(METHODS)
  unknown = [m for m in chosen if m not in METHODS]
  if unknown:
    raise ConfigError(f'--methods: unknown {", ".join(unknown)}; known: {", ".join(METHODS)}')
  seeds = [int(s) for s in FLAGS.seeds]
  path = os.path.join(runner.RESULTS, 'successors.json')
  old = json.load(open(path)) if os.path.isfile(path) else []
  # The records this call makes again (its methods, seeds and rates) are replaced; the rest kept.
  records = [r for r in old if not (f'{FLAGS.budget} s' in r['table'] and
                                    r['command'] in commands(chosen, seeds))]
  add = results.adder(records)
  for method in chosen:
    rates = METHODS[method][2]
    rates = tuple(dict.fromkeys(rates[1:2] if FLAGS.default_rate_only else rates))
    first = {lr: trained(method, seeds[0], lr) for lr in rates}
    for lr, result in first.items():
      record(add, method, seeds[0], lr, result)
    best = min(rates, key=lambda lr: best_fd(first[lr][0], method) if METHODS[method][3] else 0)
    if method == 'latent_ebm':
      reconstruction(add, method, seeds[0], best, first[best])
    for seed in seeds[1:]:
      result = trained(method, seed, best)
      record(add, method, seed, best, result)
      if method == 'latent_ebm':
        reconstruction(add, method, seed, best, result)
  return records
