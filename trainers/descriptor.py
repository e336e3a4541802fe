"""The descriptor net (energy-based model) learned by maximum likelihood with Langevin sampling.

Xie, Lu, Zhu, Wu, "A Theory of Generative ConvNet", ICML 2016 (arXiv:1602.03264);
docs/ALGORITHMS.md §1.

    p(X; θ) ∝ exp(f(X; θ)) N(X; 0, s²I),    E(X) = ||X||²/(2s²) − f(X; θ)

One step: start chains (noise, zeros, the data mean, or a persistent replay buffer with a
share re-initialised from noise), revise them with T Langevin steps under E, then shift the
density: lower f on the revisions, raise it on the data (`ml_loss`). Texture mode is the same
algorithm on one exemplar with the large-filter net and persistent chains (configs/descriptor.py).
"""
import os

import numpy as np
import tensorflow as tf

from core import data as data_lib
from core import images as images_lib
from core import stats
from core.errors import ConfigError
from trainers import base
from trainers import langevin as langevin_lib
from trainers import losses
from trainers import nets

GRID = 64  # samples kept for the sample grids


class Descriptor(base.Trainer):
  """The nets, optimizer, RNGs and chains of one descriptor run, and its compiled step."""
  title = 'descriptor'
  headline = ('loss', 'energy_data', 'energy_samples')

  def __init__(self, cfg, strategy, train_set: data_lib.ImageSet):
    super().__init__(cfg, strategy, train_set)
    d, lv = cfg.data, cfg.langevin
    if lv.init not in ('noise', 'zeros', 'data_mean', 'buffer'):
      raise ConfigError(f'langevin.init must be noise, zeros, data_mean or buffer, '
                        f'not {lv.init!r}')
    self.shape = nets.image_shape(cfg)
    with strategy.scope():
      self.model = nets.build(cfg, 'descriptor')
      self.optimizer = base.adam(cfg.optim, cfg.optim.lr)
      self.optimizer.build(self.model.trainable_variables)
      self.replica_rngs()  # in the scope: each replica draws its own Langevin noise
    self.host_rng()  # chain starts, buffer picks
    self.data_mean = tf.constant(data_lib.to_float(train_set.images).mean(0), tf.float32)
    self.chains = None
    if lv.init == 'buffer':
      if lv.buffer_size < d.batch_size:
        raise ConfigError(f'langevin.buffer_size={lv.buffer_size} is smaller than the batch '
                          f'({d.batch_size})')
      self.chains = tf.Variable(self._noise((lv.buffer_size,) + self.shape),
                                trainable=False, name='chains')
    self.last = tf.Variable(tf.zeros((min(GRID, d.batch_size),) + self.shape),
                            trainable=False, name='last_samples')
    self.revise = self.langevin_fn(self._revise)

  # ---------------------------------------------------------------- the step

  def _revise(self, x0):
    """T Langevin steps under −f(X) (the kernel adds the reference term ||X||²/(2s²))."""
    return nets.revise(self.model, x0, self.cfg.langevin, self.replica_rng,
                       scale=self.recovery.langevin_scale)

  def _noise(self, shape):
    a = self.cfg.langevin.start_noise
    return self.rng.uniform(shape, -a, a) if a else tf.zeros(shape)

  def _chain_starts(self):
    """The global batch of chain starts, and the buffer slots they came from."""
    b, lv = self.cfg.data.batch_size, self.cfg.langevin
    shape = (b,) + self.shape
    if lv.init == 'noise':
      return self._noise(shape), None
    if lv.init == 'zeros':
      return tf.zeros(shape), None
    if lv.init == 'data_mean':
      return tf.broadcast_to(self.data_mean, shape), None
    # Replay buffer: b distinct slots, a share of them restarted from noise.
    idx = tf.math.top_k(self.rng.uniform([lv.buffer_size]), k=b).indices
    x0 = tf.gather(self.chains, idx)
    restart = self.rng.uniform([b, 1, 1, 1]) < lv.reinit
    return tf.where(restart, self._noise(shape), x0), idx

  def _replica_step(self, x_data, x0_global):
    n = tf.distribute.get_replica_context().num_replicas_in_sync
    x_syn, lstats = self.revise(nets.replica_slice(x0_global))
    x_syn = tf.stop_gradient(x_syn)
    s = self.cfg.langevin.ref_sigma
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      f = tf.cast(self.model(tf.concat([x_data, x_syn], 0), training=True), tf.float32)
      f_data, f_syn = f[:tf.shape(x_data)[0]], f[tf.shape(x_data)[0]:]
      loss = losses.ml_loss(f_data, f_syn)
      penalty = losses.energy_penalty(f_data, f_syn)
      total = loss + self.cfg.optim.energy_penalty * penalty
      # Gradients are summed over replicas; dividing by their number makes the sum the
      # gradient of the global-batch mean.
      scaled = total / n
    grads = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(grads, variables))
    metrics = {
        'loss': loss,
        'energy_penalty': penalty,
        **losses.energy_metrics(x_data, x_syn, f_data, f_syn, s),
        'grad_norm': losses.grad_norm(grads, n),
        **langevin_lib.metrics(lstats),
    }
    return x_syn, metrics

  @tf.function
  def train_step(self, iterator):
    x_data = next(iterator)
    x0, idx = self._chain_starts()
    x_syn, metrics = self.strategy.run(self._replica_step, args=(x_data, x0))
    x_syn = self.strategy.gather(x_syn, axis=0)
    if idx is not None:
      self.chains.scatter_nd_update(idx[:, None], x_syn)
    self.last.assign(x_syn[:self.last.shape[0]])
    out = self.reduce(metrics)
    out['samples_absmax'] = tf.reduce_max(tf.abs(x_syn))
    return out

  # ---------------------------------------------------------------- run plumbing

  def checkpoint_items(self):
    items = {'descriptor': self.model, 'optimizer': self.optimizer, 'rng': self.rng,
             'replica_rng': self.replica_rng, 'last_samples': self.last}
    if self.chains is not None:
      items['chains'] = self.chains
    return items

  def samples(self):
    """The first GRID chains of the last step (or of the batch, if smaller)."""
    return self.last.numpy()

  def evaluate(self, workdir):
    """Sample statistics against the data's; for one exemplar, Gram-matrix distances and
    WORKDIR/texture.png (exemplar | samples | white noise with the exemplar's mean and std)."""
    samples = self.last.numpy()
    real = data_lib.to_float(self.train_set.images[:2000])
    out = {'num_samples': len(samples), 'reference': f'{len(real)} training images'}
    out.update(stats.moment_gaps(samples, real))
    if len(self.train_set) == 1:  # texture: Gram statistics of fixed random filters
      noise = stats.matched_noise(real, samples.shape)
      out['gram_distance_samples'] = stats.gram_distance(samples, real)
      out['gram_distance_white_noise'] = stats.gram_distance(noise, real)
      row = np.concatenate([real[:1], samples, noise[:1]])
      images_lib.save_png(os.path.join(workdir, 'texture.png'), images_lib.grid(row, len(row)))
    return out


def train(cfg, workdir: str, strategy=None, log=print) -> dict:
  """Trains a descriptor as `cfg` says, in `workdir` (resuming if it holds a checkpoint)."""
  return base.train(cfg, workdir, strategy, log, Descriptor)
