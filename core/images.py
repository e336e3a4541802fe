"""Image grids and PNG files (samples/step_N.png, TensorBoard images). Grids for people to look
at are written enlarged (`readable_scale`, nearest neighbour); arrays keep every pixel."""
import math

import numpy as np

from core import files


def grid(images, ncol: int = 0) -> np.ndarray:
  """float images in [-1, 1] or uint8, [N, H, W, C] → one uint8 image [rows·H, ncol·W, C]
  with a 1-pixel gap."""
  x = np.asarray(images)
  if x.dtype != np.uint8:
    x = np.clip(np.round((x.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
  n, h, w, c = x.shape
  ncol = ncol or int(math.ceil(math.sqrt(n)))
  nrow = int(math.ceil(n / ncol))
  out = np.full((nrow * (h + 1) - 1, ncol * (w + 1) - 1, c), 255, np.uint8)
  for i in range(n):
    r, q = divmod(i, ncol)
    out[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = x[i]
  return out


def readable_scale(size: int) -> int:
  """The nearest-neighbour factor a grid of `size`-px images is written at, so that a viewer
  shows it well: each image ~112–128 px (28 and 32 px → 4, 64 → 2, 128 and up → 1)."""
  return max(1, 128 // max(1, int(size)))


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
  """uint8 [H, W, C] → [H·scale, W·scale, C], each pixel repeated (nearest neighbour)."""
  return image if scale <= 1 else np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def save_png(path: str, image: np.ndarray):
  """Writes a uint8 [H, W, C] image; the folder is created; written atomically."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files.write_bytes(path, tf.io.encode_png(image).numpy())


def read_png(path: str) -> np.ndarray:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.decode_png(tf.io.read_file(path)).numpy()
