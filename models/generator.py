"""Top-down generator nets g(h; α): a latent vector in, an image in [-1, 1] out.

DCGAN-like (shared/ALGORITHMS.md §2 and §4): dense to a small feature map, then stride-2
transposed convolutions with leaky ReLU, tanh at the end. No batch normalisation: the
latents are inferred by Langevin dynamics one example at a time, and batch statistics would
couple the examples of a batch. The image is float32 under any precision policy.
"""
import keras
from keras import layers


def dcgan_generator(image_shape, latent_dim, *, base, widths, leak=0.2, name='generator'):
  """dense → base×base×widths[0] → one stride-2 transposed conv per further width → image."""
  size, _, channels = image_shape
  if base * 2**len(widths) != size:
    raise ValueError(f'{base} * 2^{len(widths)} != image size {size}')
  inputs = keras.Input((latent_dim,), name='z')
  x = layers.Dense(base * base * widths[0], name='project')(inputs)
  x = layers.LeakyReLU(leak)(x)
  x = layers.Reshape((base, base, widths[0]))(x)
  for i, w in enumerate(widths[1:]):
    x = layers.Conv2DTranspose(w, 4, strides=2, padding='same', name=f'up{i + 1}')(x)
    x = layers.LeakyReLU(leak)(x)
  x = layers.Conv2DTranspose(channels, 4, strides=2, padding='same', name='to_image')(x)
  images = layers.Activation('tanh', dtype='float32', name='images')(x)
  return keras.Model(inputs, images, name=name)


def generator_28(image_shape=(28, 28, 1), latent_dim=100, widths=(), name='generator'):
  return dcgan_generator(image_shape, latent_dim, base=7, widths=tuple(widths) or (128, 64),
                         name=name)


def generator_32(image_shape=(32, 32, 3), latent_dim=100, widths=(), name='generator'):
  return dcgan_generator(image_shape, latent_dim, base=4,
                         widths=tuple(widths) or (256, 128, 64), name=name)


def generator_64(image_shape=(64, 64, 3), latent_dim=100, widths=(), name='generator'):
  return dcgan_generator(image_shape, latent_dim, base=4,
                         widths=tuple(widths) or (512, 256, 128, 64), name=name)
