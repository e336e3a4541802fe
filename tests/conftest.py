"""Test set-up: quiet TF, the repository root importable, and the trained runs the tests share.

The suite has two tiers: `make test` runs every test not marked `slow` (minutes), `make
test-slow` the rest; each slow test's docstring says why it cannot be fast. A test that only
needs *a* trained run takes one of the session's runs below (read-only: copy it with
helpers.copy_run before changing or writing into it) instead of training its own. Under
pytest-xdist each run is made once for all workers (a file lock beside it)."""
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
# TensorFlow's start-up variables as the tools set them (quiet logs, oneDNN where it pays),
# before anything imports TensorFlow: in-process runs and tool processes compute alike.
from core import cpu  # pylint: disable=g-import-not-at-top,wrong-import-position
cpu.tf_environment()

from tests import helpers  # pylint: disable=g-import-not-at-top,wrong-import-position

# 28×28 grey digits: folder/npz sources default to 32×32×3.
SIZE = ('--set', 'data.image_size=28', '--set', 'data.channels=1')


def pytest_configure(config):
  config.addinivalue_line('markers', 'slow: the slow tier (make test-slow); the test\'s '
                          'docstring says why it cannot be fast')


def pytest_collection_finish(session):
  """Where a collected test runs MirroredStrategy in this process (it takes the
  `mirrored_cpus` fixture), splits the CPU into helpers.REPLICAS logical devices before any
  test runs: devices are only configurable before TensorFlow initialises them. Everything
  else runs on the first device as before (measured: no step got slower)."""
  if any('mirrored_cpus' in getattr(item, 'fixturenames', ()) for item in session.items):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    try:
      tf.config.set_logical_device_configuration(
          tf.config.list_physical_devices('CPU')[0],
          [tf.config.LogicalDeviceConfiguration()] * helpers.REPLICAS)
    except RuntimeError:  # devices already initialised: mirrored_cpus says so
      pass


@pytest.fixture
def mirrored_cpus():
  """helpers.REPLICAS, the logical CPUs MirroredStrategy splits a batch over in this process
  (set up by pytest_collection_finish)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  have = len(tf.config.list_logical_devices('CPU'))
  if have < helpers.REPLICAS:
    pytest.fail(f'this test process has {have} logical CPU(s), not {helpers.REPLICAS}: a '
                f'module ran a TensorFlow op while being imported, before the CPU was split')
  return helpers.REPLICAS


@pytest.fixture(scope='session', autouse=True)
def private_cache(tmp_path_factory):
  """No test reads or writes the user's ~/.cache/twonets (scoring classifiers)."""
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv('TWONETS_CACHE', str(tmp_path_factory.mktemp('twonets-cache')))
    yield


@pytest.fixture(scope='session')
def shared(tmp_path_factory):
  """shared(name, make) → the folder `make(folder)` filled, made once per test session (once
  for all pytest-xdist workers: they share the parent of their temporary folders)."""
  import filelock  # pylint: disable=g-import-not-at-top
  base = tmp_path_factory.getbasetemp()
  root = (base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base) / 'shared'
  root.mkdir(exist_ok=True)

  def once(name, make):
    path, done = root / name, root / f'{name}.made'
    with filelock.FileLock(str(root / f'{name}.lock')):
      if not done.exists():
        if path.exists():  # a try that failed half-way
          shutil.rmtree(path)
        path.mkdir()
        make(path)
        done.touch()
    return path

  return once


@pytest.fixture(scope='session')
def digits(shared):
  """scikit-learn's 600 digits at 28×28 (helpers.digits_npz), one file for the session."""
  return str(shared('digits', lambda p: helpers.digits_npz(p / 'digits.npz')) / 'digits.npz')


@pytest.fixture(scope='session')
def scoring_cache(shared, digits):
  """A TWONETS_CACHE holding the scoring classifier of the session's digits (3 epochs, the
  default), for the final evaluations that score samples: set it with monkeypatch."""
  def make(path):
    from evaluation import scoring  # pylint: disable=g-import-not-at-top
    with pytest.MonkeyPatch.context() as mp:
      mp.setenv('TWONETS_CACHE', str(path))
      scoring.train_classifier(f'npz:{digits}', 28, 1, log=lambda *_: None)
  return str(shared('scoring_cache', make))


