"""Multi-grid descriptors: the grid operators, the ladders, clamped inpainting, the features,
learning at every grid end to end, and the tools' messages."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import configs
from core import config as config_lib
from core import data as data_lib
from core import grids as grids_lib
from core import masks as masks_lib
from core.errors import ConfigError
from models import multigrid as mg
from tasks import multigrid as multigrid_tasks
from tests import helpers
from trainers import multigrid
from trainers import nets
from trainers import registry


def smoke_config(digits, *overrides):
  cfg = configs.get('multigrid', f'npz:{digits}', smoke=True)
  config_lib.apply_overrides(cfg, ['data.image_size=28', 'data.channels=1', *overrides])
  return registry.check(cfg)


# ------------------------------------------------------------------ grid operators


def test_a_constant_image_survives_down_and_up_sampling():
  x = tf.fill([2, 28, 28, 3], 0.37)
  for size in (1, 7, 14):
    down = mg.downsample(x, size)
    assert down.shape == (2, size, size, 3)
    np.testing.assert_allclose(down, 0.37, rtol=2e-5)
    np.testing.assert_allclose(mg.upsample(down, 28), 0.37, rtol=2e-5)


def test_averaging_preserves_the_mean_and_up_then_down_is_the_identity():
  x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 1)), tf.float32)
  for size in (1, 4, 16):
    down = mg.downsample(x, size)
    np.testing.assert_allclose(tf.reduce_mean(down, (1, 2, 3)), tf.reduce_mean(x, (1, 2, 3)),
                               atol=1e-6)
    # each coarse pixel is the mean of its block (one block by hand)
    k = 32 // size
    np.testing.assert_allclose(down[1, 0, 0, 0], tf.reduce_mean(x[1, :k, :k, 0]), atol=1e-6)
    up = mg.upsample(down, 32)
    np.testing.assert_allclose(up[1, k - 1, k - 1, 0], down[1, 0, 0, 0])  # a block of copies
    np.testing.assert_allclose(mg.downsample(up, size), down, atol=1e-6)
  with pytest.raises(ValueError, match='cannot average-pool 32x32 to 5x5'):
    mg.downsample(x, 5)


def test_ladders_and_their_checks():
  assert grids_lib.default_grids(32) == (1, 4, 16, 32)
  assert grids_lib.default_grids(64) == (1, 4, 16, 64)
  assert grids_lib.default_grids(28) == (1, 7, 14, 28)
  for size in (28, 32, 64, 48):
    assert grids_lib.check_grids(grids_lib.default_grids(size), size) == ''
  assert 'multiple of the one before' in grids_lib.check_grids((1, 5, 28), 28)
  assert 'start at 1 and end at the image size 28' in grids_lib.check_grids((1, 7, 14), 28)
  cfg = configs.get('multigrid', 'fashion_mnist')
  config_lib.apply_overrides(cfg, ['model.grids=1,5,28'])
  with pytest.raises(ConfigError, match='nearest up-sampling from 5 to 28 is not whole'):
    registry.check(cfg)
  cfg = configs.get('multigrid', 'fashion_mnist')
  config_lib.apply_overrides(cfg, ['langevin.clamped_share=1.5'])
  with pytest.raises(ConfigError, match=r'clamped_share is a fraction in \[0, 1\], got 1.5'):
    registry.check(cfg)
  cfg = configs.get('multigrid', 'fashion_mnist')
  config_lib.apply_overrides(cfg, ['langevin.clamp_masks=block:10,doodle'])
  assert tuple(cfg.langevin.clamp_masks) == ('block:10', 'doodle')
  config_lib.apply_overrides(cfg, ['langevin.clamp_masks=block:40'])
  with pytest.raises(ConfigError, match='the block must be 1..27 pixels'):
    registry.check(cfg)
  cfg = configs.get('multigrid', 'fashion_mnist')
  config_lib.apply_overrides(cfg, ['langevin.grid_steps=10,20'])
  with pytest.raises(ConfigError, match=r'one T >= 0 for each grid above 1x1 \(\[7, 14, 28\]\)'):
    registry.check(cfg)


def test_one_net_per_grid_above_1x1_and_features_of_each_layer():
  nets = mg.multigrid_descriptors((32, 32, 3))
  assert sorted(nets) == [4, 16, 32]
  for size, net in nets.items():
    f = net(tf.zeros((2, size, size, 3)))
    assert f.shape == (2,) and f.dtype == tf.float32
  feats = {g: mg.feature_model(n) for g, n in nets.items()}
  x = tf.constant(np.random.default_rng(1).uniform(-1, 1, (5, 32, 32, 3)), tf.float32)
  out = mg.pooled_features(feats, x)
  # 4×4 net: one layer of 64; 16: 64, 128; 32: 64, 128, 256 — each pooled to 2×2 regions
  assert out.shape == (5, 4 * (64 + 64 + 128 + 64 + 128 + 256))
  # features are per image: the first image's features do not depend on the others
  np.testing.assert_allclose(mg.pooled_features(feats, x[:1])[0], out[0], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ inpainting


@pytest.mark.parametrize('spec', ['block:10', 'doodle', 'pepper:0.5'])
def test_clamped_inpainting_never_changes_observed_pixels(digits, spec):
  cfg = smoke_config(digits, 'langevin.noise=true', 'langevin.steps=5')
  keras.utils.set_random_seed(0)
  grid_nets = nets.build(cfg, 'descriptors')
  x = data_lib.to_float(data_lib.from_config(cfg, 'test').images[:8])
  mask = masks_lib.make(spec, np.arange(8), 28, seed=2)
  assert 0 < mask.mean() < 1
  filled = multigrid_tasks.inpaint(grid_nets, multigrid.steps_of(cfg), cfg.langevin, x, mask,
                                   seed=0)
  observed = np.broadcast_to(mask > 0, x.shape)
  np.testing.assert_array_equal(filled[observed], x[observed])
  # the missing pixels were revised: they differ from the truth and from a flat fill
  assert np.abs(filled[~observed] - x[~observed]).mean() > 1e-3
  assert np.std(filled[~observed]) > 1e-3


def test_clamped_training_chains_take_the_last_share_of_the_batch(digits):
  cfg = smoke_config(digits, 'langevin.clamped_share=0.25')
  trainer = multigrid.MultiGrid(cfg, tf.distribute.get_strategy(), data_lib.from_config(cfg))
  m = trainer._clamp_masks().numpy()  # pylint: disable=protected-access
  observed = m.reshape(20, -1).sum(1)
  assert (observed[:15] == 0).all()  # free chains: nothing clamped
  assert (observed[15:] > 0).all() and (observed[15:] < 28 * 28).all()  # masked chains


def test_clamped_masks_do_not_depend_on_the_number_of_replicas(digits):
  """Drawn once on the host for the global batch from the seeded host RNG."""
  cfg = smoke_config(digits, 'langevin.clamped_share=0.5')

  class TwoReplicas:  # what a strategy of two replicas would report
    num_replicas_in_sync = 2
  masks = []
  for strategy in (tf.distribute.get_strategy(), TwoReplicas()):
    trainer = multigrid.MultiGrid(cfg, tf.distribute.get_strategy(), data_lib.from_config(cfg))
    trainer.strategy = strategy
    masks.append(trainer._clamp_masks().numpy())  # pylint: disable=protected-access
  np.testing.assert_array_equal(masks[0], masks[1])
  assert (masks[0][:10] == 0).all() and (masks[0][10:].reshape(10, -1).sum(1) > 0).all()


def test_doodle_and_pepper_masks():
  doodle = masks_lib.make('doodle', np.arange(100), 28, seed=0)
  missing = 1.0 - doodle.mean(axis=(1, 2, 3))
  assert 0.1 < missing.mean() < 0.35 and missing.min() > 0.05
  np.testing.assert_array_equal(doodle[3], masks_lib.make('doodle', [3], 28, seed=0)[0])
  pepper = masks_lib.make('pepper:0.7', np.arange(50), 28, seed=0)
  assert abs((1.0 - pepper.mean()) - 0.7) < 0.02
  with pytest.raises(ConfigError, match=r'must be in \(0, 1\), e.g. pepper:0.5'):
    masks_lib.parse('pepper:2', 28)


# ------------------------------------------------------------------ learning, end to end


@pytest.fixture(scope='module')
def run(digits, tmp_path_factory):
  """A multi-grid run by tools/train: 120 steps on all 540 training digits, half the chains
  clamped (the default). Read-only: the tools' test copies it."""
  wd = str(tmp_path_factory.mktemp('multigrid') / 'run')
  r = helpers.tool('train', '--algo=multigrid', f'--dataset=npz:{digits}', '--smoke',
                   f'--workdir={wd}', *[a for o in (
                   'data.image_size=28', 'data.channels=1', 'model.widths=16,32,32',
                   'data.batch_size=50', 'data.max_examples=0', 'langevin.steps=10',
                   'train.steps=120', 'optim.lr=0.003', 'train.log_every=40',
                   'train.sample_every=120', 'train.ckpt_every=120',
                   'eval.num_samples=200') for a in ('--set', o)])
  assert r.returncode == 0, r.stderr[-2000:]
  return wd


