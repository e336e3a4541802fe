"""The divergence triangle and the plain VAE: losses by hand, learning, the wall-clock budget,
the reference rows of the final evaluation, and reconstruction through the encoder."""
import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats as scipy_stats

import configs
from core import config as config_lib
from core.errors import ConfigError
from evaluation import scoring
from tests import helpers
from trainers import losses
from trainers import nets
from trainers import registry
from trainers import triangle


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
  np.testing.assert_allclose(losses.gaussian_nll(h, mean, logvar), want, rtol=1e-5)
  # KL(N(m, s²) || N(0, 1)) = log(1/s) + (s² + m²)/2 − 1/2, per dimension.
  want = (np.log(1 / sd) + (sd**2 + mean**2) / 2 - 0.5).sum(1)
  np.testing.assert_allclose(losses.kl_to_prior(mean, logvar), want, rtol=1e-5)
  assert float(losses.kl_to_prior(tf.zeros((1, 4)), tf.zeros((1, 4)))[0]) == 0.0


def test_registry_builds_the_encoders():
  import models  # pylint: disable=g-import-not-at-top
  for size, c in ((28, 1), (32, 3), (64, 3)):
    mean, logvar = models.build(f'encoder/{size}', (size, size, c), latent_dim=7)(
        tf.zeros((2, size, size, c)))
    assert mean.shape == (2, 7) and logvar.shape == (2, 7) and mean.dtype == tf.float32


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def test_triangle_learns_to_reconstruct(triangle_run):
  """The session's triangle run (tests/conftest.py: tools/train, 120 steps on 500 digits)."""
  rows = read_jsonl(os.path.join(triangle_run, 'metrics.jsonl'))
  with open(os.path.join(triangle_run, 'metrics.json')) as f:
    out = json.load(f)
  assert out['steps'] == 120 and [r['step'] for r in rows] == list(range(10, 121, 10))
  first, last = rows[0]['recon_mae'], rows[-1]['recon_mae']
  assert last < 0.6 * first, (first, last)
  assert out['test_recon_mae'] < 0.6 * first
  # The energy stays bounded with the penalty (|U| ≪ the 1/(2c) = 50 ceiling), and all three
  # nets were trained.
  assert max(abs(r['f_data']) + abs(r['f_gen']) for r in rows) < 60
  for key in ('grad_norm_d', 'grad_norm_g', 'grad_norm_e', 'latent_nll'):
    assert key in rows[-1]
  assert os.path.isfile(os.path.join(triangle_run, 'reconstructions.png'))


def test_vae_has_no_descriptor_and_stops_at_the_time_budget(digits, tmp_path):
  cfg = smoke_config(digits, 'vae', 'train.steps=100000', 'train.time_budget=4',
                     'train.ckpt_every=100000', 'train.sample_every=100000')
  out = triangle.train(cfg, str(tmp_path))
  assert 0 < out['steps'] < 100000 and out['wall_seconds'] < 10
  assert 'f_data' not in out['last'] and 'latent_nll' not in out['last']
  ckpt = tf.train.latest_checkpoint(str(tmp_path / 'checkpoints'))
  assert ckpt.endswith(f'ckpt-{out["steps"]}')  # the stop saved a checkpoint
  # A variable is listed under the first path that reaches it (the optimizer's, here).
  roots = {n.split('/')[0] for n, _ in tf.train.list_variables(ckpt)}
  assert {'enc_opt', 'gen_opt'} <= roots
  assert not roots & {'descriptor', 'desc_opt'}


