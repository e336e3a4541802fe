"""Every net of every run, built one way for training, restore (trainers/restore.py) and
export; the descriptor revision the joint trainers share.

`build(cfg, role)` reads the run's config. Two layouts of cfg.model:
  joint runs (CoopNets, triangle, VAE, latent EBM, dual-MCMC) name each role's net and
  widths ('' / (): the registry's net for the image size, models/__init__.py):
    descriptor, descriptor_widths, out_units   f(X; θ)
    descriptor_spectral_norm                   Lipschitz f (models/descriptor.py)
    descriptor_downsample                      stride | blur (models/descriptor.py)
    generator, generator_widths                g(h; α)
    generator_upsample                         transpose | resize | bilinear (models/generator.py)
    encoder, encoder_widths                    ρ_φ(h|X)  (triangle, VAE, dual-MCMC)
    prior_widths                               f_α(z) of the latent EBM's prior
    latent_dim, sigma                          d, and σ of X = g(h) + N(0, σ²I)
  single-net runs (descriptor, conditional, generator, deformable, multigrid) keep
    name, widths (and out_units, num_classes, grids where the net has them).
  multi-view runs add view_dim (d2): their generator takes (h1, h2), latent_dim + view_dim.
Roles: descriptor, generator, encoder, prior (the latent EBM's f_α); `descriptors` is the
multi-grid run's {grid: net}; `views` the multi-view run's table of view latents h2 (one row
per name in data.views).
"""

import tensorflow as tf

import models
from core.errors import ConfigError
from models import descriptor as descriptor_nets
from models import multigrid as multigrid_nets
from trainers import langevin as langevin_lib


def image_shape(cfg):
  d = cfg.data
  return (d.image_size, d.image_size, d.channels)


# Image size → the number of widths (×2 steps) of its generator and encoder nets.
LADDER = {28: 2, 32: 3, 64: 4}
# The conditional descriptor's trunk widths when model.widths is empty.
CONDITIONAL_WIDTHS = (64, 128, 256)


def smoke_widths(cfg, widths: tuple) -> tuple:
  """A smoke run's tiny generator/encoder widths, written for 28 px, fitted to the image size
  (one width per ×2 step); any other run's widths as given."""
  need = LADDER.get(cfg.data.image_size)
  if cfg.train.smoke and widths and need and len(widths) != need:
    return (tuple(widths) + (widths[-1],) * need)[:need]
  return tuple(widths)


def grids(cfg):
  """The multi-grid run's ladder (model.grids, or the default for the image size)."""
  return tuple(int(g) for g in cfg.model.grids) or multigrid_nets.default_grids(
      cfg.data.image_size)


def build(cfg, role: str, num_classes: int = 0):
  """The run's `role` net (for `descriptors`, {grid size: net}). num_classes: the conditional
  descriptor's K when model.num_classes is 0 (counted from the labels)."""
  m, size, shape = cfg.model, cfg.data.image_size, image_shape(cfg)
  if role == 'views':  # the multi-view run's h2 table, one row per view of data.views
    if len(cfg.data.views) < 2:
      raise ConfigError(f'the view latents need data.views (at least 2 names), got '
                        f'{tuple(cfg.data.views)}')
    return models.build('views', shape, num_views=len(cfg.data.views), view_dim=m.view_dim,
                        seed=cfg.seed)
  if role == 'prior':  # the latent EBM's f_α(z) (models/latent_prior.py)
    return models.build('prior', shape, latent_dim=m.latent_dim, widths=tuple(m.prior_widths))
  if role == 'descriptors':
    return multigrid_nets.multigrid_descriptors(shape, grids(cfg), tuple(m.widths))
  if 'num_classes' in m:  # the conditional descriptor: K class scores from one trunk
    k = m.num_classes or num_classes
    if k < 2:
      raise ConfigError(f'the conditional descriptor needs model.num_classes >= 2, got {k}')
    return descriptor_nets.conditional_descriptor(
        shape, k, widths=tuple(m.widths) or CONDITIONAL_WIDTHS)
  joint = f'{role}_widths' in m
  if joint:
    net, widths = m[role] or f'{role}/{size}', tuple(m[f'{role}_widths'])
  else:
    net, widths = m.name or f'{role}/{size}', tuple(m.widths)
  kw = {'widths': widths}
  if role in ('generator', 'encoder'):
    if net in (f'{role}/{size}', 'deformable'):  # the DCGAN ladders
      kw['widths'] = smoke_widths(cfg, widths)
    # The multi-view generator's input is (h1, h2): identity and view latents side by side.
    kw['latent_dim'] = m.latent_dim + (m.view_dim if 'view_dim' in m else 0)
  if role == 'descriptor' and net != 'descriptor/texture':
    kw['out_units'] = m.out_units
  if joint and role == 'descriptor' and m.descriptor_spectral_norm:
    kw['spectral_norm'] = True
  if joint and role == 'descriptor' and m.get('descriptor_downsample', 'stride') != 'stride':
    kw['downsample'] = m.descriptor_downsample
  if joint and role == 'generator' and m.generator_upsample != 'transpose':
    kw['upsample'] = m.generator_upsample
  return models.build(net, shape, **kw)


def energy(descriptor):
  """U(X) = −f(X; θ), per example, float32 (the reference term is the kernel's)."""
  return lambda x: -tf.cast(descriptor(x, training=False), tf.float32)


def revise(descriptor, x0, lv, rng, update_mask=None, steps=None, scale=1.0, seed=None):
  """Langevin revision of images x0 by the descriptor under config section `lv`
  (CoopNets step 2; descriptor sampling; completion with update_mask = the missing pixels).
  scale multiplies the step size (core/recovery's langevin_scale after a rollback); seed:
  stateless noise instead of rng's (trainers/langevin.py)."""
  return langevin_lib.from_config(energy(descriptor), x0, lv, rng, steps=steps, scale=scale,
                                  update_mask=update_mask, seed=seed)


def replica_slice(x_global):
  """This replica's share of a global batch drawn once on the host (so that a run's random
  inputs do not depend on the number of replicas)."""
  ctx = tf.distribute.get_replica_context()
  per = tf.shape(x_global)[0] // ctx.num_replicas_in_sync
  r = ctx.replica_id_in_sync_group
  return x_global[r * per:(r + 1) * per]
