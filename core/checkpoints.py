"""A run's checkpoint folder, trusted only as far as its files prove.

tf.train.CheckpointManager believes the `checkpoint` state file: garbled, it sees no
checkpoint (the run restarts at step 0 and its rotation then overwrites the good ones);
empty, it raises. Here the files themselves are the truth:

* `scan` lists the `ckpt-N.index` files; the state file is rewritten from them
  (`repair_state`) whenever it is missing, unreadable or disagrees, before any manager reads it.
* `verify` reads every tensor of a checkpoint (the bundle's checksums catch bit flips, a short
  read catches truncation); one that fails is moved aside to `checkpoints/corrupt/` with a
  warning (`quarantine`), never deleted, and the next older one is tried.
* `newest_readable` makes the same choice for the tools that only read a run, moving nothing.
* `clean_temp` removes the `ckpt-N_temp/` folders a save killed half-way leaves behind (they
  are never a checkpoint: TF renames the finished shard into place only at the end).
"""
import os
import shutil
import time

import tensorflow as tf

from core.workdir import INDEX

CORRUPT = 'corrupt'


def scan(ckpt_dir: str) -> list[tuple[int, str]]:
  """(step, prefix) of every checkpoint whose index file exists, oldest first."""
  if not os.path.isdir(ckpt_dir):
    return []
  found = [(int(m.group(1)), os.path.join(ckpt_dir, f'ckpt-{m.group(1)}'))
           for m in map(INDEX.match, os.listdir(ckpt_dir)) if m]
  return sorted(found)


def clean_temp(ckpt_dir: str, log=print) -> list[str]:
  """Removes the `ckpt-N_temp/` folders of saves that were killed; returns their names."""
  if not os.path.isdir(ckpt_dir):
    return []
  gone = sorted(e for e in os.listdir(ckpt_dir) if e.endswith('_temp')
                and os.path.isdir(os.path.join(ckpt_dir, e)))
  for e in gone:
    shutil.rmtree(os.path.join(ckpt_dir, e), ignore_errors=True)
  if gone:
    log(f'removed {len(gone)} unfinished save folder(s) left by a killed run: {", ".join(gone)}')
  return gone


def _state_paths(ckpt_dir: str):
  """(latest, all) of the state file as absolute paths, or None when it cannot be read."""
  try:
    state = tf.train.get_checkpoint_state(ckpt_dir)
  except (ValueError, tf.errors.OpError, UnicodeDecodeError):
    return None
  if state is None or not state.model_checkpoint_path:
    return None
  full = lambda p: p if os.path.isabs(p) else os.path.join(ckpt_dir, p)
  return full(state.model_checkpoint_path), [full(p) for p in state.all_model_checkpoint_paths]


def repair_state(ckpt_dir: str, log=print) -> bool:
  """Rewrites the `checkpoint` state file from the index files when it is missing,
  unreadable or names other checkpoints than those on disk; True if it was rewritten."""
  found = [p for _, p in scan(ckpt_dir)]
  state_file = os.path.join(ckpt_dir, 'checkpoint')
  if not found:
    if os.path.exists(state_file):  # names checkpoints that are gone: keep it, aside
      _move_aside(ckpt_dir, [state_file], log, 'a state file naming no checkpoint on disk')
    return False
  have = _state_paths(ckpt_dir)
  if have is not None and have[0] == found[-1] and have[1] == found:
    return False
  if not os.path.exists(state_file):
    what = 'missing'
  elif have is None:
    what = 'empty' if not os.path.getsize(state_file) else 'unreadable'
  else:
    what = f'naming {os.path.basename(have[0])} as the latest'
  # Their files' times, so that the manager's keep-N rotation goes on as before.
  stamps = [os.path.getmtime(p + '.index') for p in found]
  names = [os.path.basename(p) for p in found]  # relative, as the manager writes them
  tf.compat.v1.train.update_checkpoint_state(ckpt_dir, names[-1],
                                             all_model_checkpoint_paths=names,
                                             all_model_checkpoint_timestamps=stamps,
                                             last_preserved_timestamp=min(stamps) - 1)
  log(f'warning: {state_file} was {what}; rebuilt it from the checkpoint files on disk '
      f'(latest {os.path.basename(found[-1])}, {len(found)} in all)')
  return True


_INTACT = set()  # the files (name, size, mtime) of checkpoints verify() has read back whole


def _stamp(prefix: str) -> tuple:
  """(name, size, mtime) of the checkpoint's index and data files, as they are now."""
  folder, base = os.path.split(prefix)
  try:
    names = sorted(e for e in os.listdir(folder or '.')
                   if e == base + '.index' or e.startswith(base + '.data-'))
    return (os.path.realpath(prefix),) + tuple(
        (n, (st := os.stat(os.path.join(folder, n))).st_size, st.st_mtime_ns) for n in names)
  except OSError:
    return ()


def verify(prefix: str) -> str | None:
  """None if every tensor of the checkpoint reads back intact, else the first error's line.
  A checkpoint read back whole once is not read again while its files are unchanged (a
  tool resolves, then restores: one full read, not two)."""
  stamp = _stamp(prefix)
  if stamp and stamp in _INTACT:
    return None
  try:
    reader = tf.train.load_checkpoint(prefix)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  except Exception as e:  # pylint: disable=broad-except  (any failure to read is corruption)
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
  if stamp:
    _INTACT.add(stamp)
  return None


def _move_aside(ckpt_dir: str, paths: list[str], log, why: str) -> str:
  dest = os.path.join(ckpt_dir, CORRUPT, time.strftime('%Y%m%d-%H%M%S'))
  os.makedirs(dest, exist_ok=True)
  for p in paths:
    os.replace(p, os.path.join(dest, os.path.basename(p)))
  log(f'warning: {why}: moved {", ".join(os.path.basename(p) for p in paths)} to {dest} '
      f'(kept, not deleted)')
  return dest


def quarantine(prefix: str, reason: str, log=print) -> str:
  """Moves a checkpoint's files (index and data shards) into checkpoints/corrupt/STAMP/."""
  ckpt_dir, base = os.path.split(prefix)
  files = [os.path.join(ckpt_dir, e) for e in sorted(os.listdir(ckpt_dir))
           if e == base + '.index' or e.startswith(base + '.data-')]
  return _move_aside(ckpt_dir, files, log, f'{base} cannot be read ({reason})')


def newest_readable(ckpt_dir: str, log=print) -> str | None:
  """The newest checkpoint that reads back intact, for the tools that only read a run
  (export, sample, evaluate): the same choice as `newest_intact`, from the files and never
  the state file, but nothing is moved or rewritten (a live run may own the folder); each
  newer one that fails is named in a warning. None when none reads back."""
  for _, prefix in reversed(scan(ckpt_dir)):
    reason = verify(prefix)
    if reason is None:
      return prefix
    log(f'warning: {os.path.basename(prefix)} cannot be read ({reason}); using the one '
        f'before it (tools/train moves it aside when the run is resumed)')
  return None


def newest_intact(ckpt_dir: str, log=print) -> str | None:
  """The newest checkpoint that reads back intact; corrupt newer ones are quarantined and the
  state file is rebuilt to match. None when no intact checkpoint is left."""
  clean_temp(ckpt_dir, log)
  chosen = None
  for _, prefix in reversed(scan(ckpt_dir)):
    reason = verify(prefix)
    if reason is None:
      chosen = prefix
      break
    quarantine(prefix, reason, log)
  repair_state(ckpt_dir, log)
  return chosen
