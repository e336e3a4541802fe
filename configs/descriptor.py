"""Descriptor net (shared/ALGORITHMS.md §1) on a dataset, or on one texture exemplar.

Dataset mode (the main job until the triangle lands):
  tools/train --algo=descriptor --dataset=fashion_mnist --workdir=runs/descriptor
  Runtime: see README (2-core CPU). Expected: recognisable garments in samples/step_N.png,
  metrics.json mean_image_mse well below the noise start's.
Texture mode:
  tools/train --algo=descriptor --dataset=texture:brick --workdir=runs/brick
  Expected: textures whose random-filter Gram statistics are closer to the exemplar's than
  matched white noise's (metrics.json gram_distance_samples < gram_distance_white_noise).
Smoke (tests, CI): add --smoke.
"""
import configs


def get_config(dataset: str = 'fashion_mnist', smoke: bool = False):
  c = configs.start('descriptor', dataset)
  texture = dataset.startswith('texture:')
  if texture:
    # One exemplar, persistent chains (a buffer as large as the batch, never restarted).
    c.model.name = 'descriptor/texture'
    c.data.batch_size = 4
    # The original texture regime in [-1, 1] units: a tight reference (s = 0.016), tiny
    # steps (δ = 0.002), chains from the zero image, Adam 0.01; f grows to ~10^5.
    c.langevin.update(steps=20, step_size=0.002, ref_sigma=0.016, init='buffer',
                      buffer_size=4, reinit=0.0, start_noise=0.0, noise=True, bounded=True)
    c.optim.update(lr=0.01, beta1=0.5, energy_penalty=0.0)
    c.train.update(steps=500, log_every=20, sample_every=100, ckpt_every=100)
  else:
    c.model.name = ''  # '': the dataset net for data.image_size (descriptor/28, /32, /64)
    # The TF originals' regime (δ = 0.002, s = 0.016, Adam 0.01, β1 0.5) with a replay
    # buffer small enough that each chain is revised ~100 times in the run, and chains kept
    # in the data's range [-1, 1] (README, "Choices and what they fixed").
    c.langevin.update(steps=20, step_size=0.002, ref_sigma=0.016, init='buffer',
                      buffer_size=1000, reinit=0.05, noise=True, bounded=True)
    c.optim.update(lr=0.01, beta1=0.5, energy_penalty=0.0)
    c.train.update(steps=1000, log_every=25, sample_every=100, ckpt_every=100,
                   precision='mixed_bfloat16')
  if smoke:
    c.model.widths = (8, 8, 8) if texture else (16, 32, 32)
    c.data.update(max_examples=200, batch_size=4 if texture else 20)
    if texture:
      c.data.image_size = 48
    c.langevin.update(steps=3, buffer_size=4 if texture else 100)
    c.train.update(steps=6, log_every=2, sample_every=3, ckpt_every=3, precision='float32')
  return c
