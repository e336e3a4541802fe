"""Automatic rollback on divergence: the state that lives in every checkpoint's `recovery` slot.

When a step's metrics hold a NaN/inf (or an energy beyond train.energy_bound), the loop
restores the last good checkpoint, multiplies every optimizer's learning rate and the
trainer's Langevin step sizes by train.rollback_factor, reseeds the trainer's RNGs from
(seed, rollbacks) and goes on; after train.max_rollbacks it stops. The scales and the count
are variables here, so they travel in the checkpoint: a resumed run keeps its lowered rates,
and the reseed, derived from the seed and the count, keeps a resumed run exact.
"""
import keras
import tensorflow as tf


class ScaledRate(keras.optimizers.schedules.LearningRateSchedule):
  """base (a float or a schedule) × scale (a variable read at every step)."""

  def __init__(self, base, scale: tf.Variable):
    self.base, self.scale = base, scale

  def __call__(self, step):
    base = self.base(step) if callable(self.base) else self.base
    return tf.cast(base, tf.float32) * tf.cast(self.scale, tf.float32)

  def get_config(self):
    base = self.base
    if isinstance(base, keras.optimizers.schedules.LearningRateSchedule):
      base = keras.optimizers.schedules.serialize(base)
    return {'base': base, 'scale': float(self.scale.numpy())}


class Recovery(tf.Module):
  """lr_scale, langevin_scale (float32) and rollbacks (int64): a checkpoint slot."""

  def __init__(self):
    super().__init__(name='recovery')
    self.lr_scale = tf.Variable(1.0, trainable=False, name='lr_scale')
    self.langevin_scale = tf.Variable(1.0, trainable=False, name='langevin_scale')
    self.rollbacks = tf.Variable(0, dtype=tf.int64, trainable=False, name='rollbacks')

  def reset(self):
    self.lr_scale.assign(1.0)
    self.langevin_scale.assign(1.0)
    self.rollbacks.assign(0)

  def values(self) -> dict:
    return {'lr_scale': float(self.lr_scale.numpy()),
            'langevin_scale': float(self.langevin_scale.numpy()),
            'rollbacks': int(self.rollbacks.numpy())}

  def after_rollback(self, before: dict, factor: float) -> dict:
    """After restoring the last good checkpoint: one more rollback, and the scales it had
    before the restore (`before`, values()) × factor, applied to the optimizers."""
    self.rollbacks.assign(before['rollbacks'] + 1)
    self.lr_scale.assign(before['lr_scale'] * factor)
    self.langevin_scale.assign(before['langevin_scale'] * factor)
    self.apply_rates()
    return self.values()

  def track_optimizers(self, items: dict):
    """Notes the base learning rate of every Keras optimizer among a task's checkpoint items
    (call before restoring). One built with a `ScaledRate` follows lr_scale by itself; one
    with a float rate keeps it in its own checkpointed variable, set by `apply_rates`."""
    self._bases = [(opt, float(opt.learning_rate.numpy())) for opt in items.values()
                   if isinstance(opt, keras.optimizers.Optimizer)
                   and not isinstance(opt._learning_rate,  # pylint: disable=protected-access
                                      keras.optimizers.schedules.LearningRateSchedule)]

  def apply_rates(self):
    """Float-rate optimizers learn at base × lr_scale."""
    for opt, base in getattr(self, '_bases', ()):
      opt.learning_rate = base * float(self.lr_scale.numpy())

  def scaled(self, lr):
    """A learning rate (float or schedule) that follows lr_scale: for optimizers built with a
    schedule, whose rate has no variable to lower."""
    return ScaledRate(lr, self.lr_scale)


def reseed(items: dict, seed: int, rollbacks: int):
  """Every tf.random.Generator among the items restarts from a seed derived from the run's
  seed, the count of rollbacks and the item's role (so each redraws other noise)."""
  for i, role in enumerate(sorted(items)):
    if isinstance(items[role], tf.random.Generator):
      items[role].reset_from_seed(int(seed) * 1_000_003 + 7919 * int(rollbacks) + i)