def test_learning_happens_at_every_grid(run):
  """After a short run, at every grid the chain's samples are closer to the data down-sampled
  to that grid than the same chain with the untrained nets (same starts, same settings)."""
  cfg = registry.stored_config(run)
  assert cfg.langevin.clamped_share == 0.5
  keras.utils.set_random_seed(cfg.seed)  # the run's initial nets
  untrained = nets.build(cfg, 'descriptors')
  _, trained = multigrid.restore(run)
  real = data_lib.to_float(data_lib.from_config(cfg).images)
  steps = multigrid.steps_of(cfg)
  before = multigrid.synthesize(untrained, steps, cfg, real, 200, seed=5)
  after = multigrid.synthesize(trained, steps, cfg, real, 200, seed=5)
  for k, size in enumerate(nets.grids(cfg)[1:], start=1):
    data_k = mg.downsample(tf.constant(real), size).numpy()
    gap = lambda x: np.mean((x.mean(0) - data_k.mean(0))**2) + abs(x.std() - data_k.std())
    assert gap(after[k]) < 0.6 * gap(before[k]), (size, gap(after[k]), gap(before[k]))
  with open(os.path.join(run, 'metrics.json')) as f:
    out = json.load(f)
  assert out['grids'] == [1, 7, 14, 28]
  assert set(out) >= {'grid_7', 'grid_14', 'grid_28'}
  grid_png = os.path.join(run, 'samples', 'step_120.png')
  assert os.path.exists(grid_png)
  from core import images as images_lib  # pylint: disable=g-import-not-at-top
  # ROWS chains, each row shows the 4 grid levels side by side: 4·(28+1)−1 pixels wide, written
  # 4× (core/images.readable_scale of 28 px)
  assert images_lib.read_png(str(grid_png)).shape[1] == 4 * (4 * 29 - 1)


