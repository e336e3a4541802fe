"""What the SavedModel and TFLite writers share: the run's nets (restored from its config.json
and a checkpoint, only the roles an export needs), its metadata, and versioned directories
that appear whole or not at all.

    EXPORT_DIR/NAME/VERSION/      VERSION = 1, 2, ... (the next free number)

A version is written into EXPORT_DIR/NAME/.tmp-VERSION-PID and renamed when complete, so a
killed export never leaves a half-written VERSION directory (TF Serving loads only numeric
directories); leftovers of dead exports are removed by the next one.
"""
import hashlib
import json
import os
import shutil

from core import workdir as workdir_lib
from core.errors import CheckpointError, ConfigError

# Which nets each algorithm's checkpoint holds, in the roles of trainers/nets.py.
ROLES = {
    'generator': ('generator',),
    'deformable': ('generator',),
    'coopnets': ('generator', 'descriptor'),
    'triangle': ('generator', 'encoder', 'descriptor'),
    'vae': ('generator', 'encoder'),
}
VALUE_RANGE = (-1.0, 1.0)
FORMATS = ('saved_model', 'tflite')
QUANTIZATIONS = ('float32', 'float16', 'dynamic', 'int8')  # TFLite (export/tflite.py)


def load_run(workdir: str, checkpoint: str = ''):
  """(cfg, {role: net}, metadata) of the run in `workdir`; ConfigError if it has no generator."""
  cfg = workdir_lib.stored_config(workdir)
  if cfg is None:
    raise CheckpointError(f'{workdir} has no checkpoint to export; train first '
                          f'(tools/train --workdir={workdir} ...)')
  if cfg.algo not in ROLES:
    raise ConfigError(f'{workdir} holds a {cfg.algo} run, which has no generator to export; '
                      f'export a run of {", ".join(sorted(ROLES))}')
  from trainers import evaluation  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = evaluation.checkpoint_path(workdir, checkpoint)
  cfg, nets = evaluation.restore(workdir, ROLES[cfg.algo], checkpoint=path)
  step = int(tf.train.load_checkpoint(path).get_tensor('step/.ATTRIBUTES/VARIABLE_VALUE'))
  with open(os.path.join(workdir, workdir_lib.CONFIG), 'rb') as f:
    config_hash = hashlib.sha256(f.read()).hexdigest()
  d = cfg.data
  meta = {
      'algorithm': cfg.algo,
      'latent_dim': int(nets['generator'].input_shape[-1]),
      'image_shape': [d.image_size, d.image_size, d.channels],
      'value_range': list(VALUE_RANGE),
      'uint8_mapping': 'uint8 = round((x + 1) * 127.5), x clipped to [-1, 1]',
      'latent_prior': 'z ~ N(0, I)',
      'training_step': step,
      'checkpoint': os.path.abspath(path),
      'config_hash': f'sha256:{config_hash}',
      'dataset': d.dataset,
      'nets': sorted(nets),
  }
  return cfg, nets, meta


def bases(workdir: str, algo: str, export_dir: str = '', name: str = '') -> dict:
  """format → the folder its versions go in: EXPORT_DIR/NAME and EXPORT_DIR/tflite/NAME."""
  root = export_dir or os.path.join(workdir, 'exports')
  return {'saved_model': os.path.join(root, name or algo),
          'tflite': os.path.join(root, 'tflite', name or algo)}


def next_version(*folders: str) -> int:
  """One more than the highest finished version in any of the folders, so that a SavedModel
  and the TFLite files of one export share a number (a killed export's leftovers take none)."""
  seen = [0]
  for folder in folders:
    if os.path.isdir(folder):
      seen += [int(n) for n in os.listdir(folder) if n.isdigit()]
  return max(seen) + 1


def write_versioned(base: str, write, version: int = 0) -> str:
  """Calls write(tmp_dir) and renames tmp_dir to base/N: N = `version` if given and free,
  else the next free version."""
  try:
    os.makedirs(base, exist_ok=True)
  except OSError as e:
    raise ConfigError(f'cannot write exports to {base} ({e}); pass a writable '
                      f'--export_dir') from None
  _remove_dead_leftovers(base)
  while True:
    versions = [int(n) for n in os.listdir(base) if n.isdigit()]
    version = version if version and version not in versions else max(versions, default=0) + 1
    tmp = os.path.join(base, f'.tmp-{version}-{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    try:
      write(tmp)
      os.rename(tmp, os.path.join(base, str(version)))  # atomic; fails if N appeared meanwhile
      return os.path.join(base, str(version))
    except OSError:
      if os.path.isdir(os.path.join(base, str(version))):
        shutil.rmtree(tmp, ignore_errors=True)
        continue  # another export took this number first: take the next
      raise
    finally:
      if os.path.isdir(tmp):
        shutil.rmtree(tmp, ignore_errors=True)


def _remove_dead_leftovers(base: str):
  for name in os.listdir(base):
    if name.startswith('.tmp-'):
      pid = name.rsplit('-', 1)[-1]
      if pid.isdigit() and not _alive(int(pid)):
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def write_metadata(directory: str, meta: dict):
  with open(os.path.join(directory, 'metadata.json'), 'w') as f:
    json.dump(meta, f, indent=2)
