"""The bilinear warp, the deformable generator, latent interpolation and tools/sample."""
import json
import os

import numpy as np
import tensorflow as tf

from core import images
from models import deformable
from tests import helpers
from trainers import generator


def test_zero_field_is_the_identity():
  x = np.random.default_rng(0).uniform(-1, 1, (2, 9, 7, 3)).astype(np.float32)
  np.testing.assert_allclose(deformable.warp(x, np.zeros((2, 9, 7, 2))), x, atol=1e-6)


def test_integer_displacement_moves_a_one_hot_image():
  x = np.zeros((1, 8, 8, 1), np.float32)
  x[0, 3, 4, 0] = 1.0
  field = np.zeros((1, 8, 8, 2), np.float32)
  field[..., 0], field[..., 1] = 2.0, -1.0  # out(y, x) = in(y + 2, x − 1)
  out = deformable.warp(x, field).numpy()
  expected = np.zeros_like(x)
  expected[0, 1, 5, 0] = 1.0
  np.testing.assert_allclose(out, expected, atol=1e-6)


def test_half_pixel_displacement_interpolates_and_has_gradients():
  x = tf.constant(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
  field = tf.Variable(np.tile([0.0, 0.5], (1, 4, 4, 1)).astype(np.float32))
  with tf.GradientTape() as tape:
    out = deformable.warp(x, field)
    total = tf.reduce_sum(out)
  np.testing.assert_allclose(out[0, 1, :3, 0], [4.5, 5.5, 6.5])  # between columns
  assert out[0, 1, 3, 0] == 7.0  # clamped at the border
  assert np.isfinite(tape.gradient(total, field).numpy()).all()


def test_deformable_net_splits_its_latent():
  net = deformable.deformable_generator((28, 28, 1), latent_dim=12, widths=(16, 8))
  assert net.geometry_dim == 3 and net.output_shape == (None, 28, 28, 1)
  swapped = generator.geometry_swap(net, pairs=2)
  assert swapped.shape == (8, 28, 28, 1)


def test_deformable_training_and_geometry_swap_keep_appearance(deformable_run):
  """The session's deformable run (tests/conftest.py: 40 steps on digits) learned, and its
  geometry latents move the image without repainting it."""
  with open(os.path.join(deformable_run, 'metrics.jsonl')) as f:
    logged = [json.loads(line) for line in f]
  assert logged[-1]['step'] == 40
  assert logged[-1]['recon_mae'] < 0.6 * logged[0]['recon_mae'], (logged[0], logged[-1])
  _, net = generator.restore(deformable_run)
  x = generator.geometry_swap(net, pairs=8, seed=1).reshape(8, 4, -1)
  a1g1, a1g2, a2g2 = x[:, 0], x[:, 1], x[:, 2]
  # Appearance proxy: the sorted pixel intensities (a warp moves pixels, it does not
  # repaint them); shape proxy: the pixels in place.
  hist = lambda a, b: np.abs(np.sort(a, 1) - np.sort(b, 1)).mean(1)
  place = lambda a, b: np.abs(a - b).mean(1)
  assert place(a1g1, a1g2).min() > 0  # the geometry latents move the image ...
  assert (hist(a1g1, a1g2) < place(a1g1, a1g2)).mean() >= 0.75  # ... more than they repaint
  assert (hist(a1g1, a1g2) < hist(a1g1, a2g2)).mean() >= 0.75  # appearance stays with h_a


def test_interpolation_grid_ends_at_the_two_latents_and_tools_sample_writes_pngs(
    generator_run, tmp_path):
  run = helpers.copy_run(generator_run, tmp_path / 'run')  # tools/sample writes into it
  _, net = generator.restore(run)
  grid = generator.interpolation_grid(net, rows=3, steps=5, seed=4)
  rng = np.random.default_rng(4)
  z0, z1 = rng.standard_normal((2, 3, 1, net.input_shape[-1])).astype(np.float32)
  np.testing.assert_allclose(grid[::5], net(z0[:, 0]).numpy(), atol=1e-5)
  np.testing.assert_allclose(grid[4::5], net(z1[:, 0]).numpy(), atol=1e-5)
  r = helpers.tool('sample', f'--workdir={run}', '--interpolate', '--rows=3', '--steps=5')
  assert r.returncode == 0, r.stderr
  png = images.read_png(os.path.join(run, 'interpolation.png'))  # 28 px images: written 4×
  assert png.shape == (4 * (3 * 29 - 1), 4 * (5 * 29 - 1), 1)
  r = helpers.tool('sample', f'--workdir={run}', '--interpolate', '--rows=3', '--steps=5',
                   '--scale=1')
  assert r.returncode == 0, r.stderr
  one = images.read_png(os.path.join(run, 'interpolation.png'))
  assert one.shape == (3 * 29 - 1, 5 * 29 - 1, 1)
  np.testing.assert_array_equal(png[::4, ::4], one)  # each pixel a 4×4 block, nothing else
  helpers.one_line_error(helpers.tool('sample', f'--workdir={run}', '--scale=-1'),
                         '--scale=-1: give 1..32')
  r = helpers.tool('sample', f'--workdir={run}', '--swap_geometry')
  helpers.one_line_error(r, 'needs a deformable generator')
