"""Evaluation shared by the joint trainers (CoopNets, triangle, VAE) and tools/evaluate:
restoring a run's nets, and scoring samples on the project classifier's features beside the
reference points.

Sample quality (trainers/scoring.py): Fréchet distance and KID between N samples and the
second half of the test split; reference rows: the first half of the test split (real vs real, the
floor) and the first half blurred by a Gaussian of σ = 1.5 px. Every row states its counts.
"""
import json
import os
import time

import numpy as np
import tensorflow as tf

from core import baselines
from core import data as data_lib
from core import images as images_lib
from core import loop
from core import masks as masks_lib
from core import stats
from core import workdir as workdir_lib
from core.errors import CheckpointError, ConfigError
from trainers import nets


def restore(workdir: str, roles=('generator',), algos=None, checkpoint: str = '',
            build=None, average: bool = True):
  """(config, {role: net}) rebuilt from WORKDIR/config.json and its latest checkpoint, or
  `checkpoint` (a step number or a checkpoint path) if given. `build(cfg)` → {name: net}
  replaces the roles for runs whose nets are not nets.build's (the multi-grid descriptors).
  A role whose weight average the checkpoint keeps (`ROLE_ema`, optim.ema_decay) is restored
  from the average unless `average` is False."""
  cfg = workdir_lib.stored_config(workdir)
  if cfg is None:
    raise CheckpointError(f'{workdir} has no checkpoint; train first '
                          f'(tools/train --workdir={workdir} ...)')
  if algos and cfg.algo not in algos:
    raise ConfigError(f'{workdir} holds a {cfg.algo} run; this needs one of: '
                      f'{", ".join(algos)}')
  if cfg.algo in nets.JOINT and not cfg.model.get('use_descriptor', True):
    roles = tuple(r for r in roles if r != 'descriptor')
  from core import runtime  # pylint: disable=g-import-not-at-top
  runtime.set_precision('float32')
  built = build(cfg) if build else {r: nets.build(cfg, r) for r in roles}
  path = checkpoint_path(workdir, checkpoint)
  try:
    # A run that keeps a weight average (optim.ema_decay) samples and exports with it.
    slots = loop.checkpoint_slots(path)
    slot = {r: f'{r}_ema' if average and f'{r}_ema' in slots else r for r in built}
    tf.train.Checkpoint(**{slot[r]: net for r, net in built.items()}).restore(
        path).expect_partial().assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise CheckpointError(f'{path} does not hold the {", ".join(built)} of its config.json '
                          f'({str(e).splitlines()[0][:200]}); retrain with --fresh') from None
  return cfg, built


def checkpoint_path(workdir: str, checkpoint: str = '') -> str:
  """WORKDIR's latest checkpoint, or the one `checkpoint` names (a step number or a path)."""
  ckpt_dir = os.path.join(workdir, workdir_lib.CHECKPOINTS)
  if not checkpoint:
    path = tf.train.latest_checkpoint(ckpt_dir)
  elif str(checkpoint).endswith('.index'):
    path = str(checkpoint)[:-len('.index')]
  elif str(checkpoint).isdigit():
    path = os.path.join(ckpt_dir, f'ckpt-{int(checkpoint)}')
  else:
    path = str(checkpoint)
  if not path or not tf.io.gfile.exists(f'{path}.index'):
    kept = sorted(int(p.rsplit('-', 1)[1]) for p in
                  tf.train.get_checkpoint_state(ckpt_dir).all_model_checkpoint_paths
                  ) if workdir_lib.has_checkpoint(workdir) else []
    raise CheckpointError(f'no checkpoint {checkpoint or "(latest)"} in {ckpt_dir}; the run '
                          f'keeps steps {kept or "none"}: pass one of them, or train first')
  return path