def test_final_evaluation_has_every_reference_row(digits, tmp_path, monkeypatch, scoring_cache):
  monkeypatch.setenv('TWONETS_CACHE', scoring_cache)  # the scoring classifier
  cfg = smoke_config(digits, 'triangle', 'eval.score=true', 'eval.num_samples=200',
                     'train.steps=4', 'train.log_every=1', 'train.sample_every=2',
                     'eval.quick_fd=30')
  logged = []
  out = triangle.train(cfg, str(tmp_path / 'run'), log=logged.append)
  rows = out['sample_quality']['rows']
  assert set(rows) == {'triangle generator', 'triangle generator, raw weights',
                       'real_vs_real', 'blurred_real'}
  sha = out['sample_quality']['classifier_sha256']
  for r in rows.values():
    assert math.isfinite(r['fd']) and r['num_samples'] > 0 and r['num_reference'] > 0
    assert r['classifier_sha256'] == sha and len(sha) == 16
    assert r['class_max_share'] == max(r['class_histogram']) / sum(r['class_histogram'])
  # (Real < blurred is checked on enough images in test_scores; 30 a side is too few here.)
  assert out['fd'] == rows['triangle generator']['fd']
  # The weights' hash beside the headline score in metrics.json, as the scorer computes it.
  stored = json.load(open(tmp_path / 'run' / 'metrics.json'))
  assert stored['classifier_sha256'] == sha == scoring.weights_sha256(
      scoring.load_classifier(cfg.data.dataset, cfg.data.image_size, cfg.data.channels))
  # The averaged generator is not the raw one after 4 steps (its samples differ).
  assert rows['triangle generator']['fd'] != rows['triangle generator, raw weights']['fd']
  assert 1 <= out['classes_present'] <= 10
  assert not os.path.exists(tmp_path / 'run' / 'vae_reference')  # the main job trains one run
  # TensorBoard tells the same story: grouped tags, the optimizers' rates and the rollbacks at
  # every logged step, the quick FD every sample_every steps, the final scores under eval/,
  # the config as text and hparams, and the energies' data-vs-samples chart.
  ev = helpers.events(str(tmp_path / 'run'))
  groups = {t.split('/')[0] for t in ev['scalars']}
  assert {'loss', 'energy', 'grad_norm', 'recon', 'optim', 'eval'} <= groups
  assert 'other' not in groups and 'f_data' not in ev['scalars']
  rows = [json.loads(line) for line in open(tmp_path / 'run' / 'metrics.jsonl')]
  assert [s for s, _ in ev['scalars']['energy/f_data']] == [r['step'] for r in rows] == [1, 2, 3, 4]
  for name in ('optim/lr_gen_opt', 'optim/lr_enc_opt', 'optim/lr_desc_opt', 'optim/rollbacks'):
    assert [s for s, _ in ev['scalars'][name]] == [1, 2, 3, 4], name
  assert ev['scalars']['optim/lr_gen_opt'][0][1] == pytest.approx(cfg.optim.gen_lr)
  quick = ev['scalars']['eval/quick_fd']
  assert [s for s, _ in quick] == [2, 4] and all(v > 0 for _, v in quick)
  assert any(line.startswith('quick FD: 2 evaluations') for line in logged)
  assert ev['scalars']['eval/fd'] == [(4, pytest.approx(out['fd']))]
  assert ev['scalars']['eval/classes_present'] == [(4, out['classes_present'])]
  assert '"quick_fd": 30' in ev['text']['config/json']
  assert ev['hparams'] and ev['layout'] == [['energy/f_data', 'energy/f_gen']]
  # The quick FD leaves the training alone: without it, the same rows bit for bit.
  plain = smoke_config(digits, 'triangle', 'train.steps=4', 'train.log_every=1',
                       'train.sample_every=2')
  triangle.train(plain, str(tmp_path / 'plain'), log=lambda *_: None)
  without = [json.loads(line) for line in open(tmp_path / 'plain' / 'metrics.jsonl')]
  strip = lambda rs: [{k: v for k, v in r.items() if k != 'time'} for r in rs]
  assert strip(rows) == strip(without)


