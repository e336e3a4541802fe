"""Never lose a run: corrupt checkpoints, kills, divergence, a full disk, a second run, bad input.

In-process where the behaviour lives below TensorFlow's start (core/checkpoints, the loop
with a toy task) and for tools/train's handling of a corrupt run (helpers.tool); fresh
processes where a process must die (kill -9, the lock held by a live run, exact resume).
"""
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from core import checkpoints
from core import loop
from core import recovery
from core.errors import Diverged, StorageError
from tests import helpers

SIZE = ('--set', 'data.image_size=28', '--set', 'data.channels=1')


def train(*args):
  return helpers.tool('train', *args)


tensors, assert_same_tensors = helpers.tensors, helpers.assert_same_tensors


def rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def without_time(workdir):
  return [{k: v for k, v in r.items() if k != 'time'} for r in rows(workdir)]


# ------------------------------------------------------------------ the checkpoint folder


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
  """A checkpoint folder with ckpt-1..3 of a small tf.train.Checkpoint (value = step)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  d = str(tmp_path_factory.mktemp('ckpts'))
  v = tf.Variable(np.zeros(5000, np.float32))
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=v), d, max_to_keep=3,
                                       checkpoint_name='ckpt')
  for step in (1, 2, 3):
    v.assign(np.full(5000, step, np.float32))
    manager.save(checkpoint_number=step)
  return d


def _truncate(path, keep=0.5):
  os.truncate(path, int(os.path.getsize(path) * keep))


def _flip(path):
  data = bytearray(open(path, 'rb').read())
  data[len(data) // 2] ^= 0xFF
  open(path, 'wb').write(data)


DATA3, INDEX3, STATE = 'ckpt-3.data-00000-of-00001', 'ckpt-3.index', 'checkpoint'
CORRUPTIONS = {
    'garbled state file': (lambda d: open(os.path.join(d, STATE), 'w').write('x{{\0 garbage'),
                           'ckpt-3', 'unreadable'),
    'empty state file': (lambda d: open(os.path.join(d, STATE), 'w').close(), 'ckpt-3', 'empty'),
    'deleted state file': (lambda d: os.remove(os.path.join(d, STATE)), 'ckpt-3', 'missing'),
    'state file behind': (lambda d: open(os.path.join(d, STATE), 'w').write(
        'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'), 'ckpt-3',
                          'naming ckpt-1'),
    'truncated data': (lambda d: _truncate(os.path.join(d, DATA3)), 'ckpt-2', 'ckpt-3 cannot'),
    'bit flip in data': (lambda d: _flip(os.path.join(d, DATA3)), 'ckpt-2', 'Checksum'),
    'truncated index': (lambda d: _truncate(os.path.join(d, INDEX3)), 'ckpt-2', 'ckpt-3 cannot'),
    'missing data': (lambda d: os.remove(os.path.join(d, DATA3)), 'ckpt-2', 'ckpt-3 cannot'),
}


def test_train_eager_runs_the_steps_eagerly_and_nothing_after(tmp_path):
  """train.eager: the step's Python body runs at every step (not once, when traced), the
  setting is off again after the run, and the same run resumed without it compiles its step."""
  w = tf.Variable([0.0])
  eager_calls = []

  @tf.function
  def train_step(iterator):
    del iterator
    eager_calls.append(tf.executing_eagerly())  # runs once per trace, or once per eager call
    w.assign_sub(0.5 * (w - 3.0))
    return {'loss': tf.reduce_sum(tf.square(w - 3.0))}

  def task():
    return loop.Task(step=tf.Variable(0, dtype=tf.int64),
                     checkpoint={'w': tf.train.Checkpoint(w=w)}, train_step=train_step,
                     make_iterator=lambda start: None,
                     samples=lambda: np.zeros((4, 8, 8, 1), np.float32))
  wd, lines = str(tmp_path / 'run'), []
  loop.run(task(), toy_config(steps=3, eager=True), wd, log=lines.append)
  assert eager_calls == [True, True, True] and not tf.config.functions_run_eagerly()
  assert any('runs eagerly' in line for line in lines)
  loop.run(task(), toy_config(steps=6), wd, log=lines.append)
  assert eager_calls == [True, True, True, False]  # traced once, then the graph runs
  assert float(w.numpy()[0]) == pytest.approx(3.0 - 3.0 * 0.5 ** 6)


@pytest.mark.parametrize('case', sorted(CORRUPTIONS))
def test_each_corruption_falls_back_to_the_newest_intact_checkpoint(saved, tmp_path, case):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  d = str(tmp_path / 'checkpoints')
  shutil.copytree(saved, d)
  os.makedirs(os.path.join(d, 'ckpt-4_temp'))  # a save killed half-way
  corrupt, expect, says = CORRUPTIONS[case]
  corrupt(d)
  lines = []
  chosen = checkpoints.newest_intact(d, log=lines.append)
  assert chosen == os.path.join(d, expect)
  assert any(says in line for line in lines), lines
  assert not os.path.exists(os.path.join(d, 'ckpt-4_temp'))
  # The state file now names what is on disk, so CheckpointManager picks the same one...
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(), d, max_to_keep=3)
  assert manager.latest_checkpoint == chosen
  v = tf.Variable(np.zeros(5000, np.float32))
  tf.train.Checkpoint(v=v).restore(chosen).assert_existing_objects_matched()
  assert float(v[0]) == int(expect[-1])
  # ... and nothing was deleted: a broken checkpoint sits under corrupt/, with a warning.
  moved = [f for _, _, fs in os.walk(os.path.join(d, checkpoints.CORRUPT)) for f in fs]
  if expect == 'ckpt-2':
    assert any('moved' in line and 'ckpt-3' in line for line in lines)
    assert INDEX3 in moved
  on_disk = {f for f in os.listdir(d) if f.startswith('ckpt-')}
  assert {'ckpt-1.index', 'ckpt-2.index'} <= on_disk


def test_no_intact_checkpoint_is_none_and_keeps_the_files(saved, tmp_path):
  d = str(tmp_path / 'checkpoints')
  shutil.copytree(saved, d)
  for step in (1, 2, 3):
    _truncate(os.path.join(d, f'ckpt-{step}.index'))
  assert checkpoints.newest_intact(d, log=lambda _: None) is None
  moved = [f for _, _, fs in os.walk(os.path.join(d, checkpoints.CORRUPT)) for f in fs]
  assert sorted(f for f in moved if f.endswith('.index')) == [
      'ckpt-1.index', 'ckpt-2.index', 'ckpt-3.index']


# ------------------------------------------------------------------ the loop, on a toy task


toy_task, toy_config = helpers.toy_task, helpers.toy_config


@pytest.mark.parametrize('fault', ['nan', 'energy beyond the bound'])
def test_a_divergence_rolls_back_lowers_the_rate_and_the_run_finishes(tmp_path, fault):
  wd = str(tmp_path / 'run')
  task, _, opt = toy_task(nan_at=(6,) if fault == 'nan' else (),
                          huge_at=(6,) if fault != 'nan' else ())
  lines = []
  final = loop.run(task, toy_config(energy_bound=1e6), wd, log=lines.append)
  assert final['steps'] == 12
  assert float(opt.learning_rate.numpy()) == pytest.approx(0.05)
  events = [r for r in rows(wd) if r.get('event') == 'rollback']
  assert len(events) == 1 and events[0]['at_step'] == 4 and events[0]['rollbacks'] == 1
  assert events[0]['lr_scale'] == 0.5
  steps = [r['step'] for r in rows(wd) if 'step' in r]
  assert steps == list(range(1, 13))  # steps 5.. of the diverged attempt were dropped
  assert any('rolled back to' in line for line in lines)
  saved = tensors(os.path.join(wd, 'checkpoints', 'ckpt-12'))
  assert saved['recovery/rollbacks/.ATTRIBUTES/VARIABLE_VALUE'] == 1
  assert saved['recovery/lr_scale/.ATTRIBUTES/VARIABLE_VALUE'] == 0.5
  # A resumed run keeps the lowered rate (the optimizer's rate variable is in the checkpoint).
  task2, _, opt2 = toy_task()
  loop.run(task2, toy_config(steps=16, energy_bound=1e6), wd, log=lines.append)
  assert float(opt2.learning_rate.numpy()) == pytest.approx(0.05)


def test_a_divergence_before_the_first_checkpoint_rolls_back_to_the_start(tmp_path):
  task, _, opt = toy_task(nan_at=(2,))
  loop.run(task, toy_config(steps=6), str(tmp_path / 'run'), log=lambda _: None)
  events = [r for r in rows(str(tmp_path / 'run')) if r.get('event') == 'rollback']
  assert [e['at_step'] for e in events] == [0]
  assert float(opt.learning_rate.numpy()) == pytest.approx(0.05)


@pytest.mark.parametrize('case', sorted(CORRUPTIONS))
def test_each_corruption_then_the_run_resumes_and_finishes(tmp_path, case):
  """The loop on a toy task: 12 steps (ckpt-4, 8, 12), the corruption (on ckpt-12 for the
  file cases), then a rerun to 16 steps resumes from the newest intact checkpoint."""
  wd = str(tmp_path / 'run')
  task, _, _ = toy_task()
  loop.run(task, toy_config(steps=12), wd, log=lambda _: None)
  d = os.path.join(wd, 'checkpoints')
  corrupt, expect, says = CORRUPTIONS[case]
  for name in (DATA3, INDEX3):  # the cases name ckpt-3's files: point them at ckpt-12
    os.rename(os.path.join(d, name.replace('ckpt-3', 'ckpt-12')), os.path.join(d, name))
  corrupt(d)
  for name in (DATA3, INDEX3):
    if os.path.exists(os.path.join(d, name)):
      os.rename(os.path.join(d, name), os.path.join(d, name.replace('ckpt-3', 'ckpt-12')))
  lines = []
  task2, _, _ = toy_task()
  final = loop.run(task2, toy_config(steps=16), wd, log=lines.append)
  assert final['steps'] == 16
  restored = 12 if expect == 'ckpt-3' else 8
  assert any(f'at step {restored}' in line for line in lines), lines
  assert any(says.replace('ckpt-3', 'ckpt-12') in line for line in lines), lines
  assert [r['step'] for r in rows(wd) if 'step' in r] == list(range(1, 17))


def test_after_max_rollbacks_the_run_stops_naming_the_step(tmp_path):
  task, _, _ = toy_task(nan_at=(3, 5, 7))
  with pytest.raises(Diverged, match=r'loss became nan at step 7, after 2 rollback\(s\)'):
    loop.run(task, toy_config(max_rollbacks=2), str(tmp_path / 'run'), log=lambda _: None)


def test_scaled_rate_multiplies_a_schedule():
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  scale = tf.Variable(1.0)
  rate = recovery.ScaledRate(keras.optimizers.schedules.ExponentialDecay(
      0.1, decay_steps=10, decay_rate=0.5, staircase=True), scale)
  assert float(rate(20)) == pytest.approx(0.025)
  scale.assign(0.5)
  assert float(rate(20)) == pytest.approx(0.0125)


class _FullDisk:
  """CheckpointManager.save that fails like a full disk after `ok` saves, leaving a
  half-written temp folder and a partial data file as TF does."""

  def __init__(self, real, ok):
    self.real, self.ok, self.calls = real, ok, 0

  def __call__(self, manager, checkpoint_number=None, **kw):
    self.calls += 1
    if self.calls <= self.ok:
      return self.real(manager, checkpoint_number=checkpoint_number, **kw)
    d = manager.directory
    os.makedirs(os.path.join(d, f'ckpt-{checkpoint_number}_temp'), exist_ok=True)
    open(os.path.join(d, f'ckpt-{checkpoint_number}.data-00000-of-00001'), 'wb').write(b'x')
    raise OSError(errno.ENOSPC, 'No space left on device')


def test_disk_full_is_one_line_and_keeps_the_older_checkpoints(tmp_path, monkeypatch):
  """Simulated ENOSPC (a tmpfs cannot be mounted in an unprivileged test run)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  fake = _FullDisk(tf.train.CheckpointManager.save, ok=2)  # step 0 and step 4 succeed
  monkeypatch.setattr(tf.train.CheckpointManager, 'save',
                      lambda self, **kw: fake(self, **kw))
  wd = str(tmp_path / 'run')
  task, _, _ = toy_task()
  with pytest.raises(StorageError, match='No space left on device') as e:
    loop.run(task, toy_config(), wd, log=lambda _: None)
  assert 'ckpt-4 (intact)' in str(e.value) and '\n' not in str(e.value)
  d = os.path.join(wd, 'checkpoints')
  assert sorted(os.listdir(d)) == ['checkpoint', 'ckpt-0.data-00000-of-00001', 'ckpt-0.index',
                                   'ckpt-4.data-00000-of-00001', 'ckpt-4.index']
  assert checkpoints.verify(os.path.join(d, 'ckpt-4')) is None


