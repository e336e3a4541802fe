"""An exponential moving average (EMA) of a net's weights, for sampling.

After every training step the averaged weights move towards the trained ones:

    a_t = d_t · a_{t-1} + (1 − d_t) · w_t,   d_t = min(decay, (1 + t) / (10 + t))

(t = the number of steps finished before this one). The warm-up d_t lets the average forget
its random start quickly while the weights change fast, then settles at `decay` (0.999 ≈ an
average over the last ~1,000 steps). Sampling from averaged weights is standard practice in
generative training (Karras et al., "Progressive Growing of GANs", ICLR 2018; Yazıcı et al.,
"The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019): the trained weights
oscillate around a good point, the average sits nearer it.
"""
import tensorflow as tf


def decay_at(step, decay: float):
  """d_t = min(decay, (1 + t) / (10 + t)) as a float32 tensor (`step` = t, steps done)."""
  t = tf.cast(step, tf.float32)
  return tf.minimum(tf.constant(decay, tf.float32), (1.0 + t) / (10.0 + t))


def copy(average_vars, source_vars):
  """a ← w for every pair (the average starts from the current weights)."""
  for a, w in zip(average_vars, source_vars, strict=True):
    a.assign(w)


def update(average_vars, source_vars, step, decay: float):
  """One EMA update of `average_vars` towards `source_vars` (cross-replica context under a
  strategy: the weights are mirrored, so every replica's copy gets the same update)."""
  d = decay_at(step, decay)
  for a, w in zip(average_vars, source_vars, strict=True):
    a.assign(d * a + (1.0 - d) * tf.cast(w, a.dtype))
