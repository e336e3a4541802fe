"""Reports shared by the trainers' evaluations and tools/evaluate: sample quality on the
project classifier's features beside the reference points, and fill reports (completion,
recovery, inpainting) beside the interpolation fills.

Sample quality (evaluation/scoring.py): Fréchet distance and KID between N samples and the
second half of the test split; reference rows: the first half of the test split (real vs
real, the floor) and the first half blurred by a Gaussian of σ = 1.5 px. Every row states
its counts.
"""
import os
import time

import numpy as np

from core import data as data_lib
from core import files
from core import images as images_lib
from core import masks as masks_lib
from core import stats
from evaluation import baselines
from evaluation import scoring


def sample_quality(cfg, sets: dict, headline: str, log=print) -> dict:
  """Scores each {name: samples in [-1, 1]} against held-out real images; the headline set's
  fd, kid, classes_present and class_max_share are repeated at the top level."""
  d = cfg.data
  test = data_lib.from_config(cfg, 'test')
  if test.labels is None:
    return {'sample_quality': f'skipped: {d.dataset} has no labels to train the project '
                              f'classifier on'}
  began = time.time()
  scorer = scoring.Scorer(d.dataset, d.image_size, d.channels, data_dir=d.data_dir,
                          train_if_missing=True, log=log)
  x = data_lib.to_float(test.images)
  half = len(x) // 2
  reference = f'{d.dataset} test images {half}..{2 * half - 1} ({half} images)'
  ref_feats = scorer.features(x[half:2 * half])
  rows = {name: scorer.score(s, x[half:2 * half], reference_name=reference,
                             ref_feats=ref_feats) for name, s in sets.items()}
  rows.update(scorer.reference_points(x[:half], x[half:2 * half], reference_name=reference,
                                      ref_feats=ref_feats))
  log(f'scored {", ".join(sets)} against {reference} in {time.time() - began:.1f} s; '
      f'classifier weights {scorer.sha256} ({scorer.source})')
  for name, r in rows.items():
    log(f'{name:>34}: FD {r["fd"]:8.2f}  KID {r["kid"]:.4f}  largest class '
        f'{100 * r["class_max_share"]:4.1f}%  ({r["num_samples"]} vs {r["num_reference"]})')
  head = rows[headline]
  return {'fd': head['fd'], 'kid': head['kid'], 'classes_present': head['classes_present'],
          'class_max_share': head['class_max_share'],
          'classifier_sha256': scorer.sha256,
          'sample_quality': {'reference': reference, 'blur_sigma_px': scoring.BLUR_SIGMA_PX,
                             'classifier_sha256': scorer.sha256,
                             'classifier': f'{scorer.source} ({scorer.path})', 'rows': rows}}


def masked_test_images(cfg, mask_spec: str, num_images: int):
  """(indices, images in [-1, 1], masks) of the first `num_images` test images, each with its
  fixed mask (core/masks.py, seeded by cfg.seed + 1: another seed than training masks')."""
  test = data_lib.from_config(cfg, 'test')
  idx = np.arange(min(num_images, len(test)))
  return (idx, data_lib.to_float(test.images[idx]),
          masks_lib.make(mask_spec, idx, cfg.data.image_size, seed=cfg.seed + 1))


def write_report(workdir: str, name: str, out: dict, log=print) -> dict:
  """WORKDIR/NAME.json holding `out`; logs each method's numeric metrics; returns `out`."""
  path = os.path.join(workdir, f'{name}.json')
  files.write_json(path, out)
  for method, v in out.get('methods', {}).items():
    numbers = {m: val for m, val in v.items() if isinstance(val, float)}
    if numbers:
      log(f'{method:>24}: ' + ', '.join(f'{m} {val:.4f}' for m, val in numbers.items()))
  log(f'wrote {path}')
  return out


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
  files.write_npz(os.path.join(workdir, f'{name}.npz'), indices=idx,
                  images=data_lib.to_uint8(own), masks=mask.astype(np.uint8))
  k = min(16, len(idx))
  rows = [x[:k], np.where(mask[:k] > 0, x[:k], -1.0)] + [fills[m][:k] for m in shown]
  images_lib.save_png(os.path.join(workdir, f'{name}.png'),
                      images_lib.grid(np.concatenate(rows), k))
  return write_report(workdir, name, out, log)
