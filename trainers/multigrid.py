"""Multi-grid descriptors learned by multi-grid contrastive divergence, and synthesis from
them. Their other uses, as features for a linear SVM and as a learned prior for inpainting,
are tasks on a trained run (tasks/multigrid.py).

Gao, Lu, Zhou, Zhu, Wu, "Learning Generative ConvNets via Multi-grid Modeling and
Sampling", CVPR 2018 (arXiv:1709.08868); docs/ALGORITHMS.md §3.

One chain runs up the grids: X^(1) is an image's 1×1 version (training: the batch's own
images; synthesis: a draw of the training images' 1×1 versions); for k = 2..K,
X^(k) ← T_k Langevin steps of descriptor k from upsample(X^(k−1)). Descriptor k learns with
the observed images down-sampled to its grid against X^(k): loss_k = mean f_k(X^(k)) −
mean f_k(down_k(X_obs)). The originals' code drops the Langevin noise and the reference term
(langevin.noise=false, ref_sigma=0, our defaults); the paper keeps the noise: both are options.

Inpainting runs the same chain with the observed pixels clamped: at each grid the cells
whose pixels are all observed hold the observed image's average and never move; only the
missing cells are revised, so the finest grid returns the observed pixels exactly.
"""
import os

import numpy as np
import tensorflow as tf

from core import batches
from core import data as data_lib
from core import images as images_lib
from core import masks as masks_lib
from core import stats
from core.errors import ConfigError
from evaluation import reports
from models import multigrid as mg
from trainers import base
from trainers import langevin as langevin_lib
from trainers import losses
from trainers import nets
from trainers import run as run_lib

ROWS = 8  # chains shown in the sample grid (one row each, every grid level side by side)
MASK_BANK = 3000  # masks the clamped training chains draw from


