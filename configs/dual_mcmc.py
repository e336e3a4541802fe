"""Dual-MCMC teaching (docs/ALGORITHMS.md §8): the triangle's three nets; the generator starts
the energy model's Langevin chain, the encoder starts the generator's posterior chain, and
each learns from the chain it started.

  tools/train --algo=dual_mcmc --dataset=fashion_mnist --workdir=runs/dual
  Expected: samples/step_N.png shows the averaged generator's drafts (top half) above the
  descriptor's revisions (bottom half); metrics.json scores both and the test images'
  reconstruction through the encoder.
Smoke (tests, CI): add --smoke.
"""
import configs
from configs import triangle
from core.errors import ConfigError


def get_config(dataset: str = 'fashion_mnist', smoke: bool = False):
  c = configs.start('dual_mcmc', dataset)
  # The triangle's nets (the descriptor 32/64/128 → 100, the registry's generator and
  # encoder for the image size, nearest up-convolution), rates (with the energy penalty that
  # keeps f bounded), batch, averaged generator and evaluation.
  c.model = triangle.three_nets()
  triangle.shared_settings(c, smoke)
  # T_x: the energy model's chain from the generator's drafts, bounded to the data's range,
  # no reference term (the triangle's descriptor); T_z: the posterior's chain from the
  # encoder's draw. The paper's chains are short; these fit a CPU step (docs/recipes.md).
  c.langevin.update(steps=10, step_size=0.02, ref_sigma=0.0, noise=True, bounded=True,
                    init='generator', buffer_size=0, reinit=0.0)
  c.langevin.gen_steps = 10  # T_z
  c.langevin.gen_step_size = 0.1  # δ_z
  if smoke:
    c.langevin.update(steps=3, gen_steps=3)
  else:
    c.train.update(steps=3000, sample_every=500, ckpt_every=500)
  return c


def check(cfg):
  """Dual-MCMC's own keys, before TensorFlow starts."""
  triangle.check_shared(cfg)
  lv = cfg.langevin
  if lv.gen_steps < 0 or lv.gen_step_size <= 0:
    raise ConfigError(f'the posterior\'s chain needs langevin.gen_steps >= 0 and '
                      f'langevin.gen_step_size > 0, got {lv.gen_steps} and {lv.gen_step_size}')
