"""Multi-worker training on loopback: 2 worker processes with one CPU device each (fresh
processes, free 127.0.0.1 ports, every wait bounded).

* the first step of a trainer on 2 workers equals the one-process step with the same global
  batch (Langevin noise off): the generator (persistent latents, each worker's slice of the
  global batch) and multigrid (clamped masks drawn for the global batch); test_mirrored
  checks every trainer's replica logic in one process;
* the triangle on 2 workers (tools/launch, through a port taken before its worker binds it)
  writes only the chief's files, and one process resumes its checkpoint;
* CoopNets on 2 workers: a killed worker ends the job with the message, the same command
  resumes it, and one process resumes the result;
* in-process, a non-chief worker's loop writes nothing in the workdir;
* the launcher's and the cluster's bad settings are one line and exit 2.

Everything that starts worker processes is in the slow tier: each starts TensorFlow in two
processes and forms a cluster (~10-60 s a test).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from core import cluster as cluster_lib
from tests import helpers

SIZE = ('--set', 'data.image_size=28', '--set', 'data.channels=1')
ALGOS = ('generator', 'multigrid', 'latent_ebm', 'dual_mcmc')


def env(**extra):
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=helpers.ROOT, **extra)


def two_workers(args, timeout, tries=3):
  """Runs `python -m ARGS` as worker 1 and worker 0 of a 2-worker TF_CONFIG; retries with new
  ports when one was taken before its worker bound it. Returns (rc, stdout, stderr) each."""
  for _ in range(tries):
    addresses = [f'127.0.0.1:{p}' for p in cluster_lib.free_ports(2)]
    procs = [subprocess.Popen([sys.executable, '-m', *args], cwd=helpers.ROOT,
                              env=env(TF_CONFIG=cluster_lib.tf_config(addresses, i)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in (1, 0)][::-1]
    results = []
    for p in procs:
      try:
        out, err = p.communicate(timeout=timeout)
      except subprocess.TimeoutExpired:
        for q in procs:
          q.kill()
        raise
      results.append((p.returncode, out, err))
    if not any('is in use by another process' in r[2] for r in results):
      return results
  return results


@pytest.fixture(scope='module')
def report(digits):
  (rc0, out0, err0), (rc1, _, err1) = two_workers(
      ['tests.multiworker_equivalence', digits, *ALGOS], timeout=480)
  assert rc0 == 0 and rc1 == 0, (err0[-3000:], err1[-3000:])
  return json.loads(out0.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize('algo', ALGOS)
def test_first_step_on_two_workers_equals_one_process(report, algo):
  """Slow: two worker processes form a cluster (one report for both algorithms, ~30 s)."""
  row = report[algo]
  assert row['replicas'] == 2
  if algo == 'multigrid':  # half its chains are clamped: masks drawn once for the global batch
    assert row['clamped_share'] == 0.5, row
  assert row['max_loss_rel_diff'] < 1e-5, row  # float32 summation order
  # As in test_mirrored: Adam's first update is ≈ lr·sign(g), so a gradient within rounding
  # of zero may move its weight by up to ~2·lr either way; all but a tiny share agree.
  assert row['share_weights_off'] < 0.02, row
  assert row['max_weight_diff'] <= 2 * row['max_lr'] + 1e-6, row


def event_pids(workdir):
  """The PIDs in the names of the TensorBoard files (events.out.tfevents.TIME.HOST.PID...)."""
  return {int(f.split('.')[5]) for f in os.listdir(workdir) if f.startswith('events.out')}


def ckpt_steps(workdir):
  d = os.path.join(workdir, 'checkpoints')
  return sorted(int(m.group(1)) for m in map(re.compile(r'^ckpt-(\d+)\.index$').match,
                                             os.listdir(d)) if m)


@pytest.mark.slow
def test_triangle_on_two_workers_then_one_process_resumes(digits, tmp_path, monkeypatch,
                                                          capfd):
  """Slow: tools/launch starts two worker processes (one port taken, retried), then one
  process resumes the checkpoint (~40 s)."""
  from tools import launch  # pylint: disable=g-import-not-at-top
  wd, scratch = str(tmp_path / 'run'), tmp_path / 'tmp'
  scratch.mkdir()
  monkeypatch.setenv('TMPDIR', str(scratch))  # where the non-chief's saves go, and go away
  real = cluster_lib.free_ports
  with socket.socket() as taken:  # the first port handed out is in use by then
    taken.bind(('127.0.0.1', 0))
    taken.listen()
    calls = []

    def ports(n, host='127.0.0.1'):
      calls.append(n)
      return ([taken.getsockname()[1]] + real(n - 1, host)) if len(calls) == 1 else real(n, host)

    monkeypatch.setattr(cluster_lib, 'free_ports', ports)
    rc = launch.launch(2, ['--algo=triangle', f'--dataset=npz:{digits}', *SIZE,
                           f'--workdir={wd}', '--smoke'], str(tmp_path / 'logs'),
                       retries=3, grace=3.0)
  err = capfd.readouterr().err
  assert rc == 0, err[-3000:]
  assert 'was taken before worker 0 could bind it; retrying with other ports' in err, err
  pids = [int(p) for p in re.findall(r'worker \d port \d+ pid (\d+)', err)[-2:]]
  assert ckpt_steps(wd) == [0, 3, 6]
  assert event_pids(wd) == {pids[0]}  # TensorBoard from the chief only
  assert json.load(open(os.path.join(wd, 'metrics.json')))['steps'] == 6
  assert not [e for e in os.listdir(scratch) if e.startswith('twonets-worker')]
  worker1 = open(tmp_path / 'logs' / 'worker-1.log').read()
  assert '2 replica(s)' in worker1 and 'done:' not in worker1  # it trained; it did not report
  # One process resumes the 2-worker checkpoint (the state is global).
  r = helpers.run_tool('train', f'--workdir={wd}', '--steps=8', timeout=240)
  assert r.returncode == 0, r.stderr[-3000:]
  assert f'resumed from {wd}/checkpoints/ckpt-6 at step 6' in r.stdout and \
      '1 replica(s)' in r.stdout, r.stdout
  assert ckpt_steps(wd)[-1] == 8


def launch_until_saved(cmd, wd, min_step):
  """(proc, err, reader): tools/launch started with `cmd` (stderr collected into the list
  `err` by the thread `reader`), returned once the workdir holds a checkpoint of at least
  `min_step` (180 s at most; the job must still run)."""
  proc = subprocess.Popen(cmd, cwd=helpers.ROOT, env=env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  err = []
  reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
  reader.start()
  end = time.time() + 180
  while time.time() < end and not (os.path.isdir(os.path.join(wd, 'checkpoints'))
                                   and any(s >= min_step for s in ckpt_steps(wd))):
    if proc.poll() is not None:
      reader.join(timeout=10)
      raise AssertionError(''.join(err)[-3000:])
    time.sleep(0.2)
  return proc, err, reader


@pytest.mark.slow
def test_coopnets_a_killed_worker_ends_the_job_and_the_same_command_resumes(digits, tmp_path):
  """Slow: three 2-worker launches (one with a worker killed) and a resume (~55 s)."""
  wd = str(tmp_path / 'run')
  cmd = [sys.executable, '-m', 'tools.launch', '--workers=2', f'--logdir={tmp_path / "logs"}',
         '--stop_grace=30', '--', '--algo=coopnets', f'--dataset=npz:{digits}', *SIZE,
         f'--workdir={wd}', '--smoke', '--steps=40', '--set', 'train.ckpt_every=5',
         '--set', 'train.log_every=5', '--set', 'train.sample_every=10']
  proc, err, reader = launch_until_saved(cmd, wd, 5)
  try:
    (pid,) = re.findall(r'worker 1 port \d+ pid (\d+)', ''.join(err))
    os.kill(int(pid), signal.SIGKILL)
    rc = proc.wait(timeout=120)
  finally:
    proc.kill()
  reader.join(timeout=10)
  text = ''.join(err)
  assert rc == 1, text[-3000:]
  last = text.strip().splitlines()[-1]
  assert re.match(rf'error: worker 1 \(127\.0\.0\.1:\d+, pid {pid}, log .*\) was killed by '
                  r'SIGKILL; the other worker\(s\) were stopped\. Rerun the same command to '
                  r'resume', last), last
  # The chief noticed its lost peer itself, and named the checkpoint to resume from.
  lost = re.search(r'error: the cluster lost a worker during step (\d+) .*resume from '
                   rf'{re.escape(wd)}/checkpoints/ckpt-(\d+)', text)
  assert lost and 5 <= int(lost.group(2)) < 40, text[-3000:]
  kept = ckpt_steps(wd)[-1]
  assert kept < 40
  # The same command resumes from the last checkpoint and finishes.
  r = subprocess.run(cmd, cwd=helpers.ROOT, env=env(), capture_output=True, text=True,
                     timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]
  assert f'resumed from {wd}/checkpoints/ckpt-{kept} at step {kept}' in r.stdout, r.stdout
  assert ckpt_steps(wd)[-1] == 40 and len(event_pids(wd)) == 2  # one chief per run
  # Exact resume on the same topology: the killed and resumed job ends where an
  # uninterrupted one does, to the bit (Langevin noise on; samples drawn every 10 steps).
  straight = str(tmp_path / 'straight')
  r = subprocess.run([a.replace(wd, straight) for a in cmd], cwd=helpers.ROOT, env=env(),
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]
  helpers.assert_same_tensors(f'{wd}/checkpoints/ckpt-40', f'{straight}/checkpoints/ckpt-40')
  # One process resumes it.
  r = helpers.run_tool('train', f'--workdir={wd}', '--steps=42', timeout=240)
  assert r.returncode == 0 and 'at step 40' in r.stdout, r.stderr[-3000:]


class NonChief:
  """runtime.Workers as worker 1 of 2 sees it: the chief's broadcasts are scripted."""
  count, index, is_chief = 2, 1, False

  def __init__(self, chief_values):
    self.values = list(chief_values)

  def broadcast(self, value):
    del value
    return self.values.pop(0) if self.values else 0

  def poll(self, chief_value, flag):  # no time budget, no stop signal
    del chief_value, flag
    return 0, False