def default_clamp_masks(size: int):
  """Masks of the clamped training chains: blocks of a quarter to half the image side,
  doodles, and 30–70% pepper (core/masks.py)."""
  blocks = sorted({max(1, size // 4), size * 3 // 8, size // 2})
  return ([f'block:{k}' for k in blocks] + ['doodle'] * 2 +
          [f'pepper:{p}' for p in (0.3, 0.5, 0.7)])


def steps_of(cfg):
  """T for each grid above 1×1: langevin.grid_steps if given, else langevin.steps for all."""
  grids, lv = nets.grids(cfg), cfg.langevin
  steps = tuple(int(t) for t in lv.grid_steps) or (lv.steps,) * (len(grids) - 1)
  if len(steps) != len(grids) - 1:
    raise ConfigError(f'langevin.grid_steps has {len(steps)} entries for the '
                      f'{len(grids) - 1} grids above 1x1 ({list(grids[1:])}); give one each')
  return steps


def chain(grid_nets, x1, steps, lv, rng=None, observed=None, mask=None, scale=1.0):
  """The multi-grid sampling chain from 1×1 images `x1` [B, 1, 1, C].

  grid_nets: {size: descriptor}; steps: T per grid (ascending sizes); lv: the langevin
  section; scale multiplies the step sizes (core/recovery after a rollback).
  observed, mask: for inpainting, the images [B, H, W, C] and their masks (1 = observed,
  [B, H, W, 1]); cells fully observed at a grid are clamped to the observed average.
  Returns [X^(1), X^(2), ..., X^(K)] (each at its own size, float32).
  """
  x = tf.cast(x1, tf.float32)
  levels = [x]
  for (size, net), t in zip(sorted(grid_nets.items()), steps):
    x = mg.upsample(x, size)
    update_mask = None
    if observed is not None:
      seen = -mg.downsample(-tf.cast(mask, tf.float32), size)  # min-pool: all pixels seen
      seen = tf.cast(seen > 0.999, tf.float32)
      x = seen * mg.downsample(observed, size) + (1.0 - seen) * x
      update_mask = 1.0 - seen
    x, _ = langevin_lib.from_config(nets.energy(net), x, lv, rng, steps=t, scale=scale,
                                    update_mask=update_mask)
    levels.append(x)
  return levels


def side_by_side(levels, rows=ROWS):
  """numpy [rows·K, H, W, C]: each chain's levels up-sampled to the finest grid, in a row."""
  size = levels[-1].shape[1]
  rows = min(rows, levels[0].shape[0])
  full = [np.asarray(mg.upsample(tf.convert_to_tensor(lv[:rows], tf.float32), size))
          for lv in levels]
  return np.stack(full, 1).reshape((-1,) + full[0].shape[1:])


class MultiGrid(base.Trainer):
  """The grid descriptors, optimizer and RNGs of one run, and its compiled step."""
  title = 'multi-grid descriptors'

  def __init__(self, cfg, strategy, train_set: data_lib.ImageSet):
    super().__init__(cfg, strategy, train_set)
    self.grids, self.steps = nets.grids(cfg), steps_of(cfg)
    self.headline = tuple(f'loss_{g}' for g in self.grids[1:])
    self.columns = len(self.grids)  # sample grid: a chain a row, every grid level in it
    with strategy.scope():
      self.nets = nets.build(cfg, 'descriptors')
      self.variables = [v for _, n in sorted(self.nets.items()) for v in n.trainable_variables]
      # One Adam over all grids: its update is per parameter, so this is K independent
      # Adams with one learning rate (the losses do not share parameters); optim.clipnorm
      # clips the global norm over all grids' gradients.
      self.optimizer = base.adam(cfg.optim, cfg.optim.lr)
      self.optimizer.build(self.variables)
      self.replica_rngs()
    # The clamped chains' masks are drawn on the host, once for the global batch (so that a
    # run does not depend on its number of replicas).
    self.host_rng()
    self.mask_bank = None
    lv = cfg.langevin
    if lv.clamped_share > 0:
      size = cfg.data.image_size
      specs = list(lv.clamp_masks) or default_clamp_masks(size)
      per = -(-MASK_BANK // len(specs))
      self.mask_bank = tf.constant(np.concatenate(
          [masks_lib.make(spec, np.arange(per), size, seed=cfg.seed + 17 + i)
           for i, spec in enumerate(specs)]))
    shape = (min(ROWS, cfg.data.batch_size),)
    self.last = [tf.Variable(tf.zeros(shape + (g, g, cfg.data.channels)), trainable=False,
                             name=f'last_{g}') for g in self.grids]

  def _clamp_masks(self):
    """Masks [B, H, W, 1] of the global batch's chains: the last `clamped_share` of them get
    a random mask of the bank (their observed pixels clamped), the rest none (all zeros).
    Drawn once on the host from `rng`, so they do not depend on the number of replicas."""
    b = self.cfg.data.batch_size
    k = int(round(self.cfg.langevin.clamped_share * b))
    idx = self.rng.uniform([b], 0, self.mask_bank.shape[0], dtype=tf.int32)
    masks = tf.gather(self.mask_bank, idx)
    return tf.where(tf.range(b)[:, None, None, None] >= b - k, masks, tf.zeros_like(masks))

  def _replica_step(self, x_data, masks_global):
    n = tf.distribute.get_replica_context().num_replicas_in_sync
    scale = self.recovery.langevin_scale
    if self.mask_bank is None:
      levels = chain(self.nets, mg.downsample(x_data, 1), self.steps, self.cfg.langevin,
                     rng=self.replica_rng, scale=scale)
    else:  # some chains are inpainting chains: the data image's observed pixels clamped
      m = nets.replica_slice(masks_global)
      x1 = tf.where(tf.reduce_sum(m, axis=(1, 2, 3), keepdims=True) > 0,
                    observed_mean(x_data, m), mg.downsample(x_data, 1))
      levels = chain(self.nets, x1, self.steps, self.cfg.langevin, rng=self.replica_rng,
                     observed=x_data, mask=m, scale=scale)
    levels = [tf.stop_gradient(x) for x in levels]
    metrics, total = {}, 0.0
    with tf.GradientTape() as tape:
      for (size, net), x_syn in zip(sorted(self.nets.items()), levels[1:]):
        x_obs = mg.downsample(x_data, size)
        f = tf.cast(net(tf.concat([x_obs, x_syn], 0), training=True), tf.float32)
        b = tf.shape(x_obs)[0]
        f_data, f_syn = f[:b], f[b:]
        loss = losses.ml_loss(f_data, f_syn)
        penalty = losses.energy_penalty(f_data, f_syn)
        total += loss + self.cfg.optim.energy_penalty * penalty
        metrics[f'loss_{size}'] = loss
        metrics[f'f_data_{size}'] = tf.reduce_mean(f_data)
        metrics[f'f_samples_{size}'] = tf.reduce_mean(f_syn)
        metrics[f'mean_image_mse_{size}'] = tf.reduce_mean(tf.square(
            tf.reduce_mean(x_syn, 0) - tf.reduce_mean(x_obs, 0)))
      scaled = total / tf.cast(n, tf.float32)
    grads = tape.gradient(scaled, self.variables)
    self.optimizer.apply_gradients(zip(grads, self.variables))
    metrics['loss'] = total
    metrics['grad_norm'] = losses.grad_norm(grads, n)
    return levels, metrics

  @tf.function
  def train_step(self, iterator):
    x_data = next(iterator)
    masks = self._clamp_masks() if self.mask_bank is not None else tf.zeros([])
    levels, metrics = self.strategy.run(self._replica_step, args=(x_data, masks))
    for var, x in zip(self.last, levels):
      var.assign(self.strategy.gather(x, axis=0)[:var.shape[0]])
    return self.reduce(metrics)

  def samples(self):
    return side_by_side([v.numpy() for v in self.last])

  def checkpoint_items(self):
    items = {f'descriptor_{g}': n for g, n in self.nets.items()}
    items.update(optimizer=self.optimizer, replica_rng=self.replica_rng, rng=self.rng)
    return items

  def evaluate(self, workdir):
    """Synthesis from scratch: per-grid statistics against the data's, the samples'
    Fréchet distance / KID when eval.score, and WORKDIR/multigrid_samples.png."""
    cfg = self.cfg
    real = data_lib.to_float(self.train_set.images[:5000])
    levels = synthesize(self.nets, self.steps, cfg, real, cfg.eval.num_samples, cfg.seed + 7)
    out = {'num_samples': int(levels[-1].shape[0]), 'grids': list(self.grids)}
    for size, x in zip(self.grids[1:], levels[1:]):
      real_k = np.asarray(mg.downsample(tf.constant(real), size))
      out[f'grid_{size}'] = stats.moment_gaps(x, real_k)
    images_lib.save_png(os.path.join(workdir, 'multigrid_samples.png'),
                        images_lib.grid(side_by_side(levels, 16), len(self.grids)))
    if cfg.eval.score:
      out.update(reports.sample_quality(cfg, {'multigrid descriptor': levels[-1]},
                                        headline='multigrid descriptor'))
    return out

  def describe(self):
    return f'{super().describe()}, grids {list(self.grids)}, T {list(self.steps)}'

  def late_slots(self):
    # Runs made before the clamped masks were drawn on the host: the host RNG starts from
    # the seed.
    return {'rng': lambda: None}


def synthesize(grid_nets, steps, cfg, real, n, seed, batch=500):
  """n samples from scratch: 1×1 starts drawn from the training images' 1×1 versions, then
  the chain up the grids. Returns the levels as numpy arrays."""
  rng = tf.random.Generator.from_seed(seed)
  starts = mg.downsample(tf.convert_to_tensor(real), 1).numpy()
  pick = np.random.default_rng(seed).integers(0, len(starts), n)
  run = tf.function(lambda x1: chain(grid_nets, x1, steps, cfg.langevin, rng=rng))
  return list(batches.apply(lambda p: run(tf.constant(starts[p])), pick, batch_size=batch))


def observed_mean(x, m):
  """Each image's mean over its observed pixels (m = 1), [B, 1, 1, C]: a masked chain's 1×1
  start."""
  seen = tf.reduce_sum(m, axis=(1, 2), keepdims=True)
  return tf.reduce_sum(x * m, axis=(1, 2), keepdims=True) / tf.maximum(seen, 1.0)


def restore(run, checkpoint: str = ''):
  """(config, {grid: descriptor}) of a trained multi-grid run (a workdir, at `checkpoint`,
  or an opened trainers/run.TrainedRun)."""
  run = run_lib.opened(run, checkpoint, algos=('multigrid',))
  return run.cfg, run.nets(('descriptors',))['descriptors']


def train(cfg, workdir: str, strategy=None, log=print) -> dict:
  """Trains the multi-grid descriptors as `cfg` says, in `workdir` (resuming if it can)."""
  return base.train(cfg, workdir, strategy, log, MultiGrid)
