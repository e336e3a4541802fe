"""Small real data sets made on the fly, shared by the tests."""
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digits_npz(path, size=28, n=600):
  """scikit-learn's handwritten digits (8×8, shipped in the wheel) upscaled to size×size,
  as an npz `images` uint8 [n, size, size] with `labels`: real images in milliseconds."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  d = datasets.load_digits()
  x = (d.images[:n, ..., None] / 16.0 * 255.0).astype(np.float32)
  x = tf.image.resize(x, [size, size], method='bilinear').numpy()
  images = np.clip(np.round(x[..., 0]), 0, 255).astype(np.uint8)
  np.savez(path, images=images, labels=d.target[:n])
  return str(path)


def run_tool(name, *args, timeout=300, env=None):
  """Runs tools/<name> in a fresh process; returns the CompletedProcess."""
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=ROOT, **(env or {}))
  return subprocess.run([sys.executable, '-m', f'tools.{name}', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout, env=full_env)
