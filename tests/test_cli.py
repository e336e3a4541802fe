"""tools/train from the command line, in fresh processes: runs, resume, mirrored, bad input."""
import json
import os
import time

import pytest

from tests import helpers
from trainers import registry


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
  return helpers.digits_npz(tmp_path_factory.mktemp('digits') / 'digits.npz')


def train(*args, **kw):
  return helpers.run_tool('train', *args, **kw)


# The digits npz holds 28×28 grey images; folder/npz sources default to 32×32×3.
SIZE = ('--set', 'data.image_size=28', '--set', 'data.channels=1')


def test_help_lists_algorithms_and_datasets():
  r = train('--help')
  assert r.returncode == 0
  assert 'descriptor' in r.stdout and 'folder:PATH' in r.stdout and 'texture:' in r.stdout


def test_smoke_run_then_resume_then_fresh(digits, tmp_path):
  wd = str(tmp_path / 'run')
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, f'--workdir={wd}', '--smoke')
  assert r.returncode == 0, r.stderr
  assert {'config.json', 'checkpoints', 'metrics.jsonl', 'metrics.json', 'samples'} <= set(
      os.listdir(wd))
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(wd))
  assert sorted(os.listdir(os.path.join(wd, 'samples'))) == ['step_3.png', 'step_6.png']
  assert '100%' in r.stderr and 'it/s' in r.stderr  # the progress bar
  # Rerun with more steps and no --algo/--dataset: resumes from step 6.
  r = train(f'--workdir={wd}', '--steps=8')
  assert r.returncode == 0, r.stderr
  assert 'resumed from' in r.stdout and 'at step 6' in r.stdout
  assert json.load(open(os.path.join(wd, 'config.json')))['train']['steps'] == 8
  steps = [json.loads(l)['step'] for l in open(os.path.join(wd, 'metrics.jsonl'))]
  assert steps == [2, 4, 6, 8]
  # --fresh keeps the old run under previous/ and starts at step 0.
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, f'--workdir={wd}', '--smoke',
            '--fresh')
  assert r.returncode == 0, r.stderr
  assert 'moved to' in r.stdout and 'resumed' not in r.stdout
  (stamp,) = os.listdir(os.path.join(wd, 'previous'))
  assert os.path.isfile(os.path.join(wd, 'previous', stamp, 'checkpoints', 'ckpt-8.index'))


def test_mirrored_over_two_logical_cpus(digits, tmp_path):
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, f'--workdir={tmp_path}',
            '--smoke', '--strategy=mirrored', '--replicas=2')
  assert r.returncode == 0, r.stderr
  assert '2 replica(s)' in r.stdout
  final = json.load(open(tmp_path / 'metrics.json'))
  assert final['steps'] == 6 and os.path.isfile(tmp_path / 'checkpoints' / 'ckpt-6.index')
  logged = [json.loads(line)['step'] for line in open(tmp_path / 'metrics.jsonl')]
  assert logged == [2, 4, 6]  # every log step once, across both replicas' reduction
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, f'--workdir={tmp_path / "odd"}',
            '--smoke', '--strategy=mirrored', '--replicas=3')
  assert r.returncode == 2 and 'does not split over 3 replicas' in r.stderr


def fails_fast(args, message, within=None):
  start = time.time()
  r = train(*args)
  took = time.time() - start
  assert r.returncode != 0, r.stdout
  assert message in r.stderr, r.stderr
  assert 'Traceback' not in r.stderr, r.stderr
  if within:
    assert took < within, f'took {took:.1f} s'
  return r


def test_missing_dataset_fails_within_seconds_with_the_ways_to_get_it(tmp_path):
  r = fails_fast(['--algo=descriptor', '--dataset=cifar10', f'--data_dir={tmp_path}',
                  f'--workdir={tmp_path / "w"}'], 'dataset cifar10 not found', within=5)
  assert r.returncode == 2 and '--download' in r.stderr
  assert not os.path.exists(tmp_path / 'w')  # nothing was written


