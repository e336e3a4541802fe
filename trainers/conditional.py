"""The conditional descriptor: one net that is both a classifier and K class-conditional
energy-based models, learned from labelled data.

Xie, Lu, Zhu, Wu, "A Theory of Generative ConvNet", ICML 2016 (arXiv:1602.03264), section
"relationship with discriminative net"; docs/ALGORITHMS.md §1.

    p(X | k; θ) ∝ exp(f(X; θ_k)) N(X; 0, s²I),   E_k(X) = ||X||²/(2s²) − f(X; θ_k)
    Pr(k | X) = softmax_k(f(X; θ_k) + b_k)

K scores f_k share one trunk (models/descriptor.conditional_descriptor); b_k, the classifier's
constants, never enter an energy. One step:
  1. the synthesized batch takes the classes of the data batch (so the per-class ML term is
     balanced with the data: every class has as many samples as data examples in the batch);
  2. its chains come from the persistent replay buffer, which holds buffer_size // K chains of
     each class (slot s holds class s mod K, recorded in `chain_classes`), a share
     `langevin.reinit` restarted from noise; each is revised by T Langevin steps on its own
     class's energy E_c (the one kernel, trainers/langevin.py);
  3. θ and b minimise  loss_ML + optim.classification · cross-entropy, with
     loss_ML = mean_j f_{c_j}(X̃_j) − mean_i f_{y_i}(X_i), the unconditional trainer's density
     shifting with each example scored by its own class.
The final evaluation reports the test accuracy of argmax_k (f_k + b_k), and per-class samples
(buffer chains revised by eval.class_sample_steps more steps) scored by the project classifier.
"""
import os

import numpy as np
import tensorflow as tf

from configs import conditional as conditional_config
from core import batches
from core import data as data_lib
from core import images as images_lib
from core.errors import ConfigError
from evaluation import scoring
from trainers import base
from trainers import langevin as langevin_lib
from trainers import losses
from trainers import nets


def class_probabilities(logits):
  """Pr(k | X) = softmax_k(f_k(X) + b_k) from the net's logits output [B, K]."""
  return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)


def class_scores(scores, classes):
  """f_{c_i}(X_i): each example's score under its own class, [B, K] and [B] → [B]."""
  return tf.gather(tf.cast(scores, tf.float32), tf.cast(classes, tf.int32), batch_dims=1)


def class_energy(model, classes):
  """The per-example energy −f_{c_i}(X_i) of chains of classes `classes` (the kernel adds
  ||X||²/(2s²)); the class biases b_k are constant in X and left out."""
  return lambda x: -class_scores(model(x, training=False)[0], classes)


def revise(model, x0, classes, lv, rng, steps=None, scale=1.0):
  """Langevin revision of chains x0, chain i on the energy of class classes[i]."""
  return langevin_lib.from_config(class_energy(model, classes), x0, lv, rng, steps=steps,
                                  scale=scale)


