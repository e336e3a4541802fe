"""Baselines, error measures, and tools/evaluate on a trained generator."""
import json
import os

import numpy as np
import pytest

from evaluation import baselines
from core import stats
from core.errors import CheckpointError, ConfigError
from tasks import generator as generator_tasks
from tests import helpers


def test_error_measures_by_hand():
  a = np.zeros((2, 4, 4, 1), np.float32)
  b = np.full_like(a, 0.5)  # 0.25 off in [0, 1] units
  assert stats.mae(a, b) == pytest.approx(0.25)
  assert stats.psnr(a, b) == pytest.approx(10 * np.log10(1 / 0.0625))
  assert stats.psnr(a, a) == float('inf')


def test_pca_is_exact_on_data_of_its_own_rank():
  rng = np.random.default_rng(0)
  basis = rng.normal(size=(3, 64)).astype(np.float32)
  x = (rng.normal(size=(200, 3)) @ basis * 0.05).reshape(200, 8, 8, 1).astype(np.float32)
  np.testing.assert_allclose(baselines.pca_reconstruct(x[:150], x[150:], 3), x[150:],
                             atol=1e-4)
  assert stats.mae(baselines.pca_reconstruct(x[:150], x[150:], 1), x[150:]) > 1e-3


def test_fills_on_cases_with_known_answers():
  mask = np.zeros((1, 6, 6, 1), np.float32)
  mask[0, 2, 3] = 1  # one observed pixel
  x = np.full((1, 6, 6, 1), -0.5, np.float32)
  x[0, 2, 3] = 0.7
  np.testing.assert_allclose(baselines.nearest_fill(x, mask), np.full_like(x, 0.7))
  mean = np.full((6, 6, 1), 0.1, np.float32)
  filled = baselines.mean_fill(x, mask, mean)
  assert filled[0, 2, 3, 0] == pytest.approx(0.7) and filled[0, 0, 0, 0] == pytest.approx(0.1)
  # Biharmonic inpainting reproduces a linear ramp through a missing block.
  ramp = np.tile(np.linspace(-0.8, 0.8, 16, dtype=np.float32), (16, 1))[None, ..., None]
  block = np.ones_like(ramp)
  block[0, 5:11, 5:11] = 0
  np.testing.assert_allclose(baselines.diffusion_fill(ramp, block), ramp, atol=1e-3)


@pytest.fixture(scope='module')
def trained(generator_run, tmp_path_factory):
  """A copy of the session's generator run (tests/conftest.py): the tasks write into it."""
  return helpers.copy_run(generator_run, tmp_path_factory.mktemp('abp') / 'run')


def test_reconstruct_writes_results_and_beats_the_mean_image(trained):
  out = generator_tasks.reconstruct(trained, num_images=40, steps=100, log=lambda *_: None)
  saved = np.load(os.path.join(trained, 'reconstructions.npz'))
  assert saved['images'].shape == (40, 28, 28, 1) and saved['images'].dtype == np.uint8
  np.testing.assert_array_equal(saved['indices'], np.arange(40))
  assert json.load(open(os.path.join(trained, 'reconstruct.json')))['methods'] == out['methods']
  assert os.path.isfile(os.path.join(trained, 'reconstructions.png'))
  abp = out['methods']['abp']['recon_mae']
  assert abp < 0.12, out  # the mean digit is ~0.2 away; an untrained net ~0.4
  assert 'pca (d=16)' in out['methods']


def test_recover_compares_with_the_three_fills(trained):
  out = generator_tasks.recover(trained, 'pixels:0.5', num_images=20, steps=100,
                                log=lambda *_: None)
  assert set(out['methods']) == {'abp', 'mean image', 'nearest neighbour',
                                 'biharmonic diffusion'}
  assert out['methods']['abp']['recovery_mae'] < out['methods']['mean image']['recovery_mae']
  assert out['methods']['abp']['recovery_psnr'] > out['methods']['mean image']['recovery_psnr']
  saved = np.load(os.path.join(trained, 'recover_pixels-0.5.npz'))
  assert saved['masks'].mean() == pytest.approx(0.5, abs=0.05)
  assert json.load(open(os.path.join(trained, 'recover_pixels-0.5.json')))['methods'] == (
      out['methods'])


def test_evaluate_bad_input(trained, tmp_path):
  with pytest.raises(ConfigError, match='needs --mask'):
    generator_tasks.recover(trained, 'none')
  with pytest.raises(ConfigError, match='must be 1..27 pixels'):
    generator_tasks.recover(trained, 'block:30')
  with pytest.raises(CheckpointError, match='has no checkpoint; train first'):
    generator_tasks.reconstruct(str(tmp_path))
  r = helpers.tool('evaluate', '--task=reconstruct', f'--workdir={tmp_path}')
  helpers.one_line_error(r, 'has no checkpoint')
  r = helpers.tool('evaluate', '--task=denoise', f'--workdir={tmp_path}')
  assert r.returncode != 0 and 'task' in r.stderr


def test_evaluate_refuses_a_descriptor_run(descriptor_run):
  r = helpers.tool('evaluate', '--task=reconstruct', f'--workdir={descriptor_run}')
  helpers.one_line_error(r, 'holds a descriptor run')
