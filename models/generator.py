"""Top-down generator nets g(h; α): a latent vector in, an image in [-1, 1] out.

DCGAN-like (docs/ALGORITHMS.md §2 and §4): dense to a small feature map, then stride-2
transposed convolutions with leaky ReLU, tanh at the end. No batch normalisation: the
latents are inferred by Langevin dynamics one example at a time, and batch statistics would
couple the examples of a batch. The image is float32 under any precision policy.
"""
import math

import keras
from keras import layers

UPSAMPLE = ('transpose', 'resize', 'bilinear')


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
    # Resizing to the static size (= UpSampling2D's nearest ×2, value for value) keeps the
    # spatial shape known, which TFLite's full-int8 conversion needs (export/tflite.py).
    h, w = x.shape[1], x.shape[2]
    x = layers.Resizing(2 * h, 2 * w, interpolation='nearest' if upsample == 'resize' else
                        'bilinear', name=f'{name}_resize')(x)
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
