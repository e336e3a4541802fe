"""Plain VAE: the divergence triangle with the descriptor switched off (and no wake-sleep
term), the reference the triangle is compared against (docs/ALGORITHMS.md §5).

  tools/train --algo=vae --dataset=fashion_mnist --workdir=runs/vae
Smoke (tests, CI): add --smoke.
"""
from configs import triangle


def get_config(dataset: str = 'fashion_mnist', smoke: bool = False):
  c = triangle.get_config(dataset, smoke)
  c.algo = 'vae'
  c.model.use_descriptor = False
  c.optim.wake_sleep = 0.0
  return c
