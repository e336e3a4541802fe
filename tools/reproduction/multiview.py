"""The multiview table: new views of held-out items, two seeds."""
import os

from absl import flags

from core import files
from evaluation import results
from tools.reproduction import runner

FLAGS = flags.FLAGS  # defined by tools/reproduce.py


def table():
  """tools/evaluate --task=rotate on the built-in fashion_mnist_views for two seeds: per
  target view, the error of the view rendered from the standard view alone (and from it and
  a second view) beside the nearest-training-identity and mean-view baselines and the
  known-transform reference; docs/figures/multiview_rotate.png from seed 0's run."""
  records = []
  add = results.adder(records)
  for seed in runner.SEEDS:
    wd = os.path.join(FLAGS.runs, f'multiview_s{seed}')
    steps = [f'--steps={FLAGS.multiview_steps}'] if FLAGS.multiview_steps else []
    c1, s1 = runner.run(['tools.train', '--algo=multiview', '--fresh', f'--workdir={wd}', *steps,
                         '--set', f'seed={seed}'])
    c2, s2 = runner.run(['tools.evaluate', '--task=rotate', f'--workdir={wd}',
                         f'--num_images={FLAGS.num_images}', f'--steps={FLAGS.rotate_steps}'])
    command, seconds = f'{c1} && {c2}', round(s1 + s2, 1)
    out = runner.load(wd, 'rotate.json')
    for k, (label, row) in enumerate(out['rows'].items()):
      for target, methods in row['targets'].items():
        for method, m in methods.items():
          metrics = ('mae', 'psnr') if k == 0 else ('mae',)
          for metric in metrics:
            add(f'new views of {out["num_identities"]} held-out items, {label} ({metric})',
                method, f'{target}, seed {seed}', metric, m[metric], command, seconds)
    if seed == runner.SEEDS[0]:
      figure = os.path.join(runner.ROOT, 'docs', 'figures', 'multiview_rotate.png')
      with open(os.path.join(runner.ROOT, wd, 'rotate.png'), 'rb') as f:
        files.write_bytes(figure, f.read())
      print(f'wrote {figure}')
  return records
