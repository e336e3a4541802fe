"""CoopNets: the descriptor and the generator teach each other by MCMC.

Xie, Lu, Gao, Wu, "Cooperative Learning of Energy-Based Model and Latent Variable Model via
MCMC Teaching", AAAI 2018 (and TPAMI 2020, arXiv:1609.09408); docs/ALGORITHMS.md §4.

One iteration, a batch of m latents h_j ~ N(0, I):
  1. the generator drafts       X̂_j = g(h_j; α)
  2. the descriptor revises     X̃_j = T_d Langevin steps under E(X) = ||X||²/(2s²) − f(X; θ)
                                 from X̂_j (chains are not persistent)
  3. (T_g ≥ 1) the generator infers h̃_j by T_g posterior Langevin steps on X̃_j from h_j;
     T_g = 0 (default): h̃_j = h_j, the latents are known
  4. the descriptor learns      θ ← Adam on mean f(X̃) − mean f(X_obs)
  5. the generator learns       α ← Adam on mean ||X̃_j − g(h̃_j; α)||²/(2σ²)
Both nets sample: the generator in one pass, the descriptor by revising generator drafts.
Pattern completion on a trained run is a task (tasks/coopnets.py).
"""
import os

import numpy as np
import tensorflow as tf

from core import batches
from core import data as data_lib
from core import images as images_lib
from evaluation import reports
from trainers import base
from trainers import generator as generator_lib
from trainers import langevin as langevin_lib
from trainers import losses
from trainers import nets

GRID = 32  # generator drafts and their revisions, one above the other in the sample grid


