"""The generator net learned by alternating back-propagation (ABP), from complete or
incomplete images.

Han, Lu, Zhu, Wu, "Alternating Back-Propagation for Generator Network", AAAI 2017
(arXiv:1606.08571); docs/ALGORITHMS.md §2.

    h ~ N(0, I_d),   X = g(h; α) + ε,   ε ~ N(0, σ²I)

Each training image keeps its latent h_i across epochs (a [N, d] variable in the checkpoint).
One step, for a batch of images:
  inference: h_i ← T Langevin steps on the posterior, warm-started from the kept h_i, with
             E(h) = ||M ⊙ (X − g(h))||²/(2σ²) + ||h||²/2 (the kernel's reference term, s = 1);
  learning:  α ← Adam on ||M ⊙ (X − g(h))||²/(2σ²) (`losses.gaussian_recon`).
M is the image's fixed mask (1 = observed, core/masks.py); only observed pixels enter.
The tasks on a trained run (reconstruct, recover) are in tasks/generator.py.
"""
import numpy as np
import tensorflow as tf

from core import batches
from core import data as data_lib
from core import masks as masks_lib
from core.errors import ConfigError
from trainers import base
from trainers import langevin as langevin_lib
from trainers import losses
from trainers import nets
from trainers import run as run_lib
from trainers import registry

GRID = 64


def posterior_energy(generator, x, mask, sigma):
  """energy_fn for the Langevin kernel: ||M ⊙ (X − g(h))||²/(2σ²) per example (the kernel
  adds the prior ||h||²/2 as its reference term with s = 1)."""
  def energy(h):
    sq = tf.square((x - tf.cast(generator(h, training=False), tf.float32)) * mask)
    return losses.per_example_sum(sq) / (2 * sigma**2)
  return energy


class Generator(base.Trainer):
  """The net, optimizer, RNGs and persistent latents of one ABP run, and its compiled step."""
  title = 'generator (ABP)'

  def __init__(self, cfg, strategy, train_set: data_lib.ImageSet):
    super().__init__(cfg, strategy, train_set)
    d = cfg.data
    self.latent_dim = cfg.model.latent_dim
    # Fixed per-image masks, uint8 (rebuilt from the seed, so not checkpointed).
    self.masked = cfg.data.mask not in ('', 'none')
    self.masks = tf.constant(masks_lib.make(cfg.data.mask, np.arange(len(train_set)),
                                            d.image_size, seed=cfg.seed).astype(np.uint8)
                             ) if self.masked else None
    with strategy.scope():
      self.model = nets.build(cfg, 'generator')
      self.optimizer = base.adam(cfg.optim, cfg.optim.lr)
      self.optimizer.build(self.model.trainable_variables)
      self.replica_rngs()
    self.host_rng()
    # Persistent latents, one per training image, started from the prior.
    self.latents = tf.Variable(self.rng.normal((len(train_set), self.latent_dim)),
                               trainable=False, name='latents')
    self.grid_z = self.grid_latents(GRID, self.latent_dim)
    self.infer_fn = self.langevin_fn(self.infer)
    self.headline = ('loss', 'recon_mae') + (('recovery_mae',) if self.masked else ())

  def infer(self, x, mask, h0):
    """Posterior Langevin from h0: the N(0, I) prior is the kernel's reference term (s = 1);
    latents are never bounded."""
    return langevin_lib.from_config(
        posterior_energy(self.model, x, mask, self.cfg.model.sigma), h0, self.cfg.langevin,
        self.replica_rng, scale=self.recovery.langevin_scale, ref_sigma=1.0, bounded=False)

  def _replica_step(self, idx, x):
    n = tf.distribute.get_replica_context().num_replicas_in_sync
    mask = (tf.cast(tf.gather(self.masks, idx), tf.float32) if self.masked
            else tf.ones_like(x))
    h, lstats = self.infer_fn(x, mask, tf.gather(self.latents, idx))
    h = tf.stop_gradient(h)
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      x_hat = tf.cast(self.model(h, training=True), tf.float32)
      loss = losses.gaussian_recon(x, x_hat, self.cfg.model.sigma, mask)
      scaled = loss / tf.cast(n, tf.float32)  # gradients are summed over replicas
    grads = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(grads, variables))
    metrics = {
        'loss': loss,
        'recon_mae': losses.masked_mae(x, x_hat, mask),
        'grad_norm': losses.grad_norm(grads, n),
        'latent_norm': tf.reduce_mean(tf.norm(h, axis=1)),
        **langevin_lib.metrics(lstats),
    }
    if self.masked:  # the training images' missing pixels were never seen
      metrics['recovery_mae'] = losses.masked_mae(x, x_hat, 1.0 - mask)
    return idx, h, metrics

  @tf.function
  def train_step(self, iterator):
    idx, x = next(iterator)
    idx, h, metrics = self.strategy.run(self._replica_step, args=(idx, x))
    self.update_rows(self.latents, idx, h)
    return self.reduce(metrics)

  def make_iterator(self, start_step: int):
    return super().make_iterator(start_step, with_index=True)

  def samples(self):
    return self.model(self.grid_z, training=False).numpy()

  def quick_samples(self, n):
    return sample(self.model, n, self.cfg.seed + 11)

  def checkpoint_items(self):
    return {'generator': self.model, 'optimizer': self.optimizer, 'rng': self.rng,
            'replica_rng': self.replica_rng, 'latents': self.latents}

  def evaluate(self, workdir):
    del workdir
    return {'num_train_images': len(self.train_set), 'mask': self.cfg.data.mask or 'none'}

  def describe(self):
    m, d = self.cfg.model, self.cfg.data
    return f'{super().describe()}, latent {m.latent_dim}, mask {d.mask or "none"}'


def train(cfg, workdir: str, strategy=None, log=print) -> dict:
  """Trains a generator by ABP as `cfg` says, in `workdir` (resuming if it can)."""
  return base.train(cfg, workdir, strategy, log, Generator)


# ------------------------------------------------------------------ a trained generator


def restore(run):
  """(config, generator) of a run with a generator (trainers/registry.with_generator): a
  workdir (its newest intact checkpoint) or an opened trainers/run.TrainedRun."""
  run = run_lib.opened(run, algos=registry.with_generator())
  return run.cfg, run.nets(('generator',))['generator']


def sample_sets(cfg, built, n, seed):
  """{name: n samples g(z)} of a restored run with a generator (the sample and score
  tasks)."""
  return {f'{cfg.algo} generator': sample(built['generator'], n, seed)}


# ------------------------------------------------------------------ what the latents do


def sample(model, n: int = 64, seed: int = 0, batch_size: int = 500) -> np.ndarray:
  """n images g(z), z ~ N(0, I) drawn with `seed`, generated batch_size at a time."""
  z = np.random.default_rng(seed).standard_normal((n, model.input_shape[-1]))
  z = z.astype(np.float32)
  return batches.apply(lambda zb: model(zb, training=False), z, batch_size=batch_size)


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
