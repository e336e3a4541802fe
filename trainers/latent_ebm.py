"""The generator with a latent-space energy-based prior (`--algo=latent_ebm`).

Pang, Han, Nijkamp, Zhu, Wu, "Learning Latent Space Energy-Based Prior Model", NeurIPS 2020
(arXiv:2006.08205); docs/ALGORITHMS.md §7.

    z ~ p_α(z) = exp(f_α(z)) · N(z; 0, I) / Z(α),     X = g(z; β) + ε,   ε ~ N(0, σ²I)

ABP's generator (trainers/generator.py) with its N(0, I) prior corrected by a small energy
net f_α (models/latent_prior.py). Every chain runs in latent space, with the one Langevin
kernel (trainers/langevin.py, reference term s = 1: the N(0, I) factor), short-run from
N(0, I) noise each step (not persistent):
  prior:      z⁻ ← K₀ steps on E(z) = −f_α(z) + ||z||²/2                     (langevin.prior_*)
  posterior:  z⁺ ← K₁ steps on E(z) = ||X − g(z)||²/(2σ²) − f_α(z) + ||z||²/2  (langevin.steps)
  prior net:      α ← Adam on mean f_α(z⁻) − mean f_α(z⁺)    (losses.ml_loss: the data's latents
                                                              against the prior's samples)
  generator:      β ← Adam on ||X − g(z⁺)||²/(2σ²)            (losses.gaussian_recon)
Sampling: z⁻ by the prior's chain, then g(z⁻). No pixel-space MCMC: each step costs K₁
generator passes and K₀ passes of the small prior net.
"""
import numpy as np
import tensorflow as tf

from core import data as data_lib
from evaluation import reports
from trainers import base
from trainers import generator as generator_lib
from trainers import langevin as langevin_lib
from trainers import losses
from trainers import nets

GRID = 64
# The sample grid's and the evaluation's prior chains are stateless: seed (cfg.seed, GRID_SEED).
GRID_SEED = 17


def prior_energy(prior):
  """energy_fn of the prior's chain: −f_α(z) per example (the kernel adds ||z||²/2, s = 1)."""
  return lambda z: -tf.cast(prior(z, training=False), tf.float32)


def posterior_energy(generator, prior, x, sigma):
  """energy_fn of the posterior's chain: ||X − g(z)||²/(2σ²) − f_α(z) per example (the kernel
  adds ||z||²/2)."""
  recon = generator_lib.posterior_energy(generator, x, 1.0, sigma)
  return lambda z: recon(z) - tf.cast(prior(z, training=False), tf.float32)


def sample_prior(prior, z0, lv, rng=None, *, seed=None, scale=1.0):
  """z⁻: langevin.prior_steps steps of size langevin.prior_step_size (× scale) on the
  prior's energy from z0; (z, stats). seed: stateless noise instead of rng's."""
  return langevin_lib.from_config(prior_energy(prior), z0, lv, rng, steps=lv.prior_steps,
                                  step_size=lv.prior_step_size, scale=scale, ref_sigma=1.0,
                                  clip=0.0, bounded=False, seed=seed)


def infer(generator, prior, x, z0, lv, rng, *, sigma, scale=1.0, steps=None, noise=None):
  """z⁺: langevin.steps steps (or `steps`) of size langevin.step_size (× scale) on the
  posterior's energy of images x from z0; (z, stats). noise=False: descent to the mode."""
  return langevin_lib.from_config(posterior_energy(generator, prior, x, sigma), z0, lv, rng,
                                  steps=steps, scale=scale, ref_sigma=1.0, noise=noise,
                                  clip=0.0, bounded=False)


def prior_chain(prior, lv):
  """The prior's chain as one compiled function (z0, stateless seed) → z⁻."""
  return tf.function(lambda zb, s: sample_prior(prior, zb, lv, seed=s)[0])


