"""The nets of the joint algorithms (CoopNets, divergence triangle, plain VAE), built from
one config layout, and the descriptor revision they share.

cfg.model of a joint run names each role's net and widths ('' / (): the registry's net for
the image size, models/__init__.py):
    descriptor, descriptor_widths, out_units   f(X; θ)
    descriptor_spectral_norm                   Lipschitz f (models/descriptor.py)
    generator_upsample                         transpose | resize | bilinear (models/generator.py)
    generator, generator_widths                g(h; α)
    encoder, encoder_widths                    ρ_φ(h|X)  (triangle, VAE)
    latent_dim, sigma                          d, and σ of X = g(h) + N(0, σ²I)
Single-net runs (descriptor, generator, deformable) keep model.name / model.widths.
"""
import math

import tensorflow as tf

import models
from trainers import langevin as langevin_lib

JOINT = ('coopnets', 'triangle', 'vae')


def image_shape(cfg):
  d = cfg.data
  return (d.image_size, d.image_size, d.channels)


# Image size → the number of widths (×2 steps) of its generator and encoder nets.
LADDER = {28: 2, 32: 3, 64: 4}


def smoke_widths(cfg, widths: tuple) -> tuple:
  """A smoke run's tiny generator/encoder widths, written for 28 px, fitted to the image size
  (one width per ×2 step); any other run's widths as given."""
  need = LADDER.get(cfg.data.image_size)
  if cfg.train.get('smoke') and widths and need and len(widths) != need:
    return (tuple(widths) + (widths[-1],) * need)[:need]
  return tuple(widths)


def build(cfg, role: str):
  """The run's `role` net: descriptor | generator | encoder."""
  m, size = cfg.model, cfg.data.image_size
  if cfg.algo not in JOINT:  # single-net layout
    net, widths = m.name or f'{role}/{size}', tuple(m.widths)
  else:
    net, widths = m[role] or f'{role}/{size}', tuple(m[f'{role}_widths'])
  if role in ('generator', 'encoder') and net == f'{role}/{size}':
    widths = smoke_widths(cfg, widths)
  kw = {'widths': widths}
  if role != 'descriptor':
    kw['latent_dim'] = m.latent_dim
  if role == 'descriptor':
    kw['out_units'] = m.out_units
    if m.get('descriptor_spectral_norm'):
      kw['spectral_norm'] = True
  elif role == 'generator' and m.get('generator_upsample', 'transpose') != 'transpose':
    kw['upsample'] = m.generator_upsample
  return models.build(net, image_shape(cfg), **kw)


def energy(descriptor):
  """U(X) = −f(X; θ), per example, float32 (the reference term is the kernel's)."""
  return lambda x: -tf.cast(descriptor(x, training=False), tf.float32)


def revise(descriptor, x0, lv, rng, update_mask=None, steps=None, scale=1.0):
  """Langevin revision of images x0 by the descriptor under config section `lv`
  (CoopNets step 2; descriptor sampling; completion with update_mask = the missing pixels).
  scale multiplies the step size (core/recovery's langevin_scale after a rollback)."""
  return langevin_lib.langevin(
      energy(descriptor), x0, steps=lv.steps if steps is None else steps,
      step_size=lv.step_size * scale, noise=lv.noise, ref_sigma=lv.ref_sigma, clip=lv.clip,
      rng=rng, bounds=(-1.0, 1.0) if lv.bounded else None, update_mask=update_mask)


def per_example_sum(x):
  return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), 1)


def gaussian_nll(h, mean, logvar):
  """−log N(h; mean, diag exp(logvar)) per example (the encoder's −log ρ_φ(h|X))."""
  return 0.5 * tf.reduce_sum(
      tf.square(h - mean) * tf.exp(-logvar) + logvar + math.log(2 * math.pi), axis=-1)


def kl_to_prior(mean, logvar):
  """KL(N(mean, diag exp(logvar)) || N(0, I)) per example."""
  return 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(logvar) - 1.0 - logvar, axis=-1)


def replica_slice(x_global):
  """This replica's share of a global batch drawn once on the host (so that a run's random
  inputs do not depend on the number of replicas)."""
  ctx = tf.distribute.get_replica_context()
  per = tf.shape(x_global)[0] // ctx.num_replicas_in_sync
  r = ctx.replica_id_in_sync_group
  return x_global[r * per:(r + 1) * per]
