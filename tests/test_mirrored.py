"""Every trainer's first step under MirroredStrategy (2 logical CPUs, set up by
tests/conftest.py before TensorFlow starts) equals the one-replica step with the same global
batch: Langevin noise off, same seeds, same initial weights (tests/mirrored_equivalence.py)."""
import pytest

from tests import mirrored_equivalence as eq

# The fast tier keeps the two cheapest (~5 s each): Langevin on the samples (descriptor) and
# on persistent latents (generator); each trainer scales its own loss, so the rest are slow.
FAST = ('descriptor', 'generator')


@pytest.fixture
def strategy(mirrored_cpus):
  from core import runtime  # pylint: disable=g-import-not-at-top
  return runtime.make_strategy('mirrored', mirrored_cpus)


@pytest.mark.parametrize('algo', [a if a in FAST else pytest.param(a, marks=pytest.mark.slow)
                                  for a in eq.MIRRORED_ALGOS])
def test_two_replicas_match_one(digits, strategy, algo):
  """(Slow for the trainers FAST leaves out: 4-10 s each here.)"""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  one = eq.one_step(algo, digits, tf.distribute.get_strategy())
  row = eq.compare(algo, one, eq.one_step(algo, digits, strategy), strategy)
  assert row['replicas'] == 2
  if algo == 'multigrid':  # its default clamps half the chains: the clamped path is checked
    assert row['clamped_share'] == 0.5, row
  # Losses: equal up to float32 summation order.
  assert row['max_loss_rel_diff'] < 1e-5, row
  # Weights after one Adam step. Adam's first update is ≈ lr·g/(|g| + ε), so a gradient
  # within rounding of zero can move its weight by up to ~2·lr in either run; all but a tiny
  # share of the weights must agree to 1e-6, and none may differ by more than 2·lr (+ε).
  assert row['share_weights_off'] < 0.02, row
  assert row['max_weight_diff'] <= 2 * row['max_lr'] + 1e-6, row