def prior_latents(prior, lv, n: int, seed: int, batch_size: int = 500,
                  chain=None) -> np.ndarray:
  """n latents of the learned prior p_α: N(0, I) starts drawn with `seed`, then the prior's
  chain with stateless noise (seed, batch index): the same (n, seed) gives the same latents.
  chain: a `prior_chain` of this prior to reuse (a caller that samples often)."""
  d = int(prior.input_shape[-1])
  z0 = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
  chain = chain or prior_chain(prior, lv)
  out = [chain(tf.constant(z0[i:i + batch_size]), tf.constant([seed, i], tf.int64)).numpy()
         for i in range(0, n, batch_size)]
  return np.concatenate(out) if out else np.zeros((0, d), np.float32)


def sample(generator, prior, lv, n: int, seed: int, batch_size: int = 500,
           chain=None) -> np.ndarray:
  """n images g(z⁻), z⁻ from the learned prior (prior_latents)."""
  z = prior_latents(prior, lv, n, seed, batch_size, chain)
  return np.concatenate([generator(z[i:i + batch_size], training=False).numpy()
                         for i in range(0, n, batch_size)])


class LatentEBM(base.Trainer):
  """Generator, prior net, optimizers and RNGs of one latent-EBM run, and its compiled step."""
  title = 'latent-space EBM prior'
  headline = ('recon_mae', 'f_data', 'f_samples')
  energy_keys = ('f_data', 'f_samples')

  def __init__(self, cfg, strategy, train_set: data_lib.ImageSet):
    super().__init__(cfg, strategy, train_set)
    o = cfg.optim
    with strategy.scope():
      self.generator, self.gen_opt = self.net_and_adam('generator', o.gen_lr)
      self.prior, self.prior_opt = self.net_and_adam('prior', o.lr)
      self.replica_rngs()  # Langevin noise
    self.host_rng()  # the chains' N(0, I) starts, drawn globally
    self.latent_dim = cfg.model.latent_dim
    self.grid_z = self.grid_latents(GRID, self.latent_dim)
    self.quick_chain = prior_chain(self.prior, cfg.langevin)  # traced once, for quick_samples
    self.grid_fn = tf.function(lambda z0: self.generator(sample_prior(
        self.prior, z0, cfg.langevin, seed=tf.constant([cfg.seed, GRID_SEED], tf.int64))[0],
        training=False))

  def _replica_step(self, x, zp_global, zq_global):
    cfg, n = self.cfg, tf.distribute.get_replica_context().num_replicas_in_sync
    lv, scale = cfg.langevin, self.recovery.langevin_scale
    z_prior, pstats = sample_prior(self.prior, nets.replica_slice(zp_global), lv,
                                   self.replica_rng, scale=scale)
    z_post, qstats = infer(self.generator, self.prior, x, nets.replica_slice(zq_global), lv,
                           self.replica_rng, sigma=cfg.model.sigma, scale=scale)
    z_prior, z_post = tf.stop_gradient(z_prior), tf.stop_gradient(z_post)
    m = tf.shape(x)[0]
    with tf.GradientTape(persistent=True) as tape:
      f = tf.cast(self.prior(tf.concat([z_post, z_prior], 0), training=True), tf.float32)
      f_data, f_samples = f[:m], f[m:]
      loss_prior = losses.ml_loss(f_data, f_samples)
      x_hat = tf.cast(self.generator(z_post, training=True), tf.float32)
      recon = losses.gaussian_recon(x, x_hat, cfg.model.sigma)
      scale_n = 1.0 / tf.cast(n, tf.float32)  # gradients are summed over replicas
      scaled_p, scaled_g = loss_prior * scale_n, recon * scale_n
    grads_p = tape.gradient(scaled_p, self.prior.trainable_variables)
    grads_g = tape.gradient(scaled_g, self.generator.trainable_variables)
    del tape
    self.prior_opt.apply_gradients(zip(grads_p, self.prior.trainable_variables))
    self.gen_opt.apply_gradients(zip(grads_g, self.generator.trainable_variables))
    return {
        'loss_prior': loss_prior, 'recon': recon,
        'recon_mae': tf.reduce_mean(tf.abs(x - x_hat)) / 2,
        # f_α of the posterior's latents (the data's side) and of the prior's samples.
        'f_data': tf.reduce_mean(f_data), 'f_samples': tf.reduce_mean(f_samples),
        'latent_norm': tf.reduce_mean(tf.norm(z_post, axis=1)),
        'grad_norm_prior': losses.grad_norm(grads_p, n),
        'grad_norm_g': losses.grad_norm(grads_g, n),
        'langevin_prior_energy_end': pstats['energy_end'],
        'langevin_posterior_energy_start': qstats['energy_start'],
        'langevin_posterior_energy_end': qstats['energy_end'],
    }

  @tf.function
  def train_step(self, iterator):
    x = next(iterator)
    shape = (self.cfg.data.batch_size, self.latent_dim)
    zp, zq = self.rng.normal(shape), self.rng.normal(shape)
    metrics = self.strategy.run(self._replica_step, args=(x, zp, zq))
    return self.reduce(metrics)

  # ---------------------------------------------------------------- run plumbing

  def samples(self):
    return self.grid_fn(self.grid_z).numpy()

  def quick_samples(self, n):
    return sample(self.generator, self.prior, self.cfg.langevin, n, self.cfg.seed + 11,
                  chain=self.quick_chain)

  def checkpoint_items(self):
    return {'generator': self.generator, 'prior': self.prior, 'gen_opt': self.gen_opt,
            'prior_opt': self.prior_opt, 'rng': self.rng, 'replica_rng': self.replica_rng}

  def evaluate(self, workdir):
    """Test reconstructions by posterior inference, and sample quality (the prior's samples,
    beside g(z) of z ~ N(0, I): what the prior's correction adds)."""
    del workdir
    cfg = self.cfg
    out = test_reconstruction(cfg, self.generator, self.prior, cfg.eval.num_test or 1000)
    if not cfg.eval.score:
      return out
    sets = sample_sets(cfg, {'generator': self.generator, 'prior': self.prior},
                       cfg.eval.num_samples, cfg.seed + 7)
    sets['latent EBM generator, N(0, I) latents'] = generator_lib.sample(
        self.generator, cfg.eval.num_samples, cfg.seed + 7)
    out.update(reports.sample_quality(cfg, sets, headline='latent EBM generator'))
    return out

  def describe(self):
    lv = self.cfg.langevin
    return (f'{super().describe()}, latent {self.latent_dim}, prior K0={lv.prior_steps}, '
            f'posterior K1={lv.steps}')


