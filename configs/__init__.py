"""One config module per algorithm: `configs/<algo>.py` with `get_config(dataset, smoke)`.

Importing a config never imports TensorFlow, so `tools/train` can check flags and data first.
Which algorithms exist is the trainers' registry's to say (trainers/registry.py); here an
algorithm is a config module.
"""
import importlib
import pkgutil

from core.errors import ConfigError


def known():
  """The algorithms that have a config module."""
  return sorted(m.name for m in pkgutil.iter_modules(__path__))


def get(algo: str, dataset: str, smoke: bool = False):
  if algo not in known():
    raise ConfigError(f'unknown algorithm {algo!r}; known: {", ".join(known())}')
  c = importlib.import_module(f'configs.{algo}').get_config(dataset, smoke)
  c.train.smoke = bool(smoke)  # smoke nets fit their widths to the final image size
  return c


def start(algo: str, dataset: str):
  """The shared defaults (core.config.base) for `algo` on `dataset`, at its image size."""
  from core import config as config_lib  # pylint: disable=g-import-not-at-top
  c = config_lib.base()
  c.algo = algo
  c.data.dataset = dataset
  c.data.image_size, c.data.channels = image_defaults(dataset)
  return c


def image_defaults(dataset: str):
  """(image_size, channels) a dataset is trained at unless the config says otherwise."""
  if dataset.startswith('tfds:'):
    dataset = dataset[len('tfds:'):]
  if dataset in ('fashion_mnist', 'mnist', 'fashion_mnist_views'):
    return 28, 1
  if dataset in ('cifar10', 'svhn_cropped'):
    return 32, 3
  if dataset == 'celeb_a':
    return 64, 3
  if dataset.startswith('texture:'):
    return 128, 1
  # folder:, npz: and other TFDS sources; override with --set data.image_size=... (and channels)
  return 32, 3
