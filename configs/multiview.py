"""The shared-representation generator X(i, v) = g(h1_i, h2_v) (docs/ALGORITHMS.md §6).

  tools/train --algo=multiview --workdir=runs/multiview        # the built-in fashion_mnist_views
  tools/train --algo=multiview --dataset=multiview:/data/faces --workdir=runs/faces \\
      --set data.image_size=64 --set data.channels=3 --set data.views=000,015,030,045
  tools/evaluate --task=rotate --workdir=runs/multiview        # new views of held-out items
  Expected: recon_mae on the training identities' views falls steadily; --task=rotate's
  per-view error on held-out items, from their standard view alone, below the nearest-
  identity and mean-view baselines (docs/RESULTS.md, multiview).
Smoke (tests, CI): add --smoke.
"""
import configs
from core import data as data_lib
from core.errors import ConfigError


def get_config(dataset: str = 'fashion_mnist_views', smoke: bool = False):
  c = configs.start('multiview', dataset)
  # The views used and their order (the first is the standard view); () means every view the
  # source has (sorted names for a folder). A run stores the list it trained with.
  c.data.views = ()
  c.data.batch_size = 32  # identities per batch, each with all of its views
  # 10,000 training identities (of the built-in set's 60,000): each is revisited every ~300
  # steps, so its persistent h1 chain grows across epochs (a 2-core CPU sees less than one
  # epoch of 60,000 in an hour). --task=rotate's nearest-identity baseline searches all of
  # the training split, not only these. 0: every identity.
  c.data.max_examples = 10000
  # latent_dim: d1 of the identity latent h1 ~ N(0, I), inferred by Langevin (one per
  # identity, persistent); view_dim: d2 of the view latent h2, learned with the net (MAP).
  # '' / (): the DCGAN-like generator for data.image_size, on the input (h1, h2).
  c.model = dict(name='', widths=(), latent_dim=64, view_dim=8, sigma=0.3)
  c.langevin.update(steps=5, step_size=0.05, noise=True, ref_sigma=1.0, init='persistent',
                    buffer_size=0, reinit=0.0)
  c.optim.update(lr=1e-3, beta1=0.9, beta2=0.999)
  c.train.update(steps=1200, log_every=50, sample_every=300, ckpt_every=300)
  if smoke:
    c.model.update(widths=(32, 16), latent_dim=8, view_dim=2)
    c.data.update(max_examples=64, batch_size=8)
    c.langevin.steps = 3
    c.train.update(steps=6, log_every=2, sample_every=3, ckpt_every=3)
  return c


def check(cfg):
  """Before TensorFlow starts: the data must be a multi-view source."""
  if not data_lib.is_multiview(cfg.data.dataset):
    raise ConfigError(f'--algo=multiview needs a multi-view source (an identity × view grid), '
                      f'not {cfg.data.dataset}: pass --dataset=multiview:PATH (a folder per '
                      f'identity, one image per view) or --dataset={data_lib.MULTIVIEW_BUILTIN}')
  if cfg.model.view_dim < 1:
    raise ConfigError(f'model.view_dim must be positive, got {cfg.model.view_dim}')
