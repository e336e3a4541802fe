"""The multi-grid ladders (docs/ALGORITHMS.md §3), TensorFlow-free so that configs are
checked before TensorFlow starts.

[1, 4, 16, 32] for 32×32 and [1, 4, 16, 64] for 64×64 (Gao et al., CVPR 2018), and
[1, 7, 14, 28] for 28×28: 7 = 28/4 is the coarsest grid that still shows a shape, and
every step is a whole factor, as average pooling and nearest up-sampling need.
"""

DEFAULT_GRIDS = {28: (1, 7, 14, 28), 32: (1, 4, 16, 32), 64: (1, 4, 16, 64)}


def default_grids(image_size: int):
  """The ladder for an image size: the paper's for 32 and 64, else [1, s/4, s/2, s] when
  4 divides s (28 → [1, 7, 14, 28]), else [1, s]."""
  if image_size in DEFAULT_GRIDS:
    return DEFAULT_GRIDS[image_size]
  if image_size % 4 == 0:
    return (1, image_size // 4, image_size // 2, image_size)
  return (1, image_size)


def check_grids(grids, image_size: int):
  """Error text if `grids` is not a usable ladder for `image_size`, else ''."""
  grids = tuple(int(g) for g in grids)
  if len(grids) < 2 or grids[0] != 1 or grids[-1] != image_size:
    return (f'model.grids must start at 1 and end at the image size {image_size}, '
            f'got {list(grids)}; e.g. {list(default_grids(image_size))}')
  for a, b in zip(grids, grids[1:]):
    if b <= a or b % a:
      return (f'model.grids {list(grids)}: each grid must be a multiple of the one before '
              f'(nearest up-sampling from {a} to {b} is not whole); e.g. '
              f'{list(default_grids(image_size))}')
  return ''