@pytest.mark.slow
@pytest.mark.parametrize('target', ['tools/launch', 'worker 1 alone'])
def test_sigterm_stops_every_worker_at_one_step_saved(digits, tmp_path, target):
  """Slow: a 2-worker launch and a resume (~40 s). SIGTERM (docker stop, Kubernetes, Slurm)
  to tools/launch is passed to both workers; to one worker alone, it reaches the others by
  the step's poll: they agree on a step, the chief saves it, all exit (143); the same command
  resumes from it."""
  wd = str(tmp_path / 'run')
  cmd = [sys.executable, '-m', 'tools.launch', '--workers=2', f'--logdir={tmp_path / "logs"}',
         '--', '--algo=generator', f'--dataset=npz:{digits}', *SIZE, f'--workdir={wd}',
         '--smoke', '--steps=100000', '--set', 'train.ckpt_every=100000']
  proc, err, reader = launch_until_saved(cmd, wd, 0)
  try:
    time.sleep(3)  # some steps past the first save
    pids = [int(p) for p in re.findall(r'worker \d port \d+ pid (\d+)', ''.join(err))]
    if target == 'tools/launch':
      proc.send_signal(signal.SIGTERM)
    else:
      os.kill(pids[1], signal.SIGTERM)
    rc = proc.wait(timeout=120)
  finally:
    proc.kill()
  reader.join(timeout=10)
  text = proc.stdout.read() + ''.join(err)
  assert rc == 143, text[-3000:]
  saved = re.search(rf'stopped by SIGTERM at step (\d+); saved {re.escape(wd)}/checkpoints/'
                    r'ckpt-(\d+)', text)
  assert saved and saved.group(1) == saved.group(2) and int(saved.group(1)) > 0, text[-3000:]
  step = int(saved.group(1))
  assert ckpt_steps(wd)[-1] == step
  for pid in pids:  # no worker is left behind
    with pytest.raises(ProcessLookupError):
      os.kill(pid, 0)
  r = subprocess.run([a if a != '--steps=100000' else f'--steps={step + 2}' for a in cmd],
                     cwd=helpers.ROOT, env=env(), capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]
  assert f'resumed from {wd}/checkpoints/ckpt-{step} at step {step}' in r.stdout, r.stdout