def test_reconstruction(cfg, generator, prior, num_images: int, seed: int = 0,
                        steps: int = 0) -> dict:
  """Mean |X − g(z⁺)| (in [0, 1] pixel units) of the first num_images test images (the
  latent EBM has no encoder). steps = 0: z⁺ by the training's posterior chain from N(0, I),
  its noise seeded; steps > 0: `steps` noiseless steps from z = 0, the posterior mode — ABP's
  protocol (tasks/generator.reconstruct), so the two compare at the same latent size."""
  test = data_lib.from_config(cfg, 'test')
  n = min(num_images, len(test))
  x = data_lib.to_float(test.images[:n])
  rng = tf.random.Generator.from_seed(seed)
  d = cfg.model.latent_dim
  z0 = (np.zeros((n, d), np.float32) if steps else
        np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32))
  run = tf.function(lambda xb, zb: generator(infer(
      generator, prior, xb, zb, cfg.langevin, rng, sigma=cfg.model.sigma,
      steps=steps or None, noise=False if steps else None)[0], training=False))
  rec = np.concatenate([run(x[i:i + 500], z0[i:i + 500]).numpy() for i in range(0, n, 500)])
  how = (f'the posterior mode by {steps} noiseless steps from z = 0' if steps else
         f'z by {cfg.langevin.steps} posterior Langevin steps from N(0, I)')
  return {'test_recon_mae': float(np.abs(rec - x).mean() / 2), 'test_recon_images': n,
          'test_recon_reference': f'{cfg.data.dataset} test split, first {n}, {how}'}


def sample_sets(cfg, built, n, seed):
  """{name: n samples g(z⁻)} of a restored latent-EBM run, z⁻ from the learned prior (the
  sample and score tasks)."""
  return {'latent EBM generator': sample(built['generator'], built['prior'], cfg.langevin, n,
                                         seed)}


def train(cfg, workdir: str, strategy=None, log=print) -> dict:
  """Trains the latent-space EBM prior model as `cfg` says, in `workdir` (resuming if it can)."""
  return base.train(cfg, workdir, strategy, log, LatentEBM)
