"""The divergence triangle: descriptor, generator and encoder learned jointly; with the
descriptor switched off, a plain VAE (`--algo=vae`).

Han, Nijkamp, Fang, Hill, Zhu, Wu, "Divergence Triangle for Joint Training of Generator
Model, Energy-Based Model, and Inferential Model", CVPR 2019 (arXiv:1812.10907);
docs/ALGORITHMS.md §5.

    max_θ min_{α,φ}  KL(P_data || Q) + KL(Q || P) − KL(P_data || P)

Per-network losses, as the released code writes them (U = −f, each minimised), for a batch
X_obs and h ~ N(0, I):
  descriptor θ:  mean U(X_obs) − mean U(g(h))   + c·(mean U(X_obs)² + mean U(g(h))²)
  encoder    φ:  recon + KL(ρ_φ(h|X_obs) || N(0, I)) + λ·(−log ρ_φ(h | g(h)))
  generator  α:  recon + w·mean U(g(h))           + λ·(−log ρ_φ(h | g(h)))
(written here with f, trainers/losses.py: the descriptor's loss is losses.ml_loss, the
metrics log f_data and f_gen like every other trainer; w = optim.gen_energy_weight)
with recon = ||X_obs − g(μ + σ_φ ε)||²/(2σ²) (the VAE term, reparameterised). The energy
penalty c (optim.energy_penalty) is not in the released losses: without it the linear
descriptor loss lets U run to −4500 within 250 steps and the generator collapses (the
probe notes after ALGORITHMS §5); with c = 0.01, |U| stays ≲ 10.
Optional (langevin.steps > 0): the descriptor revises g(h) by Langevin as in CoopNets, learns
data vs revision, and the generator also learns the revision ||X̃ − g(h)||²/(2σ²).
"""
import functools
import os

import keras
import numpy as np
import tensorflow as tf

from core import batches
from core import data as data_lib
from core import files
from core import images as images_lib
from core import stats
from evaluation import reports
from trainers import base
from trainers import ema as ema_lib
from trainers import generator as generator_lib
from trainers import losses
from trainers import nets

GRID = 64


