"""The one Langevin kernel, shared by descriptor revision and generator posterior inference.

    X ← X − (δ²/2) ∇E(X) + δ·N(0, I),     E(X) = energy_fn(X) + ||X||² / (2 s²)

* Descriptor revision: energy_fn(X) = −f(X; θ) and s the reference σ of p0 = N(0, s²I)
  (Xie et al., "A Theory of Generative ConvNet", ICML 2016).
* Generator inference: energy_fn(h) = ||X − g(h; α)||² / (2σ²) and s = 1, the N(0, I)
  prior on h, so E = −log p(h | X) + const (Han et al., "Alternating Back-Propagation for
  Generator Network", AAAI 2017).

The kernel is pure: the energy function, the start and the settings come in; samples and
diagnostics go out; nothing is read from an object. The loop is `for _ in tf.range(steps)`,
which autograph turns into one `tf.while_loop` when the caller is a `tf.function` (every
trainer step is); `compiled()` wraps it on its own, optionally with XLA.

Precision: the chain state, the reference term, the gradient and the update are float32
whatever the Keras policy; under `mixed_bfloat16` only the nets inside `energy_fn` compute in
bfloat16 (Keras casts the float32 input at the first layer and the tape casts the gradient
back).
"""
import tensorflow as tf


def _per_example_sum(x):
  return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def total_energy(energy_fn, x, ref_sigma=0.0):
  """Per-example E(x) = energy_fn(x) + ||x||²/(2s²), float32 [B]."""
  energy = tf.cast(energy_fn(x), tf.float32)
  if ref_sigma:
    energy += _per_example_sum(tf.square(x)) / (2.0 * ref_sigma**2)
  return energy


def energy_and_grad(energy_fn, x, ref_sigma=0.0):
  """Per-example total energy E(x) [B] and ∇E(x), both float32."""
  with tf.GradientTape() as tape:
    tape.watch(x)
    energy = total_energy(energy_fn, x, ref_sigma)
    total = tf.reduce_sum(energy)  # inside the tape, so the sum is recorded
  return energy, tape.gradient(total, x)


def langevin(energy_fn, x0, *, steps, step_size, noise=True, ref_sigma=0.0, clip=0.0,
             bounds=None, rng=None, update_mask=None, seed=None):
  """Runs `steps` Langevin updates from `x0` under `energy_fn`.

  Args:
    energy_fn: x [B, ...] float32 → per-example energy [B] (any float dtype; cast to float32).
    x0: the chains' start [B, ...].
    steps: number of updates T (int or scalar tensor).
    step_size: δ.
    noise: add δ·N(0, I) (False turns the sampler into gradient descent on E).
    ref_sigma: s of the Gaussian reference term ||x||²/(2s²); 0 leaves it out.
    clip: if > 0, each example's gradient is clipped to this L2 norm.
    bounds: optional (low, high): after each update the chains are projected onto the box
      (projected Langevin; images live in [-1, 1]). None leaves them free.
    rng: a `tf.random.Generator` for the noise (checkpointable, replica-aware); None uses the
      global generator.
    seed: instead of rng, a [2] int seed: step i's noise is stateless_normal(seed + (0, i)),
      so the same seed always gives the same chains and no generator's state moves (exported
      signatures, sample grids).
    update_mask: optional {0, 1} tensor broadcastable to x; only entries with 1 move
      (inpainting: the observed pixels stay clamped).

  Returns:
    (x, stats): the samples (float32) and float32 scalars `energy_start`, `energy_end` (mean
    energy before the first and after the last update) and `grad_norm` (mean per-example
    L2 norm of ∇E over the updates, before clipping).
  """
  x = tf.cast(x0, tf.float32)
  steps = tf.convert_to_tensor(steps, tf.int32)
  step_size = tf.cast(step_size, tf.float32)
  if seed is not None:
    seed = tf.cast(seed, tf.int64)
  elif rng is None:
    rng = tf.random.get_global_generator()
  energy_start = tf.constant(float('nan'), tf.float32)
  grad_norm_sum = tf.constant(0.0, tf.float32)
  for i in tf.range(steps):
    energy, grad = energy_and_grad(energy_fn, x, ref_sigma)
    norms = tf.sqrt(_per_example_sum(tf.square(grad)))
    energy_start = tf.where(i == 0, tf.reduce_mean(energy), energy_start)
    grad_norm_sum += tf.reduce_mean(norms)
    if clip:
      scale = tf.minimum(1.0, clip / (norms + 1e-12))
      grad *= tf.reshape(scale, [-1] + [1] * (len(x.shape) - 1))
    update = -0.5 * tf.square(step_size) * grad
    if noise and seed is not None:
      update += step_size * tf.random.stateless_normal(
          tf.shape(x), seed=seed + tf.stack([tf.constant(0, tf.int64), tf.cast(i, tf.int64)]))
    elif noise:
      update += step_size * rng.normal(tf.shape(x))
    if update_mask is not None:
      update *= tf.cast(update_mask, tf.float32)
    x += update
    if bounds is not None:  # NaN/inf pass through: clipping must not hide a broken chain
      x = tf.where(tf.math.is_finite(x), tf.clip_by_value(x, bounds[0], bounds[1]), x)
  energy_end = tf.reduce_mean(total_energy(energy_fn, x, ref_sigma))
  ran = steps > 0
  stats = {
      'energy_start': tf.where(ran, energy_start, energy_end),
      'energy_end': energy_end,
      'grad_norm': tf.where(ran, grad_norm_sum / tf.cast(tf.maximum(steps, 1), tf.float32), 0.0),
  }
  return x, stats


def metrics(stats: dict, keys=('energy_start', 'energy_end', 'grad_norm')) -> dict:
  """A step's metrics of its chains' `stats` (as `langevin` returns them): langevin_KEY."""
  return {f'langevin_{k}': stats[k] for k in keys}


def compiled(energy_fn, *, jit_compile=False, **settings):
  """`langevin` with fixed settings as its own `tf.function` (XLA if `jit_compile`).

  Returns fn(x0) → (x, stats). Use it outside a trainer step (sampling, evaluation,
  benchmarks); inside a step `langevin` is traced into the step's graph, or, with XLA on,
  call the function returned here from the step.
  """
  return tf.function(lambda x0: langevin(energy_fn, x0, **settings), jit_compile=jit_compile)


def from_config(energy_fn, x0, lv, rng, *, steps=None, step_size=None, scale=1.0,
                ref_sigma=None, noise=None, clip=None, bounded=None, update_mask=None,
                seed=None):
  """`langevin` with the settings of a config section `lv` (cfg.langevin): steps,
  step_size, noise, ref_sigma, clip, and bounds [-1, 1] when lv.bounded. A keyword given
  here replaces the section's value; scale multiplies the step size (core/recovery's
  langevin_scale after a rollback)."""
  pick = lambda given, name: getattr(lv, name) if given is None else given
  return langevin(energy_fn, x0, steps=pick(steps, 'steps'),
                  step_size=pick(step_size, 'step_size') * scale, noise=pick(noise, 'noise'),
                  ref_sigma=pick(ref_sigma, 'ref_sigma'), clip=pick(clip, 'clip'),
                  bounds=(-1.0, 1.0) if pick(bounded, 'bounded') else None, rng=rng,
                  update_mask=update_mask, seed=seed)
