"""The scoring anchors: real vs real and blurred real on the pinned classifier."""
import time

from core.errors import ConfigError
from evaluation import results


def table():
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
