"""One nested config per run: sections data / model / langevin / optim / train / eval / export.

Defaults per algorithm live in `configs/<algo>.py`; this module holds the shared defaults, the
command-line override syntax (`--set train.steps=200`), JSON round trips and the config hash.
"""
import ast
import difflib
import hashlib
import json

import ml_collections

from core import files
from core import masks
from core.errors import ConfigError

SECTIONS = ('data', 'model', 'langevin', 'optim', 'train', 'eval', 'export')
PRECISIONS = ('auto', 'float32', 'mixed_bfloat16')
STRATEGIES = ('default', 'mirrored', 'multi_worker')


def base() -> ml_collections.ConfigDict:
  """The defaults every algorithm starts from (each `configs/<algo>.py` overrides some)."""
  c = ml_collections.ConfigDict()
  c.algo = ''
  c.seed = 0
  c.data = dict(
      dataset='fashion_mnist',  # see core.data.SOURCES
      image_size=28,
      channels=1,
      batch_size=100,
      data_dir='',  # a TFDS data_dir; '' means the default places (see core.data)
      download=False,  # let TFDS download a missing dataset
      max_examples=0,  # cap the training set (smoke runs); 0 means all
      test_fraction=0.1,  # held-out share for sources without a test split
  )
  c.model = dict(name='', widths=(), out_units=100)
  c.langevin = dict(
      steps=30,
      step_size=0.01,  # δ in X ← X − (δ²/2)∇E + δ·N(0, I)
      noise=True,
      ref_sigma=1.0,  # s of the reference p0 = N(0, s²I); 0 drops the reference term
      clip=0.0,  # per-example gradient-norm clip; 0 means none
      bounded=False,  # project chains onto [-1, 1] (the data's range) after each update
      init='buffer',  # noise | zeros | data_mean | buffer
      start_noise=1.0,  # noise starts (and buffer fills/restarts) are uniform in ±this
      buffer_size=10000,
      reinit=0.05,  # share of buffer chains restarted from noise each step
      jit_compile=False,  # XLA for the Langevin loop (2-3x slower on CPU; may pay on GPU)
  )
  c.optim = dict(lr=1e-4, beta1=0.5, beta2=0.999, clipnorm=0.0,
                 energy_penalty=0.0)  # weight of mean f(X)² + mean f(X̃)² (EBM trainers)
  c.train = dict(
      steps=2000,
      log_every=50,
      sample_every=500,
      ckpt_every=500,
      keep=3,
      precision='float32',  # auto | float32 | mixed_bfloat16 (auto: bf16 where native)
      strategy='default',  # default | mirrored | multi_worker (TF_CONFIG's workers)
      replicas=0,  # mirrored on CPU: number of logical CPU devices (0: all GPUs, else 2)
      cluster_timeout=300.0,  # multi_worker: seconds for every worker to join
      time_budget=0.0,  # stop after this many seconds of training (0: run all steps)
      # Divergence (a NaN/inf metric, or |energy| above energy_bound where > 0): roll back to
      # the last good checkpoint with learning rates and Langevin step sizes × rollback_factor,
      # at most max_rollbacks times (0: stop at the first divergence).
      max_rollbacks=3,
      rollback_factor=0.5,
      energy_bound=0.0,
      smoke=False,  # a --smoke run (its tiny nets fit their ladders to the image size)
      deterministic=False,  # tf.config.experimental.enable_op_determinism (docs/training.md)
      eager=False,  # run each training step eagerly, for debugging (core/loop.eagerly)
  )
  # score: Fréchet distance etc. at the end; quick_fd: that many generated images scored
  # every sample_every steps (TensorBoard's eval/quick_fd; 0: off).
  c.eval = dict(num_samples=64, score=False, quick_fd=0)
  c.export = dict()
  return c


# List fields whose items are text (the others take numbers: 64,128).
TEXT_LISTS = ('langevin.clamp_masks', 'data.views')


def _coerce(text: str, current, key: str):
  """Parses `text` into the type of the value it replaces."""
  if isinstance(current, bool):
    low = text.strip().lower()
    if low in ('1', 'true', 'yes', 'on'):
      return True
    if low in ('0', 'false', 'no', 'off'):
      return False
    raise ConfigError(f'{key} takes true or false, not {text!r}')
  try:
    if isinstance(current, int):
      return int(text)
    if isinstance(current, float):
      return float(text)
  except ValueError:
    raise ConfigError(
        f'{key} takes a {type(current).__name__}, not {text!r}') from None
  if isinstance(current, str):
    return text
  if key in TEXT_LISTS and not text.strip().startswith(('[', '(')):
    # names, even those that read as numbers (a view called 000)
    return tuple(v.strip() for v in text.split(',') if v.strip())
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text
  if isinstance(current, (tuple, list)):
    if isinstance(value, (int, float)):
      value = (value,)
    if isinstance(value, str) and key in TEXT_LISTS:
      value = tuple(v.strip() for v in value.split(',') if v.strip())  # block:10,doodle
    if not isinstance(value, (tuple, list)):
      raise ConfigError(f'{key} takes a list such as 64,128, not {text!r}')
    return tuple(value)
  return value