def test_a_read_only_or_full_disk_in_a_tool_is_one_line_exit_2(capsys):
  from tools import cli  # pylint: disable=g-import-not-at-top

  def main(argv):
    del argv
    raise OSError(errno.EROFS, 'Read-only file system', '/runs/x/config.json')

  with pytest.raises(SystemExit) as e:
    cli.run_main(main, argv=['tool'])
  assert e.value.code == 2
  err = capsys.readouterr().err.strip()
  assert err.count('\n') == 0 and '/runs/x/config.json (Read-only file system)' in err


# ------------------------------------------------------------------ the CLI, fresh processes


def test_stop_then_resume_equals_an_uninterrupted_run(digits, tmp_path):
  """A triangle run (three nets, their optimizers, the weight average, the data position,
  the RNGs) stopped at step 4 and resumed by the same command to 8 ends bit-identical to a
  straight 8-step run, with the same metrics at every step (the clock aside). The kill -9
  version, in fresh processes, is slow (below)."""
  args = ['--algo=triangle', f'--dataset=npz:{digits}', *SIZE, '--smoke', '--steps=8',
          '--set', 'train.ckpt_every=4', '--set', 'train.log_every=1']
  straight, resumed = str(tmp_path / 'straight'), str(tmp_path / 'resumed')
  assert train(*args, f'--workdir={straight}').returncode == 0
  assert train(*args, f'--workdir={resumed}', '--steps=4').returncode == 0
  r = train(*[a for a in args if a != '--smoke'], f'--workdir={resumed}')
  assert r.returncode == 0 and 'at step 4' in r.stdout, r.stderr[-2000:]
  assert_same_tensors(os.path.join(straight, 'checkpoints', 'ckpt-8'),
                      os.path.join(resumed, 'checkpoints', 'ckpt-8'))
  assert without_time(resumed) == without_time(straight)


