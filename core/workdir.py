"""A run's folder: its config, whether it can be resumed, and starting over without loss.

    WORKDIR/config.json        the full config (everything downstream rebuilds from it)
    WORKDIR/checkpoints/       tf.train.CheckpointManager files (keep N)
    WORKDIR/events.out...      TensorBoard
    WORKDIR/metrics.jsonl      one line per logged step
    WORKDIR/samples/step_N.png sample grids
    WORKDIR/metrics.json       the final evaluation
    WORKDIR/previous/STAMP/    what `--fresh` moved aside (nothing is ever deleted)
"""
import fcntl
import os
import re
import time

from core import config as config_lib
from core.errors import CheckpointError

CONFIG = 'config.json'
CHECKPOINTS = 'checkpoints'
PREVIOUS = 'previous'
LOCK = '.lock'
INDEX = re.compile(r'^ckpt-(\d+)\.index$')  # a checkpoint's index file (core/checkpoints)
# Settings a checkpoint's variables depend on: a resumed run may not change them.
STRUCTURAL = ('algo', 'data.dataset', 'data.image_size', 'data.channels', 'model',
              'langevin.init', 'langevin.buffer_size', 'data.max_examples',
              # which images (identities) are held out, and which views in what order
              'data.test_fraction', 'data.views')


def has_checkpoint(workdir: str) -> bool:
  """Whether the workdir holds checkpoint files (its state file is not needed: it is rebuilt
  from them when missing or garbled, core/checkpoints)."""
  d = os.path.join(workdir, CHECKPOINTS)
  return os.path.isdir(d) and any(INDEX.match(e) for e in os.listdir(d))


def stored_config(workdir: str):
  """The config of the run in `workdir`, or None if there is no checkpoint to resume (the
  tools that read a trained run need one)."""
  cfg, resumable = stored_run(workdir)
  return cfg if resumable else None


def stored_run(workdir: str):
  """(config, resumable) of the run in `workdir`, or (None, False) when it has none.

  A config.json binds the algorithm and the dataset even before the run's first checkpoint
  (a rerun without --algo continues that algorithm; another one needs --fresh); only with a
  checkpoint does it bind the rest (resumable)."""
  path = os.path.join(workdir, CONFIG)
  resumable = has_checkpoint(workdir)
  if not os.path.isfile(path):
    if resumable:
      raise CheckpointError(f'{workdir} has checkpoints but no {CONFIG}, so they cannot be '
                            f'rebuilt; restore {CONFIG}, or use --fresh or another --workdir')
    return None, False
  return config_lib.load(path), resumable


def archive(workdir: str) -> str | None:
  """Moves a previous run's files into WORKDIR/previous/STAMP/ (for --fresh)."""
  if not os.path.isdir(workdir):
    return None
  entries = [e for e in os.listdir(workdir) if e not in (PREVIOUS, LOCK)]
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


_HELD = {}  # workdir → open lock file, held until the process exits


def lock(workdir: str):
  """An exclusive flock on WORKDIR/.lock for this process's lifetime; CheckpointError naming
  the holder's PID if another live run holds it. The kernel drops the lock of a killed
  process, so a stale lock file never blocks."""
  os.makedirs(workdir, exist_ok=True)
  key = os.path.realpath(workdir)
  if key in _HELD:
    return
  f = open(os.path.join(workdir, LOCK), 'a+')
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.seek(0)
    pid = f.read().strip() or '?'
    f.close()
    raise CheckpointError(f'{workdir} is in use by another run (PID {pid}); wait for it to '
                          f'finish or stop it, or use another --workdir') from None
  f.seek(0)
  f.truncate()
  f.write(f'{os.getpid()}\n')
  f.flush()
  _HELD[key] = f
