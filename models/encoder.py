"""Bottom-up inference nets ρ_φ(h|X) = N(μ(X), diag exp(logvar(X))): an image in, the mean
and log-variance of its latent out (the divergence triangle's encoder, docs/ALGORITHMS.md §5;
Han et al., "Divergence Triangle for Joint Training of Generator Model, Energy-Based Model,
and Inferential Model", CVPR 2019, arXiv:1812.10907).

Mirror of the generator: stride-2 convolutions with leaky ReLU, then two dense heads kept in
float32 (the log-variance enters exp() and the KL term). No batch normalisation, for the same
reason as the generator: every example's posterior is its own.
"""
import keras
from keras import layers


def conv_encoder(image_shape, latent_dim, *, widths, leak=0.2, name='encoder'):
  """len(widths) stride-2 convs → flatten → (μ, log σ²), each [batch, latent_dim]."""
  inputs = keras.Input(image_shape, name='images')
  x = inputs
  for i, w in enumerate(widths):
    x = layers.Conv2D(w, 4, strides=2, padding='same', name=f'conv{i + 1}')(x)
    x = layers.LeakyReLU(leak, name=f'lrelu{i + 1}')(x)
  x = layers.Flatten()(x)
  mean = layers.Dense(latent_dim, dtype='float32', name='mean')(x)
  logvar = layers.Dense(latent_dim, dtype='float32', name='logvar')(x)
  return keras.Model(inputs, [mean, logvar], name=name)


def encoder_28(image_shape=(28, 28, 1), latent_dim=100, widths=()):
  return conv_encoder(image_shape, latent_dim, widths=tuple(widths) or (64, 128))


def encoder_32(image_shape=(32, 32, 3), latent_dim=100, widths=()):
  return conv_encoder(image_shape, latent_dim, widths=tuple(widths) or (64, 128, 256))


def encoder_64(image_shape=(64, 64, 3), latent_dim=100, widths=()):
  return conv_encoder(image_shape, latent_dim, widths=tuple(widths) or (64, 128, 256, 512))