@pytest.mark.slow
def test_kill_9_at_seeded_moments_then_resume_equals_an_uninterrupted_run(digits, tmp_path):
  """Slow: four training processes, three killed with SIGKILL mid-run, and an uninterrupted
  one to compare with (~50 s). Killed three times at seeded moments (once while a second run is refused by the lock),
  the run resumes to bit-identical final weights and the same metrics.jsonl (its clock
  aside) as an uninterrupted run of the same seed in another process, each step logged once."""
  args = ['--algo=triangle', f'--dataset=npz:{digits}', *SIZE, '--smoke', '--steps=40',
          '--set', 'train.ckpt_every=4', '--set', 'train.log_every=1']
  straight = str(tmp_path / 'straight')
  assert helpers.run_tool('train', *args, f'--workdir={straight}').returncode == 0
  killed = str(tmp_path / 'killed')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=helpers.ROOT)
  moments = np.random.default_rng(13).uniform(0.2, 1.5, size=3)
  resume = [a for a in args if a != '--smoke']  # --smoke starts runs; it cannot resume one
  ckpt_dir = os.path.join(killed, 'checkpoints')
  for i, wait in enumerate(moments):
    have = checkpoints.scan(ckpt_dir)
    p = subprocess.Popen([sys.executable, '-m', 'tools.train', *(args if i == 0 else resume),
                          f'--workdir={killed}'], cwd=helpers.ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill a seeded moment after this attempt's first new checkpoint: mid-training.
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and checkpoints.scan(ckpt_dir) == have:
      time.sleep(0.05)
    time.sleep(wait)
    if i == 1:  # the run holds the workdir: a second one is refused at once, naming its PID
      refused = helpers.run_tool('train', *resume, f'--workdir={killed}')
      assert refused.returncode == 2, refused.stderr
      assert f'is in use by another run (PID {p.pid})' in refused.stderr, refused.stderr
    p.send_signal(signal.SIGKILL)
    p.wait()
  # The kills left the lock file behind: it does not block.
  r = helpers.run_tool('train', *resume, f'--workdir={killed}')
  assert r.returncode == 0, r.stderr
  assert_same_tensors(os.path.join(straight, 'checkpoints', 'ckpt-40'),
                      os.path.join(killed, 'checkpoints', 'ckpt-40'))
  steps = [row['step'] for row in rows(killed) if 'step' in row]
  assert steps == list(range(1, 41))
  # Same seed, other processes: the same numbers at every step (the clock aside).
  assert without_time(killed) == without_time(straight)


def test_a_live_run_holds_its_workdir_and_a_dead_ones_lock_does_not(digits, tmp_path):
  """Another process holding WORKDIR's lock (as a training run does) makes tools/train refuse
  at once naming its PID; once that process is gone, its lock file blocks nothing."""
  wd = str(tmp_path / 'run')
  holder = subprocess.Popen(
      [sys.executable, '-c', 'import sys, time; from core import workdir; '
       'workdir.lock(sys.argv[1]); print("held", flush=True); time.sleep(60)', wd],
      cwd=helpers.ROOT, env=dict(os.environ, PYTHONPATH=helpers.ROOT), stdout=subprocess.PIPE,
      text=True)
  try:
    assert holder.stdout.readline().strip() == 'held'
    r = train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, '--smoke',
              f'--workdir={wd}')
    helpers.one_line_error(r, f'is in use by another run (PID {holder.pid})')
    assert not os.path.exists(os.path.join(wd, 'config.json'))
  finally:
    holder.kill()
    holder.wait()
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, '--smoke', f'--workdir={wd}')
  assert r.returncode == 0, r.stderr[-2000:]


