"""The latent-space EBM prior and dual-MCMC teaching: their chains against closed forms, and
one short run each that learns (the session's runs, tests/conftest.py)."""
import json
import os

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

import configs
from core import config as config_lib
from core.errors import ConfigError
from trainers import dual_mcmc
from trainers import latent_ebm
from trainers import registry

# A linear generator g(z) = W z + b and a quadratic prior correction
# f(z) = −½ zᵀ A z + cᵀ z: then p(z) ∝ exp(f) N(0, I) and p(z | x) are Gaussian:
#   prior:      precision P = I + A,              mean P⁻¹ c
#   posterior:  precision Q = I + A + WᵀW / σ²,   mean Q⁻¹ (c + Wᵀ(x − b) / σ²)
W = np.array([[1.0, 0.5], [0.0, 1.0], [0.5, -0.5]], np.float32)  # 3 pixels, 2 latents
B = np.array([0.1, -0.2, 0.3], np.float32)
A = np.array([[1.0, 0.3], [0.3, 0.5]], np.float32)
C = np.array([0.8, -0.4], np.float32)
X = np.array([1.0, 0.5, -0.5], np.float32)
SIGMA = 1.0


def linear_generator():
  return lambda z, training=False: tf.matmul(z, W, transpose_b=True) + B


def quadratic_prior(z, training=False):
  del training
  return -0.5 * tf.reduce_sum(tf.matmul(z, A) * z, 1) + tf.linalg.matvec(z, C)


def chains(**kw):
  lv = ml_collections.ConfigDict(dict(steps=0, step_size=0.1, noise=True, ref_sigma=1.0,
                                      clip=0.0, bounded=False, prior_steps=0,
                                      prior_step_size=0.1, gen_steps=0, gen_step_size=0.1))
  lv.update(kw)
  return lv


def gaussian_check(z, precision, mean_numerator):
  cov = np.linalg.inv(precision)
  mean = cov @ mean_numerator
  np.testing.assert_allclose(z.mean(0), mean, atol=0.05)
  # ULA's stationary covariance is (1 − δ²λ/4)⁻¹ the target's along each eigenvector
  # (δ = 0.1: ≤ 2% here); the sample covariance of 4,000 chains is within ~4%.
  np.testing.assert_allclose(np.cov(z.T), cov, atol=0.08 * np.abs(cov).max())


def test_latent_langevin_reaches_the_gaussian_prior_and_posterior():
  n = 4000
  z0 = tf.random.stateless_normal((n, 2), seed=(1, 2))
  rng = tf.random.Generator.from_seed(3)
  lv = chains(prior_steps=1500, prior_step_size=0.1, steps=1500, step_size=0.1)
  z, stats = tf.function(lambda z0: latent_ebm.sample_prior(quadratic_prior, z0, lv, rng))(z0)
  gaussian_check(z.numpy(), np.eye(2) + A, C)
  assert float(stats['energy_end']) < float(stats['energy_start'])  # from N(0, I) inwards
  x = tf.constant(np.tile(X, (n, 1)))
  z, _ = tf.function(lambda z0: latent_ebm.infer(linear_generator(), quadratic_prior, x, z0,
                                                 lv, rng, sigma=SIGMA))(z0)
  gaussian_check(z.numpy(), np.eye(2) + A + W.T @ W / SIGMA**2, C + W.T @ (X - B) / SIGMA**2)


def test_the_exported_prior_chain_is_the_trainers_with_stateless_noise():
  """prior_latents (sampling, grids, the export) draws the same latents for the same seed, and
  they follow the same Gaussian."""
  lv = chains(prior_steps=1500, prior_step_size=0.1)
  a = latent_ebm.prior_latents(quadratic_prior_model(), lv, 4000, seed=5, batch_size=2000)
  b = latent_ebm.prior_latents(quadratic_prior_model(), lv, 4000, seed=5, batch_size=2000)
  np.testing.assert_array_equal(a, b)
  gaussian_check(a, np.eye(2) + A, C)


def quadratic_prior_model():
  """quadratic_prior as the Keras-shaped net prior_latents reads (it asks input_shape)."""
  import keras  # pylint: disable=g-import-not-at-top
  z = keras.Input((2,))
  return keras.Model(z, keras.layers.Lambda(lambda t: quadratic_prior(t))(z))