def test_ema_generator_is_checkpointed_and_restored(triangle_run):
  """The average lives in the checkpoint (slot generator_ema) and is what restore (export,
  tools/sample, tools/evaluate) hands out. (A checkpoint made before the average existed
  resumes with the average starting from its generator: test_old_runs.)"""
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  ckpt = tf.train.latest_checkpoint(os.path.join(triangle_run, 'checkpoints'))
  reader = tf.train.load_checkpoint(ckpt)
  names = [n for n, _ in tf.train.list_variables(ckpt)]
  ema = sorted(n for n in names if n.startswith('generator_ema/') and 'OPTIMIZER' not in n)
  assert ema
  _, avg = run_lib.restore(triangle_run, ('generator',))
  _, raw = run_lib.restore(triangle_run, ('generator',), average=False)
  z = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
  assert not np.allclose(avg['generator'](z), raw['generator'](z))
  want = [reader.get_tensor(n) for n in ema]
  got = sorted(avg['generator'].weights, key=lambda v: v.path)
  assert sum(w.size for w in want) == sum(int(np.prod(v.shape)) for v in got)
  # The restored average holds the checkpoint's generator_ema values, not the raw weights.
  assert sorted(float(np.sum(w)) for w in want) == pytest.approx(
      sorted(float(np.sum(v.numpy())) for v in got), rel=1e-5, abs=1e-5)


def test_reconstruct_and_sample_tools_on_a_triangle_run(triangle_run, tmp_path):
  wd = helpers.copy_run(triangle_run, tmp_path / 'tri')  # the tools write into it
  r = helpers.tool('evaluate', '--task=reconstruct', '--num_images=30', f'--workdir={wd}')
  assert r.returncode == 0, r.stderr
  with open(os.path.join(wd, 'reconstruct.json')) as f:
    assert 0 < json.load(f)['test_recon_mae'] < 1
  r = helpers.tool('evaluate', '--task=sample', '--num_images=25', f'--workdir={wd}')
  assert r.returncode == 0, r.stderr
  with np.load(os.path.join(wd, 'samples.npz')) as f:
    assert f['images'].shape == (25, 28, 28, 1) and set(f['net']) == {'generator'}
  r = helpers.tool('sample', '--interpolate', f'--workdir={wd}')
  assert r.returncode == 0, r.stderr
  assert os.path.isfile(os.path.join(wd, 'interpolation.png'))


def test_r1_penalty_is_the_mean_squared_data_gradient_of_the_energy(digits):
  """The logged r1 is E ||∇_X U(X_obs)||² of the batch, with the weights before the step."""
  cfg = smoke_config(digits, 'triangle', 'optim.r1_penalty=2.0')
  trainer = triangle.Triangle(cfg, tf.distribute.get_strategy(),
                              triangle.data_lib.from_config(cfg))
  x = next(trainer.make_iterator(0))  # the batch the step below will see first
  with tf.GradientTape() as tape:
    tape.watch(x)
    u = -tf.reduce_sum(trainer.descriptor(x, training=True))
  want = float(tf.reduce_mean(tf.reduce_sum(tf.square(tape.gradient(u, x)), [1, 2, 3])))
  got = trainer.train_step(trainer.make_iterator(0))
  np.testing.assert_allclose(float(got['r1']), want, rtol=1e-4)
  assert want > 0
  off = triangle.Triangle(smoke_config(digits, 'triangle', 'optim.r1_penalty=0'),
                          tf.distribute.get_strategy(),
                          triangle.data_lib.from_config(cfg))
  assert 'r1' not in off.train_step(off.make_iterator(0))


