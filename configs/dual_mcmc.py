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
  # encoder for the image size, nearest up-convolution), its batch and its averaged generator.
  c.model = dict(latent_dim=100, sigma=0.3, descriptor='', descriptor_widths=(32, 64, 128),
                 out_units=100, descriptor_spectral_norm=False, generator='',
                 generator_widths=(), generator_upsample='resize', encoder='',
                 encoder_widths=())
  # T_x: the energy model's chain from the generator's drafts, bounded to the data's range,
  # no reference term (the triangle's descriptor); T_z: the posterior's chain from the
  # encoder's draw. The paper's chains are short; these fit a CPU step (docs/recipes.md).
  c.langevin.update(steps=10, step_size=0.02, ref_sigma=0.0, noise=True, bounded=True,
                    init='generator', buffer_size=0, reinit=0.0)
  c.langevin.gen_steps = 10  # T_z
  c.langevin.gen_step_size = 0.1  # δ_z
  # The triangle's rates and the energy penalty that keeps f bounded (trainers/triangle.py).
  c.optim.update(lr=2e-4, beta1=0.5, beta2=0.999, clipnorm=100.0, energy_penalty=0.01)
  c.optim.gen_lr = 1e-3
  c.optim.enc_lr = 1e-3
  c.optim.ema_decay = 0.999
  c.data.batch_size = 64
  c.train.update(steps=3000, log_every=25, sample_every=500, ckpt_every=500,
                 precision='auto')
  c.train.energy_bound = 1e4
  c.eval.update(num_samples=5000, num_test=10000)
  c.eval.score = True
  c.eval.quick_fd = 1000
  if smoke:
    c.model.update(latent_dim=8, descriptor_widths=(8, 16, 16), out_units=10,
                   generator_widths=(16, 8), encoder_widths=(8, 16))
    c.data.update(max_examples=200, batch_size=20)
    c.langevin.update(steps=3, gen_steps=3)
    c.train.update(steps=6, log_every=2, sample_every=3, ckpt_every=3, precision='float32')
    c.eval.update(num_samples=64, num_test=40, score=False, quick_fd=0)
  return c


def check(cfg):
  """Dual-MCMC's own keys, before TensorFlow starts."""
  triangle.check_ema(cfg)
  lv = cfg.langevin
  if lv.gen_steps < 0 or lv.gen_step_size <= 0:
    raise ConfigError(f'the posterior\'s chain needs langevin.gen_steps >= 0 and '
                      f'langevin.gen_step_size > 0, got {lv.gen_steps} and {lv.gen_step_size}')
