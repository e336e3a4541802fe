"""Generator net by alternating back-propagation (docs/ALGORITHMS.md §2).

  tools/train --algo=generator --dataset=fashion_mnist --workdir=runs/abp
  tools/train --algo=generator --dataset=fashion_mnist --workdir=runs/abp_p5 \
      --set data.mask=pixels:0.5          # learn from images with 50% of pixels missing
  Expected: recon_mae on the training images falls steadily; with a mask, recovery_mae
  (the never-seen pixels) falls too.
Smoke (tests, CI): add --smoke.
"""
import configs


def get_config(dataset: str = 'fashion_mnist', smoke: bool = False):
  c = configs.start('generator', dataset)
  c.data.mask = 'none'  # none | pixels:F | block:K (core/masks.py)
  # '': the DCGAN-like net for data.image_size (generator/28, /32, /64).
  c.model = dict(name='', widths=(), latent_dim=100, sigma=0.3)
  c.langevin.update(steps=20, step_size=0.1, noise=True, ref_sigma=1.0, init='persistent',
                    buffer_size=0, reinit=0.0)
  c.optim.update(lr=1e-3, beta1=0.9, beta2=0.999)
  c.train.update(steps=3000, log_every=50, sample_every=500, ckpt_every=500)
  if smoke:
    c.model.update(widths=(32, 16), latent_dim=8)
    c.data.update(max_examples=200, batch_size=20)
    c.langevin.steps = 3
    c.train.update(steps=6, log_every=2, sample_every=3, ckpt_every=3)
  return c
