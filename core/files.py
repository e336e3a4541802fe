"""Writing files so that a kill, a full disk or a hostile name never costs what was there.

* `atomic(path)`: every output file of the tools (checkpoint-side JSON, evaluation npz/json/png,
  export metadata) is written into a temporary file beside it, flushed to disk (fsync) and
  renamed over the target: a reader sees the old file or the new one, never a torn one. A
  failure (an exception, a full disk) removes the temporary file and leaves the old one.
* `inside(root, name)`: a file name taken from a file (an export's metadata.json) joined onto
  a folder, refused when it would leave the folder (`..`, an absolute path, a link).

No TensorFlow here.
"""
import contextlib
import json
import os
import tempfile

from core.errors import ConfigError


@contextlib.contextmanager
def atomic(path: str, mode: str = 'wb'):
  """`with atomic(path) as f: f.write(...)`: path holds the old contents or the new, whole."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=folder)
  try:
    with os.fdopen(fd, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o666 & ~_umask())  # as open() would make it (mkstemp's is 0600)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise
  _sync_dir(folder)


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _sync_dir(folder: str):
  """The rename itself on disk (a crash right after it keeps the new name)."""
  try:
    fd = os.open(folder, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def write_bytes(path: str, data: bytes):
  with atomic(path) as f:
    f.write(data)


def write_json(path: str, obj, **kw):
  kw.setdefault('indent', 2)
  with atomic(path, 'w') as f:
    json.dump(obj, f, **kw)


def write_npz(path: str, **arrays):
  """np.savez_compressed, atomically (`path` keeps its name: no .npz is appended)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  with atomic(path) as f:
    np.savez_compressed(f, **arrays)


def inside(root: str, name: str, what: str = 'a file name') -> str:
  """root/name, or ConfigError when `name` is empty, absolute, or leads out of `root` (`..`
  or a symbolic link on the way)."""
  name = str(name)
  if not name or os.path.isabs(name) or '\x00' in name:
    raise ConfigError(f'{what} {name!r} is not a plain name inside {root}')
  path = os.path.join(root, name)
  real_root = os.path.realpath(root)
  if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
    raise ConfigError(f'{what} {name!r} leads out of {root}; refusing to follow it')
  return path