def test_real_run_truncated_data_and_no_state_file_resume_without_algo(digits, tmp_path):
  """Under the CLI: the latest .data truncated and the state file deleted, then the README's
  `tools/train --workdir=X` (no --algo) resumes the generator run from the older checkpoint
  (not a fresh descriptor run); a kill during the final evaluation is evaluated on rerun."""
  wd = str(tmp_path / 'gen')
  base = ['--algo=generator', f'--dataset=npz:{digits}', *SIZE, f'--workdir={wd}']
  assert train(*base, '--smoke', '--steps=9').returncode == 0
  d = os.path.join(wd, 'checkpoints')
  _truncate(os.path.join(d, 'ckpt-9.data-00000-of-00001'))
  os.remove(os.path.join(d, 'checkpoint'))
  r = train(f'--workdir={wd}', '--steps=12')
  assert r.returncode == 0, r.stderr
  out = r.stdout + r.stderr
  assert 'ckpt-9 cannot be read' in out and 'resumed from' in out and 'ckpt-6' in out, out
  assert json.load(open(os.path.join(wd, 'config.json')))['algo'] == 'generator'
  assert os.path.isfile(os.path.join(d, checkpoints.CORRUPT, os.listdir(os.path.join(
      d, checkpoints.CORRUPT))[0], 'ckpt-9.index'))
  # Finished training, no metrics.json (killed in the evaluation): the rerun evaluates.
  os.remove(os.path.join(wd, 'metrics.json'))
  r = train(f'--workdir={wd}', '--steps=12')
  assert r.returncode == 0 and 'not its evaluation' in r.stdout, r.stdout + r.stderr
  assert json.load(open(os.path.join(wd, 'metrics.json')))['steps'] == 12
  # Another algorithm in this workdir is refused, before TensorFlow starts.
  r = train('--algo=descriptor', f'--workdir={wd}')
  assert r.returncode == 2 and 'holds a run with --algo=generator' in r.stderr


