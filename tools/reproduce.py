"""Reproduction tables: run every row's commands, time them, and write the results.

  python -m tools.reproduce --table=generator          # runs, then rewrites the docs
  python -m tools.reproduce --table=coop_triangle      # CoopNets, triangle, plain VAE
  python -m tools.reproduce --table=multigrid          # features, inpainting, conditional
  python -m tools.reproduce --render                   # only rebuild docs/RESULTS.md

Each row is a real `tools/train` + `tools/evaluate` run on this machine; its command line and
wall time go into docs/results/<table>.json (records {table, method, setting, metric, value,
command, seconds}), and docs/RESULTS.md is generated from those files alone, never typed.
"""
import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags

from core.errors import ConfigError
from tools import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'docs', 'results')
FLAGS = flags.FLAGS
TABLES = ('generator', 'coop_triangle', 'multigrid')
flags.DEFINE_enum('table', None, list(TABLES), 'Which table to reproduce.')
flags.DEFINE_bool('render', False, 'Only regenerate docs/RESULTS.md from docs/results/*.json.')
flags.DEFINE_string('runs', 'runs/reproduce', 'Where runs are kept (relative to the repository).')
flags.DEFINE_integer('steps', 700, 'Training steps per run.')
flags.DEFINE_integer('infer_steps', 10, 'Langevin inference steps per training step.')
flags.DEFINE_integer('num_images', 1000, 'Test images per evaluation.')

# Settings of the generator table (Fashion-MNIST, 28×28). Blocks of 9 and 13 pixels cover
# about the same share of a 28×28 image (10%, 22%) as the seed's 20 and 30 of 64×64.
LATENT_SIZES = (10, 20, 40, 100, 200)
MASKS = (('P.5', 'pixels:0.5'), ('P.7', 'pixels:0.7'), ('P.9', 'pixels:0.9'),
         ('block:9', 'block:9'), ('block:13', 'block:13'))
RECOVERY_LATENT = 40

# Completion blocks of the coop_triangle table: the seed's M30/M40/M50 on 64×64 images cover
# 22%, 39% and 61% of the image; 13, 17 and 22 pixels of 28×28 cover the same shares.
COMPLETION_BLOCKS = (('M30 (block:13)', 'block:13'), ('M40 (block:17)', 'block:17'),
                     ('M50 (block:22)', 'block:22'))
# Inpainting masks of the multigrid table: the paper's "mask" (a block of half the side, a
# quarter of the image), "doodle" and "pepper" (half the pixels missing at random).
INPAINT_MASKS = (('mask (block:14)', 'block:14'), ('doodle', 'doodle'),
                 ('pepper (pepper:0.5)', 'pepper:0.5'))
# Metrics where higher is better; every other metric is lower-is-better.
INPAINT_CHAINS = 8  # chains averaged per image (an estimate of the posterior mean)
HIGHER_IS_BETTER = ('completion_psnr', 'psnr', 'inpaint_psnr', 'accuracy',
                    'samples_recognised_pct')


def _run(args):
  """Runs `python -m tools.X args`, returns (printable command, seconds)."""
  cmd = [sys.executable, '-m'] + args
  shown = 'tools/' + args[0].split('.')[1] + ' ' + ' '.join(args[1:])
  print(f'$ {shown}', flush=True)
  began = time.time()
  r = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
  if r.returncode:
    raise RuntimeError(f'{shown} failed with exit code {r.returncode}')
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
  for d in LATENT_SIZES:
    wd = os.path.join(FLAGS.runs, f'abp_d{d}')
    command, seconds = _train_and_evaluate(wd, ['--set', f'model.latent_dim={d}'],
                                           ['--task=reconstruct'])
    result = json.load(open(os.path.join(ROOT, wd, 'reconstruct.json')))
    for method, metrics in result['methods'].items():
      records.append({'table': 'reconstruction', 'method': method.split(' ')[0],
                      'setting': f'd={d}', 'metric': 'recon_mae',
                      'value': metrics['recon_mae'], 'command': command, 'seconds': seconds})
  for name, spec in MASKS:
    wd = os.path.join(FLAGS.runs, f'abp_{spec.replace(":", "-")}')
    command, seconds = _train_and_evaluate(
        wd, ['--set', f'model.latent_dim={RECOVERY_LATENT}', '--set', f'data.mask={spec}'],
        ['--task=recover', f'--mask={spec}'])
    result = json.load(open(os.path.join(ROOT, wd, f'recover_{spec.replace(":", "-")}.json')))
    for method, metrics in result['methods'].items():
      records.append({'table': 'recovery', 'method': method, 'setting': name,
                      'metric': 'recovery_mae', 'value': metrics['recovery_mae'],
                      'command': command, 'seconds': seconds})
  return records


def _adder(records):
  """add(table, method, setting, metric, value, command, seconds) appends one record."""
  def add(table, method, setting, metric, value, command, seconds):
    records.append({'table': table, 'method': method, 'setting': setting, 'metric': metric,
                    'value': float(value), 'command': command, 'seconds': seconds})
  return add


def _load(workdir, name):
  with open(os.path.join(ROOT, workdir, name)) as f:
    return json.load(f)


