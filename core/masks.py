"""Missing-pixel masks (1 = observed, 0 = missing), one fixed mask per image.

  pixels:F   a fraction F in (0, 1) of pixels missing at random (the seed's P.5/P.7/P.9)
  block:K    one K×K block missing at a random position (the seed's M20/M30 on 64×64)
  pepper:P   a fraction P of pixels missing at random, the multi-grid paper's "pepper" mask
             (the same draw as pixels:P)
  doodle     three random scribbles, each about 1.2 image widths long and size/14 (at least 2)
             pixels thick, missing (the multi-grid paper's "doodle"; ~25% of a 28×28 image)
  none       every pixel observed
Masks are drawn from (seed, image index), so an image keeps its mask across epochs and runs.
"""
import numpy as np

from core.errors import ConfigError

KINDS = ('none', 'pixels:F', 'block:K', 'pepper:P', 'doodle')


def parse(spec: str, image_size: int):
  """('none', 0) | ('pixels', F) | ('block', K) | ('doodle', 0), checked against the image
  size (pepper:P is parsed as ('pixels', P))."""
  if spec in ('', 'none'):
    return 'none', 0
  if spec == 'doodle':
    return 'doodle', 0
  kind, _, arg = spec.partition(':')
  try:
    value = float(arg) if kind in ('pixels', 'pepper') else int(arg)
  except ValueError:
    value = None
  if kind in ('pixels', 'pepper') and value is not None:
    if not 0.0 < value < 1.0:
      raise ConfigError(f'mask {spec!r}: the missing fraction must be in (0, 1), e.g. '
                        f'{kind}:0.5')
    return 'pixels', value
  if kind == 'block' and value is not None:
    if not 0 < value < image_size:
      raise ConfigError(f'mask {spec!r}: the block must be 1..{image_size - 1} pixels for '
                        f'{image_size}x{image_size} images')
    return kind, value
  raise ConfigError(f'unknown mask {spec!r}; known: {", ".join(KINDS)}')


def make(spec: str, indices, image_size: int, seed: int = 0) -> np.ndarray:
  """float32 masks [len(indices), H, W, 1] for the images with these indices."""
  kind, value = parse(spec, image_size)
  indices = np.asarray(indices, np.int64)
  out = np.ones((len(indices), image_size, image_size, 1), np.float32)
  if kind == 'none':
    return out
  for row, i in enumerate(indices):
    rng = np.random.default_rng([seed, int(i)])
    if kind == 'pixels':
      out[row, ..., 0] = rng.random((image_size, image_size)) >= value
    elif kind == 'doodle':
      out[row, ..., 0] = 1.0 - _doodle(rng, image_size)
    else:
      top, left = rng.integers(0, image_size - value + 1, size=2)
      out[row, top:top + value, left:left + value, 0] = 0.0
  return out


def _doodle(rng, size: int, strokes: int = 3) -> np.ndarray:
  """{0, 1} [size, size]: 1 on `strokes` random scribbles (a heading that turns smoothly,
  one pixel per step, a square pen of width max(2, size // 14))."""
  out = np.zeros((size, size), np.float32)
  pen = max(2, size // 14)
  for _ in range(strokes):
    y, x = rng.uniform(0, size, 2)
    heading = rng.uniform(0, 2 * np.pi)
    for _ in range(int(1.2 * size)):
      heading += rng.normal(0.0, 0.35)
      y, x = y + np.sin(heading), x + np.cos(heading)
      if not (0 <= y < size and 0 <= x < size):  # bounce off the border
        heading += np.pi
        y, x = np.clip(y, 0, size - 1), np.clip(x, 0, size - 1)
      top, left = int(y) - pen // 2, int(x) - pen // 2
      out[max(top, 0):top + pen, max(left, 0):left + pen] = 1.0
  return out


def missing_mae(recovered, truth, mask) -> float:
  """Mean |recovered − truth| over missing pixels, in [0, 1] pixel units (images in [-1, 1])."""
  missing = 1.0 - np.broadcast_to(np.asarray(mask, np.float32), np.shape(truth))
  err = np.abs(np.asarray(recovered, np.float32) - np.asarray(truth, np.float32)) / 2.0
  return float((err * missing).sum() / max(missing.sum(), 1.0))
