"""The task of a multi-view run: `rotate`, new views of held-out identities. The net and the
view latents h2 frozen, h1 of a new identity is inferred from the views one has of it (its
standard view, data.views[0]; or two views) and rendered with every h2, beside the nearest
training identity (evaluation/baselines.given_distances) and the mean training view.
"""
import os
import time

import numpy as np
import tensorflow as tf

from core import batches
from core import data as data_lib
from core import files
from core import images as images_lib
from core import multiview as mv_lib
from core import stats
from core.errors import ConfigError
from evaluation import baselines
from evaluation import reports
from trainers import langevin as langevin_lib
from trainers import multiview as multiview_lib
from trainers import run as run_lib


def infer_identities(generator, h2, x, weight, *, sigma, steps, step_size, batch_size=250):
  """h1 [N, d1] of identities from their views x [N, G, H, W, C] (weight [N, G]: 1 = seen)
  in the views whose latents are h2 [G, d2], the net frozen: `steps` noise-free Langevin
  updates (gradient descent to the posterior mode) from h1 = 0."""
  d1 = int(generator.input_shape[-1]) - h2.shape[-1]
  h2 = tf.constant(h2, tf.float32)

  @tf.function(reduce_retracing=True)
  def run(xb, wb):
    h, _ = langevin_lib.langevin(multiview_lib.identity_energy(generator, h2, xb, wb, sigma),
                                 tf.zeros((tf.shape(xb)[0], d1)), steps=steps,
                                 step_size=step_size, noise=False, ref_sigma=1.0)
    return h

  return batches.apply(lambda xb, wb: run(tf.constant(xb, tf.float32),
                                          tf.constant(wb, tf.float32)),
                       x, weight, batch_size=batch_size)


def rotate(run, num_images: int = 1000, steps: int = 300, view: str = '',
           log=print) -> dict:
  """New views of held-out identities: h1 inferred from the standard view (data.views[0])
  alone, and in a second row from it and `view` (default: the second view), then rendered
  in every other view; MAE (in [0, 1] units) and PSNR per target view beside the nearest
  training identity's image in that view, the mean training image of that view and, for
  the built-in set, the known transform of the standard view (a reference, not a baseline).
  Writes WORKDIR/rotate.json, rotate.png (standard view, then prediction/truth pairs for
  four target views) and rotate.npz (the predictions of the first row, uint8)."""
  run = run_lib.opened(run)
  workdir = run.workdir
  cfg, generator, h2 = multiview_lib.restore(run)
  began = time.time()
  names = list(cfg.data.views)
  second = mv_lib.view_index(names, view or 1)
  if second == 0:
    raise ConfigError(f'--view={view} is the standard view; the second row needs another '
                      f'one ({", ".join(names[1:])})')
  if view and len(names) < 3:
    raise ConfigError(f'--view={view}: this run has only the views {", ".join(names)}, so '
                      f'there is no two-view row (no view would be left to render); drop --view')
  train = mv_lib.from_config(cfg, 'train', whole=True)  # the baselines search all of it
  test = mv_lib.from_config(cfg, 'test', limit=num_images)
  keep = np.flatnonzero(test.present[:, 0])[:num_images]
  if not len(keep):
    raise ConfigError(f'no held-out identity of {cfg.data.dataset} has the standard view '
                      f'{names[0]!r}')
  x = data_lib.to_float(test.images[keep])
  standard = test.images[keep, 0]  # uint8, for the known transform
  present = test.present[keep]
  builtin = cfg.data.dataset == data_lib.MULTIVIEW_BUILTIN
  means = {t: data_lib.to_float(train.images[train.present[:, t], t]).mean(0)
           for t in range(len(names)) if train.present[:, t].any()}
  out = {'task': 'rotate', 'dataset': cfg.data.dataset, 'num_identities': int(len(keep)),
         'baseline_train_identities': len(train), 'inference_steps': steps,
         'step_size': cfg.langevin.step_size, 'views': names, 'standard_view': names[0],
         'reference': f'{cfg.data.dataset} held-out identities (test split)', 'rows': {}}
  first = None
  # With two views the second row would have no target left.
  for given in ((0,), (0, second))[:1 if len(names) < 3 else 2]:
    label = 'from ' + ' + '.join(names[g] for g in given)
    weight = present[:, given].astype(np.float32)
    h1 = infer_identities(generator, h2[list(given)], x[:, given], weight,
                          sigma=cfg.model.sigma, steps=steps, step_size=cfg.langevin.step_size)
    pred = multiview_lib.render_numpy(generator, h1, h2)
    cand, dist = baselines.given_distances(train, x[:, given], weight, list(given))
    row = {'given': [names[g] for g in given], 'targets': {}}
    for t in range(len(names)):
      if t in given:
        continue
      have = present[:, t]
      nearest = baselines.nearest_with(train, cand, dist, t)
      if not have.any() or nearest is None:
        log(f'  {names[t]}: skipped (no held-out identity, or no training identity with the '
            f'given views, has it)')
        continue
      truth = x[have, t]
      methods = {'multiview': pred[have, t],
                 'nearest training identity': data_lib.to_float(train.images[nearest[have], t]),
                 'mean training view': np.broadcast_to(means[t], truth.shape)}
      if builtin:
        methods['known transform (reference)'] = data_lib.to_float(
            mv_lib.known_transform(standard[have], names[t], names[0]))
      row['targets'][names[t]] = {m: {'mae': stats.mae(p, truth), 'psnr': stats.psnr(p, truth)}
                                  for m, p in methods.items()}
    row['beats_baselines'] = bool(row['targets']) and all(
        r['multiview']['mae'] < min(r['nearest training identity']['mae'],
                                    r['mean training view']['mae'])
        for r in row['targets'].values())
    out['rows'][label] = row
    log(f'{label}:')
    for target, r in row['targets'].items():
      log(f'  {target:>12}: ' + ', '.join(f'{m} {v["mae"]:.4f}' for m, v in r.items()))
    if first is None:
      first = pred
  out['seconds'] = round(time.time() - began, 1)
  files.write_npz(os.path.join(workdir, 'rotate.npz'), identities=np.asarray(
      [test.identities[i] for i in keep]), views=np.asarray(names), images=data_lib.to_uint8(first))
  images_lib.save_png(os.path.join(workdir, 'rotate.png'), rotate_figure(x, first, present))
  return reports.write_report(workdir, 'rotate', out, log)


def rotate_figure(x, pred, present, rows: int = 8, targets: int = 4):
  """The seed's figure: per held-out identity (a row), its standard view, then (prediction,
  truth) pairs for the first `targets` other views; a missing truth is left black."""
  n = min(rows, len(x))
  cols = [x[:n, 0]]
  for t in range(1, min(1 + targets, x.shape[1])):
    cols += [pred[:n, t], np.where(present[:n, t, None, None, None], x[:n, t], -1.0)]
  grid = np.stack(cols, 1).reshape((-1,) + x.shape[2:])
  return images_lib.grid(grid, len(cols))