class ConditionalDescriptor(base.Trainer):
  """The net, optimizer, RNGs and per-class chains of one conditional run, and its step."""
  title = 'conditional descriptor'
  headline = ('ml_loss', 'cross_entropy', 'train_accuracy')

  def __init__(self, cfg, strategy, train_set: data_lib.ImageSet):
    super().__init__(cfg, strategy, train_set)
    d, lv, m = cfg.data, cfg.langevin, cfg.model
    if train_set.labels is None:
      raise conditional_config.unlabelled_error(d.dataset)
    if lv.init != 'buffer':
      raise ConfigError(f'the conditional descriptor keeps per-class chains in a replay buffer: '
                        f'langevin.init must be buffer, not {lv.init!r}')
    labels = train_set.labels
    self.num_classes = k = int(m.num_classes or labels.max() + 1)
    if k < 2 or labels.min() < 0 or labels.max() >= k:
      raise ConfigError(f'model.num_classes={m.num_classes} does not fit the labels of '
                        f'{d.dataset} ({labels.min()}..{labels.max()}); set it to at least '
                        f'{max(2, labels.max() + 1)}, or 0 to count them')
    m.num_classes = k  # stored in config.json: a restore builds the net without the data
    self.per_class = lv.buffer_size // k
    if self.per_class < 1:
      raise ConfigError(f'langevin.buffer_size={lv.buffer_size} cannot hold a chain of each of '
                        f'the {k} classes; use at least {k}')
    self.shape = nets.image_shape(cfg)
    with strategy.scope():
      self.model = nets.build(cfg, 'descriptor', num_classes=k)
      self.optimizer = base.adam(cfg.optim, cfg.optim.lr)
      self.optimizer.build(self.model.trainable_variables)
      self.replica_rngs()  # Langevin noise
    self.host_rng()  # chain restarts, buffer picks
    n = self.per_class * k
    self.chains = tf.Variable(self._noise((n,) + self.shape), trainable=False, name='chains')
    self.chain_classes = tf.Variable(tf.range(n, dtype=tf.int32) % k, trainable=False,
                                     name='chain_classes')
    self.revise = self.langevin_fn(self._revise)
    self._logits = tf.function(lambda x: self.model(x, training=False)[1])

  # ---------------------------------------------------------------- the step

  def _revise(self, x0, classes):
    return revise(self.model, x0, classes, self.cfg.langevin, self.replica_rng,
                  scale=self.recovery.langevin_scale)

  def _noise(self, shape):
    a = self.cfg.langevin.start_noise
    return self.rng.uniform(shape, -a, a) if a else tf.zeros(shape)

  def _chain_starts(self, classes):
    """Chain starts for a global batch of `classes`: distinct buffer chains of each class
    (a random subset per class; more requests than a class has chains wrap around), a share
    restarted from noise. Returns the starts and their buffer slots."""
    k, m, lv = self.num_classes, self.per_class, self.cfg.langevin
    onehot = tf.one_hot(classes, k, dtype=tf.int32)
    rank = tf.reduce_sum(tf.cumsum(onehot, axis=0) * onehot, axis=1) - 1  # i-th of its class
    order = tf.argsort(self.rng.uniform([k, m]), axis=1)  # int32
    j = tf.gather_nd(order, tf.stack([classes, rank % m], axis=1))
    idx = j * k + classes  # slot s holds class s mod k
    x0 = tf.gather(self.chains, idx)
    restart = self.rng.uniform([tf.shape(classes)[0], 1, 1, 1]) < lv.reinit
    return tf.where(restart, self._noise(tf.shape(x0)), x0), idx

  def _replica_step(self, x_data, y_data, x0_global):
    n = tf.distribute.get_replica_context().num_replicas_in_sync
    x0 = nets.replica_slice(x0_global)  # this replica's chains have its data's classes
    x_syn, lstats = self.revise(x0, y_data)
    x_syn = tf.stop_gradient(x_syn)
    s = self.cfg.langevin.ref_sigma
    b = tf.shape(x_data)[0]
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      f, logits = self.model(tf.concat([x_data, x_syn], 0), training=True)
      f_own = class_scores(f, tf.concat([y_data, y_data], 0))
      f_data, f_syn = f_own[:b], f_own[b:]
      ml = losses.ml_loss(f_data, f_syn)
      xent = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          y_data, tf.cast(logits[:b], tf.float32)))
      penalty = losses.energy_penalty(f_data, f_syn)
      total = (ml + self.cfg.optim.classification * xent +
               self.cfg.optim.energy_penalty * penalty)
      scaled = total / tf.cast(n, tf.float32)  # replica gradients are summed
    grads = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(grads, variables))
    correct = tf.equal(tf.argmax(logits[:b], axis=1, output_type=tf.int32), y_data)
    metrics = {
        'loss': total,
        'ml_loss': ml,
        'cross_entropy': xent,
        'train_accuracy': tf.reduce_mean(tf.cast(correct, tf.float32)),
        **losses.energy_metrics(x_data, x_syn, f_data, f_syn, s),
        'grad_norm': losses.grad_norm(grads, n),
        **langevin_lib.metrics(lstats),
    }
    return x_syn, metrics

  @tf.function
  def train_step(self, iterator):
    x_data, y_data = next(iterator)
    # Global labels in replica order: replica r's chains are rows r·b/n .. (r+1)·b/n − 1.
    classes = self.strategy.gather(y_data, axis=0)
    x0, idx = self._chain_starts(classes)
    x_syn, metrics = self.strategy.run(self._replica_step, args=(x_data, y_data, x0))
    x_syn = self.strategy.gather(x_syn, axis=0)
    self.chains.scatter_nd_update(idx[:, None], x_syn)
    out = self.reduce(metrics)
    out['samples_absmax'] = tf.reduce_max(tf.abs(x_syn))
    return out

  # ---------------------------------------------------------------- run plumbing

  def make_iterator(self, start_step: int):
    """Batches of (images, int32 labels)."""
    return super().make_iterator(start_step, labels=self.train_set.labels)

  def checkpoint_items(self):
    return {'descriptor': self.model, 'optimizer': self.optimizer, 'rng': self.rng,
            'replica_rng': self.replica_rng, 'chains': self.chains,
            'chain_classes': self.chain_classes}

  def buffer_samples(self, per_class):
    """(images [K·n, ...], classes [K·n]): the first n = min(per_class, chains per class)
    buffer chains of each class, class after class."""
    n = min(per_class, self.per_class)
    k = self.num_classes
    idx = (np.arange(n)[None, :] * k + np.arange(k)[:, None]).reshape(-1)  # class-major
    return self.chains.numpy()[idx], self.chain_classes.numpy()[idx]

  def samples(self):
    """K chains of each class, one class per row of the square sample grid."""
    return self.buffer_samples(self.num_classes)[0]

  def accuracy(self, images, labels, batch_size=500):
    """Share of `images` whose argmax_k (f_k + b_k) is their label."""
    predicted = batches.apply(lambda x: self.predict(data_lib.to_float(x)), images,
                              batch_size=batch_size)
    return int(np.sum(predicted == labels)) / len(images)

  def predict(self, x):
    """argmax_k (f_k + b_k) of a batch of images in [-1, 1]."""
    return np.argmax(self._logits(tf.constant(x)).numpy(), 1)

  def class_samples(self, per_class, steps, batch_size=500):
    """Buffer chains of each class revised by `steps` more Langevin steps on their class's
    energy: (samples, classes)."""
    x, c = self.buffer_samples(per_class)
    if steps:
      run = tf.function(lambda x0, c0: revise(self.model, x0, c0, self.cfg.langevin,
                                              self.replica_rng, steps=steps)[0])
      x = batches.apply(lambda xb, cb: run(tf.constant(xb), tf.constant(cb)), x, c,
                        batch_size=batch_size)
    return x, c

  def evaluate(self, workdir):
    """Test accuracy; per-class samples (WORKDIR/class_samples.png, one row per class), their
    class-mean images against the data's, and the share the project classifier recognises."""
    cfg, k = self.cfg, self.num_classes
    out = {'num_classes': k}
    test = data_lib.from_config(cfg, 'test')
    if test.labels is not None and len(test):
      out['test_accuracy'] = self.accuracy(test.images, test.labels)
      out['test_examples'] = len(test)
    steps = cfg.eval.class_sample_steps
    x, c = self.class_samples(cfg.eval.class_samples, steps)
    n = len(x) // k
    out['class_samples'] = (f'{n} per class: the persistent buffer chains of each class '
                            f'revised by {steps} more Langevin steps on their class energy')
    rows = x.reshape((k, n) + self.shape)[:, :min(n, 10)]
    images_lib.save_png(os.path.join(workdir, 'class_samples.png'),
                        images_lib.grid(rows.reshape((-1,) + self.shape), rows.shape[1]))
    # Class-mean images: each class's samples against its own data, the other classes' data
    # and the noise start (whose mean is the zero image).
    real = data_lib.to_float(self.train_set.images)
    means = np.stack([real[self.train_set.labels == j].mean(0) if np.any(
        self.train_set.labels == j) else np.zeros(self.shape, np.float32) for j in range(k)])
    sample_means = x.reshape((k, n) + self.shape).mean(1)
    mse = ((sample_means[:, None] - means[None]) ** 2).reshape(k, k, -1).mean(-1)  # [ks, kd]
    out['class_mean_mse'] = float(np.mean(np.diag(mse)))
    out['class_mean_mse_other_classes'] = float(mse[~np.eye(k, dtype=bool)].mean())
    out['class_mean_mse_noise_start'] = float(np.mean(means ** 2))
    # The net's own classifier on its samples (no project classifier needed).
    own = batches.apply(self.predict, x, batch_size=500)
    out['samples_own_class_pct'] = float(100 * np.mean(own == c))
    if cfg.eval.score:
      out.update(self.recognised(x, c))
    return out

  def recognised(self, x, c):
    """The share (%) of samples the project classifier (evaluation/scoring.py) labels as
    their intended class, overall and per class."""
    d = self.cfg.data
    scorer = scoring.Scorer(d.dataset, d.image_size, d.channels, data_dir=d.data_dir,
                            train_if_missing=True)
    hit = scorer.predict(x) == c
    return {'samples_recognised_pct': float(100 * hit.mean()),
            'samples_recognised_pct_per_class': {
                str(j): float(100 * hit[c == j].mean()) for j in range(self.num_classes)},
            'scoring_classifier': scorer.path}

  def describe(self):
    return f'{super().describe()}, {self.num_classes} classes'


def train(cfg, workdir: str, strategy=None, log=print) -> dict:
  """Trains a conditional descriptor as `cfg` says, in `workdir` (resuming a checkpoint)."""
  return base.train(cfg, workdir, strategy, log, ConditionalDescriptor)
