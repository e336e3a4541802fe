"""tools/train from the command line: runs, resume, mirrored, bad input.

Run in this process (helpers.tool: absl's flags, tools/cli's exit codes, the streams) but for
what only a fresh process shows: --help, the exit-2 contract of a bad value and of a missing
dataset with nothing else on stderr, and a missing TensorFlow."""
import json
import os
import time

import pytest

from tests import helpers
from trainers import registry


def train(*args):
  return helpers.tool('train', *args)


# The digits npz holds 28×28 grey images; folder/npz sources default to 32×32×3.
SIZE = ('--set', 'data.image_size=28', '--set', 'data.channels=1')


def test_help_lists_algorithms_and_datasets():
  r = helpers.run_tool('train', '--help')  # a fresh process: the help is its __main__'s
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
  # Rerun with more steps and no --algo/--dataset: resumes from step 6 (here with --eager,
  # which holds for that command only: the next resume compiles its step again).
  r = train(f'--workdir={wd}', '--steps=8', '--eager')
  assert r.returncode == 0, r.stderr
  assert 'resumed from' in r.stdout and 'at step 6' in r.stdout and 'runs eagerly' in r.stdout
  assert json.load(open(os.path.join(wd, 'config.json')))['train']['steps'] == 8
  steps = [json.loads(l)['step'] for l in open(os.path.join(wd, 'metrics.jsonl'))]
  assert steps == [2, 4, 6, 8]
  r = train(f'--workdir={wd}', '--steps=10')
  assert r.returncode == 0 and 'runs eagerly' not in r.stdout, r.stderr
  assert json.load(open(os.path.join(wd, 'config.json')))['train']['eager'] is False
  # --fresh keeps the old run under previous/ and starts at step 0.
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, f'--workdir={wd}', '--smoke',
            '--fresh')
  assert r.returncode == 0, r.stderr
  assert 'moved to' in r.stdout and 'resumed' not in r.stdout
  (stamp,) = os.listdir(os.path.join(wd, 'previous'))
  assert os.path.isfile(os.path.join(wd, 'previous', stamp, 'checkpoints', 'ckpt-10.index'))


def test_mirrored_over_two_logical_cpus(digits, tmp_path, mirrored_cpus):
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, f'--workdir={tmp_path}',
            '--smoke', '--strategy=mirrored', f'--replicas={mirrored_cpus}')
  assert r.returncode == 0, r.stderr
  assert '2 replica(s)' in r.stdout
  final = json.load(open(tmp_path / 'metrics.json'))
  assert final['steps'] == 6 and os.path.isfile(tmp_path / 'checkpoints' / 'ckpt-6.index')
  logged = [json.loads(line)['step'] for line in open(tmp_path / 'metrics.jsonl')]
  assert logged == [2, 4, 6]  # every log step once, across both replicas' reduction
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, f'--workdir={tmp_path / "odd"}',
            '--smoke', '--strategy=mirrored', f'--replicas={mirrored_cpus}', '--batch_size=21')
  helpers.one_line_error(r, 'data.batch_size=21 does not split over 2 replicas')


def fails_fast(args, message, within=None, fresh=False):
  start = time.time()
  r = helpers.run_tool('train', *args) if fresh else train(*args)
  took = time.time() - start
  assert r.returncode != 0, r.stdout
  assert message in r.stderr, r.stderr
  assert 'Traceback' not in r.stderr, r.stderr
  if within:
    assert took < within, f'took {took:.1f} s'
  return r


def test_missing_dataset_fails_within_seconds_with_the_ways_to_get_it(tmp_path):
  """A fresh process: the exit code a shell sees, within seconds, one line on stderr."""
  r = fails_fast(['--algo=descriptor', '--dataset=cifar10', f'--data_dir={tmp_path}',
                  f'--workdir={tmp_path / "w"}'], 'dataset cifar10 not found', within=5,
                 fresh=True)
  assert r.returncode == 2 and '--download' in r.stderr
  assert r.stderr.strip().count('\n') == 0, r.stderr
  assert not os.path.exists(tmp_path / 'w')  # nothing was written