def flat_keys(cfg, prefix=''):
  out = []
  for k, v in cfg.items():
    if isinstance(v, ml_collections.ConfigDict):
      out += flat_keys(v, f'{prefix}{k}.')
    else:
      out.append(f'{prefix}{k}')
  return out


def set_value(cfg, key: str, text: str):
  """Sets `key` (dotted) from its command-line text, keeping the field's type."""
  known = flat_keys(cfg)
  if key not in known:
    close = difflib.get_close_matches(key, known, n=3)
    hint = f'; did you mean {", ".join(close)}?' if close else (
        f'; known keys: {", ".join(known)}')
    raise ConfigError(f'unknown config key {key!r}{hint}')
  *parents, leaf = key.split('.')
  node = cfg
  for p in parents:
    node = node[p]
  node[leaf] = _coerce(text, node[leaf], key)


def apply_overrides(cfg, assignments):
  """Applies `key=value` strings (the repeatable `--set` flag) in order."""
  for item in assignments or ():
    if '=' not in item:
      raise ConfigError(f'--set takes key=value (e.g. train.steps=200), not {item!r}')
    key, text = item.split('=', 1)
    set_value(cfg, key.strip(), text.strip())
  return cfg


MAX_SEED = 2**32 - 1  # numpy's and the exports' seeded latents take 32-bit seeds


def validate(cfg):
  """Checks values whose errors would otherwise surface deep inside TF (the keys every
  algorithm shares; an algorithm's own checks are declared with it, trainers/registry.py)."""
  if cfg.train.precision not in PRECISIONS:
    raise ConfigError(
        f'train.precision must be one of {", ".join(PRECISIONS)}, not {cfg.train.precision!r}')
  if cfg.train.strategy not in STRATEGIES:
    raise ConfigError(
        f'train.strategy must be one of {", ".join(STRATEGIES)}, not {cfg.train.strategy!r}')
  if not 0 <= cfg.seed <= MAX_SEED:
    raise ConfigError(f'seed is 0..{MAX_SEED}, got {cfg.seed}')
  positive = ['data.batch_size', 'data.image_size', 'train.steps', 'train.log_every',
              'train.sample_every', 'train.ckpt_every', 'train.keep']
  for key in positive:
    sec, name = key.split('.')
    if cfg[sec][name] <= 0:
      raise ConfigError(f'{key} must be positive, got {cfg[sec][name]}')
  t = cfg.train
  if not t.cluster_timeout > 0:
    raise ConfigError(f'train.cluster_timeout is the seconds every worker has to join, > 0; '
                      f'got {t.cluster_timeout}')
  if t.strategy == 'multi_worker' and t.replicas:
    raise ConfigError(f'--replicas={t.replicas} splits one CPU for --strategy=mirrored; under '
                      f'multi_worker each worker trains on all its GPUs, or on one CPU '
                      f'device: drop --replicas')
  if t.replicas < 0:
    raise ConfigError(f'train.replicas (--replicas) is a count of logical CPUs, >= 0 (0: the '
                      f'default), got {t.replicas}')
  if t.max_rollbacks < 0 or not 0.0 < t.rollback_factor < 1.0 or t.energy_bound < 0:
    raise ConfigError(f'train.max_rollbacks must be >= 0, train.rollback_factor in (0, 1) and '
                      f'train.energy_bound >= 0 (0: off); got {t.max_rollbacks}, '
                      f'{t.rollback_factor}, {t.energy_bound}')
  q = cfg.eval.quick_fd
  if q and not 10 <= q <= 10000:
    raise ConfigError(f'eval.quick_fd is the number of generated images scored every '
                      f'train.sample_every steps, 10..10000 (0: off); got {q}')
  o = cfg.optim
  for key in ('lr', 'gen_lr', 'enc_lr'):
    if key in o and not o[key] > 0:
      raise ConfigError(f'optim.{key} must be > 0, got {o[key]}')
  for key in ('beta1', 'beta2'):
    if key in o and not 0.0 <= o[key] < 1.0:
      raise ConfigError(f'optim.{key} is an Adam decay rate in [0, 1), got {o[key]}')
  if not 0.0 < cfg.data.test_fraction < 1.0:
    raise ConfigError(f'data.test_fraction is the held-out share in (0, 1), got '
                      f'{cfg.data.test_fraction}')
  if cfg.data.max_examples < 0:
    raise ConfigError(f'data.max_examples caps the training set (0: all), got '
                      f'{cfg.data.max_examples}')
  if 'latent_dim' in cfg.model and cfg.model.latent_dim <= 0:
    raise ConfigError(f'model.latent_dim must be positive, got {cfg.model.latent_dim}')
  if cfg.data.channels not in (1, 3):
    raise ConfigError(f'data.channels must be 1 or 3, got {cfg.data.channels}')
  if 'mask' in cfg.data:
    masks.parse(cfg.data.mask, cfg.data.image_size)
  if 'langevin' in cfg:
    lv = cfg.langevin
    if lv.steps < 0 or lv.step_size <= 0 or lv.ref_sigma < 0 or lv.clip < 0:
      raise ConfigError('langevin.steps must be >= 0, step_size > 0, ref_sigma >= 0, clip >= 0')
    if not 0.0 <= lv.reinit <= 1.0:
      raise ConfigError(f'langevin.reinit is a fraction in [0, 1], got {lv.reinit}')
  return cfg


