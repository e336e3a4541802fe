"""The generator net learned by alternating back-propagation (ABP), from complete or
incomplete images.

Han, Lu, Zhu, Wu, "Alternating Back-Propagation for Generator Network", AAAI 2017
(arXiv:1606.08571); docs/ALGORITHMS.md §2.

    h ~ N(0, I_d),   X = g(h; α) + ε,   ε ~ N(0, σ²I)

Each training image keeps its latent h_i across epochs (a [N, d] variable in the checkpoint).
One step, for a batch of images:
  inference: h_i ← T Langevin steps on the posterior, warm-started from the kept h_i, with
             E(h) = ||M ⊙ (X − g(h))||²/(2σ²) + ||h||²/2 (the kernel's reference term, s = 1);
  learning:  α ← Adam on ||M ⊙ (X − g(h))||²/(2σ²) (`abp_loss`).
M is the image's fixed mask (1 = observed, core/masks.py); only observed pixels enter.
"""
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

import models
from core import baselines
from core import data as data_lib
from core import images as images_lib
from core import loop
from core import recovery as recovery_lib
from core import masks as masks_lib
from core import runtime
from core import stats
from core.errors import ConfigError
from trainers import langevin as langevin_lib
from trainers import nets

GRID = 64
# Runs whose checkpoint holds a generator (tools/sample reads any of them).
GENERATOR_RUNS = ('generator', 'deformable', 'coopnets', 'triangle', 'vae')


def abp_loss(x, x_hat, mask, sigma):
  """Negative log-likelihood of the observed pixels, per example, averaged over the batch:
  mean_i ||M_i ⊙ (X_i − g(h_i))||² / (2σ²)  (Han et al. 2017, eq. 2; incomplete data §4)."""
  sq = tf.square((x - x_hat) * mask)
  return tf.reduce_mean(tf.reduce_sum(tf.reshape(sq, [tf.shape(x)[0], -1]), 1)) / (2 * sigma**2)


def posterior_energy(generator, x, mask, sigma):
  """energy_fn for the Langevin kernel: ||M ⊙ (X − g(h))||²/(2σ²) per example (the kernel
  adds the prior ||h||²/2 as its reference term with s = 1)."""
  def energy(h):
    sq = tf.square((x - tf.cast(generator(h, training=False), tf.float32)) * mask)
    return tf.reduce_sum(tf.reshape(sq, [tf.shape(h)[0], -1]), 1) / (2 * sigma**2)
  return energy


def masked_mae(x, x_hat, weight):
  """Mean |x − x̂| over pixels where weight = 1, in [0, 1] pixel units (images in [-1, 1])."""
  weight = tf.broadcast_to(weight, tf.shape(x))
  return tf.reduce_sum(tf.abs(x - x_hat) * weight) / (2 * tf.maximum(tf.reduce_sum(weight), 1.0))


def build_model(cfg):
  """The run's generator: cfg.model.name, or the DCGAN-like net for the image size."""
  d = cfg.data
  name = cfg.model.name or f'generator/{d.image_size}'
  widths = tuple(cfg.model.widths)
  if name in (f'generator/{d.image_size}', 'deformable'):  # both DCGAN ladders
    widths = nets.smoke_widths(cfg, widths)
  return models.build(name, (d.image_size, d.image_size, d.channels),
                      latent_dim=cfg.model.latent_dim, widths=widths)


