"""The deformable generator: an appearance generator and a geometry generator, the image
being the appearance warped by the geometry's displacement field.

Xing, Gao, Han, Zhu, Wu, "Deformable Generator Networks: Unsupervised Disentanglement of
Appearance and Geometry", TPAMI 2020 (arXiv:1806.06298); docs/ALGORITHMS.md §2.

The latent is one vector h = [h_a, h_g], so the ABP trainer infers both parts with the same
Langevin step as any generator.
"""
import keras
import tensorflow as tf
from keras import layers

from models import generator as generator_lib


def warp(images, field):
  """Bilinear warp: out(y, x) = images(y + field_y(y, x), x + field_x(y, x)).

  images [B, H, W, C]; field [B, H, W, 2] in pixels (channel 0: rows, 1: columns);
  sample positions outside the image are clamped to its border. Plain TF ops, differentiable
  in both arguments.
  """
  images = tf.convert_to_tensor(images)
  field = tf.cast(field, images.dtype)
  h, w = tf.shape(images)[1], tf.shape(images)[2]
  rows, cols = tf.meshgrid(tf.range(h), tf.range(w), indexing='ij')
  y = tf.cast(rows, images.dtype)[None] + field[..., 0]
  x = tf.cast(cols, images.dtype)[None] + field[..., 1]
  y = tf.clip_by_value(y, 0.0, tf.cast(h - 1, images.dtype))
  x = tf.clip_by_value(x, 0.0, tf.cast(w - 1, images.dtype))
  y0, x0 = tf.floor(y), tf.floor(x)
  wy, wx = (y - y0)[..., None], (x - x0)[..., None]
  y0i, x0i = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
  y1i, x1i = tf.minimum(y0i + 1, h - 1), tf.minimum(x0i + 1, w - 1)

  def at(yi, xi):
    return tf.gather_nd(images, tf.stack([yi, xi], -1), batch_dims=1)

  top = at(y0i, x0i) * (1 - wx) + at(y0i, x1i) * wx
  bottom = at(y1i, x0i) * (1 - wx) + at(y1i, x1i) * wx
  return top * (1 - wy) + bottom * wy


def deformable_generator(image_shape, latent_dim=64, widths=(), geometry_dim=0,
                         max_displacement=0.0):
  """h = [h_a (latent_dim − geometry_dim), h_g (geometry_dim)] → warp(g_a(h_a), g_g(h_g)).

  The geometry net ends in tanh scaled to ±max_displacement pixels (default: size / 8).
  """
  size, _, channels = image_shape
  geometry_dim = geometry_dim or max(2, latent_dim // 4)
  if not 0 < geometry_dim < latent_dim:
    raise ValueError(f'geometry_dim={geometry_dim} must be in (0, latent_dim={latent_dim})')
  max_displacement = max_displacement or size / 8
  build = {28: generator_lib.generator_28, 32: generator_lib.generator_32,
           64: generator_lib.generator_64}[size]
  appearance = build(image_shape, latent_dim - geometry_dim, widths, name='appearance')
  geometry = build((size, size, 2), geometry_dim, widths, name='geometry')  # tanh, [-1, 1]
  z = keras.Input((latent_dim,), name='z')
  h_a = layers.Lambda(lambda t: t[:, :latent_dim - geometry_dim], name='h_appearance')(z)
  h_g = layers.Lambda(lambda t: t[:, latent_dim - geometry_dim:], name='h_geometry')(z)
  field = layers.Lambda(lambda t: t * max_displacement, dtype='float32', name='field')(
      geometry(h_g))
  image = layers.Lambda(lambda a: warp(a[0], a[1]), dtype='float32', name='warped')(
      [appearance(h_a), field])
  model = keras.Model(z, image, name='deformable_generator')
  model.geometry_dim = geometry_dim
  return model
