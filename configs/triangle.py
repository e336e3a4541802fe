"""Divergence triangle (docs/ALGORITHMS.md §5): descriptor + generator + encoder.

  tools/train --algo=triangle --dataset=fashion_mnist --workdir=runs/triangle   (make train)
  Expected on a 2-core AVX2 CPU (float32, oneDNN on): 4,400 steps at ~6.1 it/s, ~12.5
  minutes in all with the evaluation (measured: 742 s from a fresh clone); garments of every
  class in samples/ (averaged generator), reconstructions.png, and metrics.json with the
  samples' Fréchet distance (~11 on the project classifier) beside the raw generator,
  real-vs-real and blurred-real rows. The plain-VAE comparison is
  `python -m tools.reproduce --table=coop_triangle`.
  Longer run (~1 hour here): --steps=20000 (try T, docs/RESULTS.md triangle_recipe).
Smoke (tests, CI): add --smoke.
"""
import configs
from core.errors import ConfigError


def get_config(dataset: str = 'fashion_mnist', smoke: bool = False):
  c = configs.start('triangle', dataset)
  # Nets: '' picks the registry's net for the image size; () its default widths (for 28×28:
  # descriptor 64/128/256 → 100, generator 128/64, encoder 64/128). The descriptor's widest
  # layer costs most of a step: 32/64/128 at batch 64 steps 2.3× faster than the registry's
  # nets at batch 100 and reached FD 63 against 68 in the same 18 one-core minutes
  # (docs/RESULTS.md, triangle_recipe tries A and B).
  c.model = dict(use_descriptor=True, **three_nets())
  # The released code's settings (λ = 0.1, β1 0.5, decay 0.998 per epoch, clip 100, generator
  # weight decay 5e-4) plus the energy penalty that keeps U bounded (probe notes, ALGORITHMS
  # §5), with larger learning rates for a minutes-long budget: in 314 s on the AVX512-BF16
  # machine, the released E 1e-4 / G 3e-4 / I 3e-4 reached FD 71, E 2e-4 / G 1e-3 / I 1e-3
  # reached 60 (docs/recipes.md, the earlier machine's table).
  shared_settings(c, smoke)
  c.optim.gen_weight_decay = 5e-4
  c.optim.lr_decay = 0.998
  c.optim.wake_sleep = 0.1  # λ
  # Weight of mean U(g(h)) in the generator's loss (released: 1). With σ = 0.3 the
  # reconstruction term, ||X − g||²/(2σ²) summed over 784 pixels (~160), drowns the
  # descriptor's push at weight 1 and the generator is a VAE with blurry samples (FD 62).
  # In the same 1,100 one-core seconds: weight 5 → FD 44.0, 10 → 28.9, 25 → 24.7,
  # 50 → 26.7, 100 → 29.3 (tries E, G–J; docs/RESULTS.md triangle_recipe).
  c.optim.gen_energy_weight = 25.0
  # (γ/2)·E||∇_X U(X_obs)||² on the descriptor (R1, Mescheder et al., ICML 2018): smooths the
  # input gradient the generator descends through mean U(g(h)). 0: off. γ = 1: FD 62.3 vs
  # 63.4 without, the largest class 15.7% of the samples vs 24%, less lattice (try C).
  c.optim.r1_penalty = 1.0
  # Lazy R1 (Karras et al. 2020): the penalty's double back-prop on every r1_every-th step
  # only, weighted × r1_every. 4: the step ~15% faster at the same FD (docs/RESULTS.md
  # triangle_recipe). Runs made before this key existed keep 1 (trainers/registry.upgrade).
  c.optim.r1_every = 4
  # Optional Langevin revision of g(h) by the descriptor (off: steps = 0).
  c.langevin.update(steps=0, step_size=0.01, ref_sigma=0.0, noise=True, bounded=True,
                    init='generator', buffer_size=0, reinit=0.0)
  # make train: at most 15 minutes in all on a 2-core AVX2 CPU: 4,400 steps at the 6.08 it/s
  # measured alone (724 s; float32: `auto` picks bfloat16 only where it is native), then the
  # evaluation on the pinned scoring classifier (~12 s).
  if not smoke:
    c.train.update(steps=4400, sample_every=550, ckpt_every=550)
  return c


def three_nets() -> dict:
  """model: the triangle's nets, which dual-MCMC shares. '' picks the registry's net for the
  image size, () its default widths. descriptor_downsample: `stride`, or `blur` (a binomial
  blur before each strided convolution, models/descriptor.Blur): on Fashion-MNIST at make
  train's steps FD 14.1 against 11.1 and more plaid, not less (docs/recipes.md, try V)."""
  return dict(latent_dim=100, sigma=0.3, descriptor='', descriptor_widths=(32, 64, 128),
              out_units=100, descriptor_spectral_norm=False, descriptor_downsample='stride',
              generator='', generator_widths=(), generator_upsample='resize', encoder='',
              encoder_widths=())


def shared_settings(c, smoke: bool):
  """What the triangle and dual-MCMC set alike: the rates, the averaged generator, the batch,
  the energy bound, the final evaluation, and the smoke run's sizes."""
  c.optim.update(lr=2e-4, beta1=0.5, beta2=0.999, clipnorm=100.0, energy_penalty=0.01)
  c.optim.gen_lr = 1e-3
  c.optim.enc_lr = 1e-3
  c.optim.ema_decay = 0.999  # samples, grids and exports use the averaged generator (0: off)
  c.data.batch_size = 64
  c.train.update(log_every=25, precision='auto')
  # |U| stays ≲ 20 under the energy penalty; beyond 10⁴ it has run away: roll back.
  c.train.energy_bound = 1e4
  # Final evaluation: samples of the averaged generator (and the raw one, or the revisions)
  # scored against half the test split (evaluation/scoring.py), beside real and blurred test
  # images.
  c.eval.update(num_samples=5000, num_test=10000)
  c.eval.score = True
  # TensorBoard's eval/quick_fd: 1,000 samples of the averaged generator every sample_every
  # steps (about 1% of make train's time).
  c.eval.quick_fd = 1000
  if smoke:
    c.model.update(latent_dim=8, descriptor_widths=(8, 16, 16), out_units=10,
                   generator_widths=(16, 8), encoder_widths=(8, 16))
    c.data.update(max_examples=200, batch_size=20)
    c.train.update(steps=6, log_every=2, sample_every=3, ckpt_every=3, precision='float32')
    c.eval.update(num_samples=64, num_test=40, score=False, quick_fd=0)


def check_shared(cfg):
  """The keys the triangle and dual-MCMC share: optim.ema_decay (the averaged generator) and
  model.descriptor_downsample (models/descriptor.py)."""
  if not 0.0 <= cfg.optim.ema_decay < 1.0:
    raise ConfigError(f'optim.ema_decay is the weight average\'s decay in [0, 1) (0: off), '
                      f'got {cfg.optim.ema_decay}')
  if cfg.model.descriptor_downsample not in ('stride', 'blur'):
    raise ConfigError(f'model.descriptor_downsample is stride (strided convolutions) or blur '
                      f'(a binomial blur before each), got {cfg.model.descriptor_downsample!r}')


def check(cfg):
  """The triangle's (and the VAE's) own keys, before TensorFlow starts."""
  check_shared(cfg)
  o = cfg.optim
  if o.r1_penalty < 0:
    raise ConfigError(f'optim.r1_penalty must be >= 0 (0: off), got {o.r1_penalty}')
  if o.r1_every < 1:
    raise ConfigError(f'optim.r1_every is how often the R1 penalty is applied, in steps '
                      f'(1: every step), got {o.r1_every}')