class CoopNets(base.Trainer):
  """Descriptor, generator, optimizers and RNGs of one CoopNets run, and its compiled step."""
  title = 'CoopNets'
  headline = ('loss_d', 'loss_g', 'revision_mae')

  def __init__(self, cfg, strategy, train_set: data_lib.ImageSet):
    super().__init__(cfg, strategy, train_set)
    b = cfg.data.batch_size
    o = cfg.optim
    with strategy.scope():
      self.descriptor, self.desc_opt = self.net_and_adam('descriptor', o.lr)
      self.generator, self.gen_opt = self.net_and_adam('generator', o.gen_lr)
      self.replica_rngs()  # Langevin noise
    self.host_rng()  # latents, drawn globally
    d = self.latent_dim = cfg.model.latent_dim
    shape = nets.image_shape(cfg)
    # The last global batch, for the sample grid and for tests (not checkpointed).
    self.last = {k: tf.Variable(tf.zeros(s), trainable=False) for k, s in (
        ('latents', (b, d)), ('inferred', (b, d)), ('drafts', (b,) + shape),
        ('revisions', (b,) + shape))}
    self.grid_z = self.grid_latents(GRID, d)
    self.revise_fn = tf.function(
        lambda x0: nets.revise(self.descriptor, x0, cfg.langevin, self.replica_rng)[0],
        jit_compile=bool(cfg.langevin.jit_compile))

  # ---------------------------------------------------------------- the step

  def _replica_step(self, x, h_global):
    cfg, n = self.cfg, tf.distribute.get_replica_context().num_replicas_in_sync
    lv, sigma = cfg.langevin, cfg.model.sigma
    h = nets.replica_slice(h_global)
    draft = tf.cast(self.generator(h, training=False), tf.float32)  # 1
    revision, lstats = nets.revise(self.descriptor, draft, lv, self.replica_rng,  # 2
                                   scale=self.recovery.langevin_scale)
    revision = tf.stop_gradient(revision)
    if lv.gen_steps > 0:  # 3
      h_tilde, _ = langevin_lib.from_config(
          generator_lib.posterior_energy(self.generator, revision, 1.0, sigma), h, lv,
          self.replica_rng, steps=lv.gen_steps, step_size=lv.gen_step_size,
          scale=self.recovery.langevin_scale, ref_sigma=1.0, clip=0.0, bounded=False)
      h_tilde = tf.stop_gradient(h_tilde)
    else:
      h_tilde = h
    m = tf.shape(x)[0]
    with tf.GradientTape(persistent=True) as tape:
      f = tf.cast(self.descriptor(tf.concat([x, revision], 0), training=True), tf.float32)
      f_data, f_rev = f[:m], f[m:]
      loss_d = losses.ml_loss(f_data, f_rev)  # 4
      penalty = losses.energy_penalty(f_data, f_rev)
      total_d = loss_d + cfg.optim.energy_penalty * penalty
      x_hat = tf.cast(self.generator(h_tilde, training=True), tf.float32)
      loss_g = losses.gaussian_recon(revision, x_hat, sigma)  # 5
      scale = 1.0 / tf.cast(n, tf.float32)  # gradients are summed over replicas
      scaled_d, scaled_g = total_d * scale, loss_g * scale
    grads_d = tape.gradient(scaled_d, self.descriptor.trainable_variables)
    grads_g = tape.gradient(scaled_g, self.generator.trainable_variables)
    del tape
    self.desc_opt.apply_gradients(zip(grads_d, self.descriptor.trainable_variables))
    self.gen_opt.apply_gradients(zip(grads_g, self.generator.trainable_variables))
    metrics = {
        'loss_d': loss_d, 'loss_g': loss_g, 'energy_penalty': penalty,
        'f_data': tf.reduce_mean(f_data), 'f_revisions': tf.reduce_mean(f_rev),
        # How far the descriptor moved the drafts, in [0, 1] pixel units.
        'revision_mae': tf.reduce_mean(tf.abs(revision - draft)) / 2,
        'grad_norm_d': losses.grad_norm(grads_d, n),
        'grad_norm_g': losses.grad_norm(grads_g, n),
        **langevin_lib.metrics(lstats, ('energy_start', 'energy_end')),
    }
    return (h, h_tilde, draft, revision), metrics

  @tf.function
  def train_step(self, iterator):
    x = next(iterator)
    h = self.rng.normal((self.cfg.data.batch_size, self.latent_dim))
    parts, metrics = self.strategy.run(self._replica_step, args=(x, h))
    for key, value in zip(('latents', 'inferred', 'drafts', 'revisions'), parts):
      self.last[key].assign(self.strategy.gather(value, 0))
    return self.reduce(metrics)

  # ---------------------------------------------------------------- run plumbing

  def samples(self):
    """Generator drafts (top half of the grid) and the descriptor's revisions (bottom)."""
    drafts = self.generator(self.grid_z, training=False)
    return np.concatenate([drafts.numpy(), self.revise_fn(drafts).numpy()])

  def quick_samples(self, n):
    """The generator's drafts (the revisions would cost a Langevin run each time)."""
    return generator_lib.sample(self.generator, n, self.cfg.seed + 11)

  def checkpoint_items(self):
    return {'descriptor': self.descriptor, 'generator': self.generator,
            'desc_opt': self.desc_opt, 'gen_opt': self.gen_opt, 'rng': self.rng,
            'replica_rng': self.replica_rng}

  def evaluate(self, workdir):
    """Both nets' samples scored (Fréchet distance, KID) beside the reference points, and an
    interpolation strip of the generator (WORKDIR/interpolation.png)."""
    cfg = self.cfg
    images_lib.save_png(os.path.join(workdir, 'interpolation.png'), images_lib.grid(
        generator_lib.interpolation_grid(self.generator, 8, 10, cfg.seed), 10))
    if not cfg.eval.score:
      return {}
    drafts, revisions = sample_both(self.generator, self.descriptor, cfg,
                                    cfg.eval.num_samples, cfg.seed + 7)
    return reports.sample_quality(
        cfg, {'coopnets descriptor': revisions, 'coopnets generator': drafts},
        headline='coopnets descriptor')

  def describe(self):
    lv = self.cfg.langevin
    return (f'{super().describe()}, latent {self.latent_dim}, T_d={lv.steps}, '
            f'T_g={lv.gen_steps}')


def sample_sets(cfg, built, n, seed):
  """{name: n samples} of a restored CoopNets run: the descriptor's revisions of the
  generator's drafts, and the drafts (the sample and score tasks)."""
  drafts, revisions = sample_both(built['generator'], built['descriptor'], cfg, n, seed)
  return {'coopnets descriptor': revisions, 'coopnets generator': drafts}


def sample_both(generator, descriptor, cfg, n: int, seed: int, batch_size: int = 100):
  """(drafts g(h), the descriptor's revisions of them), n each, h ~ N(0, I) from `seed`."""
  rng = tf.random.Generator.from_seed(seed)
  revise = tf.function(lambda x0: nets.revise(descriptor, x0, cfg.langevin, rng)[0])
  z = np.random.default_rng(seed).standard_normal(
      (n, cfg.model.latent_dim)).astype(np.float32)

  def both(zb):
    x = generator(zb, training=False)
    return x, revise(x)
  return batches.apply(both, z, batch_size=batch_size)


def train(cfg, workdir: str, strategy=None, log=print) -> dict:
  """Trains CoopNets as `cfg` says, in `workdir` (resuming if it holds a checkpoint)."""
  return base.train(cfg, workdir, strategy, log, CoopNets)
