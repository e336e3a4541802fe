"""Evaluation maths shared by trainers and tools: errors, PSNR, sample-vs-data statistics.

Images are in [-1, 1]; errors are reported in [0, 1] pixel units (the project's convention).
(Fréchet distance and KID join this file with the evaluation issue.)
"""
import numpy as np


def moment_gaps(samples, real) -> dict:
  """How far samples' pixel statistics are from real images' (all images in [-1, 1]).

  mean_image_mse: mean squared difference of the two mean images;
  pixel_std_gap:  |std of sample pixels − std of real pixels|.
  """
  s, r = np.asarray(samples, np.float64), np.asarray(real, np.float64)
  return {
      'mean_image_mse': float(np.mean((s.mean(0) - r.mean(0))**2)),
      'pixel_std_gap': float(abs(s.std() - r.std())),
  }


def random_filters(channels: int, sizes=(3, 7, 15), per_size=16, seed=0):
  """Fixed random conv filters (zero-mean, unit-norm): a descriptor-free texture feature."""
  rng = np.random.default_rng(seed)
  out = []
  for k in sizes:
    w = rng.standard_normal((k, k, channels, per_size)).astype(np.float32)
    w -= w.mean(axis=(0, 1, 2), keepdims=True)
    w /= np.sqrt((w**2).sum(axis=(0, 1, 2), keepdims=True))
    out.append(w)
  return out


def gram_matrices(images, filters):
  """Per filter bank: the mean over images of the ReLU responses' Gram matrix [K, K]."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  x = tf.convert_to_tensor(np.asarray(images, np.float32))
  grams = []
  for w in filters:
    r = tf.nn.relu(tf.nn.conv2d(x, w, strides=1, padding='VALID'))
    n = tf.cast(tf.shape(r)[1] * tf.shape(r)[2], tf.float32)
    g = tf.einsum('bhwk,bhwl->bkl', r, r) / n
    grams.append(tf.reduce_mean(g, 0).numpy())
  return grams


def gram_distance(images, exemplar, filters=None) -> float:
  """Relative Frobenius distance of Gram statistics, averaged over filter banks (0 = equal)."""
  filters = filters or random_filters(np.shape(exemplar)[-1])
  a, b = gram_matrices(images, filters), gram_matrices(exemplar, filters)
  return float(np.mean([np.linalg.norm(x - y) / np.linalg.norm(y) for x, y in zip(a, b)]))


def matched_noise(exemplar, shape, seed=0):
  """White Gaussian noise with the exemplar's pixel mean and std (a fair texture baseline)."""
  e = np.asarray(exemplar, np.float32)
  rng = np.random.default_rng(seed)
  return np.clip(rng.normal(e.mean(), e.std(), shape), -1, 1).astype(np.float32)


def mae(a, b) -> float:
  """Mean |a − b| in [0, 1] pixel units."""
  return float(np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))) / 2.0)


def psnr(a, b) -> float:
  """PSNR in dB of images mapped to [0, 1]: 10·log10(1 / MSE)."""
  mse = float(np.mean(((np.asarray(a, np.float64) - np.asarray(b, np.float64)) / 2.0)**2))
  return float('inf') if mse == 0 else float(10.0 * np.log10(1.0 / mse))
