"""Deformable generator by alternating back-propagation (docs/ALGORITHMS.md §2): the ABP
trainer with models/deformable.py; h = [h_appearance, h_geometry], inferred together.

  tools/train --algo=deformable --dataset=fashion_mnist --workdir=runs/deformable
Smoke (tests, CI): add --smoke.
"""
from configs import generator


def get_config(dataset: str = 'fashion_mnist', smoke: bool = False):
  c = generator.get_config(dataset, smoke)
  c.algo = 'deformable'
  c.model.name = 'deformable'
  if not smoke:
    c.model.latent_dim = 64  # the last 16 are the geometry latents (models/deformable.py)
  return c