def test_dual_mcmc_posterior_descent_reaches_the_closed_form_mode():
  """Without noise the posterior chain is gradient descent on ||x − Wh − b||²/(2σ²) + ||h||²/2:
  it ends at the mode (WᵀW/σ² + I)⁻¹ Wᵀ(x − b)/σ² from any start (the encoder's draw)."""
  sigma = 0.5
  x = tf.constant(np.tile(X, (3, 1)))
  h0 = tf.constant([[0.0, 0.0], [3.0, -2.0], [-1.0, 4.0]], tf.float32)
  lv = chains(gen_steps=800, gen_step_size=0.2)
  h, stats = dual_mcmc.infer(linear_generator(), x, h0, lv, None, sigma=sigma, noise=False)
  mode = np.linalg.solve(W.T @ W / sigma**2 + np.eye(2), W.T @ (X - B) / sigma**2)
  np.testing.assert_allclose(h.numpy(), np.tile(mode, (3, 1)), atol=1e-4)
  assert float(stats['energy_end']) < float(stats['energy_start'])


@pytest.mark.parametrize('algo, bad, message', [
    ('latent_ebm', 'langevin.prior_steps=0', 'the prior\'s chain needs langevin.prior_steps'),
    ('latent_ebm', 'model.prior_widths=()', 'model.prior_widths needs at least one'),
    ('dual_mcmc', 'langevin.gen_step_size=0', 'the posterior\'s chain needs'),
    ('dual_mcmc', 'optim.ema_decay=1', 'optim.ema_decay is the weight average'),
])
def test_bad_values_are_refused_before_training(digits, algo, bad, message):
  cfg = configs.get(algo, f'npz:{digits}', smoke=True)
  config_lib.apply_overrides(cfg, ['data.image_size=28', 'data.channels=1', bad])
  with pytest.raises(ConfigError, match=message):
    registry.check(cfg)


def read(run, name):
  with open(os.path.join(run, name)) as f:
    return [json.loads(line) for line in f] if name.endswith('.jsonl') else json.load(f)


def test_latent_ebm_learns(latent_ebm_run):
  """The session's latent-EBM run (tools/train, 120 steps on 500 digits): the posterior's
  reconstructions improve, f_α keeps the two sides apart but bounded, and the test images are
  reconstructed by inference alone."""
  rows, out = read(latent_ebm_run, 'metrics.jsonl'), read(latent_ebm_run, 'metrics.json')
  first, last = rows[0]['recon_mae'], rows[-1]['recon_mae']
  assert last < 0.6 * first, (first, last)
  assert out['test_recon_mae'] < 0.7 * first
  assert max(abs(r['f_data']) + abs(r['f_samples']) for r in rows) < 1e3
  assert rows[-1]['grad_norm_prior'] > 0


def test_dual_mcmc_learns(dual_mcmc_run):
  """The session's dual-MCMC run (tools/train, 120 steps on 500 digits): reconstructions
  through the posterior chain and the encoder improve; the EBM's chain moves the drafts."""
  rows, out = read(dual_mcmc_run, 'metrics.jsonl'), read(dual_mcmc_run, 'metrics.json')
  first, last = rows[0]['recon_mae'], rows[-1]['recon_mae']
  assert last < 0.6 * first, (first, last)
  assert out['test_recon_mae'] < 0.7 * first
  assert min(r['revision_mae'] for r in rows) > 0
  assert max(abs(r['f_data']) + abs(r['f_samples']) for r in rows) < 60


def smoke(digits, algo, *overrides):
  cfg = configs.get(algo, f'npz:{digits}', smoke=True)
  config_lib.apply_overrides(cfg, ['data.image_size=28', 'data.channels=1', *overrides])
  return registry.check(cfg)


def test_quick_samples_are_seeded_prior_samples_from_one_traced_chain(digits):
  """TensorBoard's quick FD samples (every sample_every steps) reuse one compiled prior
  chain: the same images each call, those of latent_ebm.sample, one trace."""
  cfg = smoke(digits, 'latent_ebm')
  run = latent_ebm.LatentEBM(cfg, tf.distribute.get_strategy(),
                             latent_ebm.LatentEBM.load_data(cfg))
  first, again = run.quick_samples(6), run.quick_samples(6)
  np.testing.assert_array_equal(first, again)
  np.testing.assert_array_equal(first, latent_ebm.sample(run.generator, run.prior, cfg.langevin,
                                                         6, cfg.seed + 11))
  assert run.quick_chain.experimental_get_tracing_count() == 1


