"""The tasks of a multi-grid run: `features` (a linear SVM on the descriptors' pooled
responses, beside an untrained copy of the nets and raw pixels) and `inpaint` (the clamped
multi-grid chain on masked test images, beside the interpolation fills).

Inpainting runs the training chain (trainers/multigrid.chain) with the observed pixels
clamped: at each grid the cells whose pixels are all observed hold the observed image's
average and never move; only the missing cells are revised, so the finest grid returns the
observed pixels exactly.
"""
import time

import keras
import numpy as np
import tensorflow as tf

from core import batches
from core import data as data_lib
from core import masks as masks_lib
from core.errors import ConfigError, DataError
from evaluation import probes
from evaluation import reports
from models import multigrid as mg
from trainers import multigrid as multigrid_lib
from trainers import nets
from trainers import run as run_lib


def inpaint(grid_nets, steps, lv, images, mask, seed=0, batch=500):
  """The clamped chain on images [N, H, W, C] with masks [N, H, W, 1]: the completed images
  (observed pixels untouched). The 1×1 start is each image's mean over its observed pixels."""
  rng = tf.random.Generator.from_seed(seed)
  run = tf.function(lambda x, m: multigrid_lib.chain(
      grid_nets, multigrid_lib.observed_mean(x, m), steps, lv, rng=rng, observed=x,
      mask=m)[-1])
  return batches.apply(lambda x, m: run(tf.constant(x, tf.float32), tf.constant(m, tf.float32)),
                       images, mask, batch_size=batch)


def features_of(grid_nets, images, batch=1000):
  """Pooled layer responses of every grid descriptor (models/multigrid.pooled_features)."""
  feature_nets = {g: mg.feature_model(n) for g, n in grid_nets.items()}
  return batches.apply(lambda x: mg.pooled_features(feature_nets, tf.constant(x)), images,
                       batch_size=batch)


def evaluate_features(run, labels=(1000, 2000, 4000), num_test=10000, seed=0,
                      log=print) -> dict:
  """Linear-SVM test error with the trained descriptors' features, a randomly initialised
  copy of the same nets, and raw pixels, for each number of labelled training images
  (`labels`). Writes WORKDIR/features.json."""
  run = run_lib.opened(run)
  workdir = run.workdir
  began = time.time()
  cfg, grid_nets = multigrid_lib.restore(run)
  train_set, test_set = data_lib.from_config(cfg, 'train'), data_lib.from_config(cfg, 'test')
  if train_set.labels is None or test_set.labels is None:
    raise DataError(f'{cfg.data.dataset} has no labels; --task=features needs a labelled '
                    f'dataset (fashion_mnist, a TFDS set, or an npz with "labels")')
  label_counts = sorted(int(n) for n in labels)
  if label_counts[-1] > len(train_set):
    raise ConfigError(f'--labels asks for {label_counts[-1]} labelled images; the training '
                      f'split has {len(train_set)}')
  pick = np.random.default_rng(seed).permutation(len(train_set))[:label_counts[-1]]
  x_train = data_lib.to_float(train_set.images[pick])
  y_train = train_set.labels[pick]
  x_test = data_lib.to_float(test_set.images[:num_test])
  y_test = test_set.labels[:num_test]
  keras.utils.set_random_seed(cfg.seed + 1000)
  random_nets = nets.build(cfg, 'descriptors')
  extractors = {'multigrid descriptors': lambda x: features_of(grid_nets, x),
                'random descriptors (same nets, untrained)': lambda x: features_of(random_nets, x),
                'raw pixels': lambda x: x.reshape(len(x), -1)}
  out = {'task': 'features', 'num_test': len(x_test), 'label_counts': label_counts,
         'classifier': 'linear SVM (LinearSVC, standardised features, C by 3-fold CV on the '
                       'labelled images)', 'methods': {}}
  for name, extract in extractors.items():
    f_train, f_test = extract(x_train), extract(x_test)
    rows = {}
    for n in label_counts:
      error, c = probes.svm_test_error(f_train[:n], y_train[:n], f_test, y_test, seed)
      rows[f'labels={n}'] = {'svm_test_error_pct': error, 'C': c}
      log(f'{name:>42} | {n:5d} labels | {f_train.shape[1]:5d} features | test error '
          f'{error:6.2f}% (C={c:g})')
    out['methods'][name] = {'num_features': int(f_train.shape[1]), **rows}
  out['seconds'] = round(time.time() - began, 1)
  return reports.write_report(workdir, 'features', out, log=log)


def evaluate_inpainting(run, mask='none', num_images=1000, grid_steps=None, chains=1,
                        log=print) -> dict:
  """The clamped multi-grid chain on masked test images vs the interpolation baselines (mean
  image, nearest neighbour, biharmonic): error on the missing pixels in [0, 1] units, PSNR.
  chains > 1 runs that many chains per image and averages them (an estimate of the posterior
  mean; it only differs from one chain when the run's Langevin noise is on).
  grid_steps: Langevin steps per grid (default: the run's training T per grid).
  Writes WORKDIR/inpaint_MASK.{json,npz,png}."""
  run = run_lib.opened(run)
  workdir = run.workdir
  mask_spec, steps = mask, grid_steps
  if chains < 1:
    raise ConfigError(f'--chains must be at least 1, got {chains}')
  began = time.time()
  if mask_spec in ('', 'none'):
    raise ConfigError('--task=inpaint needs --mask=block:K, doodle or pepper:P')
  cfg, grid_nets = multigrid_lib.restore(run)
  masks_lib.parse(mask_spec, cfg.data.image_size)
  per_grid = multigrid_lib.steps_of(cfg) if steps is None else (int(steps),) * len(grid_nets)
  idx, x, mask = reports.masked_test_images(cfg, mask_spec, num_images)
  filled = inpaint(grid_nets, per_grid, cfg.langevin, np.repeat(x, chains, 0),
                   np.repeat(mask, chains, 0), seed=cfg.seed)
  filled = filled.reshape((len(x), chains) + x.shape[1:]).mean(1)
  header = {'task': 'inpaint', 'mask': mask_spec, 'steps_per_grid': list(per_grid),
            'chains_per_image': chains, 'missing_fraction': float(1.0 - mask.mean())}
  return reports.fill_report(
      cfg, workdir, f'inpaint_{mask_spec.replace(":", "-")}', header, idx, x, mask,
      {'multigrid descriptors': filled}, 'inpaint',
      shown=('biharmonic diffusion', 'multigrid descriptors'), began=began, log=log)
