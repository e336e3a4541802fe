"""The shared representation: a generator X(i, v) = g(h1_i, h2_v) learned by alternating
back-propagation on multi-view data (docs/ALGORITHMS.md §6).

Han, Lu, Zhu, Wu, "Alternating Back-Propagation for Generator Network", AAAI 2017
(arXiv:1606.08571), the face-rotation experiment: every image is indexed by an identity i
and a view v; h1_i is shared by all views of identity i, h2_v by all identities in view v.

    h1_i ~ N(0, I_d1),   X_iv = g((h1_i, h2_v); α) + ε,   ε ~ N(0, σ²I)

One step, for a batch of identities with all of their views (w_iv = 1 where view v of i is
present, 0 where it is missing):
  inference: h1_i ← T Langevin steps on its posterior, warm-started from the kept h1_i, with
             E(h1_i) = Σ_v w_iv ||X_iv − g(h1_i, h2_v)||²/(2σ²) + ||h1_i||²/2;
  learning:  α and h2 ← Adam on mean_i Σ_v w_iv ||X_iv − g(h1_i, h2_v)||²/(2σ²)
             + Σ_v ||h2_v||²/(2N)   (N training identities: the N(0, I) prior of h2, once
             per data set).
h2 is learned like a weight, a MAP estimate, rather than sampled: each h2_v explains every
image of its view (N of them), so its posterior is ~N times narrower than h1's; Langevin on
it would need steps ~1/N as large to stay stable and its noise would be negligible beside the
drift, i.e. it would be slow gradient ascent on the same posterior. Adam on the same
objective reaches the mode at the net's pace.

New views of a held-out identity from a trained run are a task (tasks/multiview.py: rotate).
"""
import numpy as np
import tensorflow as tf

from core import batches
from core import multiview as mv_lib
from models import multiview as multiview_nets
from trainers import base
from trainers import langevin as langevin_lib
from trainers import losses
from trainers import nets
from trainers import run as run_lib

GRID_IDENTITIES = 8


def render(generator, h1, h2, training=False):
  """g((h1_i, h2_v)) for every identity i of h1 [B, d1] and view v of h2 [V, d2]:
  float32 [B, V, H, W, C]."""
  b, v = tf.shape(h1)[0], tf.shape(h2)[0]
  z = tf.concat([tf.repeat(h1, v, axis=0), tf.tile(tf.cast(h2, h1.dtype), [b, 1])], 1)
  x = tf.cast(generator(z, training=training), tf.float32)
  return tf.reshape(x, tf.concat([[b, v], tf.shape(x)[1:]], 0))


def view_errors(x, x_hat, weight):
  """Per identity Σ_v w_iv ||X_iv − X̂_iv||² [B]; a missing view (w = 0) adds nothing,
  whatever its pixels hold (NaN included)."""
  keep = tf.broadcast_to(tf.reshape(weight > 0, tf.concat([tf.shape(weight), [1, 1, 1]], 0)),
                         tf.shape(x_hat))
  # Masked before squaring: a NaN in a missing view must not reach the gradient either
  # (the square's gradient 2·(x − x̂) times where's 0 would still be NaN).
  diff = tf.where(keep, x - x_hat, tf.zeros_like(x_hat))
  return losses.per_example_sum(tf.square(diff))


def identity_energy(generator, h2, x, weight, sigma):
  """energy_fn of h1 [B, d1] for the Langevin kernel: Σ_v w_iv ||X_iv − g(h1_i, h2_v)||²/(2σ²)
  per identity (the kernel adds the prior ||h1||²/2 as its reference term, s = 1)."""
  def energy(h1):
    return view_errors(x, render(generator, h1, h2), weight) / (2 * sigma**2)
  return energy


