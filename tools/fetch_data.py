"""Make a dataset available offline: `python -m tools.fetch_data fashion_mnist` (`make data`).

fashion_mnist: already there → nothing to do; else Debian's `dataset-fashion-mnist` package
(as root or with passwordless sudo); else the Keras download into ~/.keras/datasets.
Other TFDS names: a TFDS download into --data_dir (or ~/tensorflow_datasets).
"""
import os
import shutil
import subprocess
import sys

from absl import flags

from core import data
from core.errors import DataError, UsageError
from tools import cli

flags.DEFINE_string('data_dir', '', 'TFDS data_dir for TFDS downloads.')
FLAGS = flags.FLAGS


def _apt_install(package: str) -> bool:
  if not shutil.which('apt-get'):
    return False
  sudo = [] if os.geteuid() == 0 else ['sudo', '-n']
  if sudo and not shutil.which('sudo'):
    return False
  env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
  install = sudo + ['apt-get', 'install', '-y', '-qq', package]
  if subprocess.run(install, env=env, capture_output=True).returncode == 0:
    return True
  subprocess.run(sudo + ['apt-get', 'update', '-qq'], env=env, capture_output=True)
  return subprocess.run(install, env=env, capture_output=True).returncode == 0


def fetch(name: str, data_dir: str = '') -> str:
  try:
    return f'{name}: already available ({data.locate(name, data_dir).path})'
  except DataError:
    pass
  if name == 'fashion_mnist':
    if _apt_install('dataset-fashion-mnist'):
      return f'{name}: installed Debian\'s dataset-fashion-mnist ({data.locate(name).path})'
    import keras  # pylint: disable=g-import-not-at-top
    print('apt-get not usable; downloading with Keras', file=sys.stderr)
    keras.datasets.fashion_mnist.load_data()
    return f'{name}: downloaded to {data.locate(name).path}'
  if name in data.TFDS_NAMES:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    tfds.builder(name, data_dir=data_dir or None).download_and_prepare()
    return f'{name}: prepared in {data.locate(name, data_dir).path}'
  raise UsageError(f'fetch_data knows {", ".join(data.TFDS_NAMES)}; not {name!r}')


def main(argv):
  if len(argv) != 2:
    raise UsageError('usage: python -m tools.fetch_data NAME (e.g. fashion_mnist)')
  print(fetch(argv[1], FLAGS.data_dir))


if __name__ == '__main__':
  cli.start(main)
