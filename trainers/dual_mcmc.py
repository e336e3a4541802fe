"""Dual-MCMC teaching (`--algo=dual_mcmc`): the divergence triangle's three nets, each MCMC
chain started by the net that learns from it.

Cui, Han, "Learning Energy-based Model via Dual-MCMC Teaching", NeurIPS 2023
(arXiv:2312.02469); docs/ALGORITHMS.md §8.

The descriptor f(X; θ) (the energy model, U = −f), the generator X = g(h; α) + ε and the
inference model q_φ(h|X) = N(μ, diag σ²) (the triangle's encoder). One step, for a batch
X_obs and h ~ N(0, I):
  1. EBM chain, initialised by the generator:      X̃ ← T_x Langevin steps on U from g(h)
                                                     (langevin.steps, .step_size, bounded)
  2. posterior chain, initialised by the encoder:  h̃ ← T_z Langevin steps on
                                                     ||X_obs − g(h)||²/(2σ²) + ||h||²/2 from
                                                     h₀ ~ q_φ(h|X_obs)  (langevin.gen_steps,
                                                     .gen_step_size)
  3. descriptor θ:  mean f(X̃) − mean f(X_obs) + c·(mean f(X_obs)² + mean f(X̃)²)
  4. generator  α:  ||X_obs − g(h̃)||²/(2σ²) + ||X̃ − g(h)||²/(2σ²)   (learns the data through
                    the posterior chain and the EBM through its revisions: CoopNets'
                    teaching on both sides)
  5. encoder    φ:  −log q_φ(h̃|X_obs) − log q_φ(h|X̃)   (learns the chains' ends)
The same losses, Langevin kernel and nets as the triangle and CoopNets (trainers/losses.py,
trainers/langevin.py, trainers/nets.py). Samples: the generator's drafts g(h) and the
descriptor's revisions of them (step 1), like CoopNets.
"""
import tensorflow as tf

from core import data as data_lib
from evaluation import reports
from trainers import base
from trainers import coopnets as coopnets_lib
from trainers import ema as ema_lib
from trainers import generator as generator_lib
from trainers import langevin as langevin_lib
from trainers import losses
from trainers import nets
from trainers import triangle as triangle_lib

GRID = 32  # generator drafts above their revisions, as CoopNets' grid


def infer(generator, x, h0, lv, rng, *, sigma, scale=1.0, noise=None):
  """h̃: langevin.gen_steps steps of size langevin.gen_step_size (× scale) on the generator's
  posterior energy of images x from h0 (the encoder's draw); (h, stats). noise=False: gradient
  descent to the posterior mode."""
  return langevin_lib.from_config(
      generator_lib.posterior_energy(generator, x, 1.0, sigma), h0, lv, rng,
      steps=lv.gen_steps, step_size=lv.gen_step_size, scale=scale, ref_sigma=1.0, clip=0.0,
      bounded=False, noise=noise)


