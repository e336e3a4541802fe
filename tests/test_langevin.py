"""The Langevin kernel against analytic answers on Gaussian energies."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from trainers import langevin as L


def gaussian_energy(mu, var):
  """E(x) = ||x − μ||² / (2 var) per example: the energy of N(μ, var·I)."""
  mu = tf.constant(mu, tf.float32)
  return lambda x: tf.reduce_sum(tf.square(x - mu), axis=1) / (2.0 * var)


def discrete_stationary_var(var, delta):
  """Exact stationary variance of x ← x − (δ²/2)(x − μ)/var + δξ (an AR(1) chain)."""
  a = 1.0 - delta**2 / (2.0 * var)
  return delta**2 / (1.0 - a**2)


def run(energy, x0, seed=0, **kw):
  rng = tf.random.Generator.from_seed(seed)
  return L.compiled(energy, rng=rng, **kw)(tf.constant(x0, tf.float32))


def test_long_chains_reach_gaussian_mean_and_variance():
  mu, var, delta = np.array([1.5, -2.0], np.float32), 0.5, 0.1
  x, _ = run(gaussian_energy(mu, var), np.zeros((8000, 2)), steps=1500, step_size=delta)
  x = x.numpy()
  np.testing.assert_allclose(x.mean(0), mu, atol=0.03)
  # Against the discretised chain's exact variance (tight), and the target's (loose).
  np.testing.assert_allclose(x.var(0), discrete_stationary_var(var, delta), rtol=0.05)
  np.testing.assert_allclose(x.var(0), var, rtol=0.07)


def test_reference_term_gives_the_gaussian_product():
  # exp(−||x−μ||²/(2v)) · N(0, s²) ∝ N(μ s²/(v+s²), v s²/(v+s²)).
  mu, v, s = np.array([2.0, -1.0, 0.5], np.float32), 1.0, 0.5
  x, _ = run(gaussian_energy(mu, v), np.zeros((8000, 3)), steps=1500, step_size=0.1,
             ref_sigma=s)
  x = x.numpy()
  np.testing.assert_allclose(x.mean(0), mu * s**2 / (v + s**2), atol=0.03)
  np.testing.assert_allclose(x.var(0), v * s**2 / (v + s**2), rtol=0.08)


def test_without_noise_chains_reach_the_mode():
  mu = np.array([0.7, -0.3], np.float32)
  x, stats = run(gaussian_energy(mu, 0.2), np.full((5, 2), 10.0), steps=400, step_size=0.3,
                 noise=False)
  np.testing.assert_allclose(x.numpy(), np.broadcast_to(mu, (5, 2)), atol=1e-4)
  assert float(stats['energy_end']) < 1e-6 < float(stats['energy_start'])


def test_diagnostics_match_hand_computed_values():
  mu, var, delta = np.zeros(2, np.float32), 1.0, 0.5
  x0 = np.array([[3.0, 4.0], [0.0, 1.0]], np.float32)
  x, stats = run(gaussian_energy(mu, var), x0, steps=1, step_size=delta, noise=False)
  # One step of gradient descent: x ← x − (δ²/2)·x.
  expected = x0 * (1 - delta**2 / 2)
  np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6)
  np.testing.assert_allclose(stats['energy_start'], np.mean((x0**2).sum(1) / 2), rtol=1e-6)
  np.testing.assert_allclose(stats['energy_end'], np.mean((expected**2).sum(1) / 2), rtol=1e-6)
  np.testing.assert_allclose(stats['grad_norm'], np.mean([5.0, 1.0]), rtol=1e-6)


def test_zero_steps_return_the_start():
  x0 = np.ones((3, 2), np.float32)
  x, stats = run(gaussian_energy(np.zeros(2), 1.0), x0, steps=0, step_size=0.1)
  np.testing.assert_array_equal(x.numpy(), x0)
  assert float(stats['energy_start']) == pytest.approx(1.0)
  assert float(stats['energy_end']) == pytest.approx(1.0)
  assert float(stats['grad_norm']) == 0.0


def test_gradient_clipping_bounds_each_update():
  delta, clip = 0.2, 1.0
  x0 = np.array([[30.0, 40.0]], np.float32)  # ∇E = x, norm 50
  x, stats = run(gaussian_energy(np.zeros(2), 1.0), x0, steps=1, step_size=delta,
                 noise=False, clip=clip)
  moved = x0 - x.numpy()
  np.testing.assert_allclose(np.linalg.norm(moved), delta**2 / 2 * clip, rtol=1e-3)
  np.testing.assert_allclose(moved / np.linalg.norm(moved), [[0.6, 0.8]], rtol=1e-5)
  assert float(stats['grad_norm']) == pytest.approx(50.0)  # reported before clipping


def test_update_mask_clamps_entries():
  x0 = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
  mask = np.zeros((4, 6), np.float32)
  mask[:, :3] = 1.0
  x, _ = run(gaussian_energy(np.zeros(6), 1.0), x0, steps=20, step_size=0.3,
             update_mask=tf.constant(mask))
  x = x.numpy()
  np.testing.assert_array_equal(x[:, 3:], x0[:, 3:])
  assert np.all(np.abs(x[:, :3] - x0[:, :3]) > 0)


def test_bounds_project_chains_but_never_hide_overflow():
  x0 = np.array([[0.9, -0.9], [0.0, 0.5]], np.float32)
  x, _ = run(gaussian_energy(np.array([5.0, -5.0]), 1.0), x0, steps=50, step_size=0.5,
             noise=False, bounds=(-1.0, 1.0))
  np.testing.assert_allclose(x.numpy(), [[1.0, -1.0], [1.0, -1.0]])  # pinned at the box
  x, _ = run(gaussian_energy(np.zeros(2), 1.0), x0, steps=1, step_size=1e30, noise=False,
             bounds=(-1.0, 1.0))
  assert not np.isfinite(x.numpy()).any()  # δ² overflows: the NaN/inf is not clipped away


def test_same_seed_same_chains_other_seed_other_chains():
  e, x0 = gaussian_energy(np.zeros(3), 1.0), np.zeros((4, 3))
  a, _ = run(e, x0, seed=7, steps=10, step_size=0.1)
  b, _ = run(e, x0, seed=7, steps=10, step_size=0.1)
  c, _ = run(e, x0, seed=8, steps=10, step_size=0.1)
  np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert not np.allclose(a.numpy(), c.numpy())


def test_xla_kernel_reaches_the_mode_too():
  mu = np.array([0.5, 0.25], np.float32)
  x, _ = run(gaussian_energy(mu, 0.5), np.full((3, 2), -4.0), steps=300, step_size=0.3,
             noise=False, jit_compile=True)
  np.testing.assert_allclose(x.numpy(), np.broadcast_to(mu, (3, 2)), atol=1e-4)


@pytest.fixture
def bf16_policy():
  keras.mixed_precision.set_global_policy('mixed_bfloat16')
  yield
  keras.mixed_precision.set_global_policy('float32')


def test_mixed_bfloat16_net_keeps_float32_chains(bf16_policy):
  del bf16_policy
  inputs = keras.Input((4, 4, 1))
  h = keras.layers.Conv2D(8, 3, padding='same', activation='relu')(inputs)
  h = keras.layers.Flatten()(h)
  out = keras.layers.Dense(1, dtype='float32')(h)
  net = keras.Model(inputs, out)
  assert net.layers[1].compute_dtype == 'bfloat16'
  energy = lambda x: -net(x)[:, 0]
  x0 = np.random.default_rng(1).normal(size=(6, 4, 4, 1)).astype(np.float32)
  x, stats = run(energy, x0, steps=5, step_size=0.1, ref_sigma=1.0)
  assert x.dtype == tf.float32
  assert all(v.dtype == tf.float32 for v in stats.values())
  assert np.all(np.isfinite(x.numpy()))
  # The chain state moved by float32-sized increments, not bfloat16-rounded ones.
  assert not np.array_equal(x.numpy(), tf.cast(tf.cast(x, tf.bfloat16), tf.float32).numpy())