def test_a_non_chief_worker_writes_nothing_in_the_workdir(tmp_path, monkeypatch):
  import tempfile  # pylint: disable=g-import-not-at-top
  from core import loop  # pylint: disable=g-import-not-at-top
  wd = str(tmp_path / 'run')
  chief_task, _, _ = helpers.toy_task()
  loop.run(chief_task, helpers.toy_config(steps=8), wd, log=lambda _: None)
  twin, w_twin, _ = helpers.toy_task()  # the chief's own continuation, elsewhere
  shutil.copytree(wd, tmp_path / 'twin')
  loop.run(twin, helpers.toy_config(steps=12), str(tmp_path / 'twin'), log=lambda _: None)
  before = {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
            for d, _, fs in os.walk(wd) for f in fs}
  scratch = tmp_path / 'tmp'
  scratch.mkdir()
  monkeypatch.setattr(tempfile, 'tempdir', str(scratch))
  task, w, _ = helpers.toy_task()
  lines = []
  final = loop.run(task, helpers.toy_config(steps=12), wd, log=lines.append,
                   workers=NonChief([8]))  # the chief resumes ckpt-8
  assert f'resumed from {wd}/checkpoints/ckpt-8 at step 8' in lines[0]
  assert final['steps'] == 12 and int(task.step.numpy()) == 12
  np.testing.assert_array_equal(w.numpy(), w_twin.numpy())  # it went on from the chief's state
  after = {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
           for d, _, fs in os.walk(wd) for f in fs}
  assert after == before  # not a file added, removed or rewritten
  assert os.listdir(scratch) == []  # its own saves went to a temporary folder, now gone


