"""Non-learned baselines the learned models are compared with (images in [-1, 1]).

* PCA at the same latent size (scikit-learn), for reconstruction.
* Recovery of missing pixels (mask: 1 = observed): the training mean image, nearest
  observed neighbour (SciPy), and biharmonic diffusion (scikit-image).
"""
import numpy as np


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