def to_dict(cfg) -> dict:
  return json.loads(cfg.to_json())


def save(cfg, path):
  """Written whole or not at all (core/files.atomic)."""
  with files.atomic(path, 'w') as f:
    f.write(cfg.to_json(indent=2, sort_keys=True) + '\n')


def load(path) -> ml_collections.ConfigDict:
  """A config.json, or ConfigError naming the file when it is unreadable, not JSON, or not a
  config (no object with `algo` and a `data` section naming its dataset)."""
  try:
    with open(path, 'rb') as f:
      raw = json.loads(f.read().decode('utf-8'))
  except (OSError, ValueError) as e:  # (UnicodeDecodeError and JSONDecodeError included)
    raise ConfigError(f'{path} cannot be read as JSON ({type(e).__name__}: '
                      f'{str(e)[:120]}); restore it, or start over with --fresh') from None
  data = raw.get('data') if isinstance(raw, dict) else None
  if not (isinstance(raw, dict) and isinstance(raw.get('algo'), str)
          and isinstance(data, dict) and isinstance(data.get('dataset', ''), str)):
    raise ConfigError(f'{path} is not a twonets config (an object with "algo" and a "data" '
                      f'section); restore it, or start over with --fresh')
  return ml_collections.ConfigDict(raw)


def check_types(cfg, defaults, where: str, prefix: str = ''):
  """ConfigError naming the first key of `cfg` whose value is not of its default's kind (a
  section, a number, a string, a flag, a list): a hand-edited or damaged config.json."""
  for k, default in defaults.items():
    if k not in cfg or default is None:
      continue
    have, key = cfg[k], prefix + k
    if isinstance(default, ml_collections.ConfigDict):
      if not isinstance(have, ml_collections.ConfigDict):
        raise ConfigError(f'{where}: {key} is {have!r:.60}, not a section; restore it, or '
                          f'start over with --fresh')
      check_types(have, default, where, key + '.')
      continue
    kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,),
             tuple: (list, tuple), list: (list, tuple)}.get(type(default))
    if kinds and (not isinstance(have, kinds) or (isinstance(have, bool) and bool not in kinds)):
      kind = {bool: 'true or false', int: 'an integer', float: 'a number', str: 'a string'
              }.get(type(default), 'a list')
      raise ConfigError(f'{where}: {key}={have!r:.60} is not {kind} (its default is '
                        f'{default!r:.60}); restore it, or start over with --fresh')


def fill_missing(cfg, defaults):
  """Adds to `cfg` (in place) every key of `defaults` it lacks, recursively: a config.json
  written before a key existed loads with that key's default. Returns the keys added."""
  added = []
  for k, v in defaults.items():
    if k not in cfg:
      cfg[k] = v.copy_and_resolve_references() if isinstance(
          v, ml_collections.ConfigDict) else v
      added.append(k)
    elif isinstance(v, ml_collections.ConfigDict) and isinstance(cfg[k],
                                                                 ml_collections.ConfigDict):
      added += [f'{k}.{sub}' for sub in fill_missing(cfg[k], v)]
  return added


def digest(cfg) -> str:
  """A short stable hash of the whole config (export metadata, run identity)."""
  return hashlib.sha256(cfg.to_json(sort_keys=True).encode()).hexdigest()[:12]


def diff(old, new, prefixes):
  """Keys under `prefixes` whose values differ between two configs: [(key, old, new)]."""
  a, b = to_dict(old), to_dict(new)

  def get(d, key):
    for part in key.split('.'):
      if not isinstance(d, dict) or part not in d:
        return None
      d = d[part]
    return d

  keys = sorted(set(flat_keys(old)) | set(flat_keys(new)))
  out = []
  for k in keys:
    if any(k == p or k.startswith(p + '.') for p in prefixes):
      va, vb = get(a, k), get(b, k)
      if va != vb:
        out.append((k, va, vb))
  return out
