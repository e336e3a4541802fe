"""The tasks every run with a generator offers (trainers/registry.SAMPLING): `sample` writes
WORKDIR/samples.npz, `score` measures the samples (or an npz of them) beside the reference
points. The draws come from the algorithm's sampler (its registry `samples`).
"""
import os
import time
import zipfile

import numpy as np

from core import data as data_lib
from core import files
from core.errors import ConfigError
from evaluation import reports
from trainers import registry
from trainers import run as run_lib


def sample_sets(run, num_images: int, seed: int, log=print):
  """(config, {name: samples in [-1, 1]}) drawn from a run with a generator (a workdir or an
  opened TrainedRun) by its algorithm's sampler (registry `samples`), each phase said with
  its time."""
  began = time.time()
  run = run_lib.opened(run, algos=registry.with_generator())
  built = run.nets()
  log(f'restored {run.workdir} ({", ".join(built)}) in {time.time() - began:.1f} s; drawing '
      f'{num_images} samples …')
  began = time.time()
  sets = registry.resolve(run.spec.samples)(run.cfg, built, num_images, seed)
  log(f'drew {", ".join(f"{len(s)} from the {name}" for name, s in sets.items())} in '
      f'{time.time() - began:.1f} s')
  return run.cfg, sets


def write_samples(run, num_images: int = 1000, seed: int = 0, log=print):
  """WORKDIR/samples.npz: `images` uint8 [N', H, W, C] and `net` (which net made each)."""
  run = run_lib.opened(run)
  _, sets = sample_sets(run, num_images, seed, log)
  images = np.concatenate([data_lib.to_uint8(s) for s in sets.values()])
  net = np.concatenate([[name.split()[-1]] * len(s) for name, s in sets.items()])
  path = os.path.join(run.workdir, 'samples.npz')
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


def score(run, num_images: int = 1000, seed: int = 0, samples: str = '',
          inception_weights: str = '', log=print) -> dict:
  """Fréchet distance and KID of the run's samples (or of the npz `samples`) beside the
  reference points; with inception_weights also the Inception FD and IS. WORKDIR/score.json."""
  run = run_lib.opened(run)
  workdir = run.workdir
  if samples:
    cfg = run.cfg
    sets = {os.path.basename(samples): load_samples(samples)}
  else:
    cfg, sets = sample_sets(run, num_images, seed, log)
  out = reports.sample_quality(cfg, sets, headline=next(iter(sets)), log=log)
  if inception_weights:
    from evaluation import scoring  # pylint: disable=g-import-not-at-top
    test = data_lib.to_float(data_lib.from_config(cfg, 'test').images)
    half = len(test) // 2
    out['inception'] = {name: scoring.inception_scores(s, test[half:2 * half],
                                                      weights=inception_weights)
                        for name, s in sets.items()}
  return reports.write_report(workdir, 'score', out, log)