@pytest.mark.parametrize('args, message', [
    (['--workers=0', '--', '--workdir=x'], '--workers must be >= 1'),
    (['--port_retries=-1', '--', '--workdir=x'], '--port_retries and --stop_grace must be >= 0'),
    (['--workers=2', '--', '--algo=vae'], "give tools/train's flags after --, with a --workdir"),
    (['--workers=2', '--', '--workdir=x', '--strategy=mirrored'],
     'tools/launch runs --strategy=multi_worker; drop --strategy=mirrored'),
])
def test_launch_bad_flags(args, message):
  r = helpers.tool('launch', *args)
  helpers.one_line_error(r, f'error: {message}')


@pytest.mark.slow
def test_a_batch_that_does_not_split_over_the_workers(digits, tmp_path):
  """Slow: the workers find it once the cluster has formed (two processes, ~8 s)."""
  r = helpers.run_tool('launch', '--workers=2', f'--logdir={tmp_path / "logs"}', '--',
                       '--algo=generator', f'--dataset=npz:{digits}', *SIZE, '--smoke',
                       f'--workdir={tmp_path / "run"}', '--batch_size=21', timeout=240)
  assert r.returncode == 2, r.stderr[-3000:]
  assert r.stderr.strip().splitlines()[-1] == (
      'error: data.batch_size=21 does not split over 2 replicas (2 workers × 1 device(s) '
      'each); use a multiple of 2'), r.stderr[-2000:]