class DualMCMC(base.Trainer):
  """Descriptor, generator, encoder, optimizers and RNGs of one dual-MCMC run, and its
  compiled step."""
  title = 'dual-MCMC teaching'
  headline = ('recon_mae', 'f_data', 'f_samples', 'revision_mae')
  energy_keys = ('f_data', 'f_samples')

  def __init__(self, cfg, strategy, train_set: data_lib.ImageSet):
    super().__init__(cfg, strategy, train_set)
    o = cfg.optim
    with strategy.scope():
      self.descriptor, self.desc_opt = self.net_and_adam('descriptor', o.lr)
      self.generator, self.gen_opt = self.net_and_adam('generator', o.gen_lr)
      self.encoder, self.enc_opt = self.net_and_adam('encoder', o.enc_lr)
      self.replica_rngs()  # Langevin noise
      self.ema_decay = float(o.ema_decay)
      self.generator_ema = None
      if self.ema_decay > 0:  # the averaged generator that samples, grids and exports use
        self.generator_ema = nets.build(cfg, 'generator')
        ema_lib.copy(self.generator_ema.variables, self.generator.variables)
    self.host_rng()  # latents and the encoder's ε, drawn globally
    self.latent_dim = cfg.model.latent_dim
    self.grid_z = self.grid_latents(GRID, self.latent_dim)
    self.revise_fn = tf.function(lambda x0: nets.revise(
        self.descriptor, x0, cfg.langevin, None,
        seed=tf.constant([cfg.seed, GRID], tf.int64))[0])

  def _replica_step(self, x, h_global, eps_global):
    cfg, n = self.cfg, tf.distribute.get_replica_context().num_replicas_in_sync
    lv, sigma, scale = cfg.langevin, cfg.model.sigma, self.recovery.langevin_scale
    h, eps = nets.replica_slice(h_global), nets.replica_slice(eps_global)
    draft = tf.cast(self.generator(h, training=False), tf.float32)
    revision, xstats = nets.revise(self.descriptor, draft, lv, self.replica_rng, scale=scale)
    mean, logvar = self.encoder(x, training=False)
    h0 = mean + tf.exp(0.5 * logvar) * eps
    h_post, zstats = infer(self.generator, x, h0, lv, self.replica_rng, sigma=sigma,
                           scale=scale)
    revision, h_post = tf.stop_gradient(revision), tf.stop_gradient(h_post)
    m = tf.shape(x)[0]
    with tf.GradientTape(persistent=True) as tape:
      f = tf.cast(self.descriptor(tf.concat([x, revision], 0), training=True), tf.float32)
      f_data, f_samples = f[:m], f[m:]
      loss_d = losses.ml_loss(f_data, f_samples)
      penalty = losses.energy_penalty(f_data, f_samples)
      total_d = loss_d + cfg.optim.energy_penalty * penalty
      # g(h̃) and g(h) in one batch (no batch statistics: the same maths, one pass).
      x_both = tf.cast(self.generator(tf.concat([h_post, h], 0), training=True), tf.float32)
      x_rec, x_gen = x_both[:m], x_both[m:]
      recon = losses.gaussian_recon(x, x_rec, sigma)
      teach = losses.gaussian_recon(revision, x_gen, sigma)
      loss_g = recon + teach
      q_mean, q_logvar = self.encoder(tf.concat([x, revision], 0), training=True)
      nll = losses.gaussian_nll(tf.concat([h_post, h], 0), q_mean, q_logvar)
      nll_data, nll_samples = tf.reduce_mean(nll[:m]), tf.reduce_mean(nll[m:])
      loss_e = nll_data + nll_samples
      k = 1.0 / tf.cast(n, tf.float32)  # gradients are summed over replicas
      scaled = (total_d * k, loss_g * k, loss_e * k)
    pairs = ((self.descriptor, self.desc_opt, 'grad_norm_d'),
             (self.generator, self.gen_opt, 'grad_norm_g'),
             (self.encoder, self.enc_opt, 'grad_norm_e'))
    grads = [tape.gradient(loss, net.trainable_variables)
             for loss, (net, _, _) in zip(scaled, pairs)]
    del tape
    metrics = {}
    for (net, opt, key), g in zip(pairs, grads):
      opt.apply_gradients(zip(g, net.trainable_variables))
      metrics[key] = losses.grad_norm(g, n)
    metrics.update({
        'loss_d': loss_d, 'energy_penalty': penalty, 'loss_g': loss_g, 'recon': recon,
        'loss_g_samples': teach, 'loss_e': loss_e, 'latent_nll': nll_data,
        'recon_mae': tf.reduce_mean(tf.abs(x - x_rec)) / 2,
        'f_data': tf.reduce_mean(f_data), 'f_samples': tf.reduce_mean(f_samples),
        # How far the EBM's chain moved the drafts, in [0, 1] pixel units; how far the
        # posterior's chain moved the encoder's latents.
        'revision_mae': tf.reduce_mean(tf.abs(revision - draft)) / 2,
        'langevin_latent_shift': tf.reduce_mean(tf.norm(h_post - h0, axis=1)),
        'langevin_energy_start': xstats['energy_start'],
        'langevin_energy_end': xstats['energy_end'],
        'langevin_posterior_energy_start': zstats['energy_start'],
        'langevin_posterior_energy_end': zstats['energy_end'],
    })
    return metrics

  @tf.function
  def train_step(self, iterator):
    x = next(iterator)
    shape = (self.cfg.data.batch_size, self.latent_dim)
    h, eps = self.rng.normal(shape), self.rng.normal(shape)
    metrics = self.strategy.run(self._replica_step, args=(x, h, eps))
    if self.generator_ema is not None:
      ema_lib.update(self.generator_ema.variables, self.generator.variables, self.step,
                     self.ema_decay)
    return self.reduce(metrics)

  @property
  def sampler(self):
    """The generator that samples: the averaged one when optim.ema_decay > 0."""
    return self.generator_ema if self.generator_ema is not None else self.generator

  # ---------------------------------------------------------------- run plumbing

  def samples(self):
    """Generator drafts (top half of the grid) and the descriptor's revisions (bottom)."""
    drafts = self.sampler(self.grid_z, training=False)
    return tf.concat([drafts, self.revise_fn(drafts)], 0).numpy()

  def quick_samples(self, n):
    return generator_lib.sample(self.sampler, n, self.cfg.seed + 11)

  def checkpoint_items(self):
    items = {'descriptor': self.descriptor, 'generator': self.generator,
             'encoder': self.encoder, 'desc_opt': self.desc_opt, 'gen_opt': self.gen_opt,
             'enc_opt': self.enc_opt, 'rng': self.rng, 'replica_rng': self.replica_rng}
    if self.generator_ema is not None:
      items['generator_ema'] = self.generator_ema
    return items

  def evaluate(self, workdir):
    """Test reconstructions through the encoder, and both nets' samples scored (the
    generator's drafts and the descriptor's revisions)."""
    cfg = self.cfg
    out = triangle_lib.reconstruct_test(cfg, self.encoder, self.sampler, workdir)
    if not cfg.eval.score:
      return out
    sets = sample_sets(cfg, {'generator': self.sampler, 'descriptor': self.descriptor},
                       cfg.eval.num_samples, cfg.seed + 7)
    out.update(reports.sample_quality(cfg, sets, headline='dual-MCMC generator'))
    return out

  def describe(self):
    lv = self.cfg.langevin
    return (f'{super().describe()}, latent {self.latent_dim}, T_x={lv.steps}, '
            f'T_z={lv.gen_steps}')


def sample_sets(cfg, built, n, seed):
  """{name: n samples} of a restored dual-MCMC run: the generator's drafts g(h) and the
  descriptor's revisions of them (the sample and score tasks)."""
  drafts, revisions = coopnets_lib.sample_both(built['generator'], built['descriptor'], cfg,
                                               n, seed)
  return {'dual-MCMC generator': drafts, 'dual-MCMC descriptor': revisions}


def train(cfg, workdir: str, strategy=None, log=print) -> dict:
  """Trains dual-MCMC teaching as `cfg` says, in `workdir` (resuming if it can)."""
  return base.train(cfg, workdir, strategy, log, DualMCMC)
