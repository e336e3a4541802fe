"""What the SavedModel and TFLite writers share: the run's nets (restored from its config.json
and a checkpoint, only the roles an export needs), its metadata, and versioned directories
that appear whole or not at all.

    EXPORT_DIR/NAME/VERSION/      VERSION = 1, 2, ... (the next free number)

A version is written into EXPORT_DIR/NAME/.tmp-VERSION-PID and renamed when complete, so a
killed export never leaves a half-written VERSION directory (TF Serving loads only numeric
directories); leftovers of dead exports are removed by the next one.
"""
import contextlib
import fcntl
import json
import os
import shutil

import numpy as np

from core import files as core_files
from core.errors import STORAGE_ERRNOS, ConfigError, StorageError
from trainers import registry
from trainers import run as run_lib

VALUE_RANGE = (-1.0, 1.0)
FORMATS = ('saved_model', 'tflite', 'web', 'keras')  # keras: .keras files (export/saved_model.py)
DEFAULT_FORMATS = ('saved_model', 'tflite')  # web (export/web.py) needs `make web` first
QUANTIZATIONS = ('float32', 'float16', 'dynamic', 'int8')  # TFLite (export/tflite.py)
CHECK_LATENTS = 16  # latents (or inputs) each written format is compared with TensorFlow on
# A latent-EBM run's .tflite export: this many draws of its learned prior, float32 [N, d].
PRIOR_LATENTS, PRIOR_DRAWS = 'prior_latents.npy', 4096


def exportable_run(run, checkpoint: str = ''):
  """The trained run to export (trainers/run.open_run, no TensorFlow yet; or `run` itself
  when it is an opened TrainedRun): CheckpointError without a checkpoint, ConfigError when
  its algorithm has no generator to export."""
  run = run_lib.opened(run, checkpoint, purpose=' to export')
  if not run.spec.has_generator:
    raise ConfigError(f'{run.workdir} holds a {run.algo} run, which has no generator to export; '
                      f'export a run of {", ".join(registry.with_generator())}')
  return run


def load_run(run, checkpoint: str = ''):
  """(cfg, {role: net}, metadata) of a run with a generator (every net its checkpoint holds):
  `run` a workdir (opened here, at `checkpoint`) or an opened TrainedRun. An opened run
  resolves its checkpoint once and restores its nets once, so the formats of one export
  (tools/export opens the run once and hands it to each) come from the same weights even
  while a live run saves newer checkpoints or rotates this one out."""
  run = exportable_run(run, checkpoint)
  nets = run.nets()
  return run.cfg.copy_and_resolve_references(), dict(nets), metadata(run, nets)


def metadata(run, nets) -> dict:
  """metadata.json's description of the exported generator, shared by every format."""
  cfg = run.cfg
  d = cfg.data
  meta = {
      'algorithm': cfg.algo,
      'latent_dim': int(nets['generator'].input_shape[-1]),
      'image_shape': [d.image_size, d.image_size, d.channels],
      'value_range': list(VALUE_RANGE),
      'uint8_mapping': 'uint8 = round((x + 1) * 127.5), x clipped to [-1, 1]',
      'latent_prior': 'z ~ N(0, I)',
      'training_step': run.step,
      'checkpoint': os.path.abspath(run.checkpoint),
      'config_hash': f'sha256:{run.config_sha256}',
      'dataset': d.dataset,
      'nets': sorted(nets),
  }
  geometry_dim = getattr(nets['generator'], 'geometry_dim', 0)
  if geometry_dim:  # the deformable generator: z = [appearance, geometry] (models/deformable)
    dim = meta['latent_dim']
    meta['latent_parts'] = {'appearance': [0, dim - geometry_dim],
                            'geometry': [dim - geometry_dim, dim]}
  if 'prior' in nets:  # the latent EBM (trainers/latent_ebm.py): z from the learned prior
    meta['latent_prior'] = (
        f'z ~ p_α(z) ∝ exp(f_α(z)) N(0, I), the learned prior: z ~ N(0, I) is not what the '
        f'generator was trained on. The SavedModel\'s sample signature draws z by '
        f'{cfg.langevin.prior_steps} Langevin steps inside the graph; the .tflite files take z '
        f'as given: feed them the SavedModel\'s z, or rows of {PRIOR_LATENTS} (the export\'s '
        f'draws of the prior)')
  if 'views' in nets:  # the multi-view generator g((h1, h2)): z = h1, the view fixed or chosen
    names = list(cfg.data.views)
    meta.update(latent_dim=meta['latent_dim'] - int(cfg.model.view_dim), views=names,
                standard_view=names[0],
                latent_prior=f'z = h1 ~ N(0, I), the identity latent; serving_default, sample '
                             f'and the .tflite files without a view suffix render the standard '
                             f'view {names[0]!r}, render and generator_QUANT_VIEW.tflite any')
  return meta