# ------------------------------------------------------------------ bad input: one line, exit 2
# (tools/train's bad values: tests/test_cli.py.)


def test_npz_with_no_images_or_an_object_array_is_one_line(tmp_path, capsys):
  from core import data  # pylint: disable=g-import-not-at-top
  from core.errors import DataError  # pylint: disable=g-import-not-at-top
  kw = dict(image_size=28, channels=1)
  empty, objects, other = (str(tmp_path / f'{n}.npz') for n in ('empty', 'objects', 'other'))
  np.savez(empty, images=np.zeros((0, 28, 28), np.uint8))
  np.savez(objects, images=np.array([np.zeros((28, 28)), np.zeros((5, 5))], dtype=object))
  np.savez(other, pictures=np.zeros((50, 28, 28), np.uint8))
  with pytest.raises(DataError, match=r"\['images'\] holds 0 images"):
    data.load(f'npz:{empty}', **kw)
  with pytest.raises(DataError, match=r"\['images'\] cannot be read \(Object arrays"):
    data.load(f'npz:{objects}', **kw)
  assert len(data.load(f'npz:{other}', **kw)) == 45  # 10% held out
  err = capsys.readouterr().err
  assert "images read from the array 'pictures'" in err and err.count('\n') == 1


def test_a_folder_with_unreadable_files_says_how_many_were_skipped(tmp_path, capsys):
  from core import data  # pylint: disable=g-import-not-at-top
  from core import images  # pylint: disable=g-import-not-at-top
  for i in range(4):
    images.save_png(str(tmp_path / f'{i}.png'), np.full((32, 32, 1), 40 * i, np.uint8))
  (tmp_path / 'broken.png').write_bytes(b'not a png')
  assert len(data.load(f'folder:{tmp_path}', image_size=32, channels=1)) == 3  # 1 held out
  err = capsys.readouterr().err
  assert '1 file(s) could not be read as images and were skipped' in err


@pytest.mark.parametrize('algo', ['generator', 'deformable', 'coopnets', 'triangle', 'vae',
                                  'latent_ebm', 'dual_mcmc'])
def test_smoke_nets_fit_every_image_size(algo):
  """--smoke builds for 28 px (Fashion-MNIST), 32 px (folder:/npz: defaults) and 64 px."""
  import configs  # pylint: disable=g-import-not-at-top
  from trainers import nets  # pylint: disable=g-import-not-at-top
  for size in (28, 32, 64):
    cfg = configs.get(algo, 'npz:x.npz', smoke=True)
    cfg.data.image_size, cfg.data.channels = size, 1
    g = nets.build(cfg, 'generator')
    if algo in ('triangle', 'vae', 'dual_mcmc'):
      assert nets.build(cfg, 'encoder').output[0].shape[-1] == cfg.model.latent_dim
    assert g.output.shape[1:] == (size, size, 1)
  # Outside --smoke a widths list of the wrong length is one line naming the fix.
  cfg = configs.get(algo, 'fashion_mnist')
  single = algo in ('generator', 'deformable')
  cfg.model['widths' if single else 'generator_widths'] = (8, 8, 8)
  from core.errors import ConfigError  # pylint: disable=g-import-not-at-top
  with pytest.raises(ConfigError, match='3 widths make 56x56 images from 7x7, not 28x28: give 2'):
    nets.build(cfg, 'generator')