class Generator:
  """The net, optimizer, RNGs and persistent latents of one ABP run, and its compiled step."""

  def __init__(self, cfg, strategy, train_set: data_lib.ImageSet):
    self.cfg, self.strategy = cfg, strategy
    self.recovery = recovery_lib.Recovery()  # rollbacks lower the step size through it
    d = cfg.data
    runtime.check_batch(d.batch_size, strategy)
    self.latent_dim = cfg.model.latent_dim
    self.train_set = train_set
    # Fixed per-image masks, uint8 (rebuilt from the seed, so not checkpointed).
    self.masked = cfg.data.mask not in ('', 'none')
    self.masks = tf.constant(masks_lib.make(cfg.data.mask, np.arange(len(train_set)),
                                            d.image_size, seed=cfg.seed).astype(np.uint8)
                             ) if self.masked else None
    with strategy.scope():
      self.model = build_model(cfg)
      self.optimizer = keras.optimizers.Adam(cfg.optim.lr, beta_1=cfg.optim.beta1,
                                             beta_2=cfg.optim.beta2)
      self.optimizer.build(self.model.trainable_variables)
      self.replica_rng = tf.random.Generator.from_seed(cfg.seed + 1)
    self.rng = tf.random.Generator.from_seed(cfg.seed)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    # Persistent latents, one per training image, started from the prior.
    self.latents = tf.Variable(self.rng.normal((len(train_set), self.latent_dim)),
                               trainable=False, name='latents')
    self.grid_z = tf.constant(np.random.default_rng(cfg.seed).standard_normal(
        (GRID, self.latent_dim)).astype(np.float32))
    self.infer_fn = (tf.function(self.infer, jit_compile=True) if cfg.langevin.jit_compile
                     else self.infer)

  def infer(self, x, mask, h0):
    lv = self.cfg.langevin
    return langevin_lib.langevin(
        posterior_energy(self.model, x, mask, self.cfg.model.sigma), h0, steps=lv.steps,
        step_size=lv.step_size * self.recovery.langevin_scale, noise=lv.noise, ref_sigma=1.0,
        clip=lv.clip, rng=self.replica_rng)

  def _replica_step(self, idx, x):
    n = tf.distribute.get_replica_context().num_replicas_in_sync
    mask = (tf.cast(tf.gather(self.masks, idx), tf.float32) if self.masked
            else tf.ones_like(x))
    h, lstats = self.infer_fn(x, mask, tf.gather(self.latents, idx))
    h = tf.stop_gradient(h)
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      x_hat = tf.cast(self.model(h, training=True), tf.float32)
      loss = abp_loss(x, x_hat, mask, self.cfg.model.sigma)
      scaled = loss / tf.cast(n, tf.float32)  # gradients are summed over replicas
    grads = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(grads, variables))
    metrics = {
        'loss': loss,
        'recon_mae': masked_mae(x, x_hat, mask),
        'grad_norm': tf.linalg.global_norm(grads) * tf.cast(n, tf.float32),
        'latent_norm': tf.reduce_mean(tf.norm(h, axis=1)),
        'langevin_energy_start': lstats['energy_start'],
        'langevin_energy_end': lstats['energy_end'],
        'langevin_grad_norm': lstats['grad_norm'],
    }
    if self.masked:  # the training images' missing pixels were never seen
      metrics['recovery_mae'] = masked_mae(x, x_hat, 1.0 - mask)
    return idx, h, metrics

  @tf.function
  def train_step(self, iterator):
    idx, x = next(iterator)
    idx, h, metrics = self.strategy.run(self._replica_step, args=(idx, x))
    self.latents.scatter_nd_update(self.strategy.gather(idx, 0)[:, None],
                                   self.strategy.gather(h, 0))
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in metrics.items()}

  def make_iterator(self, start_step: int):
    ds = data_lib.pipeline(self.train_set.images, self.cfg.data.batch_size,
                           seed=self.cfg.seed, start_step=start_step, with_index=True)
    return iter(self.strategy.experimental_distribute_dataset(ds))

  def samples(self):
    return self.model(self.grid_z, training=False).numpy()

  def checkpoint_items(self):
    return {'generator': self.model, 'optimizer': self.optimizer, 'rng': self.rng,
            'replica_rng': self.replica_rng, 'latents': self.latents}

  def evaluate(self, workdir, seconds=0.0):
    del workdir, seconds
    return {'num_train_images': len(self.train_set), 'mask': self.cfg.data.mask or 'none'}


