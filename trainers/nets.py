"""Every net of every run, built one way for training, restore and export; the descriptor
revision the joint trainers share; restoring a run's nets from its checkpoint.

`build(cfg, role)` reads the run's config. Two layouts of cfg.model:
  joint runs (CoopNets, triangle, VAE) name each role's net and widths ('' / (): the
  registry's net for the image size, models/__init__.py):
    descriptor, descriptor_widths, out_units   f(X; θ)
    descriptor_spectral_norm                   Lipschitz f (models/descriptor.py)
    generator, generator_widths                g(h; α)
    generator_upsample                         transpose | resize | bilinear (models/generator.py)
    encoder, encoder_widths                    ρ_φ(h|X)  (triangle, VAE)
    latent_dim, sigma                          d, and σ of X = g(h) + N(0, σ²I)
  single-net runs (descriptor, conditional, generator, deformable, multigrid) keep
    name, widths (and out_units, num_classes, grids where the net has them).
  multi-view runs add view_dim (d2): their generator takes (h1, h2), latent_dim + view_dim.
Roles: descriptor, generator, encoder; `descriptors` is the multi-grid run's {grid: net};
`views` the multi-view run's table of view latents h2 (one row per name in data.views).
"""
import os
import sys

import tensorflow as tf

import models
from core import checkpoints as checkpoints_lib
from core import loop
from core import workdir as workdir_lib
from core.errors import CheckpointError, ConfigError
from models import descriptor as descriptor_nets
from models import multigrid as multigrid_nets
from trainers import langevin as langevin_lib
from trainers import registry


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
  if joint and role == 'generator' and m.generator_upsample != 'transpose':
    kw['upsample'] = m.generator_upsample
  return models.build(net, shape, **kw)


def energy(descriptor):
  """U(X) = −f(X; θ), per example, float32 (the reference term is the kernel's)."""
  return lambda x: -tf.cast(descriptor(x, training=False), tf.float32)


def revise(descriptor, x0, lv, rng, update_mask=None, steps=None, scale=1.0):
  """Langevin revision of images x0 by the descriptor under config section `lv`
  (CoopNets step 2; descriptor sampling; completion with update_mask = the missing pixels).
  scale multiplies the step size (core/recovery's langevin_scale after a rollback)."""
  return langevin_lib.from_config(energy(descriptor), x0, lv, rng, steps=steps, scale=scale,
                                  update_mask=update_mask)


def replica_slice(x_global):
  """This replica's share of a global batch drawn once on the host (so that a run's random
  inputs do not depend on the number of replicas)."""
  ctx = tf.distribute.get_replica_context()
  per = tf.shape(x_global)[0] // ctx.num_replicas_in_sync
  r = ctx.replica_id_in_sync_group
  return x_global[r * per:(r + 1) * per]


# ------------------------------------------------------------------ restoring a run


def restore(workdir: str, roles=None, algos=None, checkpoint: str = '', average: bool = True):
  """(config, {role: net}) rebuilt from WORKDIR/config.json (trainers/registry.stored_config:
  old files upgraded and filled from the defaults) and its latest checkpoint, or
  `checkpoint` (a step number or a path). roles: default, every net the algorithm's
  checkpoint holds. A role whose weight average the checkpoint keeps (`ROLE_ema`,
  optim.ema_decay) is restored from the average unless `average` is False."""
  cfg = registry.stored_config(workdir)
  if cfg is None:
    raise CheckpointError(f'{workdir} has no checkpoint; train first '
                          f'(tools/train --workdir={workdir} ...)')
  if algos and cfg.algo not in algos:
    raise ConfigError(f'{workdir} holds a {cfg.algo} run; this needs one of: '
                      f'{", ".join(algos)}')
  held = registry.get(cfg.algo).roles
  roles = tuple(r for r in (roles or held) if r in held)
  if 'use_descriptor' in cfg.model and not cfg.model.use_descriptor:
    roles = tuple(r for r in roles if r != 'descriptor')
  from core import runtime  # pylint: disable=g-import-not-at-top
  runtime.set_precision('float32')
  k = 0
  if 'num_classes' in cfg.model and not cfg.model.num_classes:  # K from the labels, as trained
    from core import data as data_lib  # pylint: disable=g-import-not-at-top
    k = int(data_lib.from_config(cfg).labels.max()) + 1
  built = {r: build(cfg, r, num_classes=k) for r in roles}
  path = checkpoint_path(workdir, checkpoint)
  try:
    # A run that keeps a weight average (optim.ema_decay) samples and exports with it.
    slots = loop.checkpoint_slots(path)
    items = {}
    for r, net in built.items():
      if r == 'descriptors':  # the multi-grid run: one slot per grid
        items.update({f'descriptor_{g}': n for g, n in net.items()})
      else:
        items[f'{r}_ema' if average and f'{r}_ema' in slots else r] = net
    tf.train.Checkpoint(**items).restore(path).expect_partial().assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise CheckpointError(f'{path} does not hold the {", ".join(built)} of its config.json '
                          f'({str(e).splitlines()[0][:200]}); retrain with --fresh') from None
  return cfg, built


def checkpoint_path(workdir: str, checkpoint: str = '', log=None) -> str:
  """WORKDIR's newest checkpoint that reads back intact (core/checkpoints.newest_readable:
  from the files, not the state file; a corrupt newer one is passed over with a warning), or
  the one `checkpoint` names (a step number or a path), checked the same way."""
  log = log or (lambda line: print(line, file=sys.stderr))
  ckpt_dir = os.path.join(workdir, workdir_lib.CHECKPOINTS)
  kept = [step for step, _ in checkpoints_lib.scan(ckpt_dir)]
  if not checkpoint:
    path = checkpoints_lib.newest_readable(ckpt_dir, log)
    if path is None:
      raise CheckpointError(
          f'no checkpoint in {ckpt_dir} can be read' + (f' (steps {kept} are corrupt)' if kept
                                                        else '') + '; rerun tools/train '
          f'--workdir={workdir} to repair or resume the run, or train with --fresh')
    return path
  if str(checkpoint).endswith('.index'):
    path = str(checkpoint)[:-len('.index')]
  elif str(checkpoint).isdigit():
    path = os.path.join(ckpt_dir, f'ckpt-{int(checkpoint)}')
  else:
    path = str(checkpoint)
  if not tf.io.gfile.exists(f'{path}.index'):
    raise CheckpointError(f'no checkpoint {checkpoint} in {ckpt_dir}; the run keeps steps '
                          f'{kept or "none"}: pass one of them, or train first')
  reason = checkpoints_lib.verify(path)
  if reason:
    raise CheckpointError(f'{path} cannot be read ({reason}); pass another --checkpoint '
                          f'(the run keeps steps {kept})')
  return path