def test_smoke_texture_builds_and_a_small_texture_is_one_line():
  import configs  # pylint: disable=g-import-not-at-top
  import models  # pylint: disable=g-import-not-at-top
  from core.errors import ConfigError  # pylint: disable=g-import-not-at-top
  from trainers import nets  # pylint: disable=g-import-not-at-top
  cfg = configs.get('descriptor', 'texture:brick', smoke=True)
  net = nets.build(cfg, 'descriptor')
  assert net.name == 'texture_descriptor' and net.output.shape == (None,)
  with pytest.raises(ConfigError, match='texture patches must be at least 57 px, not 48'):
    models.build('descriptor/texture', (48, 48, 1))
  with pytest.raises(ConfigError, match='no generator net for 128x128 images'):
    models.build('generator/128', (128, 128, 1))


def test_a_checkpoint_made_before_exact_resume_resumes_with_a_note(tmp_path):
  """A checkpoint without the `recovery` slot (made before rollbacks and exact resume)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  wd = str(tmp_path / 'run')
  task, w, _ = toy_task()
  w.assign([2.5])
  task.step.assign(4)
  old = tf.train.Checkpoint(step=task.step, **task.checkpoint)
  tf.train.CheckpointManager(old, os.path.join(wd, 'checkpoints'), 3,
                             checkpoint_name='ckpt').save(checkpoint_number=4)
  task2, w2, _ = toy_task()
  lines = []
  final = loop.run(task2, toy_config(steps=8), wd, log=lines.append)
  assert final['steps'] == 8
  assert any('resumed from' in line and 'at step 4' in line for line in lines), lines
  assert any('predates exact resume: its data order restarts' in line for line in lines)
  assert float(w2[0]) > 2.5  # trained on from the restored 2.5 (from 0, 4 steps reach ~0.4)


# ------------------------------------------------------------------ around training
# Signals, the tools that only read a run, and the files they write or trust.


def _read_until(stream, needle: bytes, timeout: float) -> bytes:
  """Reads `stream` (bytes, unbuffered) until `needle` appears; what was read."""
  seen, end = b'', time.time() + timeout
  while needle not in seen and time.time() < end:
    chunk = os.read(stream.fileno(), 4096)
    if not chunk:
      break
    seen += chunk
  return seen


def test_sigterm_saves_a_checkpoint_exits_143_and_the_run_resumes(digits, tmp_path):
  """A fresh process (the signal is the contract): SIGTERM, what docker stop, Kubernetes,
  Slurm and `timeout` send, saves the step reached as Ctrl-C does, exit 143; the same
  command resumes from it."""
  wd = str(tmp_path / 'run')
  args = ['--algo=generator', f'--dataset=npz:{digits}', *SIZE, f'--workdir={wd}', '--smoke',
          '--set', 'train.ckpt_every=100000']
  proc = subprocess.Popen([sys.executable, '-m', 'tools.train', *args, '--steps=100000'],
                          cwd=helpers.ROOT, env=dict(os.environ, PYTHONPATH=helpers.ROOT,
                                                     TF_CPP_MIN_LOG_LEVEL='2'),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  try:
    seen = _read_until(proc.stderr, b'it/s', timeout=120)  # the progress bar: training
    assert b'it/s' in seen, seen[-2000:]
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
  finally:
    proc.kill()
  assert proc.returncode == 143, (seen + err)[-2000:]
  saved = re.search(rf'stopped by SIGTERM at step (\d+); saved {re.escape(wd)}/checkpoints/'
                    rf'ckpt-(\d+)', out.decode())
  assert saved and saved.group(1) == saved.group(2) and int(saved.group(1)) > 0, out
  step = int(saved.group(1))
  assert checkpoints.verify(os.path.join(wd, 'checkpoints', f'ckpt-{step}')) is None
  r = train(*args, f'--steps={step + 1}')
  assert r.returncode == 0 and f'resumed from {wd}/checkpoints/ckpt-{step}' in r.stdout, (
      r.stdout + r.stderr)[-2000:]


@pytest.mark.parametrize('at', [3, 6])
def test_a_stop_signal_ends_the_run_after_its_step_saved_even_the_last(tmp_path, at):
  """SIGTERM (twice: systemd and Slurm signal every process, tools/launch passes it on) in the
  middle of step `at`: the step finishes, is saved, and the run stops without its final
  evaluation, also when `at` is the last step (6)."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  from core.errors import Terminated  # pylint: disable=g-import-not-at-top
  from tools import cli  # pylint: disable=g-import-not-at-top
  task, _, _ = toy_task()
  inner = task.train_step

  def signalled(iterator):
    if int(task.step.numpy()) + 1 == at:
      os.kill(os.getpid(), signal.SIGTERM)
      os.kill(os.getpid(), signal.SIGTERM)
    return inner(iterator)  # the step's work, after the signals came

  wd, logs = str(tmp_path / 'run'), []
  with cli.sigterm_as_interrupt(), pytest.raises(Terminated):
    loop.run(dataclasses.replace(task, train_step=signalled), toy_config(steps=6),
             wd, log=logs.append)
  assert f'stopped by SIGTERM at step {at}; saved {wd}/checkpoints/ckpt-{at}; rerun the same ' \
         f'command to resume' in logs, logs
  assert [r['step'] for r in rows(wd)][-1] == at
  assert not os.path.exists(os.path.join(wd, 'metrics.json'))
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back as it was


