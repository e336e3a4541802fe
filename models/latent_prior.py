"""The latent-space energy prior's correction f_α(z): a latent vector in, one score out.

p_α(z) ∝ exp(f_α(z)) · N(z; 0, I) (Pang, Han, Nijkamp, Zhu, Wu, "Learning Latent Space
Energy-Based Prior Model", NeurIPS 2020; docs/ALGORITHMS.md §7). The paper's net: dense
layers of 200 units with leaky ReLU 0.2, then one linear unit. The score is float32 under any
precision policy (it enters the Langevin gradient and the prior's loss).
"""
import keras
from keras import layers


def latent_prior(image_shape=None, latent_dim=100, widths=(), leak=0.2, name='prior'):
  """z [batch, latent_dim] → f_α(z) [batch]. image_shape is unused (the registry passes it to
  every net)."""
  del image_shape
  inputs = keras.Input((latent_dim,), name='z')
  x = inputs
  for i, w in enumerate(tuple(widths) or (200, 200)):
    x = layers.Dense(w, name=f'dense{i + 1}')(x)
    x = layers.LeakyReLU(leak, name=f'lrelu{i + 1}')(x)
  x = layers.Dense(1, dtype='float32', name='score_unit')(x)
  f = layers.Reshape((), dtype='float32', name='f')(x)
  return keras.Model(inputs, f, name=name)