def train(cfg, workdir: str, strategy=None, log=print) -> dict:
  """Trains a generator by ABP as `cfg` says, in `workdir` (resuming if it can)."""
  runtime.set_precision(cfg.train.precision)
  runtime.seed(cfg.seed, cfg.train.get('deterministic', False))
  strategy = strategy or tf.distribute.get_strategy()
  masks_lib.parse(cfg.data.mask, cfg.data.image_size)  # bad masks fail before any work
  train_set = data_lib.from_config(cfg)
  d = cfg.data
  log(f'generator (ABP) on {d.dataset}: {len(train_set)} images of {d.image_size}x'
      f'{d.image_size}x{d.channels}, latent {cfg.model.latent_dim}, mask {d.mask or "none"}, '
      f'batch {d.batch_size}, {cfg.train.steps} steps → {workdir}')
  trainer = Generator(cfg, strategy, train_set)
  headline = ('loss', 'recon_mae') + (('recovery_mae',) if trainer.masked else ())
  task = loop.Task(step=trainer.step, checkpoint=trainer.checkpoint_items(),
                   train_step=trainer.train_step, make_iterator=trainer.make_iterator,
                   samples=trainer.samples, evaluate=trainer.evaluate, headline=headline,
                   recovery=trainer.recovery)
  return loop.run(task, cfg, workdir, log=log)


# ------------------------------------------------------------------ test-time inference


def restore(workdir: str):
  """(config, generator) rebuilt from WORKDIR/config.json and its latest checkpoint (any run
  with a generator: generator, deformable, coopnets, triangle, vae)."""
  from trainers import evaluation  # pylint: disable=g-import-not-at-top
  cfg, built = evaluation.restore(workdir, ('generator',), algos=GENERATOR_RUNS)
  return cfg, built['generator']


def infer_latents(model, x, mask, *, sigma, steps, step_size, noise=False, seed=0,
                  batch_size=500):
  """Latents of images x under the frozen generator: `steps` Langevin steps on the posterior
  from h = 0 (noise off: gradient descent to the posterior mode)."""
  rng = tf.random.Generator.from_seed(seed)
  latent_dim = model.input_shape[-1]

  @tf.function
  def run(xb, mb):
    h, _ = langevin_lib.langevin(posterior_energy(model, xb, mb, sigma),
                                 tf.zeros((tf.shape(xb)[0], latent_dim)), steps=steps,
                                 step_size=step_size, noise=noise, ref_sigma=1.0, rng=rng)
    return h, tf.cast(model(h, training=False), tf.float32)

  hs, xs = [], []
  for i in range(0, len(x), batch_size):
    h, xh = run(tf.constant(x[i:i + batch_size]), tf.constant(mask[i:i + batch_size]))
    hs.append(h.numpy())
    xs.append(xh.numpy())
  return np.concatenate(hs), np.concatenate(xs)


