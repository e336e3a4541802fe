"""A run's folder: its config, whether it can be resumed, and starting over without loss.

    WORKDIR/config.json        the full config (everything downstream rebuilds from it)
    WORKDIR/checkpoints/       tf.train.CheckpointManager files (keep N)
    WORKDIR/events.out...      TensorBoard
    WORKDIR/metrics.jsonl      one line per logged step
    WORKDIR/samples/step_N.png sample grids
    WORKDIR/metrics.json       the final evaluation
    WORKDIR/previous/STAMP/    what `--fresh` moved aside (nothing is ever deleted)
"""
import errno
import fcntl
import os
import re
import stat
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
  if os.path.lexists(workdir) and not os.path.isdir(workdir):
    raise CheckpointError(f'--workdir={workdir} is not a folder (a file, or a link to none); '
                          f'pass a folder (it is created if missing)')
  path = os.path.join(workdir, CONFIG)
  resumable = has_checkpoint(workdir)
  if not os.path.isfile(path):
    if resumable:
      raise CheckpointError(f'{workdir} has checkpoints but no {CONFIG}, so they cannot be '
                            f'rebuilt; restore {CONFIG}, or use --fresh or another --workdir')
    return None, False
  if not resumable:
    lost = trained_without_checkpoint(workdir)
    if lost:  # a rerun must not start a different run over this one's record
      raise CheckpointError(f'{workdir} holds a run that trained ({lost}) but has no readable '
                            f'checkpoint left; start over with --fresh (the old run is kept '
                            f'under {PREVIOUS}/) or use another --workdir')
  return config_lib.load(path), resumable


def trained_without_checkpoint(workdir: str) -> str:
  """What shows that the run in `workdir` trained though no checkpoint is left ('' if
  nothing): checkpoints moved to checkpoints/corrupt/, or logged steps in metrics.jsonl (a
  run logs only after its first save, so a run that failed before it leaves neither)."""
  corrupt = os.path.join(workdir, CHECKPOINTS, 'corrupt')
  if os.path.isdir(corrupt) and any(files for _, _, files in os.walk(corrupt)):
    return f'its unreadable checkpoints are in {corrupt}'
  log = os.path.join(workdir, 'metrics.jsonl')
  try:
    with open(log, 'rb') as f:
      steps = sum(1 for line in f if line.startswith(b'{"step"'))
  except OSError:
    steps = 0
  return f'{log} logs {steps} step(s)' if steps else ''


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
  config_lib.save(cfg, os.path.join(workdir, CONFIG))


_HELD = {}  # workdir → open lock file, held until the process exits


def lock(workdir: str):
  """An exclusive flock on WORKDIR/.lock for this process's lifetime; CheckpointError naming
  the holder's PID if another live run holds it. The kernel drops the lock of a killed
  process, so a stale lock file never blocks."""
  os.makedirs(workdir, exist_ok=True)
  key = os.path.realpath(workdir)
  if key in _HELD:
    return
  path = os.path.join(workdir, LOCK)
  try:  # never through a link: a link planted at .lock would have its target overwritten
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
  except OSError as e:
    if e.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
      raise
    raise CheckpointError(f'{path} is not a plain file (a link, a folder or a device); '
                          f'remove it and rerun') from None
  if not stat.S_ISREG(os.fstat(fd).st_mode):
    os.close(fd)
    raise CheckpointError(f'{path} is not a plain file (a FIFO or a device); remove it and '
                          f'rerun')
  f = os.fdopen(fd, 'r+')
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