class Triangle(base.Trainer):
  """Nets, optimizers and RNGs of one triangle (or VAE) run, and its compiled step."""

  def __init__(self, cfg, strategy, train_set: data_lib.ImageSet):
    super().__init__(cfg, strategy, train_set)
    self.use_descriptor = bool(cfg.model.use_descriptor)
    self.title = 'divergence triangle' if self.use_descriptor else 'plain VAE'
    self.energy_keys = ('f_data', 'f_gen') if self.use_descriptor else ()
    self.headline = ('recon_mae', 'kl') + self.energy_keys
    self.revising = self.use_descriptor and cfg.langevin.steps > 0
    o = cfg.optim
    epoch_steps = max(1, len(train_set) // cfg.data.batch_size)

    def decayed(lr):
      if o.lr_decay < 1.0:  # the released code's decay per epoch
        lr = self.recovery.scaled(keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=epoch_steps, decay_rate=o.lr_decay, staircase=True))
      return lr

    with strategy.scope():
      self.generator, self.gen_opt = self.net_and_adam('generator', decayed(o.gen_lr),
                                                       o.gen_weight_decay)
      self.encoder, self.enc_opt = self.net_and_adam('encoder', decayed(o.enc_lr))
      self.descriptor = self.desc_opt = None
      if self.use_descriptor:
        self.descriptor, self.desc_opt = self.net_and_adam('descriptor', decayed(o.lr))
      self.replica_rngs()  # Langevin noise
      # The averaged generator (trainers/ema.py) that samples, grids and exports use.
      self.ema_decay = float(o.ema_decay)
      self.generator_ema = None
      if self.ema_decay > 0:
        self.generator_ema = nets.build(cfg, 'generator')
        self.start_ema()
    self.host_rng()  # latents and ε, drawn globally
    self._last_r1 = None
    self.latent_dim = cfg.model.latent_dim
    self.grid_z = self.grid_latents(GRID, self.latent_dim)

  # ---------------------------------------------------------------- the step

  def _replica_step(self, x, h_global, eps_global, with_r1):
    cfg, n = self.cfg, tf.distribute.get_replica_context().num_replicas_in_sync
    lam = cfg.optim.wake_sleep
    h, eps = nets.replica_slice(h_global), nets.replica_slice(eps_global)
    m = tf.shape(x)[0]
    if self.revising:
      draft = tf.cast(self.generator(h, training=False), tf.float32)
      x_rev, _ = nets.revise(self.descriptor, draft, cfg.langevin, self.replica_rng,
                             scale=self.recovery.langevin_scale)
      x_rev = tf.stop_gradient(x_rev)
    with tf.GradientTape(persistent=True) as tape:
      mean, logvar = self.encoder(x, training=True)
      z = mean + tf.exp(0.5 * logvar) * eps
      # g(z) and g(h) in one batch (the generator has no batch statistics: the same maths,
      # one pass of twice the rows is cheaper than two).
      x_both = tf.cast(self.generator(tf.concat([z, h], 0), training=True), tf.float32)
      x_rec, x_gen = x_both[:m], x_both[m:]
      recon = losses.gaussian_recon(x, x_rec, cfg.model.sigma)
      kl = tf.reduce_mean(losses.kl_to_prior(mean, logvar))
      loss_e = recon + kl
      loss_g = recon
      metrics = {'recon': recon, 'kl': kl,
                 'recon_mae': tf.reduce_mean(tf.abs(x - x_rec)) / 2}
      if lam:
        g_mean, g_logvar = self.encoder(x_gen, training=True)
        nll = tf.reduce_mean(losses.gaussian_nll(h, g_mean, g_logvar))
        loss_e += lam * nll
        loss_g += lam * nll
        metrics['latent_nll'] = nll
      if self.use_descriptor:
        parts = [x, x_gen] + ([x_rev] if self.revising else [])
        # Lazy R1 (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN",
        # CVPR 2020, §4): on every optim.r1_every-th step only, weighted by r1_every.
        r1_weight = cfg.optim.r1_penalty * cfg.optim.r1_every if with_r1 else 0.0
        with tf.GradientTape(watch_accessed_variables=False) as data_tape:
          data_tape.watch(x)
          f = tf.cast(self.descriptor(tf.concat(parts, 0), training=True), tf.float32)
          f_obs, f_gen = f[:m], f[m:2 * m]
          f_obs_sum = tf.reduce_sum(f_obs)  # inside the tape, so the sum is recorded
        f_neg = f[2 * m:] if self.revising else f_gen
        loss_d = losses.ml_loss(f_obs, f_neg)  # = mean U(X_obs) − mean U(negatives)
        penalty = losses.energy_penalty(f_obs, f_neg)
        total_d = loss_d + cfg.optim.energy_penalty * penalty
        if r1_weight:  # (γ/2)·E ||∇_X f(X_obs)||² (R1; the same for U = −f)
          r1 = losses.r1_penalty(data_tape.gradient(f_obs_sum, x))
          total_d += 0.5 * r1_weight * r1
          metrics['r1'] = r1
        loss_g -= cfg.optim.gen_energy_weight * tf.reduce_mean(f_gen)  # + w·mean U(g(h))
        metrics.update(loss_d=loss_d, energy_penalty=penalty, f_data=tf.reduce_mean(f_obs),
                       f_gen=tf.reduce_mean(f_gen))
        if self.revising:
          teach = losses.gaussian_recon(x_rev, x_gen, cfg.model.sigma)
          loss_g += teach
          metrics['teach'] = teach
      # Gradients are summed over replicas: scale each replica's mean by 1/n.
      scale = 1.0 / tf.cast(n, tf.float32)
      scaled = [loss_g * scale, loss_e * scale] + (
          [total_d * scale] if self.use_descriptor else [])
    pairs = [(self.generator, self.gen_opt, scaled[0], 'grad_norm_g'),
             (self.encoder, self.enc_opt, scaled[1], 'grad_norm_e')]
    if self.use_descriptor:
      pairs.append((self.descriptor, self.desc_opt, scaled[2], 'grad_norm_d'))
    grads = [tape.gradient(loss, net.trainable_variables) for net, _, loss, _ in pairs]
    del tape
    for (net, opt, _, key), g in zip(pairs, grads):
      opt.apply_gradients(zip(g, net.trainable_variables))
      metrics[key] = losses.grad_norm(g, n)
    metrics.update(loss_g=loss_g, loss_e=loss_e)
    return metrics

  def train_step(self, iterator):
    """One update; the R1 penalty's steps (every optim.r1_every-th, counted by the step
    counter, so a resumed run keeps the rhythm) and the others are two compiled graphs. The
    metrics' `r1` between them is the last computed one (none yet after a resume)."""
    every = self.cfg.optim.r1_every
    with_r1 = (self.use_descriptor and bool(self.cfg.optim.r1_penalty) and
               int(self.step.numpy()) % every == 0)
    metrics = self._train_step(iterator, with_r1)
    if with_r1:
      self._last_r1 = metrics['r1']
    elif self._last_r1 is not None:  # the value of the last step that computed it
      metrics['r1'] = self._last_r1
    return metrics

  @tf.function
  def _train_step(self, iterator, with_r1: bool):
    x = next(iterator)
    shape = (self.cfg.data.batch_size, self.latent_dim)
    h, eps = self.rng.normal(shape), self.rng.normal(shape)
    metrics = self.strategy.run(functools.partial(self._replica_step, with_r1=with_r1),
                                args=(x, h, eps))
    if self.generator_ema is not None:  # cross-replica: the mirrored weights are one value
      ema_lib.update(self.generator_ema.variables, self.generator.variables, self.step,
                     self.ema_decay)
    return self.reduce(metrics)

  def start_ema(self):
    """The average starts from the current generator (a new run, or a checkpoint made
    before optim.ema_decay existed)."""
    ema_lib.copy(self.generator_ema.variables, self.generator.variables)

  @property
  def sampler(self):
    """The generator that samples: the averaged one when optim.ema_decay > 0."""
    return self.generator_ema if self.generator_ema is not None else self.generator

  # ---------------------------------------------------------------- run plumbing

  def samples(self):
    return self.sampler(self.grid_z, training=False).numpy()

  def quick_samples(self, n):
    return generator_lib.sample(self.sampler, n, self.cfg.seed + 11)

  def checkpoint_items(self):
    items = {'generator': self.generator, 'encoder': self.encoder, 'gen_opt': self.gen_opt,
             'enc_opt': self.enc_opt, 'rng': self.rng, 'replica_rng': self.replica_rng}
    if self.use_descriptor:
      items.update(descriptor=self.descriptor, desc_opt=self.desc_opt)
    if self.generator_ema is not None:
      items['generator_ema'] = self.generator_ema
    return items

  def evaluate(self, workdir):
    """Test reconstructions through the encoder, and sample quality (Fréchet distance and
    KID on the project classifier's features) beside the reference points."""
    cfg = self.cfg
    out = reconstruct_test(cfg, self.encoder, self.sampler, workdir)
    if not cfg.eval.score:
      return out
    name = 'triangle generator' if self.use_descriptor else 'plain VAE'
    sets = {name: generator_lib.sample(self.sampler, cfg.eval.num_samples, cfg.seed + 7)}
    if self.generator_ema is not None:  # the trained weights, beside their average
      sets[f'{name}, raw weights'] = generator_lib.sample(
          self.generator, cfg.eval.num_samples, cfg.seed + 7)
    out.update(reports.sample_quality(cfg, sets, headline=name))
    return out

  def describe(self):
    return f'{super().describe()}, latent {self.latent_dim}'

  def late_slots(self):
    # Checkpoints made before optim.ema_decay: the average starts from the restored generator.
    return {'generator_ema': self.start_ema} if self.generator_ema is not None else {}