def test_a_bad_value_in_a_fresh_process_is_one_line_and_exit_2(tmp_path):
  """The exit-2 contract as a shell sees it: the code, and nothing on stderr but the line
  (no TensorFlow start-up noise, no traceback); no file written."""
  r = fails_fast(['--algo=descriptor', '--set', 'optim.lr=-1', f'--workdir={tmp_path / "w"}'],
                 'error: optim.lr must be > 0', within=20, fresh=True)
  assert r.returncode == 2 and r.stderr.strip().count('\n') == 0, r.stderr
  assert not os.path.exists(tmp_path / 'w' / 'config.json')


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
    (['--set', 'optim.lr=-1'], 'optim.lr must be > 0'),
    (['--set', 'optim.beta1=5'], 'optim.beta1 is an Adam decay rate in [0, 1)'),
    (['--set', 'data.test_fraction=2'], 'data.test_fraction is the held-out share'),
    (['--set', 'data.max_examples=-1'], 'data.max_examples caps the training set'),
    (['--algo=generator', '--set', 'model.latent_dim=0'], 'model.latent_dim must be positive'),
    (['--algo=generator', '--set', 'model.latent_dim=-4'], 'model.latent_dim must be positive'),
    (['--replicas=-2'], 'train.replicas (--replicas) is a count'),
    (['--mask=block:10'], '--mask is not an option of --algo=descriptor'),
    (['--set', 'train.rollback_factor=2'], 'train.rollback_factor in (0, 1)'),
    (['--set', 'train.eager=sometimes'], "train.eager takes true or false, not 'sometimes'"),
    (['--set', 'eval.quick_fd=3'], 'eval.quick_fd is the number of generated images scored'),
])
def test_bad_flags_and_values(tmp_path, args, message):
  r = fails_fast(['--algo=descriptor', f'--workdir={tmp_path / "w"}', *args], message,
                 within=5)
  helpers.one_line_error(r, message)
  assert not os.path.exists(tmp_path / 'w' / 'config.json')


def test_incompatible_resume_requests(digits, descriptor_run, tmp_path):
  wd = helpers.copy_run(descriptor_run, tmp_path / 'run')
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
  r = train(f'--workdir={wd}', '--smoke')
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


def _edit_config(wd, change):
  path = os.path.join(wd, 'config.json')
  cfg = json.load(open(path))
  json.dump(change(cfg), open(path, 'w'))


def _no_data(cfg):
  del cfg['data']
  return cfg


