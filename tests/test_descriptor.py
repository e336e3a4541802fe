"""The descriptor trainer: losses by hand, learning end to end, resume, the NaN guard."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import configs
import models
from core import config as config_lib
from core import data as data_lib
from core import images as images_lib
from core import loop
from core import stats
from core.errors import CheckpointError, ConfigError, Diverged
from tests import helpers
from trainers import descriptor
from trainers import losses


def test_ml_loss_and_penalty_by_hand():
  f_data, f_syn = tf.constant([1.0, 3.0]), tf.constant([-2.0, 0.0, 5.0])
  assert float(losses.ml_loss(f_data, f_syn)) == pytest.approx(1.0 - 2.0)
  assert float(losses.energy_penalty(f_data, f_syn)) == pytest.approx(5.0 + 29.0 / 3)
  x = tf.constant(np.full((2, 2, 2, 1), 0.5, np.float32))
  # 4 pixels of 0.5 per example: 4·0.25 / (2·0.5²) = 2.
  np.testing.assert_allclose(losses.reference_energy(x, 0.5), [2.0, 2.0])
  np.testing.assert_allclose(losses.reference_energy(x, 0.0), [0.0, 0.0])


def test_registry_builds_every_descriptor_and_names_the_known_ones():
  for name, shape in (('descriptor/28', (28, 28, 1)), ('descriptor/32', (32, 32, 3)),
                      ('descriptor/64', (64, 64, 3)), ('descriptor/texture', (64, 64, 1))):
    net = models.build(name, shape)
    f = net(tf.zeros((2,) + shape))
    assert f.shape == (2,) and f.dtype == tf.float32
  with pytest.raises(ConfigError, match=r'no descriptor net for 7x7 images \(sizes: 28, 32, 64\)'):
    models.build('descriptor/7', (7, 7, 1))
  with pytest.raises(ConfigError, match='known: .*descriptor/28, descriptor/32, descriptor/64'):
    models.build('descriptor/huge', (7, 7, 1))


def smoke_config(dataset, **overrides):
  cfg = configs.get('descriptor', dataset, smoke=True)
  overrides = {'data.image_size': 28, 'data.channels': 1, **overrides}
  config_lib.apply_overrides(cfg, [f'{k}={v}' for k, v in overrides.items()])
  return config_lib.validate(cfg)


def test_dataset_mode_learns(digits, tmp_path):
  """Samples' statistics move from the noise start towards the data's (float32: the policy
  `auto` picks on this CPU; the mixed_bfloat16 run is test_mixed_bfloat16_steps_run)."""
  cfg = configs.get('descriptor', f'npz:{digits}')
  config_lib.apply_overrides(cfg, [
      'data.image_size=28', 'data.channels=1', 'model.widths=16,32,32', 'data.batch_size=32',
      'langevin.buffer_size=256', 'langevin.steps=10', 'train.steps=60', 'train.log_every=10',
      'train.sample_every=30', 'train.ckpt_every=30', 'train.precision=float32'])
  final = descriptor.train(cfg, str(tmp_path), log=lambda *_: None)
  real = np.load(digits)['images'][..., None].astype(np.float32) / 127.5 - 1
  start = stats.moment_gaps(np.random.default_rng(0).uniform(-1, 1, (32,) + real.shape[1:]),
                            real)
  assert final['steps'] == 60
  # Without learning the chains stay noise pulled towards 0 by the reference term: a mean
  # image far from the digits' (≈ the noise start's 0.40; 1.0× of it after 2 steps).
  # Learning brings it close (0.04× measured).
  assert final['mean_image_mse'] < 0.25 * start['mean_image_mse'], (final, start)
  assert os.path.isfile(tmp_path / 'samples' / 'step_60.png')
  lines = [json.loads(l) for l in open(tmp_path / 'metrics.jsonl')]
  assert [l['step'] for l in lines] == list(range(10, 61, 10))
  assert {'loss', 'energy_data', 'energy_samples', 'grad_norm', 'langevin_grad_norm'} <= set(
      lines[-1])


def test_mixed_bfloat16_steps_run(digits, tmp_path):
  """The trainer under mixed_bfloat16 (bf16 compute, float32 weights and chains): steps run
  and stay finite. (That a bf16 net keeps float32 chains: test_langevin. bfloat16 is emulated
  on CPUs without AVX-512 BF16 or AMX, ~5× slower, so the learning run is float32's.)"""
  cfg = smoke_config(f'npz:{digits}', **{'train.steps': 2, 'train.log_every': 1,
                                          'train.precision': 'mixed_bfloat16'})
  try:
    final = descriptor.train(cfg, str(tmp_path), log=lambda *_: None)
    assert keras.mixed_precision.global_policy().name == 'mixed_bfloat16'
  finally:
    keras.mixed_precision.set_global_policy('float32')
  assert final['steps'] == 2
  rows = [json.loads(l) for l in open(tmp_path / 'metrics.jsonl')]
  assert [r['step'] for r in rows] == [1, 2] and all(np.isfinite(r['loss']) for r in rows)
  chains = tf.train.load_variable(str(tmp_path / 'checkpoints' / 'ckpt-2'),
                                  'chains/.ATTRIBUTES/VARIABLE_VALUE')
  assert chains.dtype == np.float32 and np.isfinite(chains).all()


@pytest.mark.slow
def test_texture_mode_matches_the_exemplars_gram_statistics(tmp_path):
  """A brick texture whose random-filter Gram statistics beat matched white noise's.

  Slow: a long learning run (150 steps of 64×64 chains, ~45 s); the texture net and its
  source are built in the fast tier (test_faults, test_data)."""
  keras.utils.set_random_seed(0)  # the same initial net every run (unseeded, it once fell short)
  cfg = configs.get('descriptor', 'texture:brick')
  config_lib.apply_overrides(cfg, ['data.image_size=64', 'train.steps=150',
                                   'train.sample_every=150', 'train.ckpt_every=150'])
  final = descriptor.train(cfg, str(tmp_path), log=lambda *_: None)
  # Zero-image chains start at distance 1.0; matched white noise is the bar to beat.
  assert final['gram_distance_samples'] < 0.75 * final['gram_distance_white_noise'], final
  assert os.path.isfile(tmp_path / 'samples' / 'step_150.png')
  figure = images_lib.read_png(str(tmp_path / 'texture.png'))
  assert figure.shape == (64, 6 * 65 - 1, 1)  # exemplar, 4 samples, noise


def test_resume_continues_from_the_checkpoint(digits, tmp_path):
  cfg = smoke_config(f'npz:{digits}', **{'train.steps': 4, 'train.ckpt_every': 2,
                                          'train.log_every': 1})
  descriptor.train(cfg, str(tmp_path), log=lambda *_: None)
  saved = tf.train.load_variable(str(tmp_path / 'checkpoints' / 'ckpt-4'),
                                 'chains/.ATTRIBUTES/VARIABLE_VALUE')
  messages = []
  cfg.train.steps = 7
  final = descriptor.train(cfg, str(tmp_path), log=messages.append)
  assert any('resumed from' in m and 'at step 4' in m for m in messages), messages
  steps = [json.loads(l)['step'] for l in open(tmp_path / 'metrics.jsonl')]
  assert steps == [1, 2, 3, 4, 5, 6, 7] and final['steps'] == 7
  resumed = tf.train.load_variable(str(tmp_path / 'checkpoints' / 'ckpt-7'),
                                   'chains/.ATTRIBUTES/VARIABLE_VALUE')
  assert saved.shape == resumed.shape and not np.array_equal(saved, resumed)
  # Running again at the end does nothing and says so.
  messages.clear()
  descriptor.train(cfg, str(tmp_path), log=messages.append)
  assert any('already finished 7 of 7' in m for m in messages), messages


def test_restoring_a_mismatched_checkpoint_is_a_clear_error(digits, tmp_path):
  cfg = smoke_config(f'npz:{digits}', **{'train.steps': 2})
  descriptor.train(cfg, str(tmp_path), log=lambda *_: None)
  cfg.model.out_units = 7  # what a hand-edited config.json would do
  cfg.train.steps = 4
  with pytest.raises(CheckpointError, match='could not be restored: it was made with other settings'):
    descriptor.train(cfg, str(tmp_path), log=lambda *_: None)


def test_nan_guard_names_the_step_and_the_last_good_checkpoint(digits, tmp_path):
  cfg = smoke_config(f'npz:{digits}', **{'train.steps': 6, 'train.ckpt_every': 2})
  descriptor.train(cfg, str(tmp_path), log=lambda *_: None)  # steps 1-6, ckpt-6
  cfg.train.steps = 12
  cfg.langevin.step_size = 1e30  # the chains overflow at once (δ² = inf)
  with pytest.raises(Diverged) as e:
    descriptor.train(cfg, str(tmp_path), log=lambda *_: None)
  assert 'at step 7' in str(e.value) and 'ckpt-6' in str(e.value), str(e.value)
  # Nothing non-finite was saved: the latest checkpoint is still step 6.
  assert tf.train.latest_checkpoint(str(tmp_path / 'checkpoints')).endswith('ckpt-6')


def test_bad_batch_for_replicas_and_bad_init_are_config_errors(digits, tmp_path):
  cfg = smoke_config(f'npz:{digits}', **{'langevin.init': 'gaussian'})
  with pytest.raises(ConfigError, match='langevin.init must be noise, zeros'):
    descriptor.train(cfg, str(tmp_path), log=lambda *_: None)
  cfg = smoke_config(f'npz:{digits}', **{'langevin.buffer_size': 5})
  with pytest.raises(ConfigError, match='buffer_size=5 is smaller than the batch'):
    descriptor.train(cfg, str(tmp_path), log=lambda *_: None)


@pytest.mark.parametrize('init', ['noise', 'zeros', 'data_mean'])
def test_every_chain_start_is_what_it_says(digits, init):
  cfg = smoke_config(f'npz:{digits}', **{'langevin.init': init, 'langevin.start_noise': 0.5})
  train_set = data_lib.from_config(cfg)
  trainer = descriptor.Descriptor(cfg, tf.distribute.get_strategy(), train_set)
  x0, slots = trainer._chain_starts()  # pylint: disable=protected-access
  x0 = x0.numpy()
  assert slots is None and x0.shape == (20, 28, 28, 1)
  if init == 'zeros':
    assert not x0.any()
  elif init == 'data_mean':
    want = data_lib.to_float(train_set.images).mean(0)
    np.testing.assert_allclose(x0, np.broadcast_to(want, x0.shape), atol=1e-6)
  else:  # uniform in ±start_noise: std a/√3
    assert np.abs(x0).max() <= 0.5 and x0.std() == pytest.approx(0.5 / np.sqrt(3), rel=0.02)


def test_loop_interrupt_saves_a_checkpoint(digits, tmp_path):
  cfg = smoke_config(f'npz:{digits}', **{'train.steps': 50, 'train.ckpt_every': 100})
  calls = {'n': 0}
  real_run = loop.run

  def interrupting_step(task_step):
    def step(it):
      calls['n'] += 1
      if calls['n'] == 4:
        raise KeyboardInterrupt
      return task_step(it)
    return step

  def run(task, *a, **k):
    task.train_step = interrupting_step(task.train_step)
    return real_run(task, *a, **k)

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(loop, 'run', run)
    with pytest.raises(KeyboardInterrupt):
      descriptor.train(cfg, str(tmp_path), log=lambda *_: None)
  assert tf.train.latest_checkpoint(str(tmp_path / 'checkpoints')).endswith('ckpt-3')