class Multiview(base.Trainer):
  """The net, view latents, optimizer, RNGs and per-identity latents of one run."""
  title = 'multi-view generator (shared representation)'
  headline = ('loss', 'recon_mae')

  @staticmethod
  def load_data(cfg):
    return mv_lib.from_config(cfg)

  def __init__(self, cfg, strategy, train_set: mv_lib.MultiviewSet):
    super().__init__(cfg, strategy, train_set)
    if not cfg.data.views:  # a new run stores the views it trains with, in order
      cfg.data.views = tuple(train_set.views)
    self.num_views = self.columns = train_set.num_views  # sample grid: an identity a row
    self.present = tf.constant(train_set.present.astype(np.float32))
    self.latent_dim = cfg.model.latent_dim
    with strategy.scope():
      self.model = nets.build(cfg, 'generator')
      self.views = nets.build(cfg, 'views')
      self.optimizer = base.adam(cfg.optim, cfg.optim.lr)
      self.optimizer.build(self.variables())
      self.replica_rngs()
    self.host_rng()
    # Persistent identity latents h1, one per training identity, started from the prior.
    self.latents = tf.Variable(self.rng.normal((len(train_set), self.latent_dim)),
                               trainable=False, name='latents')
    self.grid_z = self.grid_latents(GRID_IDENTITIES, self.latent_dim)
    self.infer_fn = self.langevin_fn(self.infer)

  def variables(self):
    return self.model.trainable_variables + self.views.trainable_variables

  def view_latents(self, training=False):
    return tf.cast(self.views(tf.range(self.num_views), training=training), tf.float32)

  def infer(self, x, weight, h2, h0):
    """Posterior Langevin of h1 from h0 (prior N(0, I) as the reference term, unbounded)."""
    return langevin_lib.from_config(
        identity_energy(self.model, h2, x, weight, self.cfg.model.sigma), h0,
        self.cfg.langevin, self.replica_rng, scale=self.recovery.langevin_scale,
        ref_sigma=1.0, bounded=False)

  def _replica_step(self, idx, x):
    n = tf.distribute.get_replica_context().num_replicas_in_sync
    sigma = self.cfg.model.sigma
    weight = tf.gather(self.present, idx)
    h1, lstats = self.infer_fn(x, weight, tf.stop_gradient(self.view_latents()),
                               tf.gather(self.latents, idx))
    h1 = tf.stop_gradient(h1)
    variables = self.variables()
    with tf.GradientTape() as tape:
      h2 = self.view_latents(training=True)
      x_hat = render(self.model, h1, h2, training=True)
      recon = tf.reduce_mean(view_errors(x, x_hat, weight)) / (2 * sigma**2)
      prior = tf.reduce_sum(tf.square(h2)) / (2.0 * len(self.train_set))
      scaled = (recon + prior) / tf.cast(n, tf.float32)  # gradients are summed over replicas
    grads = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(grads, variables))
    pixels = tf.broadcast_to(weight[:, :, None, None, None], tf.shape(x))
    metrics = {
        'loss': recon,
        'recon_mae': losses.masked_mae(x, x_hat, pixels),
        'grad_norm': losses.grad_norm(grads, n),
        'latent_norm': tf.reduce_mean(tf.norm(h1, axis=1)),
        'view_latent_norm': tf.reduce_mean(tf.norm(h2, axis=1)),
        **langevin_lib.metrics(lstats),
    }
    return idx, h1, metrics

  @tf.function
  def train_step(self, iterator):
    idx, x = next(iterator)
    idx, h1, metrics = self.strategy.run(self._replica_step, args=(idx, x))
    self.update_rows(self.latents, idx, h1)
    return self.reduce(metrics)

  def make_iterator(self, start_step: int):
    return super().make_iterator(start_step, with_index=True)

  def samples(self):
    """GRID_IDENTITIES identities h1 ~ N(0, I) (fixed) × every view, row by row."""
    x = render(self.model, self.grid_z, self.view_latents())
    return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0)).numpy()

  def checkpoint_items(self):
    return {'generator': self.model, 'views': self.views, 'optimizer': self.optimizer,
            'rng': self.rng, 'replica_rng': self.replica_rng, 'latents': self.latents}

  def evaluate(self, workdir):
    del workdir
    return {'num_train_identities': len(self.train_set), 'views': list(self.cfg.data.views),
            'missing_views': int((~self.train_set.present).sum())}

  def describe(self):
    m, d, cfg = self.cfg.model, self.cfg.data, self.cfg
    return (f'{len(self.train_set)} identities × {self.num_views} views '
            f'({", ".join(d.views)}) of {d.image_size}x{d.image_size}x{d.channels}, batch '
            f'{d.batch_size} identities, {cfg.train.steps} steps, '
            f'{self.strategy.num_replicas_in_sync} replica(s), h1 {m.latent_dim} + h2 '
            f'{m.view_dim}')


def train(cfg, workdir: str, strategy=None, log=print) -> dict:
  """Trains a multi-view generator as `cfg` says, in `workdir` (resuming if it can)."""
  return base.train(cfg, workdir, strategy, log, Multiview)


# ------------------------------------------------------------------ a trained run


def restore(run, checkpoint: str = ''):
  """(config, generator, h2 [V, d2] numpy) of a multi-view run (a workdir, at `checkpoint`,
  or an opened trainers/run.TrainedRun)."""
  run = run_lib.opened(run, checkpoint, algos=('multiview',))
  built = run.nets()
  return run.cfg, built['generator'], multiview_nets.table_of(built['views'])


def render_numpy(generator, h1, h2, batch_size=250):
  """render() in batches of identities: float32 [N, V, H, W, C]."""
  return batches.apply(lambda hb: render(generator, tf.constant(hb), tf.constant(h2)), h1,
                       batch_size=batch_size)


def sample_grid(generator, h2, rows: int = 8, seed: int = 0, views=None):
  """`rows` identities h1 ~ N(0, I) (seeded) × the views `views` (indices; default all):
  [rows·V', H, W, C], one identity per row."""
  views = list(range(len(h2))) if views is None else list(views)
  z = np.random.default_rng(seed).standard_normal(
      (rows, int(generator.input_shape[-1]) - h2.shape[-1])).astype(np.float32)
  x = render_numpy(generator, z, h2[views])
  return x.reshape((-1,) + x.shape[2:])


def sample_sets(cfg, built, n, seed):
  """{name: n images}: identity k ~ N(0, I) in view k mod V (the sample task)."""
  del cfg
  h2 = multiview_nets.table_of(built['views'])
  g = built['generator']
  z = np.random.default_rng(seed).standard_normal(
      (n, int(g.input_shape[-1]) - h2.shape[-1])).astype(np.float32)
  zz = np.concatenate([z, h2[np.arange(n) % len(h2)]], 1)
  return {'multiview generator': batches.apply(lambda zb: g(zb, training=False), zz,
                                               batch_size=500)}
