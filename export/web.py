"""A run's generator as a static web page that samples it in the browser with LiteRT.js.

    EXPORT_DIR/web/NAME/VERSION/index.html, app.js, latents.js     the page (apps/web/)
    EXPORT_DIR/web/NAME/VERSION/node_modules/@litertjs/...          the LiteRT.js runtime
    EXPORT_DIR/web/NAME/VERSION/model/generator_QUANT.tflite        one file per quantisation
    EXPORT_DIR/web/NAME/VERSION/model/metadata.json

`cd` there and `python -m http.server` serves a working demo: nothing is fetched from
anywhere but that folder. The runtime is copied from apps/web/node_modules (`make web` runs
`npm ci` there); only its single-threaded WebAssembly builds are copied (relaxed-SIMD and
the compatibility build), so no COOP/COEP headers are needed.

The .tflite files here have a FIXED batch of 1: LiteRT.js 2.5 compiles a model for the
shapes in its signature and refuses a [1, d] tensor for a [-1, d] input ("TensorBuffer
ranked tensor type Float32[1, 100] does not match expected ranked tensor type
Float32[-1, 100]"), and it has no resize call. The page runs one call per image;
ai_edge_litert runs these files too (export/litert.py loops over the batch).
"""
import json
import os
import shutil

from core import files
from core.errors import ConfigError
from export import common  # TensorFlow-free: export/tflite.py is imported when converting

# realpath: under Bazel this file is a symlink into the checkout, where npm installed the runtime.
# ROOT: the checkout (site-packages in an installed wheel, where INSTALLED is True).
ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
# An installed wheel ships apps/web (the page, package.json and the bundled model, without
# node_modules) as export/web_app (pyproject.toml); a checkout has no export/web_app.
SHIPPED = os.path.join(os.path.dirname(os.path.realpath(__file__)), 'web_app')
INSTALLED = os.path.isdir(SHIPPED)
APP = SHIPPED if INSTALLED else os.path.join(ROOT, 'apps', 'web')
PAGE = ('index.html', 'app.js', 'latents.js')
# The runtime files the page loads (loadLiteRt picks one of the two builds by the browser's
# relaxed-SIMD support); package.json files carry the version and the licence.
RUNTIME = (
    'node_modules/@litertjs/core/package.json',
    'node_modules/@litertjs/core/dist/index.js',
    'node_modules/@litertjs/core/wasm/litert_wasm_internal.js',
    'node_modules/@litertjs/core/wasm/litert_wasm_internal.wasm',
    'node_modules/@litertjs/core/wasm/litert_wasm_compat_internal.js',
    'node_modules/@litertjs/core/wasm/litert_wasm_compat_internal.wasm',
    'node_modules/@litertjs/wasm-utils/package.json',
    'node_modules/@litertjs/wasm-utils/dist/index.js',
)
MODEL_DIR = 'model'
BATCH = 1
# The bundled model (a `make train` run's float16 generator at batch 1; docs/export.md
# says which command made it, its metadata.json which checkpoint): the page's and tools/sample's default; a wheel ships it.
BUNDLED = os.path.join(APP, MODEL_DIR)


def app_dir(app: str = '') -> str:
  """apps/web (export/web_app in an installed wheel; or `app`) after checking that the page
  and its installed runtime are there."""
  app = app or APP
  missing = [f for f in PAGE if not os.path.isfile(os.path.join(app, f))]
  if missing:
    raise ConfigError(f'the web page is incomplete: {", ".join(missing)} missing in {app}')
  runtime = [f for f in RUNTIME if not os.path.isfile(os.path.join(app, f))]
  if runtime and os.path.realpath(app) == SHIPPED:  # an installed wheel ships no node_modules
    raise ConfigError(f'the LiteRT.js runtime is not installed ({runtime[0]} missing in '
                      f'{app}); the wheel does not ship it: run `npm ci` in {app} (Node.js '
                      f'npm), or export from a checkout after `make web`')
  if runtime:
    raise ConfigError(f'the LiteRT.js runtime is not installed ({runtime[0]} missing in '
                      f'{app}); run `make web` (npm ci in apps/web) first')
  return app


def lay_out(directory: str, files: dict, meta: dict, app: str):
  """The page and its runtime from `app` (checked by app_dir) and the model into
  `directory` (created)."""
  os.makedirs(directory)
  for f in PAGE + RUNTIME:
    os.makedirs(os.path.dirname(os.path.join(directory, f)) or directory, exist_ok=True)
    shutil.copyfile(os.path.join(app, f), os.path.join(directory, f))
  common.write_files(os.path.join(directory, MODEL_DIR), files, meta)


def export(run, quantizations=common.QUANTIZATIONS, export_dir: str = '',
           name: str = '', checkpoint: str = '', log=print, version: int = 0) -> str:
  """Writes the web demo of the run's generator into EXPORT_DIR/web/NAME/VERSION (the
  quantisations given, batch fixed at 1); returns that directory."""
  from export import tflite  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  app = app_dir()  # before any conversion
  run = common.exportable_run(run, checkpoint)
  if 'prior' in run.spec.roles:
    raise ConfigError(f'{run.workdir} holds a latent_ebm run: its generator needs z from the '
                      f'learned prior, and the web page draws z ~ N(0, I); export '
                      f'--formats=saved_model,tflite (the SavedModel\'s sample signature runs '
                      f'the prior\'s chain; the .tflite export carries {common.PRIOR_LATENTS})')
  cfg, meta, files = tflite.convert_run(run, quantizations, batch=BATCH)
  meta['format'] = 'tflite (web: LiteRT.js)'
  base = common.bases(run.workdir, cfg.algo, export_dir, name)['web']
  path = common.write_versioned(base, lambda tmp: lay_out(tmp, files, meta, app), version)
  log(f'wrote web app {path}: {tflite.sizes(files, meta)} (batch 1); try it: '
      f'cd {path} && python3 -m http.server 8000, then open http://127.0.0.1:8000/')
  return path


