"""Sample-quality scores for generative models: Fréchet distance, KID, Inception Score.

* Fréchet distance between Gaussians fitted to features (Heusel et al., "GANs Trained by a
  Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NIPS 2017; FID).
* KID, the unbiased MMD² with the cubic polynomial kernel (Bińkowski et al., "Demystifying
  MMD GANs", ICLR 2018).
* Inception Score (Salimans et al., "Improved Techniques for Training GANs", NIPS 2016).

The maths only, on feature arrays (numpy/scipy/scikit-learn); the feature nets (the project
classifier, InceptionV3) are in evaluation/scoring.py. Images are float32 [-1, 1] NHWC.
"""
import warnings

import numpy as np
from scipy import linalg
from scipy import ndimage
from scipy import special

from core.errors import ConfigError
from core.errors import DataError

BLUR_SIGMA_PX = 1.5

# ------------------------------------------------------------------ distances


def feature_stats(features):
  """Mean [D] and covariance [D, D] (float64, one example per row) of features [N, D]."""
  x = np.asarray(features, np.float64)
  if x.ndim != 2:
    raise DataError(f'features must be a 2-D array [N, D], got shape {x.shape}')
  if len(x) < 2:
    raise DataError(f'a covariance needs at least 2 examples, got {len(x)}; score more samples')
  if not np.all(np.isfinite(x)):
    raise DataError('features contain NaN or inf; check the images (NaN samples?)')
  return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6) -> float:
  """Fréchet distance of two Gaussians: ||μ1 − μ2||² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½)."""
  mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
  mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  d = mu1.shape[0]
  if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
    raise DataError(f'Fréchet distance needs means [D] and covariances [D, D] of the same D; '
                    f'got {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}')
  diff = mu1 - mu2
  with warnings.catch_warnings():
    # Singular products are common (dead ReLU units, fewer examples than dimensions) and
    # usually harmless; the checks below catch the cases that are not.
    warnings.simplefilter('ignore', linalg.LinAlgWarning)
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
      # Regularise as TTUR/pytorch-fid do.
      offset = np.eye(d) * eps
      covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(covmean):
    imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
    if imag > 1e-3:
      raise DataError(f'Fréchet distance: the square root of the covariance product has an '
                      f'imaginary part of {imag:.3g} (the covariances are numerically '
                      f'degenerate); score more samples than feature dimensions ({d})')
    covmean = covmean.real
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fd(features_a, features_b) -> float:
  """Fréchet distance between Gaussians fitted to two sets of features [N, D]."""
  a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
  if a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[1] and len(a) + len(b) < a.shape[1]:
    # Fewer examples than dimensions: both fitted Gaussians live in the span of the centred
    # features and the mean difference, and the distance is invariant to rotations, so compute
    # it in an orthonormal basis of that span. Exact, and it spares sqrtm a D×D singular
    # matrix (InceptionV3's D = 2048 takes scipy 15-30 s on two cores).
    spread = np.concatenate([a - a.mean(0), b - b.mean(0), [a.mean(0) - b.mean(0)]])
    basis, _ = np.linalg.qr(spread.T)
    a, b = a @ basis, b @ basis
  return frechet_distance(*feature_stats(a), *feature_stats(b))


def _kernel_sums(a, b):
  """(Σ_ij k(a_i, b_j), Σ_i k(a_i, b_i)) of k(x, y) = (x·y / d + 1)³: one float32 matmul,
  the sums in float64."""
  k = a @ b.T
  k *= np.float32(1.0 / a.shape[1])
  k += np.float32(1.0)
  k = k * k * k
  return float(k.sum(dtype=np.float64)), float(np.trace(k, dtype=np.float64))


def _mmd2_unbiased(x, y) -> float:
  """Unbiased MMD² (U-statistic) with k(x, y) = (x·y / d + 1)³, for equally many rows
  (float32 features; within ~1e-6 of the float64 sums here)."""
  m = len(x)
  xx, xx_diag = _kernel_sums(x, x)
  yy, yy_diag = _kernel_sums(y, y)
  xy, _ = _kernel_sums(x, y)
  return ((xx - xx_diag) / (m * (m - 1)) + (yy - yy_diag) / (m * (m - 1))
          - 2.0 * xy / (m * m))


def kid(features_a, features_b, num_subsets=100, subset_size=1000, seed=0):
  """Kernel Inception Distance: (mean, std) of the unbiased MMD² over random subsets."""
  a, b = np.asarray(features_a, np.float32), np.asarray(features_b, np.float32)
  if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
    raise DataError(f'KID needs two feature arrays [N, D] of the same D; got {a.shape} and '
                    f'{b.shape}')
  if num_subsets < 1:
    raise ConfigError(f'num_subsets must be at least 1, got {num_subsets}')
  m = min(subset_size, len(a), len(b))
  if m < 2:
    raise DataError(f'KID needs at least 2 examples in each set, got {len(a)} and {len(b)}')
  rng = np.random.default_rng(seed)
  mmds = [_mmd2_unbiased(a[rng.choice(len(a), m, replace=False)],
                         b[rng.choice(len(b), m, replace=False)]) for _ in range(num_subsets)]
  return float(np.mean(mmds)), float(np.std(mmds))


def inception_score(probs, splits=10):
  """exp(E_x KL(p(y|x) || p(y))) per split: (mean, std) over splits (Salimans et al. 2016)."""
  p = np.asarray(probs, np.float64)
  if p.ndim != 2 or len(p) == 0:
    raise DataError(f'class probabilities must be a non-empty [N, classes] array, got {p.shape}')
  if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
    raise DataError('class probabilities must be non-negative and sum to 1 per row; '
                    'pass softmax outputs, not logits')
  scores = []
  for part in np.array_split(p, min(splits, len(p))):
    kl = special.rel_entr(part, part.mean(axis=0, keepdims=True)).sum(axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


def blur(images, sigma_px):
  """Gaussian blur of each image [N, H, W, C] over H and W only (a reference degradation)."""
  x = np.asarray(images, np.float32)
  if x.ndim != 4:
    raise DataError(f'blur expects images [N, H, W, C], got shape {x.shape}')
  return ndimage.gaussian_filter(x, sigma=(0, sigma_px, sigma_px, 0)).astype(np.float32)