# ------------------------------------------------------------------ tools


def test_tools_features_and_inpaint(run, tmp_path):
  wd = helpers.copy_run(run, tmp_path / 'mg')  # the tools write into it
  r = helpers.tool('evaluate', '--task=features', f'--workdir={wd}', '--labels=20,40',
                   '--num_test=50')
  assert r.returncode == 0, r.stderr[-2000:]
  out = json.load(open(os.path.join(wd, 'features.json')))
  for method in ('multigrid descriptors', 'raw pixels',
                 'random descriptors (same nets, untrained)'):
    for n in (20, 40):
      assert 0.0 <= out['methods'][method][f'labels={n}']['svm_test_error_pct'] <= 100.0
  r = helpers.tool('evaluate', '--task=inpaint', '--mask=doodle', f'--workdir={wd}',
                   '--num_images=10', '--chains=2')
  assert r.returncode == 0, r.stderr[-2000:]
  out = json.load(open(os.path.join(wd, 'inpaint_doodle.json')))
  assert set(out['methods']) == {'multigrid descriptors', 'mean image', 'nearest neighbour',
                                 'biharmonic diffusion'}
  assert out['chains_per_image'] == 2 and out['num_images'] == 10
  assert os.path.exists(os.path.join(wd, 'inpaint_doodle.png'))
  r = helpers.tool('evaluate', '--task=inpaint', '--mask=doodle', f'--workdir={wd}',
                   '--chains=0')
  assert r.returncode != 0 and '--chains must be at least 1' in r.stderr
  # bad input: one clear line, non-zero exit
  r = helpers.tool('evaluate', '--task=inpaint', f'--workdir={wd}')
  assert r.returncode != 0 and 'needs --mask=block:K, doodle or pepper:P' in r.stderr
  r = helpers.tool('evaluate', '--task=features', f'--workdir={wd}', '--labels=many')
  assert r.returncode != 0 and '--labels takes numbers' in r.stderr
  r = helpers.tool('train', '--algo=multigrid', f'--workdir={tmp_path / "bad"}',
                   '--set', 'model.grids=1,5,28')
  assert r.returncode != 0 and 'nearest up-sampling from 5 to 28 is not whole' in r.stderr
  assert 'Traceback' not in r.stderr


def test_api_energy_is_each_grids_descriptor_on_the_pooled_images(run):
  """twonets.load(run).energy: {grid: −f_grid(X average-pooled to the grid)}."""
  import twonets  # pylint: disable=g-import-not-at-top
  _, trained = multigrid.restore(run)
  x = np.random.default_rng(0).uniform(-1, 1, (6, 28, 28, 1)).astype(np.float32)
  got = twonets.load(run).energy(x)
  assert sorted(got) == [7, 14, 28]
  for size, u in got.items():
    want = -trained[size](mg.downsample(tf.constant(x), size), training=False).numpy()
    np.testing.assert_allclose(u, want, rtol=1e-5, atol=1e-5)