def bases(workdir: str, algo: str, export_dir: str = '', name: str = '') -> dict:
  """format → the folder its versions go in: EXPORT_DIR/NAME, EXPORT_DIR/tflite/NAME,
  EXPORT_DIR/web/NAME and EXPORT_DIR/keras/NAME."""
  root = export_dir or os.path.join(workdir, 'exports')
  return {'saved_model': os.path.join(root, name or algo),
          'tflite': os.path.join(root, 'tflite', name or algo),
          'web': os.path.join(root, 'web', name or algo),
          'keras': os.path.join(root, 'keras', name or algo)}


LOG_NAME = 'export.log'  # EXPORT_DIR/export.log: Keras's and the converter's messages


@contextlib.contextmanager
def chatter_to(log_path: str, header: str = ''):
  """While inside, everything the export's libraries print goes to the end of `log_path`
  instead of the terminal: Python's stdout and stderr (Keras's "Saved artifact at ..."
  blocks, warnings) and, through os.dup2 on file descriptors 1 and 2, what C++ writes there
  (the TFLite converter, LiteRT, TensorFlow's logging). Yields say(line): a line for the
  terminal, on the stdout from before. Everything is put back on the way out, an error
  included (its message is printed after, on the terminal)."""
  import ctypes  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  out = sys.stdout
  for stream in (sys.stdout, sys.stderr):
    stream.flush()
  log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
  saved = (os.dup(1), os.dup(2))
  try:
    real_stdout = out.fileno() == 1
  except (AttributeError, OSError, ValueError):  # a stream with no descriptor (tests)
    real_stdout = False
  terminal = os.fdopen(os.dup(saved[0]), 'w', buffering=1) if real_stdout else out
  log = os.fdopen(log_fd, 'w', buffering=1)
  libc = ctypes.CDLL(None)

  def say(line: str):
    print(line, file=terminal, flush=True)

  try:
    if header:
      log.write(f'{header}\n')
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
      yield say
  finally:
    log.flush()
    libc.fflush(None)  # C stdio's buffers, while they still end in the log
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    for fd in saved:
      os.close(fd)
    log.close()
    if terminal is not out:
      terminal.close()


def tree_size(path: str) -> int:
  """Bytes of a file, or of every file under a folder."""
  if os.path.isfile(path):
    return os.path.getsize(path)
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(path)
             for f in names)