def sample_quality(cfg, sets: dict, headline: str, log=print) -> dict:
  """Scores each {name: samples in [-1, 1]} against held-out real images; the headline set's
  fd, kid and classes_present are repeated at the top level."""
  from trainers import scoring  # pylint: disable=g-import-not-at-top
  d = cfg.data
  test = data_lib.from_config(cfg, 'test')
  if test.labels is None:
    return {'sample_quality': f'skipped: {d.dataset} has no labels to train the project '
                              f'classifier on'}
  scorer = scoring.Scorer(d.dataset, d.image_size, d.channels, data_dir=d.data_dir,
                         train_if_missing=True)
  x = data_lib.to_float(test.images)
  half = len(x) // 2
  reference = f'{d.dataset} test images {half}..{2 * half - 1} ({half} images)'
  rows = {name: scorer.score(s, x[half:2 * half], reference_name=reference)
          for name, s in sets.items()}
  rows.update(scorer.reference_points(x[:half], x[half:2 * half], reference_name=reference))
  for name, r in rows.items():
    log(f'{name:>34}: FD {r["fd"]:8.2f}  KID {r["kid"]:.4f}  largest class '
        f'{100 * r["class_max_share"]:4.1f}%  ({r["num_samples"]} vs {r["num_reference"]})')
  head = rows[headline]
  return {'fd': head['fd'], 'kid': head['kid'], 'classes_present': head['classes_present'],
          'class_max_share': head['class_max_share'],
          'sample_quality': {'reference': reference, 'blur_sigma_px': scoring.BLUR_SIGMA_PX,
                             'classifier_sha256': scorer.sha256, 'rows': rows}}


def masked_test_images(cfg, mask_spec: str, num_images: int):
  """(indices, images in [-1, 1], masks) of the first `num_images` test images, each with its
  fixed mask (core/masks.py, seeded by cfg.seed + 1)."""
  test = data_lib.from_config(cfg, 'test')
  idx = np.arange(min(num_images, len(test)))
  return (idx, data_lib.to_float(test.images[idx]),
          masks_lib.make(mask_spec, idx, cfg.data.image_size, seed=cfg.seed + 1))


def fill_report(cfg, workdir: str, name: str, header: dict, idx, x, mask, fills: dict,
                metric: str, shown, began: float, log=print) -> dict:
  """Scores `fills` ({method: filled images}; the first is the method's own) beside the
  interpolation fills: {metric}_mae on the missing pixels in [0, 1] units and {metric}_psnr.
  Writes WORKDIR/NAME.json (header, reference, methods, seconds), NAME.npz (indices, the
  first fill as uint8, masks) and NAME.png (16 columns: truth, masked, then the `shown`
  methods); returns the json's content."""
  train = data_lib.to_float(data_lib.from_config(cfg, 'train').images[:20000])
  fills = {**fills, **baselines.interpolation_fills(x, mask, train.mean(0))}
  out = {**header, 'num_images': len(idx),
         'reference': f'{cfg.data.dataset} test split, first {len(idx)}',
         'methods': {k: {f'{metric}_mae': masks_lib.missing_mae(v, x, mask),
                         f'{metric}_psnr': stats.psnr(v, x)} for k, v in fills.items()}}
  out['seconds'] = round(time.time() - began, 1)
  own = next(iter(fills.values()))
  np.savez_compressed(os.path.join(workdir, f'{name}.npz'), indices=idx,
                      images=data_lib.to_uint8(own), masks=mask.astype(np.uint8))
  k = min(16, len(idx))
  rows = [x[:k], np.where(mask[:k] > 0, x[:k], -1.0)] + [fills[m][:k] for m in shown]
  images_lib.save_png(os.path.join(workdir, f'{name}.png'),
                      images_lib.grid(np.concatenate(rows), k))
  path = os.path.join(workdir, f'{name}.json')
  with open(path, 'w') as f:
    json.dump(out, f, indent=2)
  for method, v in out['methods'].items():
    log(f'{method:>24}: ' + ', '.join(f'{m} {val:.4f}' for m, val in v.items()))
  log(f'wrote {path}')
  return out
