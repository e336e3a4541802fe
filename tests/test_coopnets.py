"""CoopNets: the five steps, learning end to end, completion, and its tools."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import configs
from core import config as config_lib
from core import data as data_lib
from core import masks as masks_lib
from tasks import coopnets as coopnets_tasks
from tests import helpers
from trainers import coopnets
from trainers import nets


def smoke_config(digits, *overrides):
  cfg = configs.get('coopnets', f'npz:{digits}', smoke=True)
  config_lib.apply_overrides(cfg, ['data.image_size=28', 'data.channels=1', *overrides])
  return config_lib.validate(cfg)


def make_trainer(cfg):
  keras.utils.set_random_seed(0)  # the same initial nets in every run
  train_set = data_lib.from_config(cfg)
  return coopnets.CoopNets(cfg, tf.distribute.get_strategy(), train_set)


def test_latents_untouched_without_inference_and_moved_with_it(digits):
  trainer = make_trainer(smoke_config(digits))  # T_g = 0
  trainer.train_step(trainer.make_iterator(0))
  h, h_tilde = trainer.last['latents'].numpy(), trainer.last['inferred'].numpy()
  assert np.abs(h).max() > 0  # a real batch of latents was drawn
  np.testing.assert_array_equal(h_tilde, h)

  trainer = make_trainer(smoke_config(digits, 'langevin.gen_steps=2'))
  trainer.train_step(trainer.make_iterator(0))
  h, h_tilde = trainer.last['latents'].numpy(), trainer.last['inferred'].numpy()
  assert np.abs(h_tilde - h).mean() > 1e-3


def test_generator_drafts_move_towards_the_revisions(digits):
  """Each step, the updated generator's images of the step's latents are closer to the
  descriptor's revisions than the drafts were (step 5, the generator learns the revision)."""
  cfg = smoke_config(digits, 'model.latent_dim=16', 'model.generator_widths=32,16',
                     'model.descriptor_widths=16,32,32', 'langevin.steps=10',
                     'optim.gen_lr=0.001')
  trainer = make_trainer(cfg)
  it = trainer.make_iterator(0)
  before, after = [], []
  for _ in range(25):
    metrics = trainer.train_step(it)
    rev = trainer.last['revisions'].numpy()
    before.append(np.mean((trainer.last['drafts'].numpy() - rev)**2))
    after.append(np.mean((trainer.generator(trainer.last['latents']).numpy() - rev)**2))
    assert np.isfinite(float(metrics['loss_g']))
  assert min(before) > 0  # the descriptor did revise the drafts
  # Adam's first few steps (≈ lr·sign(g) per weight) may overshoot; from then on nearly every
  # step brings the drafts closer to the revisions (the revisions move them by ~0.6% only).
  closer = np.array(after[5:]) < np.array(before[5:])
  assert closer.mean() >= 0.8, (before, after)
  assert np.mean(after) < 0.9 * np.mean(before)


def test_completion_never_changes_observed_pixels(digits):
  cfg = smoke_config(digits)
  generator, descriptor = nets.build(cfg, 'generator'), nets.build(cfg, 'descriptor')
  test = data_lib.from_config(cfg, 'test')
  x = data_lib.to_float(test.images[:12])
  mask = masks_lib.make('block:10', np.arange(12), 28, seed=3)
  fill, done = coopnets_tasks.complete(generator, descriptor, cfg, x, mask, infer_steps=5,
                                       revise_steps=5)
  observed = np.broadcast_to(mask > 0, x.shape)
  np.testing.assert_array_equal(done[observed], x[observed])
  np.testing.assert_array_equal(fill[observed], x[observed])
  # The descriptor did revise the missing pixels of the generator's fill (an untrained net
  # moves them little: δ = 0.002).
  assert np.abs(done[~observed] - fill[~observed]).mean() > 1e-6


def test_end_to_end_with_tools(digits, tmp_path):
  wd = str(tmp_path / 'coop')
  flags = [f'--dataset=npz:{digits}', '--set', 'data.image_size=28', '--set',
           'data.channels=1']
  r = helpers.tool('train', '--algo=coopnets', '--smoke', f'--workdir={wd}', *flags)
  assert r.returncode == 0, r.stderr
  for name in ('samples/step_6.png', 'interpolation.png', 'metrics.json'):
    assert os.path.isfile(os.path.join(wd, name)), name
  r = helpers.tool('evaluate', '--task=sample', '--num_images=30', f'--workdir={wd}')
  assert r.returncode == 0, r.stderr
  with np.load(os.path.join(wd, 'samples.npz')) as f:
    images, net = f['images'], f['net']
  assert images.dtype == np.uint8 and images.shape == (60, 28, 28, 1)
  assert sorted(set(net)) == ['descriptor', 'generator'] and (net == 'descriptor').sum() == 30
  r = helpers.tool('evaluate', '--task=complete', '--mask=block:10', '--num_images=20',
                   '--steps=20', f'--workdir={wd}')
  assert r.returncode == 0, r.stderr
  with open(os.path.join(wd, 'complete_block-10.json')) as f:
    out = json.load(f)
  assert out['num_images'] == 20
  for method in ('coopnets', 'mean image', 'nearest neighbour', 'biharmonic diffusion'):
    assert 0 < out['methods'][method]['completion_mae'] < 1
  r = helpers.tool('evaluate', '--task=complete', f'--workdir={wd}')
  assert r.returncode == 2 and 'needs --mask=block:K' in r.stderr, r.stderr
