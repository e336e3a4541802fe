"""The tasks of a run with an ABP generator (--algo=generator, deformable): `reconstruct`
held-out test images from latents inferred with the generator frozen, beside PCA at the same
latent size; `recover` the missing pixels of masked test images, beside the interpolation
fills. `infer_latents` (the posterior mode of h for given images) also serves CoopNets'
completion (tasks/coopnets.py).
"""
import os
import time

import numpy as np
import tensorflow as tf

from core import batches
from core import data as data_lib
from core import files
from core import images as images_lib
from core import masks as masks_lib
from core import stats
from core.errors import ConfigError
from evaluation import baselines
from evaluation import reports
from trainers import generator as generator_lib
from trainers import langevin as langevin_lib
from trainers import run as run_lib

def infer_latents(model, x, mask, *, sigma, steps, step_size, noise=False, seed=0,
                  batch_size=500):
  """Latents of images x under the frozen generator: `steps` Langevin steps on the posterior
  from h = 0 (noise off: gradient descent to the posterior mode)."""
  rng = tf.random.Generator.from_seed(seed)
  latent_dim = model.input_shape[-1]

  @tf.function
  def run(xb, mb):
    h, _ = langevin_lib.langevin(generator_lib.posterior_energy(model, xb, mb, sigma),
                                 tf.zeros((tf.shape(xb)[0], latent_dim)), steps=steps,
                                 step_size=step_size, noise=noise, ref_sigma=1.0, rng=rng)
    return h, tf.cast(model(h, training=False), tf.float32)

  return batches.apply(lambda xb, mb: run(tf.constant(xb), tf.constant(mb)), x, mask,
                       batch_size=batch_size)


def _test_latents(cfg, model, mask_spec, num_images, steps):
  """(indices, test images, their masks, g(h) of the latents inferred from the observed
  pixels): the first `num_images` test images, masks from another seed than training's."""
  idx, x, mask = reports.masked_test_images(cfg, mask_spec, num_images)
  _, x_hat = infer_latents(model, x, mask, sigma=cfg.model.sigma, steps=steps,
                           step_size=cfg.langevin.step_size, seed=cfg.seed)
  return idx, x, mask, x_hat


def reconstruct(run, num_images: int = 1000, steps: int = 300, log=print) -> dict:
  """Latents of held-out test images (posterior mode from h = 0, generator frozen), g(h)
  against the originals, beside PCA at the same latent size. Writes
  WORKDIR/reconstruct.json and reconstructions.{npz,png}."""
  run = run_lib.opened(run)
  workdir = run.workdir
  cfg, model = generator_lib.restore(run)
  began = time.time()
  train = data_lib.to_float(data_lib.from_config(cfg, 'train').images)
  idx, x, _, x_hat = _test_latents(cfg, model, 'none', num_images, steps)
  d = cfg.model.latent_dim
  pca = baselines.pca_reconstruct(train, x, d, seed=cfg.seed)
  out = {'task': 'reconstruct', 'mask': 'none', 'num_images': len(idx), 'latent_dim': d,
         'inference_steps': steps, 'reference': f'{cfg.data.dataset} test split',
         'methods': {'abp': {'recon_mae': stats.mae(x_hat, x), 'psnr': stats.psnr(x_hat, x)},
                     f'pca (d={d})': {'recon_mae': stats.mae(pca, x),
                                      'psnr': stats.psnr(pca, x)}},
         'seconds': round(time.time() - began, 1)}
  files.write_npz(os.path.join(workdir, 'reconstructions.npz'), indices=idx,
                  images=data_lib.to_uint8(x_hat))
  n = min(16, len(idx))
  images_lib.save_png(os.path.join(workdir, 'reconstructions.png'),
                      images_lib.grid(np.concatenate([x[:n], x_hat[:n]]), n))
  return reports.write_report(workdir, 'reconstruct', out, log)


def recover(run, mask: str = 'none', num_images: int = 1000, steps: int = 300,
            log=print) -> dict:
  """The same on masked test images: the missing pixels filled with g(h) of the latents
  inferred from the observed ones, against the mean-image, nearest-neighbour and biharmonic
  fills (evaluation/reports.fill_report: WORKDIR/recover_MASK.{json,npz,png})."""
  run = run_lib.opened(run)
  workdir = run.workdir
  if mask in ('', 'none'):
    raise ConfigError('--task=recover needs --mask=pixels:F or --mask=block:K')
  cfg, model = generator_lib.restore(run)
  masks_lib.parse(mask, cfg.data.image_size)
  began = time.time()
  idx, x, m, x_hat = _test_latents(cfg, model, mask, num_images, steps)
  header = {'task': 'recover', 'mask': mask, 'latent_dim': cfg.model.latent_dim,
            'inference_steps': steps}
  return reports.fill_report(cfg, workdir, f'recover_{mask.replace(":", "-")}', header, idx,
                             x, m, {'abp': np.where(m > 0, x, x_hat)}, 'recovery',
                             shown=('abp',), began=began, log=log)
