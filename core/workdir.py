"""A run's folder: its config, whether it can be resumed, and starting over without loss.

    WORKDIR/config.json        the full config (everything downstream rebuilds from it)
    WORKDIR/checkpoints/       tf.train.CheckpointManager files (keep N)
    WORKDIR/events.out...      TensorBoard
    WORKDIR/metrics.jsonl      one line per logged step
    WORKDIR/samples/step_N.png sample grids
    WORKDIR/metrics.json       the final evaluation
    WORKDIR/previous/STAMP/    what `--fresh` moved aside (nothing is ever deleted)
"""
import os
import time

from core import config as config_lib
from core.errors import CheckpointError

CONFIG = 'config.json'
CHECKPOINTS = 'checkpoints'
PREVIOUS = 'previous'
# Settings a checkpoint's variables depend on: a resumed run may not change them.
STRUCTURAL = ('algo', 'data.dataset', 'data.image_size', 'data.channels', 'model',
              'langevin.init', 'langevin.buffer_size', 'data.max_examples')


def has_checkpoint(workdir: str) -> bool:
  d = os.path.join(workdir, CHECKPOINTS)
  return os.path.isfile(os.path.join(d, 'checkpoint'))


def stored_config(workdir: str):
  """The config of the run in `workdir`, or None if there is no checkpoint to resume (a
  config.json left by a run that stopped before its first checkpoint is not binding)."""
  if not has_checkpoint(workdir):
    return None
  path = os.path.join(workdir, CONFIG)
  if not os.path.isfile(path):
    raise CheckpointError(f'{workdir} has checkpoints but no {CONFIG}, so they cannot be '
                          f'rebuilt; restore {CONFIG}, or use --fresh or another --workdir')
  return config_lib.load(path)


def archive(workdir: str) -> str | None:
  """Moves a previous run's files into WORKDIR/previous/STAMP/ (for --fresh)."""
  if not os.path.isdir(workdir):
    return None
  entries = [e for e in os.listdir(workdir) if e != PREVIOUS]
  if not entries:
    return None
  dest = os.path.join(workdir, PREVIOUS, time.strftime('%Y%m%d-%H%M%S'))
  n = 0
  while os.path.exists(dest):
    n += 1
    dest = os.path.join(workdir, PREVIOUS, f'{time.strftime("%Y%m%d-%H%M%S")}-{n}')
  os.makedirs(dest)
  for e in entries:
    os.rename(os.path.join(workdir, e), os.path.join(dest, e))
  return dest


def check_compatible(stored, requested, workdir: str):
  """CheckpointError if `requested` changes what the stored checkpoint's variables depend on."""
  changed = config_lib.diff(stored, requested, STRUCTURAL)
  if changed:
    what = '; '.join(f'{k}: {a!r} in the checkpoint, {b!r} requested' for k, a, b in changed)
    raise CheckpointError(f'{workdir} holds an incompatible run ({what}); resume without '
                          f'changing these, or start over with --fresh (the old run is kept '
                          f'under {PREVIOUS}/) or another --workdir')


def write_config(workdir: str, cfg):
  os.makedirs(workdir, exist_ok=True)
  tmp = os.path.join(workdir, CONFIG + '.tmp')
  config_lib.save(cfg, tmp)
  os.replace(tmp, os.path.join(workdir, CONFIG))