@pytest.mark.parametrize('args,message', [
    (['--algo=gan'], f"unknown algorithm 'gan'; known: {', '.join(registry.names())}"),
    (['--dataset=imagenet'], "unknown dataset 'imagenet'"),
    (['--set', 'train.stepz=4'], "unknown config key 'train.stepz'; did you mean train.steps"),
    (['--set', 'langevin.steps=many'], 'langevin.steps takes a int'),
    (['--set', 'train.precision=fp8'], 'train.precision must be one of auto, float32, mixed_bfloat16'),
    (['--steps=0'], 'train.steps must be positive'),
    (['--strategy=ring'], 'train.strategy must be one of default, mirrored, multi_worker'),
    (['--set', 'train.cluster_timeout=0'], 'train.cluster_timeout is the seconds every worker'),
    (['--algo=triangle', '--set', 'optim.ema_decay=1'], 'optim.ema_decay is the weight'),
    (['--algo=triangle', '--set', 'optim.r1_penalty=-1'], 'optim.r1_penalty must be >= 0'),
    (['--dataset=folder:/nonexistent/imgs'], 'folder /nonexistent/imgs does not exist'),
])
def test_bad_flags_and_values(tmp_path, args, message):
  r = fails_fast(['--algo=descriptor', f'--workdir={tmp_path / "w"}', *args], message,
                 within=5)
  assert r.returncode == 2


def test_incompatible_resume_requests(digits, tmp_path):
  wd = str(tmp_path / 'run')
  assert train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, f'--workdir={wd}',
               '--smoke').returncode == 0
  r = fails_fast([f'--workdir={wd}', '--set', 'model.out_units=50'],
                 'model.out_units: 100 in the checkpoint, 50 requested', within=5)
  assert r.returncode == 2 and '--fresh' in r.stderr
  fails_fast([f'--workdir={wd}', '--dataset=fashion_mnist'],
             f'holds a run with --dataset=npz:{digits}', within=5)
  # (A corrupt checkpoint falls back to an older one: tests/test_faults.py.)
  # config.json missing but checkpoints present.
  os.remove(os.path.join(wd, 'config.json'))
  fails_fast([f'--workdir={wd}'], 'has checkpoints but no config.json', within=5)


def test_a_run_that_failed_before_its_first_checkpoint_does_not_bind_the_next(digits, tmp_path):
  wd = str(tmp_path / 'run')
  # The digits are 28 px: 32 is too small, and fails after config.json was written.
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', f'--workdir={wd}', '--smoke')
  assert r.returncode == 2 and 'too small for image_size=32' in r.stderr, r.stderr
  # Leave what an older version wrote before failing: a config.json without checkpoints.
  os.makedirs(wd, exist_ok=True)
  with open(os.path.join(wd, 'config.json'), 'w') as f:
    json.dump({'algo': 'descriptor', 'data': {'image_size': 32}}, f)
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', f'--workdir={wd}', '--smoke', *SIZE)
  assert r.returncode == 0, r.stderr
  assert json.load(open(os.path.join(wd, 'config.json')))['data']['image_size'] == 28


def test_smoke_does_not_resume_a_full_size_run(tmp_path):
  """(--smoke resuming a smoke run is the same command rerun: tests/test_multiworker.py.)"""
  from core import config as config_lib  # pylint: disable=g-import-not-at-top
  wd = tmp_path / 'full'
  (wd / 'checkpoints').mkdir(parents=True)
  (wd / 'checkpoints' / 'ckpt-1.index').write_bytes(b'')
  config_lib.save(registry.defaults('generator', 'fashion_mnist'), str(wd / 'config.json'))
  r = train(f'--workdir={wd}', '--smoke', timeout=60)
  assert r.returncode == 2, r.stderr[-2000:]
  assert r.stderr.strip().splitlines()[-1] == (
      f'error: --smoke cannot resume {wd}, a full-size run; drop --smoke to resume it, or use '
      f'a new --workdir or --fresh'), r.stderr[-2000:]


def test_a_tool_without_tensorflow_installed_says_so(digits, tmp_path):
  """TensorFlow comes from the cpu or gpu extra: without either, one line and exit 2."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  code = ("import runpy, sys; sys.modules['tensorflow'] = None; sys.argv = ['train', "
          f"'--algo=generator', '--dataset=npz:{digits}', '--smoke', '--workdir={tmp_path}']; "
          "runpy.run_module('tools.train', run_name='__main__')")
  r = subprocess.run([sys.executable, '-c', code], cwd=helpers.ROOT, capture_output=True,
                     text=True, timeout=120, env=dict(os.environ, PYTHONPATH=helpers.ROOT))
  assert r.returncode == 2, r.stderr[-2000:]
  assert r.stderr.strip().splitlines()[-1].startswith(
      'error: TensorFlow is not installed here; make setup'), r.stderr[-2000:]
