"""Every loss the trainers minimise, once, with one sign convention (docs/ALGORITHMS.md).

Energies: every descriptor net outputs a score f(X; θ); its energy is U(X) = −f(X; θ) (plus
the reference term ||X||²/(2s²) where a trainer has one). The metrics log f (`f_data`,
`f_samples`, `f_gen`, ...): higher f is more probable. Per-example reductions sum over the
pixels (or latent coordinates), batch reductions average over the examples.
"""
import math

import tensorflow as tf


def per_example_sum(x):
  """Σ over every axis but the first: [B, ...] → [B]."""
  return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), 1)


def ml_loss(f_data, f_samples):
  """Maximum-likelihood ("density shifting") loss of a descriptor, to minimise:
  mean_j f(X̃_j) − mean_i f(X_i). Its gradient is minus the log-likelihood gradient of Xie
  et al., "A Theory of Generative ConvNet", ICML 2016, eq. (4) (the intractable ∇log Z
  estimated by the samples X̃). The triangle's descriptor loss mean U(X) − mean U(X̃) is
  the same number."""
  return tf.reduce_mean(f_samples) - tf.reduce_mean(f_data)


def energy_penalty(f_data, f_samples):
  """mean f(X)² + mean f(X̃)²: keeps the energy's scale bounded, so that the chains can
  follow it (Du & Mordatch, "Implicit Generation and Modeling with Energy-Based Models",
  NeurIPS 2019, §3.3). Weighted by optim.energy_penalty."""
  return tf.reduce_mean(tf.square(f_data)) + tf.reduce_mean(tf.square(f_samples))


def reference_energy(x, ref_sigma):
  """||X||²/(2s²) per example (0 when s = 0: no reference term)."""
  if not ref_sigma:
    return tf.zeros([tf.shape(x)[0]], tf.float32)
  return per_example_sum(tf.square(x)) / (2 * ref_sigma**2)


def energy_metrics(x_data, x_samples, f_data, f_samples, ref_sigma) -> dict:
  """A descriptor step's metrics of its scores f and energies E = ||X||²/(2s²) − f, on the
  data and on the samples (means over the batch)."""
  return {'f_data': tf.reduce_mean(f_data),
          'f_samples': tf.reduce_mean(f_samples),
          'energy_data': tf.reduce_mean(reference_energy(x_data, ref_sigma) - f_data),
          'energy_samples': tf.reduce_mean(reference_energy(x_samples, ref_sigma) - f_samples)}


def grad_norm(grads, replicas):
  """The global norm of a replica's gradients of its own batch mean (they were computed of the
  loss scaled by 1/replicas, so that the replicas' sum is the global batch's gradient)."""
  return tf.linalg.global_norm(grads) * tf.cast(replicas, tf.float32)


def gaussian_recon(x, x_hat, sigma, mask=1.0):
  """mean_i ||M_i ⊙ (X_i − X̂_i)||² / (2σ²): minus the log-likelihood of the observed pixels
  under X = g(h) + N(0, σ²I), up to a constant (Han et al., "Alternating Back-Propagation
  for Generator Network", AAAI 2017, eq. 2; incomplete data §4). mask: 1 = observed."""
  return tf.reduce_mean(per_example_sum(tf.square((x - x_hat) * mask))) / (2 * sigma**2)


def gaussian_nll(h, mean, logvar):
  """−log N(h; mean, diag exp(logvar)) per example (the encoder's −log ρ_φ(h|X))."""
  return 0.5 * tf.reduce_sum(
      tf.square(h - mean) * tf.exp(-logvar) + logvar + math.log(2 * math.pi), axis=-1)


def kl_to_prior(mean, logvar):
  """KL(N(mean, diag exp(logvar)) || N(0, I)) per example."""
  return 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(logvar) - 1.0 - logvar, axis=-1)


def r1_penalty(grad_x):
  """mean_i ||∇_X f(X_i)||² over the data (Mescheder, Geiger, Nowozin, "Which Training
  Methods for GANs do actually Converge?", ICML 2018); the loss adds (γ/2) of it."""
  return tf.reduce_mean(per_example_sum(tf.square(grad_x)))


def masked_mae(x, x_hat, weight):
  """Mean |x − x̂| over pixels where weight = 1, in [0, 1] pixel units (images in [-1, 1])."""
  weight = tf.broadcast_to(weight, tf.shape(x))
  return tf.reduce_sum(tf.abs(x - x_hat) * weight) / (2 * tf.maximum(tf.reduce_sum(weight), 1.0))