def test_lazy_r1_runs_every_kth_step_weighted_by_k(digits):
  """optim.r1_every=k: R1 on the steps the step counter makes a multiple of k, weighted × k
  (so its step equals an every-step run's with γ·k); none on the others, whose logged r1 is
  the last computed one."""
  def trainer(*sets):
    cfg = smoke_config(digits, 'triangle', *sets)
    return triangle.Triangle(cfg, tf.distribute.get_strategy(),
                             triangle.data_lib.from_config(cfg))
  lazy = trainer('optim.r1_penalty=1.0', 'optim.r1_every=3')
  eager = trainer('optim.r1_penalty=3.0', 'optim.r1_every=1')
  for net in ('descriptor', 'generator', 'encoder', 'generator_ema'):
    getattr(eager, net).set_weights(getattr(lazy, net).get_weights())
  runs = [(t, t.make_iterator(0)) for t in (lazy, eager)]
  first = [t.train_step(it) for t, it in runs]  # step 0: both apply R1
  assert 'r1' in first[0] and 'r1' in first[1]
  for a, b in zip(lazy.descriptor.get_weights(), eager.descriptor.get_weights()):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  for t, _ in runs:
    t.step.assign_add(1)
  second = [t.train_step(it) for t, it in runs]  # step 1: only the every-step run computes
  assert float(second[0]['r1']) == float(first[0]['r1'])  # the lazy run's carries step 0's
  assert float(second[1]['r1']) != float(first[1]['r1'])  # new weights, a new value
  lazy.step.assign(3)
  assert float(lazy.train_step(runs[0][1])['r1']) != float(first[0]['r1'])  # computed again


def test_r1_every_below_one_is_refused(digits):
  with pytest.raises(config_lib.ConfigError, match='optim.r1_every'):
    from trainers import registry  # pylint: disable=g-import-not-at-top
    registry.check(smoke_config(digits, 'triangle', 'optim.r1_every=0'))


def test_a_run_made_before_lazy_r1_resumes_with_r1_on_every_step():
  from trainers import registry  # pylint: disable=g-import-not-at-top
  for algo in ('triangle', 'vae'):
    stored = configs.get(algo, 'fashion_mnist')
    del stored.optim['r1_every']
    registry.complete(stored, 'config.json')
    assert stored.optim.r1_every == 1
  stored = configs.get('triangle', 'fashion_mnist')
  stored.optim.r1_every = 2
  assert registry.complete(stored, 'config.json').optim.r1_every == 2  # its own value stays


def test_nearest_upconv_is_resize_then_conv_and_reads_their_checkpoints(tmp_path):
  """models/generator.NearestUpConv2D (one stride-2 transposed convolution) against what it
  replaces, nearest ×2 by np.repeat then a 3×3 same convolution; and a generator of the old
  layout (a Resizing layer, then a Conv2D) restores into the new one, output for output."""
  import keras  # pylint: disable=g-import-not-at-top
  from models import generator as generator_lib  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  for size in (7, 4, 5):
    x = rng.standard_normal((2, size, size, 3)).astype(np.float32)
    layer = generator_lib.NearestUpConv2D(4)
    got = layer(x).numpy()
    big = np.repeat(np.repeat(x, 2, 1), 2, 2)
    want = tf.nn.conv2d(big, layer.kernel, 1, 'SAME').numpy() + layer.bias.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match='3x3 stride-1'):
    generator_lib.NearestUpConv2D(4, kernel_size=5)

  def old_layout():
    layers = keras.layers
    z = keras.Input((4,))
    h = layers.Reshape((7, 7, 8))(layers.LeakyReLU(0.2)(layers.Dense(7 * 7 * 8)(z)))
    h = layers.Resizing(14, 14, interpolation='nearest')(h)
    h = layers.LeakyReLU(0.2)(layers.Conv2D(4, 3, padding='same')(h))
    h = layers.Conv2D(1, 3, padding='same')(layers.Resizing(28, 28, interpolation='nearest')(h))
    return keras.Model(z, layers.Activation('tanh')(h))
  old = old_layout()
  path = tf.train.Checkpoint(generator=old).write(str(tmp_path / 'old'))
  new = generator_lib.generator_28(latent_dim=4, widths=(8, 4), upsample='resize')
  tf.train.Checkpoint(generator=new).read(path).assert_consumed()
  z = rng.standard_normal((3, 4)).astype(np.float32)
  np.testing.assert_allclose(new(z).numpy(), old(z).numpy(), rtol=1e-5, atol=1e-6)


