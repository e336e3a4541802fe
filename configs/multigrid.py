"""Multi-grid descriptors (docs/ALGORITHMS.md §3), learned by multi-grid contrastive
divergence.

  tools/train --algo=multigrid --dataset=fashion_mnist --workdir=runs/multigrid
  tools/evaluate --task=features --workdir=runs/multigrid      # linear SVM, 1000/2000/4000 labels
  tools/evaluate --task=inpaint --mask=block:14 --workdir=runs/multigrid
  Expected: samples/step_N.png shows, per row, one chain at every grid (1×1 → 7 → 14 → 28
  for Fashion-MNIST); multigrid_samples.png the same for samples drawn from scratch.
Smoke (tests, CI): add --smoke.
"""
import configs
from core import grids as grids_lib
from core import masks
from core.errors import ConfigError


def get_config(dataset: str = 'fashion_mnist', smoke: bool = False):
  c = configs.start('multigrid', dataset)
  # grids (): the ladder for the image size (models/multigrid.py): [1, 7, 14, 28] for 28×28,
  # [1, 4, 16, 32] for 32×32, [1, 4, 16, 64] for 64×64. widths: the grid nets' conv widths.
  c.model = dict(grids=(), widths=())
  # T = 30 per grid (the paper; the code uses 90) and no reference term (as the code). The
  # noise is on (the paper; the code drops it) at δ = 0.1: with the code's noise-free δ = 0.3
  # chains the learned energy made a poor prior — block inpainting error 0.23–0.27 against
  # nearest-neighbour's 0.166 — while with noise, averaging 8 chains per image gives 0.152
  # (docs/recipes.md, "Multi-grid descriptors").
  c.langevin.update(steps=30, step_size=0.1, noise=True, ref_sigma=0.0, bounded=True,
                    init='multigrid', buffer_size=0, reinit=0.0)
  c.langevin.grid_steps = ()  # T per grid above 1×1; () uses langevin.steps for every grid
  # Half of each batch's chains are inpainting chains: a random mask (blocks, doodles,
  # pepper), the data image's observed pixels clamped (trainers/multigrid.py). It lowered
  # block-inpainting error (0.268 → 0.225 at 600 steps) without changing the features;
  # 0 is the paper's plain chain.
  c.langevin.clamped_share = 0.5
  c.langevin.clamp_masks = ()  # mask specs they draw from; (): blocks, doodles, pepper
  # Adam 1e-3: at 3e-4 the 7×7 net learned too slowly for its chain to leave the flat 1×1
  # start in a few hundred steps. bfloat16 nets (chains stay float32): ~2× faster here.
  c.optim.update(lr=1e-3, beta1=0.5, beta2=0.999, energy_penalty=0.0)
  c.train.update(steps=800, log_every=25, sample_every=250, ckpt_every=250,
                 precision='auto')
  c.eval.update(num_samples=1000)
  c.eval.score = True
  if smoke:
    c.model.widths = (8, 16, 16)
    c.data.update(max_examples=200, batch_size=20)
    c.langevin.steps = 3
    c.train.update(steps=6, log_every=2, sample_every=3, ckpt_every=3, precision='float32')
    c.eval.update(num_samples=40, score=False)
  return c


def check(cfg):
  """The grid ladder, the clamped chains' share and masks, and T per grid (before
  TensorFlow starts)."""
  ladder = tuple(cfg.model.grids) or grids_lib.default_grids(cfg.data.image_size)
  problem = grids_lib.check_grids(ladder, cfg.data.image_size)
  if problem:
    raise ConfigError(problem)
  lv = cfg.langevin
  if not 0.0 <= lv.clamped_share <= 1.0:
    raise ConfigError(f'langevin.clamped_share is a fraction in [0, 1], got {lv.clamped_share}')
  for spec in lv.clamp_masks:
    masks.parse(spec, cfg.data.image_size)
  per_grid = tuple(lv.grid_steps)
  if per_grid and (len(per_grid) != len(ladder) - 1 or min(per_grid) < 0):
    raise ConfigError(f'langevin.grid_steps needs one T >= 0 for each grid above 1x1 '
                      f'({list(ladder[1:])}), got {list(per_grid)}')