def reconstruct_test(cfg, encoder, generator, workdir, num_images: int = 0) -> dict:
  """g(μ_φ(X)) of the test images: MAE in [0, 1] units and PSNR; writes
  WORKDIR/reconstructions.{npz,png} (originals on odd rows, reconstructions below)."""
  test = data_lib.from_config(cfg, 'test')
  n = min(num_images or cfg.eval.num_test, len(test))
  x = data_lib.to_float(test.images[:n])
  rec = batches.apply(lambda xb: generator(encoder(xb, training=False)[0], training=False), x,
                      batch_size=500)
  files.write_npz(os.path.join(workdir, 'reconstructions.npz'),
                  indices=np.arange(n), images=data_lib.to_uint8(rec))
  k = min(16, n)
  images_lib.save_png(os.path.join(workdir, 'reconstructions.png'),
                      images_lib.grid(np.concatenate([x[:k], rec[:k]]), k))
  return {'test_recon_mae': stats.mae(rec, x), 'test_recon_psnr': stats.psnr(rec, x),
          'test_recon_images': n, 'test_recon_reference': f'{cfg.data.dataset} test split, '
                                                          f'first {n}, h = μ_φ(X)'}


def train(cfg, workdir: str, strategy=None, log=print) -> dict:
  """Trains the divergence triangle (or, with model.use_descriptor off, a plain VAE)."""
  return base.train(cfg, workdir, strategy, log, Triangle)