def metric_rows(workdir):
  return [{k: v for k, v in r.items() if k != 'time'} for r in read(workdir, 'metrics.jsonl')]


@pytest.mark.parametrize('algo', ['latent_ebm', 'dual_mcmc'])
def test_stop_then_resume_equals_an_uninterrupted_run(digits, tmp_path, algo):
  """Stopped at step 4 and resumed to 8 (in this process), the run's checkpoint and metrics
  equal a straight 8-step run's bit for bit: nets, optimizers, the averaged generator, the
  data position and both RNGs (every chain's noise) are in the checkpoint."""
  from tests import helpers  # pylint: disable=g-import-not-at-top
  trainer = registry.get(algo).trainer()
  sets = ('train.steps=8', 'train.ckpt_every=4', 'train.log_every=1')
  straight, resumed = str(tmp_path / 'straight'), str(tmp_path / 'resumed')
  quiet = lambda *_: None
  trainer.train(smoke(digits, algo, *sets), straight, log=quiet)
  trainer.train(smoke(digits, algo, *sets, 'train.steps=4'), resumed, log=quiet)
  trainer.train(smoke(digits, algo, *sets), resumed, log=quiet)
  helpers.assert_same_tensors(os.path.join(straight, 'checkpoints', 'ckpt-8'),
                              os.path.join(resumed, 'checkpoints', 'ckpt-8'))
  assert metric_rows(resumed) == metric_rows(straight)


@pytest.mark.parametrize('algo', ['latent_ebm', 'dual_mcmc'])
def test_an_energy_beyond_the_bound_rolls_back_and_halves_the_rates(digits, tmp_path, algo):
  """f_data and f_samples are the energies the loop watches: a bound below any |f| rolls the
  run back to its last checkpoint with every optimizer's rate and the chains' step sizes
  halved, until train.max_rollbacks are spent."""
  from core.errors import Diverged  # pylint: disable=g-import-not-at-top
  cfg = smoke(digits, algo, 'train.energy_bound=1e-9', 'train.max_rollbacks=1',
              'train.log_every=1')
  with pytest.raises(Diverged, match=r'after 1 rollback\(s\)'):
    registry.get(algo).trainer().train(cfg, str(tmp_path), log=lambda *_: None)
  events = [r for r in read(str(tmp_path), 'metrics.jsonl') if r.get('event') == 'rollback']
  assert len(events) == 1 and events[0]['lr_scale'] == 0.5
  assert events[0]['langevin_scale'] == 0.5


def test_latent_ebm_exports_sample_from_the_learned_prior(latent_ebm_run, tmp_path):
  """The SavedModel's sample signature runs the prior's chain in the graph (the same chain as
  training, stateless noise: z0 from (seed, 0), the steps' noise from (seed, 1 + i)); the
  .tflite export carries draws of the prior; the web page (which draws N(0, I)) is refused;
  twonets.load gives each format's prior latents."""
  import twonets  # pylint: disable=g-import-not-at-top
  from export import litert, saved_model, tflite, web  # pylint: disable=g-import-not-at-top
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  cfg, built = run_lib.restore(latent_ebm_run, ('generator', 'prior'))
  quiet = lambda *_: None
  path = saved_model.export(latent_ebm_run, export_dir=str(tmp_path), log=quiet)
  meta = read(path, 'metadata.json')
  assert 'the learned prior' in meta['latent_prior'] and 'sample' in meta['signatures']
  sample = tf.saved_model.load(path).signatures['sample']
  out = sample(n=tf.constant(6), seed=tf.constant(3, tf.int64))
  z0 = tf.random.stateless_normal((6, 16), seed=tf.constant([3, 0], tf.int64))
  want, _ = latent_ebm.sample_prior(built['prior'], z0, cfg.langevin,
                                    seed=tf.constant([3, 1], tf.int64))
  np.testing.assert_allclose(out['z'].numpy(), want.numpy(), atol=1e-5)
  assert np.abs(want.numpy() - z0.numpy()).mean() > 0.05  # the chain moved the starts
  np.testing.assert_allclose(out['images'].numpy(),
                             built['generator'](want, training=False).numpy(), atol=1e-5)
  assert twonets.load(path).latents(6, seed=3).tolist() == out['z'].numpy().tolist()
  np.testing.assert_array_equal(twonets.load(latent_ebm_run).latents(5, seed=2),
                                latent_ebm.prior_latents(built['prior'], cfg.langevin, 5, 2))

  tfl = tflite.export(latent_ebm_run, ['float32', 'int8'], export_dir=str(tmp_path),
                      log=quiet)
  bank = np.load(os.path.join(tfl, 'prior_latents.npy'))
  np.testing.assert_array_equal(bank, latent_ebm.prior_latents(
      built['prior'], cfg.langevin, bank.shape[0], cfg.seed))
  with open(os.path.join(tfl, 'generator_int8.tflite'), 'rb') as f:  # calibrated on the prior
    int8 = litert.run_signature(f.read(), bank[:64])
  on_prior = tflite.convert(built['generator'], 'int8',
                            calibration=bank[:tflite.CALIBRATION_LATENTS])
  on_gauss = tflite.convert(built['generator'], 'int8', seed=cfg.seed)
  np.testing.assert_array_equal(int8, litert.run_signature(on_prior, bank[:64]))
  assert not np.array_equal(int8, litert.run_signature(on_gauss, bank[:64]))
  assert read(tfl, 'metadata.json')['prior_latents']['rows'] == len(bank) == 4096
  assert set(map(tuple, twonets.load(tfl).latents(8, seed=1))) <= set(map(tuple, bank))
  with pytest.raises(ConfigError, match='the web page draws z ~ N\\(0, I\\); export '
                     '--formats=saved_model,tflite'):
    web.export(latent_ebm_run, ['float32'], export_dir=str(tmp_path), log=quiet)