@pytest.mark.parametrize('kind', ['link', 'fifo'])
def test_a_lock_file_that_is_a_link_or_a_fifo_is_refused_and_its_target_kept(digits, tmp_path,
                                                                            kind):
  wd, notes = tmp_path / 'run', tmp_path / 'notes.txt'
  wd.mkdir()
  notes.write_text('precious\n')
  if kind == 'link':
    os.symlink(notes, wd / '.lock')  # a planted link: its target must not be written
  else:
    os.mkfifo(wd / '.lock')
  r = train('--algo=descriptor', f'--dataset=npz:{digits}', *SIZE, '--smoke', f'--workdir={wd}')
  helpers.one_line_error(r, f'{wd}/.lock is not a plain file')
  assert notes.read_text() == 'precious\n' and not (wd / 'config.json').exists()


def test_a_rerun_of_a_run_whose_checkpoints_are_all_corrupt_refuses_and_keeps_its_record(
    triangle_run, tmp_path):
  wd = helpers.copy_run(triangle_run, tmp_path / 'run')
  d = os.path.join(wd, 'checkpoints')
  for step, _ in checkpoints.scan(d):
    _truncate(os.path.join(d, f'ckpt-{step}.data-00000-of-00001'))
  r = train(f'--workdir={wd}')
  assert r.returncode == 2 and 'no checkpoint in' in r.stderr and '--fresh' in r.stderr, (
      r.stderr[-2000:])
  record = {f: open(os.path.join(wd, f), 'rb').read() for f in ('config.json', 'metrics.jsonl')}
  for again in ([f'--workdir={wd}'], [f'--workdir={wd}', '--algo=triangle', '--steps=5']):
    r = train(*again)
    helpers.one_line_error(r, f'{wd} holds a run that trained (its unreadable checkpoints are '
                              f'in {d}/corrupt)')
    assert 'start over with --fresh (the old run is kept under previous/)' in r.stderr
  assert record == {f: open(os.path.join(wd, f), 'rb').read() for f in record}
  # The record alone (metrics.jsonl's steps) refuses too, the checkpoints deleted by hand.
  shutil.rmtree(d)
  helpers.one_line_error(train(f'--workdir={wd}'), 'metrics.jsonl logs 12 step(s)')


def test_an_output_file_is_replaced_whole_or_not_at_all(generator_run, tmp_path, monkeypatch):
  """tools/evaluate's samples.npz (every output goes through core/files.atomic): a full disk
  half-way through writing a new one leaves the old one as it was, and no temporary file."""
  wd = helpers.copy_run(generator_run, tmp_path / 'run')
  evaluate = lambda *a: helpers.tool('evaluate', '--task=sample', '--num_images=20',
                                    f'--workdir={wd}', *a)
  assert evaluate().returncode == 0
  path = os.path.join(wd, 'samples.npz')
  before = open(path, 'rb').read()
  real = np.savez_compressed

  def full_disk(file, **arrays):
    real(file, **arrays)
    raise OSError(errno.ENOSPC, 'No space left on device', path)

  monkeypatch.setattr(np, 'savez_compressed', full_disk)
  helpers.one_line_error(evaluate('--seed=1'), 'No space left on device')
  assert open(path, 'rb').read() == before
  assert not [f for f in os.listdir(wd) if f.endswith('.tmp')]


def test_atomic_writes_keep_the_old_file_on_any_failure(tmp_path):
  from core import files  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'x.json'
  files.write_json(str(path), {'a': 1})
  with pytest.raises(RuntimeError):
    with files.atomic(str(path), 'w') as f:
      f.write('{"a": ')
      raise RuntimeError('killed half-way')
  assert json.loads(path.read_text()) == {'a': 1} and os.listdir(tmp_path) == ['x.json']
  files.write_json(str(path), {'a': 2})
  assert json.loads(path.read_text()) == {'a': 2} and oct(path.stat().st_mode)[-3:] == '644'


def test_the_scores_of_an_older_finish_are_not_taken_for_this_one(generator_run, tmp_path):
  """Finished at 60, continued to 120, killed in the final evaluation: metrics.json is still
  step 60's. The rerun evaluates instead of calling the run done."""
  wd = helpers.copy_run(generator_run, tmp_path / 'run')
  path = os.path.join(wd, 'metrics.json')
  old = json.load(open(path))
  assert old['steps'] == 120
  json.dump({**old, 'steps': 60}, open(path, 'w'))
  r = train(f'--workdir={wd}')
  assert r.returncode == 0 and 'not its evaluation (metrics.json is of step 60)' in r.stdout, (
      r.stdout + r.stderr)[-2000:]
  assert json.load(open(path))['steps'] == 120