def evaluate_test_images(workdir: str, task: str, mask_spec: str = 'none',
                         num_images: int = 1000, steps: int = 300, log=print) -> dict:
  """`reconstruct`: latents of held-out test images, g(h) against the originals, and PCA at
  the same latent size. `recover`: the same on masked test images; the missing pixels are
  filled with g(h) and compared with the mean-image, nearest-neighbour and biharmonic fills.
  Writes WORKDIR/{reconstructions,recovered_MASK}.npz, a JSON of errors and a PNG."""
  if task not in ('reconstruct', 'recover'):
    raise ConfigError(f'unknown task {task!r}; known: reconstruct, recover')
  if task == 'recover' and mask_spec in ('', 'none'):
    raise ConfigError('--task=recover needs --mask=pixels:F or --mask=block:K')
  if task == 'reconstruct':
    mask_spec = 'none'
  cfg, model = restore(workdir)
  masks_lib.parse(mask_spec, cfg.data.image_size)
  began = time.time()
  train = data_lib.to_float(data_lib.from_config(cfg, 'train').images)
  test_set = data_lib.from_config(cfg, 'test')
  idx = np.arange(min(num_images, len(test_set)))
  x = data_lib.to_float(test_set.images[idx])
  # Test masks from another seed than the training masks.
  mask = masks_lib.make(mask_spec, idx, cfg.data.image_size, seed=cfg.seed + 1)
  _, x_hat = infer_latents(model, x, mask, sigma=cfg.model.sigma, steps=steps,
                           step_size=cfg.langevin.step_size, seed=cfg.seed)
  d = cfg.model.latent_dim
  out = {'task': task, 'mask': mask_spec, 'num_images': len(idx), 'latent_dim': d,
         'inference_steps': steps, 'reference': f'{cfg.data.dataset} test split'}
  if task == 'reconstruct':
    pca = baselines.pca_reconstruct(train, x, d, seed=cfg.seed)
    out['methods'] = {'abp': {'recon_mae': stats.mae(x_hat, x), 'psnr': stats.psnr(x_hat, x)},
                      f'pca (d={d})': {'recon_mae': stats.mae(pca, x),
                                       'psnr': stats.psnr(pca, x)}}
    shown, name = x_hat, 'reconstructions'
  else:
    fills = {'abp': np.where(mask > 0, x, x_hat),
             **baselines.interpolation_fills(x, mask, train.mean(0))}
    out['methods'] = {k: {'recovery_mae': masks_lib.missing_mae(v, x, mask),
                          'psnr': stats.psnr(v, x)} for k, v in fills.items()}
    shown, name = fills['abp'], f'recovered_{mask_spec.replace(":", "-")}'
  out['seconds'] = round(time.time() - began, 1)
  np.savez_compressed(os.path.join(workdir, f'{name}.npz'), indices=idx,
                      images=data_lib.to_uint8(shown), masks=mask.astype(np.uint8))
  json_name = 'reconstruct' if task == 'reconstruct' else name.replace('recovered', 'recover')
  with open(os.path.join(workdir, f'{json_name}.json'), 'w') as f:
    json.dump(out, f, indent=2)
  n = min(16, len(idx))
  rows = [x[:n]] + ([np.where(mask[:n] > 0, x[:n], -1.0)] if task == 'recover' else []) + [
      shown[:n]]
  images_lib.save_png(os.path.join(workdir, f'{name}.png'),
                      images_lib.grid(np.concatenate(rows), n))
  for k, v in out['methods'].items():
    log(f'{k:>22}: ' + ', '.join(f'{m} {val:.4f}' for m, val in v.items()))
  return out


# ------------------------------------------------------------------ what the latents do


def sample(model, n: int = 64, seed: int = 0, batch_size: int = 500) -> np.ndarray:
  """n images g(z), z ~ N(0, I) drawn with `seed`, generated batch_size at a time."""
  z = np.random.default_rng(seed).standard_normal((n, model.input_shape[-1]))
  z = z.astype(np.float32)
  return np.concatenate([model(z[i:i + batch_size], training=False).numpy()
                         for i in range(0, n, batch_size)])


def interpolation_grid(model, rows: int = 8, steps: int = 10, seed: int = 0) -> np.ndarray:
  """Images g((1−t)·z0 + t·z1) for `rows` random pairs and `steps` values of t in [0, 1]:
  [rows·steps, H, W, C], row-major (one interpolation per row)."""
  rng = np.random.default_rng(seed)
  d = model.input_shape[-1]
  z0, z1 = rng.standard_normal((2, rows, 1, d)).astype(np.float32)
  t = np.linspace(0, 1, steps, dtype=np.float32)[None, :, None]
  z = ((1 - t) * z0 + t * z1).reshape(rows * steps, d)
  return model(z, training=False).numpy()


def geometry_swap(model, pairs: int = 8, seed: int = 0) -> np.ndarray:
  """For a deformable generator: per random pair (a1, g1), (a2, g2) the images
  [a1·g1, a1·g2, a2·g2, a2·g1] (appearance·geometry): [pairs·4, H, W, C]."""
  if not hasattr(model, 'geometry_dim'):
    raise ConfigError('geometry swapping needs a deformable generator (--algo=deformable)')
  rng = np.random.default_rng(seed)
  d, k = model.input_shape[-1], model.geometry_dim
  z1, z2 = rng.standard_normal((2, pairs, d)).astype(np.float32)
  swap = lambda za, zg: np.concatenate([za[:, :d - k], zg[:, d - k:]], 1)
  z = np.stack([z1, swap(z1, z2), z2, swap(z2, z1)], 1).reshape(pairs * 4, d)
  return model(z, training=False).numpy()
