"""The task of a CoopNets run: `complete` masked test images (the generator's latent inferred
from the observed pixels fills the missing ones; the descriptor then revises only those),
beside the interpolation fills.
"""
import time

import numpy as np
import tensorflow as tf

from core import batches
from core import masks as masks_lib
from core.errors import ConfigError
from evaluation import reports
from tasks import generator as generator_tasks
from trainers import langevin as langevin_lib
from trainers import nets
from trainers import run as run_lib


def complete(generator, descriptor, cfg, x, mask, *, infer_steps=300, revise_steps=None,
             seed=0, batch_size=500):
  """Pattern completion of images x with masks (1 = observed): infer the generator's latent
  from the observed pixels (noise-free posterior Langevin from h = 0), fill the missing
  pixels with g(h), then let the descriptor revise the missing pixels only (noise-free
  Langevin, update mask = 1 − mask). Returns (generator fill, completion)."""
  _, x_g = generator_tasks.infer_latents(generator, x, mask, sigma=cfg.model.sigma,
                                         steps=infer_steps,
                                         step_size=cfg.langevin.gen_step_size, seed=seed,
                                         batch_size=batch_size)
  fill = np.where(mask > 0, x, x_g).astype(np.float32)
  lv = cfg.langevin
  rng = tf.random.Generator.from_seed(seed)

  @tf.function
  def revise(x0, missing):
    return langevin_lib.from_config(nets.energy(descriptor), x0, lv, rng, steps=revise_steps,
                                    noise=False, bounded=True, update_mask=missing)[0]

  return fill, batches.apply(lambda f, m: revise(tf.constant(f), tf.constant(1.0 - m)), fill,
                             mask, batch_size=batch_size)


def evaluate_completion(run, mask: str = 'none', num_images: int = 1000,
                        steps: int = 300, revise_steps=None, log=print) -> dict:
  """CoopNets completion of block-masked test images vs the interpolation baselines (mean
  image, nearest neighbour, biharmonic): error on the missing pixels in [0, 1] units and
  PSNR. steps: the generator's latent inference steps. Writes
  WORKDIR/complete_MASK.{json,npz,png}."""
  run = run_lib.opened(run, algos=('coopnets',))
  workdir = run.workdir
  if mask in ('', 'none'):
    raise ConfigError('--task=complete needs --mask=block:K (or pixels:F)')
  mask_spec, infer_steps = mask, steps
  cfg, built = run.cfg, run.nets(('generator', 'descriptor'))
  masks_lib.parse(mask_spec, cfg.data.image_size)
  began = time.time()
  idx, x, mask = reports.masked_test_images(cfg, mask_spec, num_images)
  fill, completed = complete(built['generator'], built['descriptor'], cfg, x, mask,
                             infer_steps=infer_steps, revise_steps=revise_steps, seed=cfg.seed)
  header = {'task': 'complete', 'mask': mask_spec, 'inference_steps': infer_steps,
            'revision_steps': cfg.langevin.steps if revise_steps is None else revise_steps}
  return reports.fill_report(
      cfg, workdir, f'complete_{mask_spec.replace(":", "-")}', header, idx, x, mask,
      {'coopnets': completed, 'coopnets generator only': fill}, 'completion',
      shown=('coopnets generator only', 'coopnets'), began=began, log=log)