def _train(workdir, *args):
  r = helpers.tool('train', f'--workdir={workdir}', *args)
  assert r.returncode == 0, r.stderr[-3000:]


@pytest.fixture(scope='session')
def triangle_run(shared, digits):
  """A divergence-triangle run by tools/train (in this process): 120 steps on 500 digits, a
  checkpoint at 60 and 120, long enough to learn (test_triangle) and for its generator's
  images to depend on z (test_export)."""
  return str(shared('triangle', lambda p: _train(
      p / 'run', '--algo=triangle', '--smoke', f'--dataset=npz:{digits}', *SIZE,
      '--steps=120', *[a for o in (
          'model.latent_dim=16', 'model.generator_widths=32,16', 'model.encoder_widths=16,32',
          'data.max_examples=500', 'data.batch_size=50', 'optim.gen_lr=0.002',
          'optim.enc_lr=0.002', 'train.log_every=10', 'train.sample_every=60',
          'train.ckpt_every=60') for a in ('--set', o)])) / 'run')


def _joint_run(shared, digits, algo, *sets):
  return str(shared(algo, lambda p: _train(
      p / 'run', f'--algo={algo}', '--smoke', f'--dataset=npz:{digits}', *SIZE, '--steps=120',
      *[a for o in ('model.latent_dim=16', 'model.generator_widths=32,16',
                    'data.max_examples=500', 'data.batch_size=50', 'optim.gen_lr=0.002',
                    'train.log_every=10', 'train.sample_every=60', 'train.ckpt_every=60',
                    *sets) for a in ('--set', o)])) / 'run')


@pytest.fixture(scope='session')
def latent_ebm_run(shared, digits):
  """A latent-EBM run by tools/train: 120 steps on 500 digits (posterior K1 = 10), a
  checkpoint at 60 and 120 (test_latent_ebm's learning, test_export)."""
  return _joint_run(shared, digits, 'latent_ebm', 'langevin.steps=10',
                    'langevin.prior_steps=20', 'model.prior_widths=32,32', 'optim.lr=1e-4')


@pytest.fixture(scope='session')
def dual_mcmc_run(shared, digits):
  """A dual-MCMC run by tools/train: 120 steps on 500 digits, a checkpoint at 60 and 120
  (test_latent_ebm's learning, test_export)."""
  return _joint_run(shared, digits, 'dual_mcmc', 'model.encoder_widths=16,32',
                    'optim.enc_lr=0.002', 'langevin.steps=5', 'langevin.gen_steps=5')


@pytest.fixture(scope='session')
def generator_run(shared, digits):
  """A generator (alternating back-propagation) run learning from digits with half their
  pixels missing: 120 steps, latent 16 (test_generator's learning, test_evaluate's tasks,
  tools/sample)."""
  return str(shared('generator', lambda p: _train(
      p / 'run', '--algo=generator', f'--dataset=npz:{digits}', *SIZE, '--steps=120',
      '--mask=pixels:0.5', *[a for o in (
          'data.max_examples=500', 'data.batch_size=50', 'model.latent_dim=16',
          'model.widths=64,32', 'langevin.steps=10', 'train.log_every=10',
          'train.sample_every=1000',
          'train.ckpt_every=1000') for a in ('--set', o)])) / 'run')


@pytest.fixture(scope='session')
def deformable_run(shared, digits):
  """A deformable-generator run (its latent has appearance and geometry parts), 40 steps."""
  return str(shared('deformable', lambda p: _train(
      p / 'run', '--algo=deformable', '--smoke', f'--dataset=npz:{digits}', *SIZE,
      '--steps=40', '--set', 'model.latent_dim=16', '--set', 'optim.lr=0.002')) / 'run')


@pytest.fixture(scope='session')
def descriptor_run(shared, digits):
  """A --smoke descriptor run (6 steps): a run with no generator, for the tools' refusals
  and for resume tests (copy it first)."""
  return str(shared('descriptor', lambda p: _train(
      p / 'run', '--algo=descriptor', '--smoke', f'--dataset=npz:{digits}', *SIZE)) / 'run')