def test_generator_upsampling_options():
  from models import generator as generator_lib  # pylint: disable=g-import-not-at-top
  nearest = generator_lib.generator_28(latent_dim=4, widths=(8, 4), upsample='resize')
  smooth = generator_lib.generator_28(latent_dim=4, widths=(8, 4), upsample='bilinear')
  smooth.set_weights(nearest.get_weights())  # same weights: only the ×2 differs
  z = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
  a, b = nearest(z).numpy(), smooth(z).numpy()
  assert a.shape == b.shape == (2, 28, 28, 1) and not np.allclose(a, b)
  with pytest.raises(ValueError, match='transpose, resize, bilinear'):
    generator_lib.generator_28(latent_dim=4, upsample='cubic')


def test_the_blur_is_a_binomial_filter_that_removes_the_checkerboard():
  from models import descriptor as descriptor_lib  # pylint: disable=g-import-not-at-top
  blur = lambda x: descriptor_lib.Blur()(x)  # a layer is built for one channel count
  impulse = np.zeros((1, 9, 9, 2), np.float32)
  impulse[0, 4, 4] = 1.0
  binomial = np.outer([1, 2, 1], [1, 2, 1]) / 16
  out = blur(impulse).numpy()
  np.testing.assert_allclose(out[0, 3:6, 3:6, 0], binomial, atol=1e-7)
  assert abs(out).sum() == pytest.approx(2.0)  # nothing else, and each channel alone
  board = np.where(np.add.outer(np.arange(9), np.arange(9)) % 2 == 0, 1.0, -1.0)
  flat = blur(np.full((1, 9, 9, 1), 0.7, np.float32)).numpy()
  np.testing.assert_allclose(flat, 0.7, rtol=1e-6)  # mirrored edges: a constant stays
  np.testing.assert_allclose(blur(board[None, :, :, None].astype(np.float32)).numpy()[
      0, 1:-1, 1:-1], 0.0, atol=1e-7)  # the period-2 pattern is gone inside


def test_the_blur_descriptor_is_the_strided_one_on_blurred_images_with_the_same_weights():
  from models import descriptor as descriptor_lib  # pylint: disable=g-import-not-at-top
  strided = descriptor_lib.descriptor_28(widths=(4, 8, 8), out_units=3)
  blurred = descriptor_lib.descriptor_28(widths=(4, 8, 8), out_units=3, downsample='blur')
  blurred.set_weights(strided.get_weights())  # the same variables: the blur has none
  x = np.random.default_rng(1).uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
  first = strided.get_layer('conv1')
  expected = strided.get_layer('lrelu1')(first(descriptor_lib.Blur()(x)))
  trunk = keras.Model(blurred.input, blurred.get_layer('lrelu1').output)
  np.testing.assert_allclose(trunk(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
  assert [l.name for l in blurred.layers if 'blur' in l.name] == ['blur1', 'blur2']  # strided
  assert not np.allclose(blurred(x).numpy(), strided(x).numpy())
  with pytest.raises(ValueError, match='downsample must be one of'):
    descriptor_lib.descriptor_28(downsample='box')
  cfg = configs.get('triangle', 'fashion_mnist', smoke=True)
  built = lambda: [l.name for l in nets.build(cfg, 'descriptor').layers if 'blur' in l.name]
  assert built() == []  # the default: strided convolutions
  config_lib.apply_overrides(cfg, ['model.descriptor_downsample=blur'])
  assert built() == ['blur1', 'blur2']  # the run's key reaches the net
  config_lib.apply_overrides(cfg, ['model.descriptor_downsample=box'])
  with pytest.raises(ConfigError, match='model.descriptor_downsample is stride'):
    registry.check(cfg)


def test_energies_are_logged_as_f_and_old_runs_read_by_their_old_names():
  from evaluation import results  # pylint: disable=g-import-not-at-top
  assert results.read_metric({'f_data': 2.5}, 'f_data') == 2.5
  assert results.read_metric({'u_data': 2.5, 'u_gen': -1.0}, 'f_data') == -2.5  # U = −f
  assert results.read_metric({'u_gen': -1.0}, 'f_gen') == 1.0
  with pytest.raises(KeyError):
    results.read_metric({'recon': 1.0}, 'f_gen')
