"""Latent-space energy-based prior (docs/ALGORITHMS.md §7): ABP's generator with the prior
p_α(z) ∝ exp(f_α(z)) N(0, I), short-run Langevin in latent space for prior and posterior.

  tools/train --algo=latent_ebm --dataset=fashion_mnist --workdir=runs/latent_ebm
  Expected: recon_mae falls steadily, f_data − f_samples stays small (the prior's two sides
  meet); samples/step_N.png shows g(z) of the prior's chains; metrics.json scores them beside
  g(z) of z ~ N(0, I), and the test images' reconstruction by posterior inference.
Smoke (tests, CI): add --smoke.
"""
import configs
from core.errors import ConfigError


def get_config(dataset: str = 'fashion_mnist', smoke: bool = False):
  c = configs.start('latent_ebm', dataset)
  # Pang et al.'s nets: f_α two dense layers of 200 (leaky ReLU 0.2), latent 100, σ = 0.3;
  # the generator the registry's for the image size, with the triangle's nearest
  # up-convolution.
  c.model = dict(latent_dim=100, sigma=0.3, prior_widths=(200, 200), generator='',
                 generator_widths=(), generator_upsample='resize')
  # The paper's chains (its SVHN/CIFAR-10 code): prior K0 = 60 steps of s0 = 0.4, posterior
  # K1 = 20 steps of s1 = 0.1, both short-run from N(0, I) with noise.
  c.langevin.update(steps=20, step_size=0.1, noise=True, ref_sigma=1.0, bounded=False,
                    init='noise', buffer_size=0, reinit=0.0)
  c.langevin.prior_steps = 60
  c.langevin.prior_step_size = 0.4
  # Adam β1 0.5; the prior net 2e-5, the generator 1e-4 (the paper's SVHN rates); the
  # reproduction table takes the best of three generator rates.
  c.optim.update(lr=2e-5, beta1=0.5, beta2=0.999)
  c.optim.gen_lr = 1e-4
  c.data.batch_size = 64
  c.train.update(steps=3000, log_every=25, sample_every=500, ckpt_every=500,
                 precision='auto')
  # f_α stays O(1) in a healthy run; beyond 10⁴ it has run away: roll back.
  c.train.energy_bound = 1e4
  c.eval.update(num_samples=5000, num_test=1000)
  c.eval.score = True
  c.eval.quick_fd = 1000
  if smoke:
    c.model.update(latent_dim=8, prior_widths=(16,), generator_widths=(16, 8))
    c.data.update(max_examples=200, batch_size=20)
    c.langevin.update(steps=3, prior_steps=3)
    c.train.update(steps=6, log_every=2, sample_every=3, ckpt_every=3, precision='float32')
    c.eval.update(num_samples=64, num_test=40, score=False, quick_fd=0)
  return c


def check(cfg):
  """The latent EBM's own keys, before TensorFlow starts."""
  lv = cfg.langevin
  if lv.prior_steps < 1 or lv.prior_step_size <= 0:
    raise ConfigError(f'the prior\'s chain needs langevin.prior_steps >= 1 and '
                      f'langevin.prior_step_size > 0, got {lv.prior_steps} and '
                      f'{lv.prior_step_size}')
  if not cfg.model.prior_widths:
    raise ConfigError('model.prior_widths needs at least one hidden layer (e.g. 200,200)')
