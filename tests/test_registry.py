"""The registry declares every algorithm once; what it declares is true of the code: each
trainer trains, each role builds, each task resolves; one meaning of optim.clipnorm; one
config layer (configs/) that needs no trainer."""
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import configs
from core import config as config_lib
from core import data as data_lib
from core.errors import ConfigError
from tests import helpers
from trainers import base
from trainers import nets
from trainers import registry


def smoke(algo, digits, *overrides):
  """The smoke config of `algo` on the digits (multi-view trainers: the built-in views)."""
  if registry.get(algo).multiview:
    cfg = registry.defaults(algo, 'fashion_mnist_views', smoke=True)
    config_lib.apply_overrides(cfg, ['data.views=front,roll+90', *overrides])
    return registry.check(cfg)
  cfg = registry.defaults(algo, f'npz:{digits}', smoke=True)
  config_lib.apply_overrides(cfg, ['data.image_size=28', 'data.channels=1', *overrides])
  return registry.check(cfg)


def test_every_algorithm_has_a_config_a_trainer_and_resolvable_tasks():
  assert registry.names() == configs.known()
  for name in registry.names():
    a = registry.get(name)
    assert callable(a.trainer().train), name
    for task, ref in a.tasks.items():
      assert ref.startswith('tasks.'), (name, task, ref)  # trainers/ hold the algorithm only
      fn = registry.resolve(ref)
      assert list(inspect.signature(fn).parameters)[0] == 'run', (name, task)
    if a.has_generator:  # (a multi-view run's samples have no reference set to score)
      offered = set(registry.SAMPLING) - ({'score'} if a.multiview else set())
      assert set(a.tasks) >= offered and registry.resolve(a.samples)
  assert registry.with_generator() == ['coopnets', 'deformable', 'dual_mcmc', 'generator',
                                       'latent_ebm', 'multiview', 'triangle', 'vae']
  with pytest.raises(ConfigError) as e:
    registry.get('gan')
  assert str(e.value) == f"unknown algorithm 'gan'; known: {', '.join(registry.names())}"


def test_a_task_the_run_does_not_offer_names_the_ones_it_has():
  with pytest.raises(ConfigError, match=r'--task=complete does not apply: runs/x holds a '
                     r'generator run, whose tasks are reconstruct, recover, sample, score '
                     r'\(--task=complete needs a run of coopnets\)'):
    registry.task('generator', 'complete', 'runs/x')
  assert registry.task('multigrid', 'inpaint').__name__ == 'evaluate_inpainting'


@pytest.mark.parametrize('algo', registry.names())
def test_every_declared_role_builds(algo, digits):
  cfg = smoke(algo, digits)
  for role in registry.get(algo).roles:
    net = nets.build(cfg, role, num_classes=10)
    if role == 'descriptors':
      assert sorted(net) == list(nets.grids(cfg)[1:])
    elif role == 'generator':
      assert net.output.shape[1:] == (28, 28, 1)
    elif role == 'views':  # one h2 per view of data.views
      assert net.get_layer('table').table.shape == (2, cfg.model.view_dim)
    elif role == 'prior':  # the latent EBM's f_α(z): one score per latent
      assert net.input.shape[1:] == (cfg.model.latent_dim,) and net.output.shape[1:] == ()
    else:
      assert net.input.shape[1:] == (28, 28, 1)


TRAINERS = {'descriptor': 'Descriptor', 'conditional': 'ConditionalDescriptor',
            'generator': 'Generator', 'multigrid': 'MultiGrid', 'coopnets': 'CoopNets',
            'triangle': 'Triangle', 'latent_ebm': 'LatentEBM', 'dual_mcmc': 'DualMCMC'}


@pytest.mark.parametrize('algo', sorted(TRAINERS))
def test_clipnorm_is_the_global_norm_in_every_trainer(algo, digits):
  cfg = smoke(algo, digits, 'optim.clipnorm=7')
  trainer = getattr(registry.get(algo).trainer(), TRAINERS[algo])(
      cfg, tf.distribute.get_strategy(), data_lib.from_config(cfg))
  optimizers = [v for v in vars(trainer).values() if isinstance(v, keras.optimizers.Optimizer)]
  assert optimizers, algo
  for opt in optimizers:
    assert opt.global_clipnorm == 7 and opt.clipnorm is None, (algo, opt)


def test_global_clipnorm_scales_all_gradients_together():
  """One SGD step (lr 1) with gradients (3, 4) and (12,): global norm 13, clipped to 6.5, so
  each gradient is halved (a per-variable clip would leave (3, 4) whole)."""
  o = config_lib.base().optim
  o.clipnorm = 6.5
  adam = base.adam(o, 1.0)
  sgd = keras.optimizers.SGD(1.0, global_clipnorm=adam.global_clipnorm)
  a, b = tf.Variable([0.0, 0.0]), tf.Variable([0.0])
  sgd.apply_gradients([(tf.constant([3.0, 4.0]), a), (tf.constant([12.0]), b)])
  np.testing.assert_allclose(a.numpy(), [-1.5, -2.0], rtol=1e-6)
  np.testing.assert_allclose(b.numpy(), [-6.0], rtol=1e-6)
  o.clipnorm = 0.0
  assert base.adam(o, 1.0).global_clipnorm is None


def test_algorithm_checks_run_before_tensorflow_trains():
  cfg = configs.get('multigrid', 'fashion_mnist')
  cfg.model.grids = (1, 5, 28)
  with pytest.raises(ConfigError, match='multiple of the one before'):
    registry.check(cfg)
  cfg = configs.get('conditional', 'texture:brick')
  with pytest.raises(ConfigError, match='the conditional descriptor needs labelled data'):
    registry.check(cfg)
  cfg = configs.get('triangle', 'fashion_mnist')
  cfg.optim.ema_decay = 1.0
  with pytest.raises(ConfigError, match=r'optim.ema_decay .* in \[0, 1\)'):
    registry.check(cfg)
  config_lib.validate(cfg)  # core's own checks know no algorithm's keys