def _tflite(path, dtype, shape):
  """A .tflite that is not a twonets generator: input `dtype` of `shape` (batch aside)."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  z = keras.Input(shape, dtype=dtype)
  x = keras.layers.Flatten()(keras.ops.cast(z, 'float32'))
  y = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(28 * 28)(x))
  with open(path, 'wb') as f:
    f.write(tf.lite.TFLiteConverter.from_keras_model(keras.Model(z, y)).convert())
  return path


def _fail_to_write(monkeypatch):
  """The disk refuses the next output file: core/files.atomic's temporary file (Python's
  OSError), or a SavedModel's files (TensorFlow's own error, as its file system raises it)."""
  import errno  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from export import saved_model  # pylint: disable=g-import-not-at-top

  def refuse(*args, **kw):
    raise OSError(errno.EROFS, 'Read-only file system')

  def full(*args, **kw):
    raise tf.errors.ResourceExhaustedError(None, None, 'saved_model.pb; No space left on device')
  monkeypatch.setattr(tempfile, 'mkstemp', refuse)
  monkeypatch.setattr(saved_model.Servable, 'write', full)


BAD_RUN_INPUTS = {
    # case: (prepare(wd, tmp_path, monkeypatch) → (tool, args), the line's text)
    'config value of the wrong kind, sample': (
        lambda wd, t, m: _edit_config(wd, lambda c: {**c, 'data': {**c['data'],
                                                                   'image_size': 'big'}})
        or ('sample', [f'--workdir={wd}']),
        "data.image_size='big' is not an integer"),
    'config value of the wrong kind, train': (
        lambda wd, t, m: _edit_config(wd, lambda c: {**c, 'train': {**c['train'],
                                                                    'steps': 'abc'}})
        or ('train', [f'--workdir={wd}']),
        "train.steps='abc' is not an integer"),
    'config without its data section': (
        lambda wd, t, m: _edit_config(wd, _no_data)
        or ('evaluate', ['--task=sample', f'--workdir={wd}']),
        'config.json is not a twonets config'),
    'config that is a list': (
        lambda wd, t, m: _edit_config(wd, lambda c: [c]) or ('export', [f'--workdir={wd}']),
        'config.json is not a twonets config'),
    'config that is not UTF-8': (
        lambda wd, t, m: open(os.path.join(wd, 'config.json'), 'wb').write(b'\xff\xfe{')
        and ('train', [f'--workdir={wd}']),
        'config.json cannot be read as JSON (UnicodeDecodeError'),
    'a workdir that is a file': (
        lambda wd, t, m: open(t / 'file', 'w').close() or ('sample', [f'--workdir={t}/file']),
        'is not a folder'),
    'a workdir that is a link loop': (
        lambda wd, t, m: os.symlink(t / 'loop', t / 'loop')
        or ('train', [f'--workdir={t}/loop', '--smoke']),
        'is not a folder'),
    'a negative seed in the config': (
        lambda wd, t, m: ('train', [f'--workdir={t}/new', '--algo=descriptor', '--smoke',
                                    '--set', 'seed=-5']),
        'seed is 0..4294967295, got -5'),
    'a negative seed to sample a run': (
        lambda wd, t, m: ('sample', [f'--workdir={wd}', '--seed=-1']),
        '--seed=-1: a seed is 0..4294967295'),
    'a torn samples npz to score': (
        lambda wd, t, m: open(t / 'torn.npz', 'wb').write(b'PK\x03\x04' + b'\0' * 60)
        and ('evaluate', ['--task=score', f'--workdir={wd}', f'--samples={t}/torn.npz']),
        'torn.npz is not a readable npz with an `images` array'),
    'a .tflite of another input shape': (
        lambda wd, t, m: ('sample', [f'--model={_tflite(t / "m.tflite", "float32", (4, 4))}']),
        'is not a twonets generator: its input is float32 of shape [-1, 4, 4]'),
    'a .tflite of another input dtype': (
        lambda wd, t, m: ('sample', [f'--model={_tflite(t / "m.tflite", "int32", (8,))}']),
        'is not a twonets generator: its input is int32'),
    'an unknown flag': (lambda wd, t, m: ('sample', ['--nope']),
                        "Unknown command line flag 'nope'; see --help"),
    'a flag value of the wrong type': (
        lambda wd, t, m: ('evaluate', ['--task=sample', '--num_images=abc']),
        'flag --num_images=abc: invalid literal for int()'),
    'sample on a read-only disk': (
        lambda wd, t, m: _fail_to_write(m) or ('sample', [f'--workdir={wd}']),
        '(Read-only file system); free space or choose a writable'),
    'export on a full disk': (
        lambda wd, t, m: _fail_to_write(m)
        or ('export', [f'--workdir={wd}', '--formats=saved_model', f'--export_dir={t}/e']),
        'could not write the export into'),
}


@pytest.mark.parametrize('case', sorted(BAD_RUN_INPUTS))
def test_damaged_run_files_and_out_of_range_inputs_are_one_line(triangle_run, tmp_path,
                                                                monkeypatch, case):
  """Every tool's bad input (a damaged config.json, a workdir that is no folder, a seed out of
  range, a torn npz, a .tflite of another model, a bad flag, a disk that refuses) is one line
  and exit 2 (absl's flag errors included), and the run is left as it was."""
  wd = helpers.copy_run(triangle_run, tmp_path / 'run')
  prepare, message = BAD_RUN_INPUTS[case]
  name, args = prepare(wd, tmp_path, monkeypatch)
  before = {f: open(os.path.join(wd, f), 'rb').read() for f in ('config.json', 'metrics.json')}
  helpers.one_line_error(helpers.tool(name, *args), message)
  assert before == {f: open(os.path.join(wd, f), 'rb').read() for f in before}
  if os.path.isdir(tmp_path / 'e'):  # the export: no version, no temporary folder left
    assert os.listdir(tmp_path / 'e' / 'triangle') == []
