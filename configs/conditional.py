"""The conditional descriptor (docs/ALGORITHMS.md §1; trainers/conditional.py): one net, K
class scores f_k, learned from labelled data.

  tools/train --algo=conditional --dataset=fashion_mnist --workdir=runs/cond
  tools/train --algo=descriptor --conditional ...      # the same (the older spelling)
  Expected: a classifier (metrics.json test_accuracy) and K class-conditional samplers
  (WORKDIR/class_samples.png, one row per class; samples_recognised_pct: the share the
  project classifier labels as their class).
Smoke (tests, CI): add --smoke.
"""
from configs import descriptor
from core.errors import ConfigError

# Sources that never carry labels.
UNLABELLED_SOURCES = ('texture:', 'folder:')


def get_config(dataset: str = 'fashion_mnist', smoke: bool = False):
  return descriptor.get_config(dataset, smoke, conditional=True)


def unlabelled_error(dataset: str) -> ConfigError:
  return ConfigError(
      f'the conditional descriptor needs labelled data, and {dataset} has no labels; use a '
      f'labelled dataset (fashion_mnist, mnist, cifar10, an npz with a "labels" array) or '
      f'--algo=descriptor')


def check(cfg):
  """Before TensorFlow starts: a source that never has labels cannot train it."""
  if cfg.data.dataset.startswith(UNLABELLED_SOURCES):
    raise unlabelled_error(cfg.data.dataset)
