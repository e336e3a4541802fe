"""CoopNets (docs/ALGORITHMS.md §4): the descriptor revises the generator's drafts by
Langevin, the generator learns the revisions.

  tools/train --algo=coopnets --dataset=fashion_mnist --workdir=runs/coop
  tools/evaluate --task=complete --mask=block:13 --workdir=runs/coop
  Expected: samples/step_N.png shows generator drafts (top half) above the descriptor's
  revisions (bottom half); metrics.json scores both (the revisions should be no worse).
Smoke (tests, CI): add --smoke.
"""
import configs


def get_config(dataset: str = 'fashion_mnist', smoke: bool = False):
  c = configs.start('coopnets', dataset)
  # Lean nets: every iteration runs T_d forward+backward passes of the descriptor, and on a
  # 2-core CPU without bf16 matrix units float32 small nets are the fastest (docs/recipes.md, CoopNets).
  c.model = dict(latent_dim=100, sigma=0.3, descriptor='', descriptor_widths=(32, 64, 64),
                 out_units=100, descriptor_spectral_norm=False, generator='',
                 generator_widths=(), generator_upsample='transpose')
  # The TF originals' settings: descriptor δ = 0.002, s = 0.016, T_d = 15, Adam 0.007
  # (β1 0.5); generator σ = 0.3, Adam 1e-4 (β1 0.5), δ_g = 0.1, T_g = 0.
  c.langevin.update(steps=15, step_size=0.002, ref_sigma=0.016, noise=True, bounded=True,
                    init='generator', buffer_size=0, reinit=0.0)
  c.langevin.gen_steps = 0  # T_g: generator inference steps on the revisions
  c.langevin.gen_step_size = 0.1  # δ_g (also the completion's latent inference)
  c.optim.update(lr=0.007, beta1=0.5, beta2=0.999, energy_penalty=0.0)
  c.optim.gen_lr = 1e-4
  c.train.update(steps=2000, log_every=25, sample_every=250, ckpt_every=250,
                 precision='float32')
  c.eval.update(num_samples=5000)
  c.eval.score = True
  if smoke:
    c.model.update(latent_dim=8, descriptor_widths=(8, 16, 16), out_units=10,
                   generator_widths=(16, 8))
    c.data.update(max_examples=200, batch_size=20)
    c.langevin.steps = 3
    c.train.update(steps=6, log_every=2, sample_every=3, ckpt_every=3, precision='float32')
    c.eval.update(num_samples=40, score=False)
  return c
