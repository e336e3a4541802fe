"""Every trainer's first step under MirroredStrategy (2 logical CPUs) equals the one-replica
step with the same global batch: Langevin noise off, same seeds, same initial weights."""
import json
import subprocess
import sys

import pytest

from tests import helpers


@pytest.fixture(scope='module')
def report(tmp_path_factory):
  digits = helpers.digits_npz(tmp_path_factory.mktemp('digits') / 'digits.npz')
  r = subprocess.run([sys.executable, '-m', 'tests.mirrored_equivalence', digits],
                     cwd=helpers.ROOT, capture_output=True, text=True, timeout=600,
                     env=dict(helpers.os.environ, TF_CPP_MIN_LOG_LEVEL='2',
                              PYTHONPATH=helpers.ROOT))
  assert r.returncode == 0, r.stderr[-3000:]
  return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('algo', ['descriptor', 'conditional', 'generator', 'coopnets',
                                  'triangle', 'multigrid', 'multiview'])
def test_two_replicas_match_one(report, algo):
  row = report[algo]
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