def test_one_export_version_is_one_checkpoint_while_the_run_saves(triangle_run, tmp_path,
                                                                  monkeypatch):
  """A live run saves a newer checkpoint and rotates out the one being exported between the
  SavedModel and the TFLite files of an export: both formats of the version still come from
  the checkpoint the export began with, restored once."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from export import saved_model  # pylint: disable=g-import-not-at-top
  from trainers import restore  # pylint: disable=g-import-not-at-top
  wd = helpers.copy_run(triangle_run, tmp_path / 'run')
  d = os.path.join(wd, 'checkpoints')
  real, restore_nets, restores = saved_model.export, restore.nets, []

  def then_the_run_saves(*args, **kw):
    out = real(*args, **kw)
    for f in os.listdir(d):
      if f.startswith('ckpt-60.'):
        shutil.copy(os.path.join(d, f), os.path.join(d, f.replace('ckpt-60', 'ckpt-999')))
      if f.startswith('ckpt-120.'):  # keep=N: the oldest goes
        os.remove(os.path.join(d, f))
    tf.compat.v1.train.update_checkpoint_state(d, 'ckpt-999', ['ckpt-60', 'ckpt-999'])
    return out

  monkeypatch.setattr(saved_model, 'export', then_the_run_saves)
  monkeypatch.setattr(restore, 'nets', lambda *a, **k: restores.append(1) or restore_nets(*a, **k))
  r = helpers.tool('export', f'--workdir={wd}', '--quantize=float32',
                   f'--export_dir={tmp_path / "e"}')
  assert r.returncode == 0, r.stderr[-2000:]
  sm = json.load(open(tmp_path / 'e' / 'triangle' / '1' / 'metadata.json'))
  tfl = json.load(open(tmp_path / 'e' / 'tflite' / 'triangle' / '1' / 'metadata.json'))
  assert sm['checkpoint'] == tfl['checkpoint'] == os.path.join(d, 'ckpt-120')
  assert sm['training_step'] == tfl['training_step'] == 120 and len(restores) == 1


def test_concurrent_exports_into_one_folder_take_turns(tmp_path):
  """export/common.export_lock: a second export into the same root waits for the first, so
  their version numbers never cross between formats."""
  import threading  # pylint: disable=g-import-not-at-top
  from export import common  # pylint: disable=g-import-not-at-top
  said, order = [], []
  first_in = threading.Event()

  def first():
    with common.export_lock(str(tmp_path)):
      first_in.set()
      time.sleep(0.5)
      order.append('first done')

  t = threading.Thread(target=first)
  t.start()
  first_in.wait(10)
  with common.export_lock(str(tmp_path), log=said.append):
    order.append('second in')
  t.join()
  assert order == ['first done', 'second in'] and said == [
      f'waiting for another export into {tmp_path} to finish']


@pytest.mark.parametrize('case', ['truncated data', 'garbled state file', 'empty state file',
                                  'no state file'])
def test_the_tools_that_read_a_run_fall_back_past_a_corrupt_checkpoint(triangle_run, tmp_path,
                                                                       case):
  """tools/sample (and, truncated, tools/export and tools/evaluate) read the newest checkpoint
  that reads back, from the files: nothing moved (tools/train repairs when it resumes)."""
  wd = helpers.copy_run(triangle_run, tmp_path / 'run')
  d = os.path.join(wd, 'checkpoints')
  state = os.path.join(d, 'checkpoint')
  if case == 'truncated data':
    _truncate(os.path.join(d, 'ckpt-120.data-00000-of-00001'))
  elif case == 'garbled state file':
    open(state, 'wb').write(bytes(range(256)))
  elif case == 'empty state file':
    open(state, 'wb').close()
  else:
    os.remove(state)
  before = sorted(os.listdir(d))
  r = helpers.tool('sample', f'--workdir={wd}', f'--out={tmp_path / "s.png"}')
  assert r.returncode == 0 and (tmp_path / 's.png').is_file(), r.stderr[-2000:]
  if case == 'truncated data':
    assert 'warning: ckpt-120 cannot be read' in r.stderr, r.stderr
    r = helpers.tool('export', f'--workdir={wd}', '--formats=tflite', '--quantize=float32',
                     f'--export_dir={tmp_path / "e"}')
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.load(open(tmp_path / 'e' / 'tflite' / 'triangle' / '1' / 'metadata.json'))
    assert meta['training_step'] == 60
    r = helpers.tool('evaluate', '--task=sample', '--num_images=10', f'--workdir={wd}')
    assert r.returncode == 0, r.stderr[-2000:]
  else:
    assert 'warning' not in r.stderr, r.stderr
  assert sorted(os.listdir(d)) == before
