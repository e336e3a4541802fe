"""The divergence triangle and the plain VAE: losses by hand, learning, the wall-clock budget,
the reference rows of the final evaluation, and reconstruction through the encoder."""
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats as scipy_stats

import configs
from core import config as config_lib
from tests import helpers
from trainers import nets
from trainers import triangle


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
  return helpers.digits_npz(tmp_path_factory.mktemp('digits') / 'digits.npz')


def smoke_config(digits, algo='triangle', *overrides):
  cfg = configs.get(algo, f'npz:{digits}', smoke=True)
  config_lib.apply_overrides(cfg, ['data.image_size=28', 'data.channels=1', *overrides])
  return config_lib.validate(cfg)


def test_gaussian_terms_match_scipy():
  rng = np.random.default_rng(0)
  h, mean = rng.standard_normal((2, 3, 4)).astype(np.float32)
  logvar = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
  sd = np.exp(0.5 * logvar)
  want = -scipy_stats.norm(mean, sd).logpdf(h).sum(1)
  np.testing.assert_allclose(nets.gaussian_nll(h, mean, logvar), want, rtol=1e-5)
  # KL(N(m, s²) || N(0, 1)) = log(1/s) + (s² + m²)/2 − 1/2, per dimension.
  want = (np.log(1 / sd) + (sd**2 + mean**2) / 2 - 0.5).sum(1)
  np.testing.assert_allclose(nets.kl_to_prior(mean, logvar), want, rtol=1e-5)
  assert float(nets.kl_to_prior(tf.zeros((1, 4)), tf.zeros((1, 4)))[0]) == 0.0


def test_registry_builds_the_encoders():
  import models  # pylint: disable=g-import-not-at-top
  for size, c in ((28, 1), (32, 3), (64, 3)):
    mean, logvar = models.build(f'encoder/{size}', (size, size, c), latent_dim=7)(
        tf.zeros((2, size, size, c)))
    assert mean.shape == (2, 7) and logvar.shape == (2, 7) and mean.dtype == tf.float32


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def test_triangle_learns_to_reconstruct(digits, tmp_path):
  cfg = smoke_config(digits, 'triangle', 'model.latent_dim=16',
                     'model.generator_widths=32,16', 'model.encoder_widths=16,32',
                     'data.max_examples=500', 'data.batch_size=50', 'optim.gen_lr=0.001',
                     'optim.enc_lr=0.001', 'train.steps=120', 'train.log_every=10',
                     'train.sample_every=60', 'train.ckpt_every=60')
  out = triangle.train(cfg, str(tmp_path))
  rows = read_jsonl(tmp_path / 'metrics.jsonl')
  first, last = rows[0]['recon_mae'], rows[-1]['recon_mae']
  assert last < 0.6 * first, (first, last)
  assert out['test_recon_mae'] < 0.6 * first
  # The energy stays bounded with the penalty (|U| ≪ the 1/(2c) = 50 ceiling), and all three
  # nets were trained.
  assert max(abs(r['u_data']) + abs(r['u_gen']) for r in rows) < 60
  for key in ('grad_norm_d', 'grad_norm_g', 'grad_norm_e', 'latent_nll'):
    assert key in rows[-1]
  assert os.path.isfile(tmp_path / 'reconstructions.png')


def test_vae_has_no_descriptor_and_stops_at_the_time_budget(digits, tmp_path):
  cfg = smoke_config(digits, 'vae', 'train.steps=100000', 'train.time_budget=4',
                     'train.ckpt_every=100000', 'train.sample_every=100000')
  out = triangle.train(cfg, str(tmp_path))
  assert 0 < out['steps'] < 100000 and out['wall_seconds'] < 10
  assert 'u_data' not in out['last'] and 'latent_nll' not in out['last']
  ckpt = tf.train.latest_checkpoint(str(tmp_path / 'checkpoints'))
  assert ckpt.endswith(f'ckpt-{out["steps"]}')  # the stop saved a checkpoint
  # A variable is listed under the first path that reaches it (the optimizer's, here).
  roots = {n.split('/')[0] for n, _ in tf.train.list_variables(ckpt)}
  assert {'enc_opt', 'gen_opt'} <= roots
  assert not roots & {'descriptor', 'desc_opt'}


def test_final_evaluation_has_every_reference_row(digits, tmp_path, monkeypatch):
  monkeypatch.setenv('TWONETS_CACHE', str(tmp_path / 'cache'))
  cfg = smoke_config(digits, 'triangle', 'eval.score=true', 'eval.vae_reference=true',
                     'eval.num_samples=200', 'train.steps=4')
  out = triangle.train(cfg, str(tmp_path / 'run'))
  rows = out['sample_quality']['rows']
  vae = [k for k in rows if k.startswith('plain VAE (')]
  assert set(rows) == {'triangle generator', 'real_vs_real', 'blurred_real'} | set(vae)
  assert len(vae) == 1
  for r in rows.values():
    assert math.isfinite(r['fd']) and r['num_samples'] > 0 and r['num_reference'] > 0
  # (Real < blurred is checked on enough images in test_scores; 30 a side is too few here.)
  assert out['fd'] == rows['triangle generator']['fd']
  assert 1 <= out['classes_present'] <= 10
  with open(tmp_path / 'run' / 'vae_reference' / 'metrics.json') as f:
    vae_out = json.load(f)
  assert vae_out['wall_seconds'] <= out['wall_seconds'] + 5  # the same wall-clock budget
  with open(tmp_path / 'run' / 'vae_reference' / 'config.json') as f:
    assert json.load(f)['algo'] == 'vae'


def test_reconstruct_and_sample_tools_on_a_triangle_run(digits, tmp_path):
  wd = str(tmp_path / 'tri')
  r = helpers.run_tool('train', '--algo=triangle', '--smoke', f'--workdir={wd}',
                       f'--dataset=npz:{digits}', '--set', 'data.image_size=28', '--set',
                       'data.channels=1')
  assert r.returncode == 0, r.stderr
  r = helpers.run_tool('evaluate', '--task=reconstruct', '--num_images=30', f'--workdir={wd}')
  assert r.returncode == 0, r.stderr
  with open(os.path.join(wd, 'reconstruct.json')) as f:
    assert 0 < json.load(f)['test_recon_mae'] < 1
  r = helpers.run_tool('evaluate', '--task=sample', '--num_images=25', f'--workdir={wd}')
  assert r.returncode == 0, r.stderr
  with np.load(os.path.join(wd, 'samples.npz')) as f:
    assert f['images'].shape == (25, 28, 28, 1) and set(f['net']) == {'generator'}
  r = helpers.run_tool('sample', '--interpolate', f'--workdir={wd}')
  assert r.returncode == 0, r.stderr
  assert os.path.isfile(os.path.join(wd, 'interpolation.png'))
