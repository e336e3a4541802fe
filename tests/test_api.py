"""twonets.py, the notebook API: each method against the nets restored by the training code, its
refusals in-process, and README's example executed as written (on the session's triangle run)."""
import os
import re

import numpy as np
import pytest

import twonets
from core.errors import ConfigError
from tests import helpers
from trainers import run as run_lib

README = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), 'README.md')


@pytest.fixture(scope='module')
def triangle(triangle_run):
  return twonets.load(triangle_run), run_lib.restore(triangle_run)[1]


@pytest.fixture(scope='module')
def held_out(digits):
  with np.load(digits) as f:
    return f['images'][-40:, ..., None]  # uint8 [40, 28, 28, 1]


def test_sample_generate_and_interpolate_are_the_generator_on_seeded_latents(triangle):
  m, nets = triangle
  g = nets['generator']
  assert (m.kind, m.algo, m.latent_dim, m.image_shape) == ('run', 'triangle', 16, (28, 28, 1))
  z = np.random.default_rng(7).standard_normal((5, 16)).astype(np.float32)  # tools/sample's
  np.testing.assert_array_equal(m.latents(5, 7), z)
  want = g(z, training=False).numpy()
  np.testing.assert_allclose(m.sample(5, seed=7), want, atol=1e-6)
  np.testing.assert_allclose(m.generate(z[::-1]), want[::-1], atol=1e-6)
  walk = m.interpolate(7, z[1], steps=5)  # a seed (its first latent) to a latent vector
  t = np.linspace(0, 1, 5, dtype=np.float32)[:, None]
  np.testing.assert_allclose(walk, g((1 - t) * z[0] + t * z[1], training=False).numpy(),
                             atol=1e-6)
  assert walk.std(0).mean() > 0.01  # the walk moves


def test_encode_reconstruct_energy_are_the_runs_nets(triangle, held_out):
  m, nets = triangle
  x = held_out.astype(np.float32) / 127.5 - 1
  mu = nets['encoder'](x, training=False)[0].numpy()
  np.testing.assert_allclose(m.encode(held_out), mu, atol=1e-5)  # uint8 converted
  np.testing.assert_allclose(m.encode(x[..., 0]), mu, atol=1e-5)  # [N, H, W] for one channel
  rec = m.reconstruct(x)
  np.testing.assert_allclose(rec, nets['generator'](mu, training=False).numpy(), atol=1e-5)
  # A learned autoencoder: each image is nearer its own reconstruction than the others'.
  own = np.abs(rec - x).mean((1, 2, 3))
  other = np.abs(np.roll(rec, 1, 0) - x).mean((1, 2, 3))
  assert (own < other).mean() > 0.8
  u = m.energy(x)
  assert u.shape == (40,)
  np.testing.assert_allclose(u, -nets['descriptor'](x, training=False).numpy().reshape(-1),
                             rtol=1e-5, atol=1e-4)


def test_checkpoint_picks_an_older_step(triangle_run, triangle):
  """checkpoint=60: the generator of that checkpoint (the run keeps 60 and 120)."""
  m60 = twonets.load(triangle_run, checkpoint='60')
  g60 = run_lib.restore(triangle_run, ('generator',), checkpoint='60')[1]['generator']
  z = m60.latents(4, 2)
  np.testing.assert_allclose(m60.generate(z), g60(z, training=False).numpy(), atol=1e-6)
  assert not np.allclose(m60.generate(z), triangle[0].generate(z), atol=1e-3)


def test_bad_input_and_missing_nets_are_one_clear_error(triangle, descriptor_run,
                                                       generator_run, tmp_path):
  m, _ = triangle
  bad = [(lambda: m.encode(np.zeros((2, 32, 32, 1), np.uint8)), r'\[N, 28, 28, 1\].*\(2, 32'),
         (lambda: m.energy(np.full((2, 28, 28, 1), 3.0)), r'lie in \[-1, 1\]'),
         (lambda: m.energy(np.zeros((2, 28, 28, 1), np.int64)), r'uint8.*int64'),
         (lambda: m.generate(np.zeros((2, 15))), r'\[n, 16\]'),
         (lambda: m.interpolate(0, np.zeros(3)), 'latent of 16'),
         (lambda: m.interpolate(0, 1, steps=1), 'at least 2'),
         (lambda: twonets.load(str(tmp_path / 'nothing')), 'no such run or export'),
         (lambda: twonets.load(str(tmp_path)), 'neither a .tflite file'),
         (lambda: twonets.load('', checkpoint='60'), 'is an export, not a run')]
  for call, match in bad:
    with pytest.raises(ConfigError, match=match):
      call()
  d = twonets.load(descriptor_run)
  assert d.energy(np.zeros((3, 28, 28), np.uint8)).shape == (3,)
  with pytest.raises(ConfigError, match=r'sample\(\) needs a generator.*descriptor run'):
    d.sample(4)
  g = twonets.load(generator_run)
  with pytest.raises(ConfigError, match=r'encode\(\) needs an encoder.*generator run'):
    g.encode(np.zeros((1, 28, 28, 1), np.uint8))
  with pytest.raises(ConfigError, match=r'energy\(\) needs a descriptor'):
    g.energy(np.zeros((1, 28, 28, 1), np.uint8))


def test_readme_example_runs_as_written(triangle_run, tmp_path, monkeypatch):
  """The README's first python block, executed with runs/main = the session's triangle run."""
  with open(README, encoding='utf-8') as f:
    blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
  code = next(b for b in blocks if 'twonets.load' in b)
  (tmp_path / 'runs').mkdir()
  os.symlink(triangle_run, tmp_path / 'runs' / 'main')
  monkeypatch.chdir(tmp_path)
  ns = {}
  exec(compile(code, README, 'exec'), ns)  # pylint: disable=exec-used
  m, x = ns['m'], ns['x']
  assert x.shape == (16,) + m.image_shape and -1 <= x.min() < x.max() <= 1
  np.testing.assert_allclose(ns['y'], m.generate(ns['h']), atol=1e-6)
  assert ns['u'].shape == (16,) and ns['walk'].shape == (8,) + m.image_shape
  assert ns['web'].kind == 'tflite' and ns['web'].sample(2).shape[1:] == (28, 28, 1)
