"""Image grids and PNG files (samples/step_N.png, TensorBoard images)."""
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


def save_png(path: str, image: np.ndarray):
  """Writes a uint8 [H, W, C] image; the folder is created; written atomically."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files.write_bytes(path, tf.io.encode_png(image).numpy())


def read_png(path: str) -> np.ndarray:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.decode_png(tf.io.read_file(path)).numpy()
