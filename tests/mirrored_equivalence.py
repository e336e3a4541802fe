"""One training step of each trainer under MirroredStrategy over 2 logical CPUs and under the
default strategy (one replica), with Langevin noise off and the same inputs (same seeds, same
global batch, same initial weights); prints per algorithm the largest differences of the
first step's losses and of the updated weights, as JSON.

tests/test_mirrored.py calls one_step and compare in the test process (tests/conftest.py
splits the CPU into 2 logical devices first); alone, in a fresh process (logical CPUs must be
configured before TensorFlow starts):
  python -m tests.mirrored_equivalence DIGITS.npz
tests/multiworker_equivalence.py reuses one_step and compare for 2 worker processes.
"""
import json
import sys

from core import cpu  # pylint: disable=g-import-not-at-top,wrong-import-position
cpu.tf_environment()  # before TensorFlow, as the tools do
from core import runtime  # pylint: disable=g-import-not-at-top,wrong-import-position

if __name__ == '__main__':
  MIRRORED = runtime.make_strategy('mirrored', 2)  # before anything else touches TF
  runtime.configure()

import keras  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

import configs  # pylint: disable=g-import-not-at-top,wrong-import-position
from core import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

TRAINERS = {'descriptor': ('trainers.descriptor', 'Descriptor'),
            'conditional': ('trainers.conditional', 'ConditionalDescriptor'),
            'generator': ('trainers.generator', 'Generator'),
            'coopnets': ('trainers.coopnets', 'CoopNets'),
            'triangle': ('trainers.triangle', 'Triangle'),
            'multigrid': ('trainers.multigrid', 'MultiGrid'),
            'deformable': ('trainers.generator', 'Generator'),
            'vae': ('trainers.triangle', 'Triangle'),
            'multiview': ('trainers.multiview', 'Multiview'),
            'latent_ebm': ('trainers.latent_ebm', 'LatentEBM'),
            'dual_mcmc': ('trainers.dual_mcmc', 'DualMCMC')}
MIRRORED_ALGOS = ('descriptor', 'conditional', 'generator', 'coopnets', 'triangle',
                  'multigrid', 'multiview', 'latent_ebm', 'dual_mcmc')
# Every random input but the Langevin noise is drawn once for the global batch (multi-grid's
# clamped masks included: its default clamps half the chains), so nothing is switched off.


def one_step(algo, digits, strategy):
  import importlib  # pylint: disable=g-import-not-at-top
  module, name = TRAINERS[algo]
  trainer_cls = getattr(importlib.import_module(module), name)
  # The multi-view trainer reads the built-in identity × view grid (64 smoke identities).
  source = 'fashion_mnist_views' if algo == 'multiview' else f'npz:{digits}'
  cfg = configs.get(algo, source, smoke=True)
  config_lib.apply_overrides(cfg, ['data.image_size=28', 'data.channels=1',
                                   'langevin.noise=false', 'data.batch_size=20'])
  keras.utils.set_random_seed(0)  # the same initial weights in both runs
  trainer = trainer_cls(cfg, strategy, trainer_cls.load_data(cfg))
  metrics = trainer.train_step(trainer.make_iterator(0))
  nets = {k: v for k, v in trainer.checkpoint_items().items() if isinstance(v, keras.Model)}
  weights = {f'{k}/{i}': w.numpy() for k, net in nets.items()
             for i, w in enumerate(net.trainable_variables)}
  # Per-replica gradient norms and mean-image errors (of each replica's mean image) are not
  # global quantities; everything else is.
  losses = {k: float(v) for k, v in metrics.items()
            if 'grad_norm' not in k and 'mean_image_mse' not in k}
  return losses, weights


def cfg_lrs(algo):
  o = configs.get(algo, 'fashion_mnist', smoke=True).optim
  return {k: o[k] for k in ('lr', 'gen_lr', 'enc_lr') if k in o}


def compare(algo, one, many, strategy) -> dict:
  """The differences of one_step's (losses, weights) under one replica and under `strategy`."""
  (l1, w1), (l2, w2) = one, many
  assert sorted(l1) == sorted(l2) and sorted(w1) == sorted(w2)
  return {
      'losses': l1,
      'max_loss_rel_diff': max(abs(l1[k] - l2[k]) / max(abs(l1[k]), 1e-3) for k in l1),
      'max_weight_diff': max(float(np.abs(w1[k] - w2[k]).max()) for k in w1),
      # Adam's first step is ≈ lr·sign(g): a gradient within rounding of 0 may flip.
      'share_weights_off': float(np.mean(np.concatenate(
          [np.abs(w1[k] - w2[k]).ravel() > 1e-6 for k in w1]))),
      'max_lr': max(float(v) for k, v in cfg_lrs(algo).items()),
      'replicas': strategy.num_replicas_in_sync,
      'clamped_share': float(configs.get(algo, 'fashion_mnist').langevin.get(
          'clamped_share', 0.0)),
  }


def main(digits):
  out = {}
  for algo in MIRRORED_ALGOS:
    one = one_step(algo, digits, tf.distribute.get_strategy())
    out[algo] = compare(algo, one, one_step(algo, digits, MIRRORED), MIRRORED)
  print(json.dumps(out))


if __name__ == '__main__':
  main(sys.argv[1])
