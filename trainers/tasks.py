"""tools/evaluate's tasks: one dispatcher over the tasks each algorithm declares
(trainers/registry.py), and the two every run with a generator offers (sample, score).

Every task is a function `task(workdir, **options)` whose keyword parameters are named like
tools/evaluate's flags (mask, num_images, steps, seed, ...); the dispatcher passes each task
the options its signature names.
"""
import inspect
import os
import time
import zipfile

import numpy as np

from core import data as data_lib
from core import files
from core.errors import CheckpointError, ConfigError
from evaluation import reports
from trainers import nets
from trainers import registry


def evaluate(workdir: str, task: str, **options):
  """Runs task `task` on the trained run in `workdir`; ConfigError (one line) when the run
  has none or does not offer it."""
  cfg = registry.stored_config(workdir)
  if cfg is None:
    raise CheckpointError(f'{workdir} has no checkpoint; train first '
                          f'(tools/train --workdir={workdir} ...)')
  fn = registry.task(cfg.algo, task, workdir)
  wanted = inspect.signature(fn).parameters
  return fn(workdir, **{k: v for k, v in options.items() if k in wanted})


def sample_sets(workdir: str, num_images: int, seed: int, log=print):
  """(config, {name: samples in [-1, 1]}) drawn from the run in `workdir` by its algorithm's
  sampler (registry `samples`), each phase said with its time."""
  began = time.time()
  cfg, built = nets.restore(workdir, algos=registry.with_generator())
  log(f'restored {workdir} ({", ".join(built)}) in {time.time() - began:.1f} s; drawing '
      f'{num_images} samples …')
  began = time.time()
  sets = registry.resolve(registry.get(cfg.algo).samples)(cfg, built, num_images, seed)
  log(f'drew {", ".join(f"{len(s)} from the {name}" for name, s in sets.items())} in '
      f'{time.time() - began:.1f} s')
  return cfg, sets


def write_samples(workdir: str, num_images: int = 1000, seed: int = 0, log=print):
  """WORKDIR/samples.npz: `images` uint8 [N', H, W, C] and `net` (which net made each)."""
  _, sets = sample_sets(workdir, num_images, seed, log)
  images = np.concatenate([data_lib.to_uint8(s) for s in sets.values()])
  net = np.concatenate([[name.split()[-1]] * len(s) for name, s in sets.items()])
  path = os.path.join(workdir, 'samples.npz')
  files.write_npz(path, images=images, net=net.astype(str), seed=seed)
  log(f'wrote {path}: {len(images)} images ' +
      ', '.join(f'{len(s)} by the {name}' for name, s in sets.items()))
  return path


def load_samples(path: str):
  """Images in [-1, 1] from an npz with an `images` array (uint8, or floats in [-1, 1])."""
  try:
    with np.load(path, allow_pickle=False) as f:
      images = f['images']
  except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:  # torn: BadZipFile
    raise ConfigError(f'--samples={path} is not a readable npz with an `images` array '
                      f'({type(e).__name__}: {str(e)[:120]}); write it again (tools/evaluate '
                      f'--task=sample)') from None
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ConfigError(f'--samples={path}: `images` has shape {images.shape}; expected '
                      f'[N, H, W, 1 or 3]')
  return data_lib.to_float(images) if images.dtype == np.uint8 else images.astype(np.float32)


def score(workdir: str, num_images: int = 1000, seed: int = 0, samples: str = '',
          inception_weights: str = '', log=print) -> dict:
  """Fréchet distance and KID of the run's samples (or of the npz `samples`) beside the
  reference points; with inception_weights also the Inception FD and IS. WORKDIR/score.json."""
  if samples:
    cfg = registry.stored_config(workdir)
    sets = {os.path.basename(samples): load_samples(samples)}
  else:
    cfg, sets = sample_sets(workdir, num_images, seed, log)
  out = reports.sample_quality(cfg, sets, headline=next(iter(sets)), log=log)
  if inception_weights:
    from evaluation import scoring  # pylint: disable=g-import-not-at-top
    test = data_lib.to_float(data_lib.from_config(cfg, 'test').images)
    half = len(test) // 2
    out['inception'] = {name: scoring.inception_scores(s, test[half:2 * half],
                                                      weights=inception_weights)
                        for name, s in sets.items()}
  return reports.write_report(workdir, 'score', out, log)
