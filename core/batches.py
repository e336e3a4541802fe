"""Inference in batches: one function over arrays too large for one call, batch_size rows at
a time, the results joined (the loop every sampler, inference and evaluation shares)."""
import numpy as np


def apply(fn, *arrays, batch_size: int):
  """fn(*slices) over consecutive row slices of `arrays` (all [N, ...]), batch_size rows at a
  time, the results concatenated along their first axis: one numpy array, or a tuple of them
  when fn returns a tuple or list. fn may return tensors (read with np.asarray)."""
  n = len(arrays[0])
  if any(len(a) != n for a in arrays):
    raise ValueError(f'batches.apply takes arrays of one length, got '
                     f'{[len(a) for a in arrays]}')
  parts = [fn(*(a[i:i + batch_size] for a in arrays)) for i in range(0, n, batch_size)]
  if parts and isinstance(parts[0], (tuple, list)):
    return tuple(np.concatenate([np.asarray(p[k]) for p in parts])
                 for k in range(len(parts[0])))
  return np.concatenate([np.asarray(p) for p in parts])