def test_dual_mcmc_exports_every_net_it_has(dual_mcmc_run, tmp_path):
  """A dual-MCMC run's SavedModel has the triangle's signatures (its encoder and descriptor)
  and samples the averaged generator, like the triangle's."""
  from export import saved_model  # pylint: disable=g-import-not-at-top
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  _, built = run_lib.restore(dual_mcmc_run, ('generator', 'encoder', 'descriptor'))
  path = saved_model.export(dual_mcmc_run, export_dir=str(tmp_path), log=lambda *_: None)
  sigs = tf.saved_model.load(path).signatures
  assert set(sigs) == {'serving_default', 'sample', 'encode', 'reconstruct', 'energy'}
  z = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
  np.testing.assert_allclose(sigs['serving_default'](z=tf.constant(z))['images'].numpy(),
                             built['generator'](z, training=False).numpy(), atol=1e-5)
  x = built['generator'](z, training=False)
  np.testing.assert_allclose(sigs['energy'](images=x)['score'].numpy(),
                             built['descriptor'](x, training=False).numpy(), rtol=1e-5)


def test_tools_evaluate_tasks_on_a_latent_ebm_run(latent_ebm_run, tmp_path, monkeypatch,
                                                  scoring_cache):
  """sample and score draw from the learned prior (the trainer's sampler); reconstruct infers
  the test images' latents by the posterior's chain (the run has no encoder)."""
  import shutil  # pylint: disable=g-import-not-at-top
  import tasks  # pylint: disable=g-import-not-at-top
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv('TWONETS_CACHE', scoring_cache)
  wd = str(tmp_path / 'run')
  shutil.copytree(latent_ebm_run, wd)
  quiet = lambda *_: None
  cfg, built = run_lib.restore(wd, ('generator', 'prior'))
  with np.load(tasks.evaluate(wd, 'sample', num_images=20, seed=4, log=quiet)) as f:
    np.testing.assert_array_equal(f['images'], data_lib.to_uint8(latent_ebm.sample(
        built['generator'], built['prior'], cfg.langevin, 20, 4)))
  out = tasks.evaluate(wd, 'score', num_images=200, seed=1, log=quiet)
  assert set(out['sample_quality']['rows']) >= {'latent EBM generator', 'real_vs_real'}
  assert np.isfinite(out['fd'])
  final = read(latent_ebm_run, 'metrics.json')  # the trainer's measure: the training chain
  chain = tasks.evaluate(wd, 'reconstruct', num_images=final['test_recon_images'], steps=0,
                         log=quiet)
  mode = tasks.evaluate(wd, 'reconstruct', num_images=final['test_recon_images'], steps=100,
                        log=quiet)
  assert chain['test_recon_mae'] == pytest.approx(final['test_recon_mae'], rel=1e-5)
  # The posterior's mode reconstructs better than one noisy short-run draw.
  assert 0 < mode['test_recon_mae'] < chain['test_recon_mae'] < 0.2
  assert os.path.isfile(os.path.join(wd, 'reconstruct.json'))
