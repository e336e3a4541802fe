"""Seeded latents that any runtime can reproduce: z = latents(seed, n, d).

An exported generator takes z ~ N(0, I) drawn by the app (TFLite has no random op). To let a
browser, a phone and Python draw the same z from the same seed, twonets defines "seed" by a
32-bit PRNG and Box–Muller that fit in a few lines of any language (apps/web/latents.js is
the JavaScript twin; docs/export.md, "Seeded latents", spells both steps out):

  mulberry32, state a (uint32) = seed; every draw, all arithmetic modulo 2**32:
    a = a + 0x6D2B79F5
    t = (a ^ (a >> 15)) * (a | 1)
    t = t ^ ((t + (t ^ (t >> 7)) * (t | 61)))
    u = (t ^ (t >> 14)) / 2**32                      u in [0, 1)
  Box–Muller, two draws u1, u2 per pair of entries:
    r = sqrt(−2 ln(1 − u1));  z[2k] = r cos(2π u2),  z[2k+1] = r sin(2π u2)
  filled row-major into z [n, d] (image i takes z[i]); with n·d odd the last sine is
  dropped. Computed in float64, stored as float32.

Image i of seed s is therefore the same image whatever n is; the interpolations of the web
page run between latents(A, 1, d) and latents(B, 1, d), the first images of seeds A and B.
"""
import math

import numpy as np

_M = 0xFFFFFFFF


def uniforms(seed: int, count: int) -> np.ndarray:
  """The first `count` draws u in [0, 1) of mulberry32 started at `seed` (float64)."""
  if not 0 <= int(seed) <= _M:
    raise ValueError(f'seed {seed} is not a 32-bit unsigned integer (0..{_M})')
  a = int(seed)
  out = np.empty(count, np.float64)
  for i in range(count):
    a = (a + 0x6D2B79F5) & _M
    t = ((a ^ (a >> 15)) * (a | 1)) & _M
    t = t ^ ((t + ((t ^ (t >> 7)) * (t | 61))) & _M)
    out[i] = ((t ^ (t >> 14)) & _M) / 4294967296.0
  return out


def latents(seed: int, n: int, d: int) -> np.ndarray:
  """z [n, d] float32, N(0, I) entries from the seeded mulberry32 + Box–Muller above."""
  size = n * d
  u = uniforms(seed, 2 * ((size + 1) // 2))
  out = np.empty(len(u), np.float64)
  for k in range(len(u) // 2):
    r = math.sqrt(-2.0 * math.log(1.0 - u[2 * k]))
    angle = 2.0 * math.pi * u[2 * k + 1]
    out[2 * k], out[2 * k + 1] = r * math.cos(angle), r * math.sin(angle)
  return out[:size].astype(np.float32).reshape(n, d)
