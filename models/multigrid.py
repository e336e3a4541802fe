"""Multi-grid descriptors (Gao, Lu, Zhou, Zhu, Wu, "Learning Generative ConvNets via
Multi-grid Modeling and Sampling", CVPR 2018; docs/ALGORITHMS.md §3).

One descriptor f_k(X; θ_k) per grid size except 1×1, the grid operators between them, and
the features the descriptors' layers give (for the linear-SVM evaluation).

* `downsample(x, size)`: average pooling by H/size (each output pixel is the mean of its
  block, so the image's mean is preserved).
* `upsample(x, size)`: nearest neighbour by size/H (each pixel becomes a block).
Both need the sizes to divide each other; the ladders are core/grids.py's.

The grid nets follow the originals' shape (small conv stacks with a linear head): stride-2
convs halve the grid until it is 4×4 or smaller, leaky ReLU 0.2, one dense unit as f. The
score is float32 under any precision policy (see models/descriptor.py).
"""
import keras
from keras import layers
import tensorflow as tf

from core.errors import ConfigError
from core.grids import check_grids
from core.grids import default_grids

WIDTHS = (64, 128, 256)


def downsample(x, size: int):
  """Average pooling of square images [B, H, H, C] to [B, size, size, C] (H % size == 0)."""
  h = x.shape[1]
  if h == size:
    return x
  k = h // size
  if k * size != h:
    raise ValueError(f'cannot average-pool {h}x{h} to {size}x{size}')
  return tf.nn.avg_pool2d(x, k, k, 'VALID')


def upsample(x, size: int):
  """Nearest-neighbour up-sampling of [B, h, h, C] to [B, size, size, C] (size % h == 0)."""
  h = x.shape[1]
  if h == size:
    return x
  k = size // h
  if k * h != size:
    raise ValueError(f'cannot nearest-upsample {h}x{h} to {size}x{size}')
  return tf.repeat(tf.repeat(x, k, axis=1), k, axis=2)


def grid_descriptor(size: int, channels: int, widths=(), leak=0.2, name=None):
  """f_k for one grid: conv 5×5 (stride 2 when the grid is above 4) and 3×3 stride-2 convs
  until the map is 4×4 or smaller, leaky ReLU; f = one dense unit."""
  widths = tuple(widths) or WIDTHS
  inputs = keras.Input((size, size, channels), name='images')
  x, s = inputs, size
  for i, w in enumerate(widths):
    stride = 2 if s > 4 else 1
    x = layers.Conv2D(w, 5 if i == 0 else 3, strides=stride, padding='same',
                      name=f'conv{i + 1}')(x)
    x = layers.LeakyReLU(leak, name=f'lrelu{i + 1}')(x)
    s = -(-s // stride)
    if s <= 4:
      break
  x = layers.Flatten()(x)
  f = layers.Dense(1, dtype='float32', name='score_unit')(x)
  f = layers.Lambda(lambda t: keras.ops.sum(t, axis=-1), dtype='float32', name='f')(f)
  return keras.Model(inputs, f, name=name or f'descriptor_{size}')


def multigrid_descriptors(image_shape, grids=(), widths=()):
  """{size: f_size} for every grid above 1×1."""
  size, _, channels = image_shape
  grids = tuple(grids) or default_grids(size)
  err = check_grids(grids, size)
  if err:
    raise ConfigError(err)
  return {g: grid_descriptor(g, channels, widths) for g in grids[1:]}


def feature_model(net):
  """A model from a grid net's input to each leaky-ReLU layer's responses (the features)."""
  outs = [l.output for l in net.layers if l.name.startswith('lrelu')]
  return keras.Model(net.input, outs, name=f'{net.name}_features')


def pooled_features(feature_nets, x, cells: int = 2):
  """Features of images x [B, H, W, C] in [-1, 1]: every grid net's layer responses on x
  down-sampled to its grid, average-pooled to a cells×cells grid of regions (windows of
  ceil(h / cells); 'SAME' pooling averages over the pixels inside the map) and concatenated.
  numpy [B, F]."""
  parts = []
  for size, net in sorted(feature_nets.items()):
    outs = net(downsample(x, size), training=False)
    for r in outs if isinstance(outs, (list, tuple)) else [outs]:
      r = tf.cast(r, tf.float32)
      k = -(-r.shape[1] // cells)
      pooled = tf.nn.avg_pool2d(r, k, k, 'SAME')
      parts.append(tf.reshape(pooled, [tf.shape(r)[0], -1]))
  return tf.concat(parts, axis=1).numpy()
