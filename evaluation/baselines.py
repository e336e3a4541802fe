"""Non-learned baselines the learned models are compared with (images in [-1, 1]).

* PCA at the same latent size (scikit-learn), for reconstruction.
* Recovery of missing pixels (mask: 1 = observed): the training mean image, nearest
  observed neighbour (SciPy), and biharmonic diffusion (scikit-image).
* New views of an identity (multi-view sets, core/multiview.py): the nearest training
  identity over the views given, in the view asked for.
"""
import numpy as np

from core import data as data_lib


def pca_reconstruct(train, test, dim: int, seed: int = 0, max_train: int = 20000):
  """Fits PCA with `dim` components on (up to `max_train`) training images and returns the
  test images projected onto it and back."""
  from sklearn.decomposition import PCA  # pylint: disable=g-import-not-at-top
  flat = lambda x: np.asarray(x, np.float32).reshape(len(x), -1)
  pca = PCA(n_components=dim, svd_solver='randomized', random_state=seed)
  pca.fit(flat(train[:max_train]))
  out = pca.inverse_transform(pca.transform(flat(test)))
  return np.clip(out, -1, 1).reshape(np.shape(test)).astype(np.float32)


def mean_fill(images, masks, mean_image):
  """Missing pixels ← the training mean image."""
  return np.where(masks > 0, images, np.broadcast_to(mean_image, np.shape(images)))


def nearest_fill(images, masks):
  """Missing pixels ← the nearest observed pixel (per image and channel)."""
  from scipy import interpolate  # pylint: disable=g-import-not-at-top
  out = np.array(images, np.float32)
  h, w = out.shape[1:3]
  grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing='ij'), -1)
  for i in range(len(out)):
    seen = masks[i, ..., 0] > 0
    if seen.all() or not seen.any():
      continue
    for c in range(out.shape[-1]):
      out[i, ~seen, c] = interpolate.griddata(grid[seen], out[i, seen, c], grid[~seen],
                                              method='nearest')
  return out


def diffusion_fill(images, masks):
  """Missing pixels ← biharmonic inpainting from the observed ones (scikit-image)."""
  from skimage.restoration import inpaint_biharmonic  # pylint: disable=g-import-not-at-top
  out = np.array(images, np.float32)
  for i in range(len(out)):
    missing = masks[i, ..., 0] == 0
    if missing.any() and not missing.all():
      out[i] = inpaint_biharmonic(out[i], missing, channel_axis=-1)
  return np.clip(out, -1, 1)


def interpolation_fills(images, masks, mean_image) -> dict:
  """{name: filled images} of the three fills every recovery/completion/inpainting table
  compares with: the training mean image, nearest neighbour and biharmonic diffusion."""
  return {'mean image': mean_fill(images, masks, mean_image),
          'nearest neighbour': nearest_fill(images, masks),
          'biharmonic diffusion': diffusion_fill(images, masks)}


def given_distances(train, test_views, test_weight, given):
  """(cand, dist): the identities of `train` (a core/multiview.MultiviewSet) that have every
  `given` view, and the squared error [N, len(cand)] of each test identity (test_views
  [N, G, H, W, C] in [-1, 1]) to each of them over the given views both have (test_weight
  [N, G])."""
  cand = np.flatnonzero(train.present[:, given].all(1))
  a = data_lib.to_float(train.images[cand][:, given]).reshape(len(cand), len(given), -1)
  b = test_views.reshape(len(test_views), len(given), -1)
  dist = np.zeros((len(b), len(cand)), np.float32)
  for k in range(len(given)):  # ||b − a||² = ||b||² − 2 b·a + ||a||², weighted per view
    d = (np.square(b[:, k]).sum(1)[:, None] - 2 * b[:, k] @ a[:, k].T
         + np.square(a[:, k]).sum(1)[None])
    dist += test_weight[:, k:k + 1] * d
  return cand, dist


def nearest_with(train, cand, dist, target):
  """The nearest candidate (given_distances) that has the `target` view, per test identity:
  indices [N], or None when no candidate has it."""
  ok = train.present[cand, target]
  if not ok.any():
    return None
  return cand[ok][np.argmin(dist[:, ok], 1)]
