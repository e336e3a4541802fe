"""The multigrid table: linear-SVM error on multi-grid features, inpainting with the
multi-grid prior, and the conditional descriptor."""
import os

from absl import flags

from evaluation import results
from tools.reproduction import runner

FLAGS = flags.FLAGS  # defined by tools/reproduce.py

# Inpainting masks of the multigrid table: the paper's "mask" (a block of half the side, a
# quarter of the image), "doodle" and "pepper" (half the pixels missing at random).
INPAINT_MASKS = (('mask (block:14)', 'block:14'), ('doodle', 'doodle'),
                 ('pepper (pepper:0.5)', 'pepper:0.5'))


INPAINT_CHAINS = 8  # chains averaged per image (an estimate of the posterior mean)


def table():
  """Linear-SVM test error on multi-grid features vs raw pixels and untrained nets;
  inpainting with the multi-grid prior vs interpolation; the conditional descriptor's test
  accuracy and how often the project classifier recognises its per-class samples."""
  records = []

  add = results.adder(records)

  mg = os.path.join(FLAGS.runs, 'multigrid')
  train_cmd, train_s = runner.run(['tools.train', '--algo=multigrid', '--dataset=fashion_mnist',
                                   '--fresh', f'--workdir={mg}'])
  out = runner.load(mg, 'metrics.json')
  if 'sample_quality' in out:
    row = out['sample_quality']['rows']['multigrid descriptor']
    for metric in ('fd', 'kid'):
      add(f'multi-grid synthesis ({metric})', 'multigrid descriptors',
          f'{row["num_samples"]} samples', metric, row[metric], train_cmd, train_s)
  c, s = runner.run(['tools.evaluate', '--task=features', f'--workdir={mg}'])
  result = runner.load(mg, 'features.json')
  for method, rows in result['methods'].items():
    for n in result['label_counts']:
      add('linear SVM on features', method, f'labels={n}', 'svm_test_error_pct',
          rows[f'labels={n}']['svm_test_error_pct'], f'{train_cmd} && {c}',
          round(train_s + s, 1))
  for label, spec in INPAINT_MASKS:
    runner.masked_task(add, mg, 'inpaint', label, spec, 'inpainting', 'inpaint', train_cmd,
                       train_s, extra=[f'--chains={INPAINT_CHAINS}'])

  cond = os.path.join(FLAGS.runs, 'conditional')
  c, s = runner.run(['tools.train', '--algo=descriptor', '--conditional', '--dataset=fashion_mnist',
                     '--fresh', f'--workdir={cond}'])
  out = runner.load(cond, 'metrics.json')
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
