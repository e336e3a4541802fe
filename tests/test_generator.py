"""The generator by alternating back-propagation: posterior inference, masks, learning."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import configs
from core import config as config_lib
from core import masks
from core.errors import ConfigError
from tests import helpers
from trainers import descriptor
from trainers import losses
from trainers import generator
from trainers import langevin as L


def test_posterior_langevin_on_a_linear_generator_matches_the_closed_form():
  # X = W h + b + ε, h ~ N(0, I), ε ~ N(0, σ²I): h | X ~ N(μ, Σ) with
  # Σ = (WᵀW/σ² + I)⁻¹ and μ = Σ Wᵀ(X − b)/σ².
  rng = np.random.default_rng(0)
  d, dim, sigma = 2, 6, 0.8
  w = rng.normal(size=(dim, d)).astype(np.float32) * 0.5
  b = rng.normal(size=dim).astype(np.float32) * 0.1
  x = rng.normal(size=dim).astype(np.float32)
  cov = np.linalg.inv(w.T @ w / sigma**2 + np.eye(d))
  mean = cov @ w.T @ (x - b) / sigma**2
  linear = lambda h, training=False: tf.matmul(h, w.T) + b
  chains = 8000
  energy = generator.posterior_energy(linear, tf.constant(np.tile(x, (chains, 1))),
                                      tf.ones((chains, dim)), sigma)
  h, _ = L.compiled(energy, steps=1500, step_size=0.1, ref_sigma=1.0,
                    rng=tf.random.Generator.from_seed(1))(tf.zeros((chains, d)))
  h = h.numpy()
  np.testing.assert_allclose(h.mean(0), mean, atol=0.03)
  np.testing.assert_allclose(np.cov(h.T), cov, atol=0.03 * np.abs(cov).max() + 0.01)


def test_missing_pixels_change_nothing():
  rng = np.random.default_rng(1)
  x = rng.uniform(-1, 1, (3, 8, 8, 1)).astype(np.float32)
  x_hat = rng.uniform(-1, 1, (3, 8, 8, 1)).astype(np.float32)
  mask = masks.make('pixels:0.5', [0, 1, 2], 8)
  other = np.where(mask > 0, x, rng.uniform(-1, 1, x.shape)).astype(np.float32)
  assert not np.array_equal(x, other)
  a = float(losses.gaussian_recon(x, x_hat, 0.3, mask))
  b = float(losses.gaussian_recon(other, x_hat, 0.3, mask))
  assert a == b and a > 0
  net = lambda h, training=False: tf.reshape(tf.tanh(tf.tile(h, [1, 64])), [-1, 8, 8, 1])
  h = tf.constant(rng.normal(size=(3, 1)).astype(np.float32))
  ea = generator.posterior_energy(net, x, mask, 0.3)(h)
  eb = generator.posterior_energy(net, other, mask, 0.3)(h)
  np.testing.assert_array_equal(ea.numpy(), eb.numpy())


def test_masks_are_fixed_per_image_and_of_the_asked_shape():
  m = masks.make('pixels:0.7', np.arange(50), 28, seed=3)
  assert m.shape == (50, 28, 28, 1)
  assert abs((1 - m).mean() - 0.7) < 0.02
  np.testing.assert_array_equal(m[7], masks.make('pixels:0.7', [7], 28, seed=3)[0])
  assert not np.array_equal(m[7], m[8])
  blocks = masks.make('block:10', np.arange(20), 28)
  assert ((1 - blocks).sum(axis=(1, 2, 3)) == 100).all()
  assert masks.make('none', [0], 28).min() == 1.0
  truth = np.zeros((1, 4, 4, 1), np.float32)
  mask = np.ones_like(truth)
  mask[0, 0, 0, 0] = 0
  guess = np.full_like(truth, 0.5)  # off by 0.5 in [-1, 1] = 0.25 in [0, 1] units
  assert masks.missing_mae(guess, truth, mask) == pytest.approx(0.25)


@pytest.mark.parametrize('spec,message', [
    ('pixels:0', 'must be in (0, 1)'), ('pixels:1.2', 'must be in (0, 1)'),
    ('block:28', 'must be 1..27 pixels'), ('block:x', "unknown mask 'block:x'"),
    ('holes:3', "unknown mask 'holes:3'")])
def test_bad_masks(spec, message):
  with pytest.raises(ConfigError) as e:
    masks.parse(spec, 28)
  assert message in str(e.value)


def abp_config(digits, *extra):
  cfg = configs.get('generator', f'npz:{digits}')
  config_lib.apply_overrides(cfg, [
      'data.image_size=28', 'data.channels=1', 'data.batch_size=40', 'model.latent_dim=16',
      'model.widths=64,32', 'train.log_every=10', 'train.sample_every=1000',
      'train.ckpt_every=1000', *extra])
  return config_lib.validate(cfg)


def test_abp_learns_and_recovers_missing_pixels(generator_run):
  """The session's generator run (tests/conftest.py): 120 steps on digits with half of each
  image's pixels missing."""
  with open(os.path.join(generator_run, 'metrics.json')) as f:
    assert json.load(f)['steps'] == 120
  with open(os.path.join(generator_run, 'metrics.jsonl')) as f:
    lines = [json.loads(l) for l in f]
  first, last = lines[0], lines[-1]
  assert last['recon_mae'] < 0.6 * first['recon_mae'], (first, last)
  # The never-observed half of each image is recovered better than at the start.
  assert last['recovery_mae'] < 0.7 * first['recovery_mae'], (first, last)


