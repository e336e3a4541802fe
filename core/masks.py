"""Missing-pixel masks (1 = observed, 0 = missing), one fixed mask per image.

  pixels:F   a fraction F in (0, 1) of pixels missing at random (the seed's P.5/P.7/P.9)
  block:K    one K×K block missing at a random position (the seed's M20/M30 on 64×64)
  none       every pixel observed
Masks are drawn from (seed, image index), so an image keeps its mask across epochs and runs.
"""
import numpy as np

from core.errors import ConfigError

KINDS = ('none', 'pixels:F', 'block:K')


def parse(spec: str, image_size: int):
  """('none', 0) | ('pixels', F) | ('block', K), checked against the image size."""
  if spec in ('', 'none'):
    return 'none', 0
  kind, _, arg = spec.partition(':')
  try:
    value = float(arg) if kind == 'pixels' else int(arg)
  except ValueError:
    value = None
  if kind == 'pixels' and value is not None:
    if not 0.0 < value < 1.0:
      raise ConfigError(f'mask {spec!r}: the missing fraction must be in (0, 1), e.g. pixels:0.5')
    return kind, value
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
    else:
      top, left = rng.integers(0, image_size - value + 1, size=2)
      out[row, top:top + value, left:left + value, 0] = 0.0
  return out


def missing_mae(recovered, truth, mask) -> float:
  """Mean |recovered − truth| over missing pixels, in [0, 1] pixel units (images in [-1, 1])."""
  missing = 1.0 - np.broadcast_to(np.asarray(mask, np.float32), np.shape(truth))
  err = np.abs(np.asarray(recovered, np.float32) - np.asarray(truth, np.float32)) / 2.0
  return float((err * missing).sum() / max(missing.sum(), 1.0))
