"""The pieces of the shared-representation generator X(i, v) = g(h1_i, h2_v) (docs/ALGORITHMS.md
§6): a table of view latents h2, and a generator with one view fixed (for export).

The generator itself is an ordinary top-down net (models/generator.py) whose input is the
concatenation z = (h1, h2) of the identity latent and the view latent.
"""
import keras
from keras import layers
from keras import ops


class ViewTable(layers.Layer):
  """h2: one learned latent vector per view, a [V, d2] weight; call(view indices) → [B, d2]."""

  def __init__(self, num_views: int, view_dim: int, seed: int = 0, **kw):
    super().__init__(**kw)
    self.num_views, self.view_dim, self.seed = int(num_views), int(view_dim), int(seed)

  def build(self, input_shape=None):
    self.table = self.add_weight(
        name='table', shape=(self.num_views, self.view_dim), trainable=True,
        initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed))

  def call(self, view):
    return ops.take(self.table, ops.cast(view, 'int32'), axis=0)

  def get_config(self):
    return {**super().get_config(), 'num_views': self.num_views, 'view_dim': self.view_dim,
            'seed': self.seed}


def view_table(image_shape=None, num_views=2, view_dim=8, seed=0, name='views'):
  """The view latents as a Keras model: view indices int32 [B] → h2 [B, d2]."""
  del image_shape  # (the registry's signature)
  if num_views < 2 or view_dim < 1:
    raise ValueError(f'a view table needs at least 2 views and view_dim >= 1, got '
                     f'{num_views} views of {view_dim}')
  view = keras.Input((), dtype='int32', name='view')
  return keras.Model(view, ViewTable(num_views, view_dim, seed, name='table')(view), name=name)


def table_of(views):
  """The h2 table [V, d2] (numpy float32) of a view_table net."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  return np.asarray(views.get_layer('table').table, np.float32)


class AppendLatent(layers.Layer):
  """z → (z, c): appends a fixed vector c (one view's h2) to every row."""

  def __init__(self, value, **kw):
    super().__init__(**kw)
    self.value = [float(v) for v in value]

  def build(self, input_shape=None):
    self.constant = self.add_weight(name='h2', shape=(len(self.value),), trainable=False,
                                    initializer=keras.initializers.Constant(self.value))

  def call(self, z):
    c = ops.broadcast_to(ops.cast(self.constant, z.dtype)[None], (ops.shape(z)[0],
                                                                   len(self.value)))
    return ops.concatenate([z, c], axis=-1)

  def get_config(self):
    return {**super().get_config(), 'value': self.value}


def with_view(generator, h2, name='generator'):
  """h1 [B, d1] → g((h1, h2)): the generator with one view's latent fixed (the TFLite and
  serving_default contract: one input z = h1 ~ N(0, I))."""
  d1 = int(generator.input_shape[-1]) - len(h2)
  z = keras.Input((d1,), name='z')
  return keras.Model(z, generator(AppendLatent(h2, name='view')(z)), name=name)