BUNDLE_LIMIT = 2_000_000  # bytes: the bundled model stays small enough to commit


def model_files(meta: dict, where: str = 'metadata.json') -> list:
  """Every .tflite file a model folder's metadata.json (`where`, for the message) lists
  (each view's, for multi-view). ConfigError, naming the entry, for any name that is not a
  plain file name ending in .tflite: no folder part (`../x`, `/abs/x`, `sub/x`), since a
  web export writes its files beside metadata.json."""
  entries = [(f'files.{k}', v) for k, v in meta['files'].items()]
  for view, view_names in meta.get('view_files', {}).items():
    entries += [(f'view_files.{view}.{k}', v) for k, v in view_names.items()]
  for entry, name in entries:
    if not (isinstance(name, str) and name.endswith('.tflite') and name != '.tflite'
            and not any(c in name for c in '/\\\x00') and name == os.path.basename(name)):
      raise ConfigError(f'{where} lists {entry} = {json.dumps(name)}, which is not a plain '
                        f'.tflite file name in its folder; export the run again '
                        f'(tools/export --formats=web)')
  return list(dict.fromkeys(name for _, name in entries))


def bundle(export_path: str, command: str, commit: str, dest: str = '', log=print) -> str:
  """Copies a web export's model/ folder (its .tflite files and metadata.json) into
  `dest` (default: the bundled model, apps/web/model), recording in its metadata.json the
  command and commit that made it and, when the run's metrics.json is still beside its
  checkpoint, the run's sample scores. Every file is checked first (a plain .tflite name
  inside model/, no link out of it; a LiteRT model with a batch of 1; BUNDLE_LIMIT bytes in
  all), so nothing is written outside `dest`; the old folder is replaced only by a complete new
  one, and put back if the swap fails. `export_path`: a web export VERSION folder or its
  NAME folder (the newest version)."""
  from export import litert  # pylint: disable=g-import-not-at-top  (LiteRT, no TensorFlow)
  dest = (dest or BUNDLED).rstrip('/')
  if not os.path.isdir(os.path.join(export_path, MODEL_DIR)):  # NAME: its newest version
    export_path = common.newest_version(export_path) or export_path
  source = os.path.join(export_path, MODEL_DIR)
  meta_path = os.path.join(source, 'metadata.json')
  if not os.path.isfile(meta_path):
    raise ConfigError(f'{export_path} is not a web export (no {MODEL_DIR}/metadata.json); '
                      f'make one with tools/export --formats=web')
  try:
    with open(meta_path) as f:
      meta = json.load(f)
    names = model_files(meta, meta_path)  # ConfigError for a name that is not plain
  except (OSError, ValueError, KeyError, AttributeError, TypeError) as e:
    raise ConfigError(f'{meta_path} cannot be read ({type(e).__name__}: {e}); export the run '
                      f'again (tools/export --formats=web)') from None
  payload = {}
  for n in names:
    try:  # a link out of the export's model/ folder is not followed
      path = files.inside(source, n, f'{meta_path}: the model file')
    except ConfigError as e:
      raise ConfigError(f'{e}; export the run again (tools/export --formats=web)') from None
    if not os.path.isfile(path):
      raise ConfigError(f'{meta_path} lists {n}, which is missing; export the run again '
                        f'(tools/export --formats=web)')
    if litert.fixed_batch(litert.interpreter(path)) != BATCH:  # ConfigError if not a model
      raise ConfigError(f'{path} does not take a batch of {BATCH}, which LiteRT.js needs; '
                        f'bundle a web export (tools/export --formats=web)')
    with open(path, 'rb') as f:
      payload[n] = f.read()
  size = sum(len(b) for b in payload.values())
  if size > BUNDLE_LIMIT:
    raise ConfigError(f'the model files take {size / 1e6:.2f} MB, more than the bundled '
                      f'model\'s {BUNDLE_LIMIT / 1e6:.0f} MB; export one smaller quantisation '
                      f'(--quantize=float16 or int8)')
  meta['made_by'] = {'command': command, 'commit': commit,
                     'export': os.path.abspath(export_path)}
  run_metrics = os.path.join(os.path.dirname(os.path.dirname(meta.get('checkpoint', ''))),
                             'metrics.json')
  if meta.get('checkpoint') and os.path.isfile(run_metrics):
    with open(run_metrics) as f:
      scores = json.load(f)
    meta['made_by']['metrics'] = {k: scores[k] for k in (
        'fd', 'kid', 'classes_present', 'class_max_share', 'classifier_sha256') if k in scores}
  tmp, old = f'{dest}.tmp-{os.getpid()}', f'{dest}.old-{os.getpid()}'
  shutil.rmtree(tmp, ignore_errors=True)
  try:
    common.write_files(tmp, payload, meta)  # each name joined by core/files.inside
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  if os.path.isdir(dest):
    os.rename(dest, old)
  try:
    os.rename(tmp, dest)
  except OSError:
    if os.path.isdir(old):
      os.rename(old, dest)  # the good bundled model back in place
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  shutil.rmtree(old, ignore_errors=True)
  log(f'bundled {", ".join(names)} + metadata.json into {dest} ({size / 1e6:.2f} MB)')
  return dest