def coop_triangle_table():
  """Sample quality (Fréchet distance, KID on the project classifier's features) of CoopNets
  (descriptor and generator), the triangle and a plain VAE trained for the triangle's wall
  time, beside real and blurred test images; CoopNets completion vs interpolation; the
  triangle's test reconstructions. All with the algorithms' default configs."""
  records = []
  setting = 'Fashion-MNIST'

  add = _adder(records)

  # The triangle: `make train`'s command. Its final evaluation also trains the plain VAE for
  # the same wall-clock time and scores the reference images.
  tri = os.path.join(FLAGS.runs, 'triangle')
  command, seconds = _run(['tools.train', '--algo=triangle', '--dataset=fashion_mnist',
                           '--fresh', f'--workdir={tri}'])
  out = _load(tri, 'metrics.json')
  names = {'triangle generator': 'triangle generator', 'real_vs_real': 'real test images',
           'blurred_real': 'blurred test images (σ 1.5 px)'}
  for name, row in out['sample_quality']['rows'].items():
    method = names.get(name, name.replace('plain VAE', 'plain VAE, same wall clock'))
    for metric in ('fd', 'kid'):
      add(f'sample quality ({metric})', method, setting, metric, row[metric], command, seconds)
  add('reconstruction', 'triangle (encoder)', 'test images', 'recon_mae',
      out['test_recon_mae'], command, seconds)
  vae = _load(os.path.join(tri, 'vae_reference'), 'metrics.json')
  add('reconstruction', 'plain VAE, same wall clock', 'test images', 'recon_mae',
      vae['test_recon_mae'], command, seconds)

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


def multigrid_table():
  """Linear-SVM test error on multi-grid features vs raw pixels and untrained nets;
  inpainting with the multi-grid prior vs interpolation; the conditional descriptor's test
  accuracy and how often the project classifier recognises its per-class samples."""
  records = []

  add = _adder(records)

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


def render():
  """docs/RESULTS.md from docs/results/*.json: one table per (file, table), methods × settings."""
  lines = ['# Reproduction results', '',
           'Generated by `python -m tools.reproduce` from `docs/results/*.json`; do not edit.',
           'Errors are mean absolute errors in [0, 1] pixel units and PSNR is on [0, 1] images.',
           'fd: Fréchet distance, kid: kernel inception distance, both on the project '
           'classifier\'s', 'penultimate features against 5,000 held-out test images '
           '(trainers/scoring.py); lower is better.',
           'size_mb: export file size; ms_per_image: sampling latency per image on this CPU '
           '(bench/export.py).', '']
  for fname in sorted(f for f in os.listdir(RESULTS) if f.endswith('.json')):
    records = json.load(open(os.path.join(RESULTS, fname)))
    for table in dict.fromkeys(r['table'] for r in records):
      rows = [r for r in records if r['table'] == table]
      settings = list(dict.fromkeys(r['setting'] for r in rows))
      methods = list(dict.fromkeys(r['method'] for r in rows))
      value = {(r['method'], r['setting']): r['value'] for r in rows}
      heading = table if table.endswith(f'({rows[0]["metric"]})') else (
          f'{table} ({rows[0]["metric"]})')
      lines += [f'## {fname[:-5]}: {heading}', '',
                '| method | ' + ' | '.join(settings) + ' |',
                '| --- |' + ' --- |' * len(settings)]
      for m in methods:
        cells = [f'{value[(m, s)]:.4f}' if (m, s) in value else '' for s in settings]
        lines.append(f'| {m} | ' + ' | '.join(cells) + ' |')
      metric = rows[0]['metric']
      pick = max if metric in HIGHER_IS_BETTER else min
      best = {s: pick((v, m) for (m, s2), v in value.items() if s2 == s)[1] for s in settings}
      word = 'Highest' if pick is max else 'Lowest'
      lines += ['', f'{word} {metric}: ' + '; '.join(
          f'{m} at {", ".join(s for s in settings if best[s] == m)}'
          for m in dict.fromkeys(best.values())) + '.']
      lines += ['', 'Commands and wall times on this machine (2-core CPU):', '']
      for command in dict.fromkeys(r['command'] for r in rows):
        rs = [r for r in rows if r['command'] == command]
        what = ', '.join(dict.fromkeys(r['setting'] for r in rs))
        if len(settings) == 1 or len(rs) < len(methods):  # name the rows it made
          what = ', '.join(dict.fromkeys(r['method'] for r in rs)) + f' ({what})'
        lines.append(f'- {what}, {rs[0]["seconds"]:.0f} s: `{command}`')
      lines.append('')
  with open(os.path.join(ROOT, 'docs', 'RESULTS.md'), 'w') as f:
    f.write('\n'.join(lines))


def main(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}')
  if not FLAGS.render:
    if not FLAGS.table:
      raise ConfigError(f'pass --table={"|".join(TABLES)}, or --render to rebuild '
                        f'docs/RESULTS.md')
    records = {'generator': generator_table, 'coop_triangle': coop_triangle_table,
               'multigrid': multigrid_table}[FLAGS.table]()
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f'{FLAGS.table}.json'), 'w') as f:
      json.dump(records, f, indent=1)
  render()
  print(f'wrote {os.path.join(ROOT, "docs", "RESULTS.md")}')


if __name__ == '__main__':
  cli.run_main(lambda argv: app.run(main, argv=argv or sys.argv))