@contextlib.contextmanager
def export_lock(root: str, log=print):
  """Holds an exclusive lock on ROOT/.export.lock (waiting for another export into the same
  root to finish), so that concurrent exports take whole version numbers one after the other
  and never cross them between formats."""
  try:
    os.makedirs(root, exist_ok=True)
    fd = os.open(os.path.join(root, '.export.lock'),
                 os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
  except OSError as e:
    raise ConfigError(f'cannot write exports to {root} ({e.strerror or e}); pass a writable '
                      f'--export_dir') from None
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      log(f'waiting for another export into {root} to finish')
      fcntl.flock(fd, fcntl.LOCK_EX)
    yield
  finally:
    os.close(fd)  # (closing drops the lock)


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
    except Exception as e:  # pylint: disable=broad-except  (sorted below; the rest re-raised)
      if isinstance(e, OSError) and os.path.isdir(os.path.join(base, str(version))):
        shutil.rmtree(tmp, ignore_errors=True)
        continue  # another export took this number first: take the next
      if _storage_failure(e):
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise StorageError(f'could not write the export into {base} ({first}); free space or '
                           f'pass a writable --export_dir; no version was written and the '
                           f'earlier ones are intact') from None
      raise
    finally:
      if os.path.isdir(tmp):
        shutil.rmtree(tmp, ignore_errors=True)


def _storage_failure(e: Exception) -> bool:
  """Whether `e` is the disk's failure (full, read-only, not ours), from Python or from
  TensorFlow's file system."""
  if isinstance(e, OSError):
    return e.errno in STORAGE_ERRNOS
  return type(e).__name__ in ('ResourceExhaustedError', 'PermissionDeniedError') or (
      'No space left' in str(e) or 'Read-only file system' in str(e))


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
  core_files.write_json(os.path.join(directory, 'metadata.json'), meta)


def write_files(directory: str, files: dict, meta: dict):
  """Model files ({name: bytes}) and metadata.json into `directory` (created), each on disk
  (fsync) before the version's folder is renamed into place."""
  os.makedirs(directory)
  for name, data in files.items():
    core_files.write_bytes(core_files.inside(directory, name, 'a model file name'), data)
  write_metadata(directory, meta)


def find_export(path: str):
  """('tflite' | 'saved_model', path) of an export a reader was given: a .tflite file, a
  folder of .tflite files with their metadata.json (its first file: a TFLite or web
  export's model folder), a SavedModel directory, or a TF Serving model directory (its
  newest version). ConfigError for anything else."""
  path = path.rstrip('/') or '/'
  if path.endswith('.tflite'):
    if not os.path.isfile(path):
      raise ConfigError(f'--model={path}: no such .tflite file')
    return 'tflite', path
  tflite_file = _tflite_in(path)
  if tflite_file:
    return 'tflite', tflite_file
  if not os.path.isfile(os.path.join(path, 'saved_model.pb')):
    # A TF Serving model directory (or a TFLite or web one): its newest version.
    path = newest_version(path) or path
    tflite_file = _tflite_in(path)
    if tflite_file:
      return 'tflite', tflite_file
  if not os.path.isfile(os.path.join(path, 'saved_model.pb')):
    raise ConfigError(f'--model={path} is neither a .tflite file, a folder of them with its '
                      f'metadata.json, nor a SavedModel directory (no saved_model.pb)')
  return 'saved_model', path


def newest_version(folder: str):
  """folder/N for the highest numbered version N in `folder`, or None."""
  if not os.path.isdir(folder):
    return None
  versions = [int(v) for v in os.listdir(folder) if v.isdigit()]
  return os.path.join(folder, str(max(versions))) if versions else None


def _tflite_in(folder: str):
  """The first .tflite file of a TFLite export's folder or of a web export's model/."""
  return _first_tflite(folder) or _first_tflite(os.path.join(folder, 'model'))


def _first_tflite(folder: str):
  """The first file metadata.json lists in a folder of .tflite files, else None."""
  meta_path = os.path.join(folder, 'metadata.json')
  if not os.path.isfile(meta_path) or os.path.isfile(os.path.join(folder, 'saved_model.pb')):
    return None
  try:
    with open(meta_path) as f:
      files = list(json.load(f).get('files', {}).values())
  except (OSError, ValueError, AttributeError) as e:
    raise ConfigError(f'--model={folder}: its metadata.json cannot be read ({e}); export it '
                      f'again (tools/export)') from None
  if not files or not str(files[0]).endswith('.tflite'):
    return None
  path = core_files.inside(folder, files[0], f'--model={folder}: metadata.json lists')
  if not os.path.isfile(path):
    raise ConfigError(f'--model={folder}: metadata.json lists {files[0]}, which is missing; '
                      f'export it again (tools/export)')
  return path


def export_generator(path: str):
  """(generate, latent_dim, the export's path) of an exported SavedModel or .tflite (no
  training code; find_export says which): generate(z [n, d] float32) → images [n, H, W, C]
  in [-1, 1]. ConfigError (one line) for a file that is not a loadable twonets export."""
  kind, path = find_export(path)
  if kind == 'tflite':
    from export import litert  # pylint: disable=g-import-not-at-top  (the LiteRT runtime)
    interp = litert.generator(path)
    return (lambda z: litert.run(interp, np.asarray(z, np.float32))), \
        litert.latent_dim(interp), path
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    loaded = tf.saved_model.load(path)
  except (IndexError, OSError, ValueError, tf.errors.OpError) as e:  # a short read: IndexError
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    raise ConfigError(f'--model={path} cannot be loaded: its files are corrupt or truncated '
                      f'({type(e).__name__}: {first}); export it again (tools/export)') from None
  try:
    fn = loaded.signatures['serving_default']
    d = fn.structured_input_signature[1]['z'].shape[-1]
  except (KeyError, OSError, ValueError, tf.errors.OpError) as e:
    raise ConfigError(f'--model={path} is not a twonets export (a serving_default signature '
                      f'taking z): {type(e).__name__}: {str(e)[:200]}') from None
  generate = lambda z: fn(z=tf.constant(np.asarray(z, np.float32)))['images'].numpy()
  generate.loaded = loaded  # the functions' variables live as long as the loaded object
  return generate, int(d), path


def sample_export(path: str, n: int, seed: int):
  """(images in [-1, 1], the export's path) of n samples from an exported SavedModel or
  .tflite (no training code); z = export/latents.latents(seed, n, d), the seeded latents
  the web page and any app can reproduce, so every format draws the same z for a seed."""
  from export import latents  # pylint: disable=g-import-not-at-top
  generate, d, path = export_generator(path)
  return generate(latents.latents(seed, n, d)), path
