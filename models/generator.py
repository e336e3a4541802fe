"""Top-down generator nets g(h; α): a latent vector in, an image in [-1, 1] out.

DCGAN-like (docs/ALGORITHMS.md §2 and §4): dense to a small feature map, then stride-2
transposed convolutions with leaky ReLU, tanh at the end. No batch normalisation: the
latents are inferred by Langevin dynamics one example at a time, and batch statistics would
couple the examples of a batch. The image is float32 under any precision policy.
"""
import math

import keras
import numpy as np
from keras import layers

UPSAMPLE = ('transpose', 'resize', 'bilinear')

# Nearest ×2 then a 3-tap convolution, along one axis: output 2q takes input q − 1 through
# tap 0 and input q through taps 1 + 2; output 2q + 1 takes input q through taps 0 + 1 and
# input q + 1 through tap 2. A stride-2 transposed convolution with 4 taps computes exactly
# that when its taps are these sums of the 3 (row a: which of the 3 taps make tap a).
_NEAREST_TAPS = np.array([[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]], np.float32)


@keras.saving.register_keras_serializable(package='twonets')
class NearestUpConv2D(layers.Conv2D):
  """Nearest-neighbour ×2 then this 3×3 'same' convolution, computed in one step: a stride-2
  transposed convolution whose 4×4 kernel is sums of the 3×3 kernel's taps (_NEAREST_TAPS
  along each axis). The same function and the same weights (a Conv2D's, so checkpoints of
  runs that resized in a layer of their own restore), with 4/9 of the multiply-adds: the
  ×2 map's duplicated pixels are never multiplied twice. Equal to Resizing(nearest) +
  Conv2D up to float rounding (tests/test_triangle.py)."""

  def __init__(self, filters, **kw):
    kw.setdefault('kernel_size', 3)
    kw.setdefault('padding', 'same')
    super().__init__(filters, **kw)
    if tuple(self.kernel_size) != (3, 3) or self.padding != 'same' or \
        tuple(self.strides) != (1, 1) or self.data_format != 'channels_last':
      raise ValueError('NearestUpConv2D is a 3x3 stride-1 same-padded channels-last conv')

  def call(self, inputs):
    # [3, 3, in, out] → [4, 4, in, out] → conv_transpose's [4, 4, out, in], summed in
    # float32 (under mixed_bfloat16 the kernel arrives in bfloat16), then cast back.
    kernel = keras.ops.einsum('ai,bj,ijco->aboc', _NEAREST_TAPS, _NEAREST_TAPS,
                              keras.ops.cast(self.kernel, 'float32'))
    kernel = keras.ops.cast(kernel, inputs.dtype)
    x = keras.ops.conv_transpose(inputs, kernel, strides=2, padding='same')
    if self.use_bias:
      x = x + self.bias
    return self.activation(x) if self.activation is not None else x

  def as_keras_layers(self, x):
    """x → the same function in built-in Keras layers: Resizing (nearest ×2), then a Conv2D
    holding a copy of this layer's weights — for files that bare Keras loads without this
    project's code (export/saved_model.py's .keras files)."""
    up = layers.Resizing(2 * x.shape[1], 2 * x.shape[2], interpolation='nearest',
                         name=f'{self.name}_nearest')(x)
    conv = layers.Conv2D.from_config(self.get_config())
    y = conv(up)
    conv.set_weights(self.get_weights())
    return y

  def compute_output_shape(self, input_shape):
    b, h, w, _ = input_shape
    return (b, None if h is None else 2 * h, None if w is None else 2 * w, self.filters)


def dcgan_generator(image_shape, latent_dim, *, base, widths, leak=0.2, upsample='transpose',
                    name='generator'):
  """dense → base×base×widths[0] → one ×2 upsampling per further width → image.

  upsample='transpose': stride-2 4×4 transposed convolutions (DCGAN). 'resize': nearest-
  neighbour ×2 then a 3×3 convolution (Odena, Dumoulin, Olah, "Deconvolution and
  Checkerboard Artifacts", Distill 2016): the transposed convolution's uneven overlap leaves
  a checkerboard that a generator trained against an energy (the triangle) amplifies.
  'bilinear': bilinear ×2 then a 3×3 convolution; the duplicated columns and rows of the
  nearest-neighbour ×2 still let a 3×3 kernel paint a period-2 pattern, bilinear ones less.
  """
  if upsample not in UPSAMPLE:
    raise ValueError(f'upsample must be one of {", ".join(UPSAMPLE)}, not {upsample!r}')
  size, _, channels = image_shape
  if base * 2**len(widths) != size:
    raise ValueError(f'{len(widths)} widths make {base * 2**len(widths)}x'
                     f'{base * 2**len(widths)} images from {base}x{base}, not {size}x{size}: '
                     f'give {int(round(math.log2(size / base)))} widths')
  inputs = keras.Input((latent_dim,), name='z')
  x = layers.Dense(base * base * widths[0], name='project')(inputs)
  x = layers.LeakyReLU(leak)(x)
  x = layers.Reshape((base, base, widths[0]))(x)
  def up(x, width, name):
    if upsample == 'transpose':
      return layers.Conv2DTranspose(width, 4, strides=2, padding='same', name=name)(x)
    if upsample == 'resize':
      # The ×2 is inside NearestUpConv2D; the pass-through keeps the layer order (and so the
      # checkpoints) of the runs that resized in a layer of their own.
      x = layers.Identity(name=f'{name}_resize')(x)
      return NearestUpConv2D(width, name=name)(x)
    # Resizing to the static size keeps the spatial shape known, which TFLite's full-int8
    # conversion needs (export/tflite.py).
    h, w = x.shape[1], x.shape[2]
    x = layers.Resizing(2 * h, 2 * w, interpolation='bilinear', name=f'{name}_resize')(x)
    return layers.Conv2D(width, 3, padding='same', name=name)(x)

  for i, w in enumerate(widths[1:]):
    x = layers.LeakyReLU(leak)(up(x, w, f'up{i + 1}'))
  x = up(x, channels, 'to_image')
  images = layers.Activation('tanh', dtype='float32', name='images')(x)
  return keras.Model(inputs, images, name=name)


def generator_28(image_shape=(28, 28, 1), latent_dim=100, widths=(), upsample='transpose',
                 name='generator'):
  return dcgan_generator(image_shape, latent_dim, base=7, widths=tuple(widths) or (128, 64),
                         upsample=upsample, name=name)


def generator_32(image_shape=(32, 32, 3), latent_dim=100, widths=(), upsample='transpose',
                 name='generator'):
  return dcgan_generator(image_shape, latent_dim, base=4,
                         widths=tuple(widths) or (256, 128, 64), upsample=upsample, name=name)


def generator_64(image_shape=(64, 64, 3), latent_dim=100, widths=(), upsample='transpose',
                 name='generator'):
  return dcgan_generator(image_shape, latent_dim, base=4,
                         widths=tuple(widths) or (512, 256, 128, 64), upsample=upsample,
                         name=name)