def test_resume_keeps_the_persistent_latents(digits, tmp_path):
  cfg = abp_config(digits, 'train.steps=4', 'train.ckpt_every=4', 'langevin.steps=2')
  generator.train(cfg, str(tmp_path), log=lambda *_: None)
  cfg.train.steps = 6
  generator.train(cfg, str(tmp_path), log=lambda *_: None)
  read = lambda n: tf.train.load_variable(str(tmp_path / 'checkpoints' / f'ckpt-{n}'),
                                          'latents/.ATTRIBUTES/VARIABLE_VALUE')
  before, after = read(4), read(6)
  changed = np.any(before != after, axis=1)
  # Steps 5 and 6 revised two batches of 40 latents; the other 460 were restored as saved.
  assert before.shape == (540, 16)  # 600 digits less the 10% held out
  assert changed.sum() == 80, changed.sum()


def test_cli_rejects_a_latent_size_the_checkpoint_does_not_have(generator_run, tmp_path):
  run = helpers.copy_run(generator_run, tmp_path / 'run')
  r = helpers.tool('train', f'--workdir={run}', '--set', 'model.latent_dim=32')
  helpers.one_line_error(r, 'model.latent_dim: 16 in the checkpoint, 32 requested')
  for algo, mask, message in (('generator', 'block:40', 'must be 1..27 pixels'),
                              ('generator', 'pixels:1.0', 'must be in (0, 1)'),
                              ('descriptor', 'pixels:0.5',
                               '--mask is not an option of --algo=descriptor')):
    r = helpers.tool('train', f'--algo={algo}', f'--workdir={tmp_path / "m"}', '--smoke',
                     f'--mask={mask}')
    helpers.one_line_error(r, message)


def test_mirrored_two_replicas_update_exactly_the_visited_latents(digits, tmp_path,
                                                                 mirrored_cpus):
  size = ('--set', 'data.image_size=28', '--set', 'data.channels=1')
  r = helpers.tool('train', '--algo=generator', f'--dataset=npz:{digits}', *size,
                   f'--workdir={tmp_path}', '--smoke', '--strategy=mirrored',
                   f'--replicas={mirrored_cpus}', '--mask=pixels:0.5')
  assert r.returncode == 0, r.stderr
  assert '100%' in r.stderr and '2 replica(s)' in r.stdout
  latents = tf.train.load_variable(str(tmp_path / 'checkpoints' / 'ckpt-6'),
                                   'latents/.ATTRIBUTES/VARIABLE_VALUE')
  # The latents start as the first draw of the seeded generator (seed 0).
  start = tf.random.Generator.from_seed(0).normal(latents.shape).numpy()
  changed = np.any(latents != start, axis=1)
  # 200 smoke images (capped after the held-out split); 6 steps × 20 = 120 distinct images
  # visited in the first epoch, so exactly 120 rows moved and 80 kept their first draw.
  assert latents.shape == (200, 8) and changed.sum() == 120, changed.sum()


@pytest.mark.parametrize('algo', [
    'descriptor',
    pytest.param('generator', marks=pytest.mark.slow)])
def test_xla_langevin_inside_the_training_step(digits, tmp_path, algo):
  """With the Langevin noise off, the XLA-compiled chains inside the step give the losses
  of the plain graph's (to float32 rounding). The generator's case is slow (its XLA compile
  takes ~10 s here); the descriptor's keeps the contract in the fast tier."""
  module = {'generator': generator, 'descriptor': descriptor}[algo]
  losses_by = {}
  for jit in (False, True):
    cfg = configs.get(algo, f'npz:{digits}', smoke=True)
    config_lib.apply_overrides(cfg, ['data.image_size=28', 'data.channels=1', 'train.steps=2',
                                     'train.log_every=1', 'langevin.noise=false',
                                     f'langevin.jit_compile={str(jit).lower()}'])
    wd = tmp_path / f'jit{jit}'
    module.train(config_lib.validate(cfg), str(wd), log=lambda *_: None)
    losses_by[jit] = [json.loads(line)['loss'] for line in open(wd / 'metrics.jsonl')]
  assert len(losses_by[True]) == 2
  np.testing.assert_allclose(losses_by[True], losses_by[False], rtol=2e-3, atol=1e-3)
