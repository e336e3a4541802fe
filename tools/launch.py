"""Run tools/train as a multi-worker job on this machine: N worker processes, each with its
TF_CONFIG on a free 127.0.0.1 port (--strategy=multi_worker is added for them).

  tools/launch --workers=2 -- --algo=triangle --dataset=fashion_mnist --workdir=runs/mw
  tools/launch --workers=2 -- --workdir=runs/mw          # rerun: resumes the last checkpoint

Worker 0 is the chief: its progress prints here, and it alone writes the workdir; the others
log to --logdir. When one worker fails, the others are stopped and the exit status is
non-zero, naming the failed worker; rerunning the same command resumes from the last
checkpoint. A port taken between choosing it and the worker binding it is retried with new
ports. This is how to try multi-worker training on one box; on a real cluster the scheduler
starts the workers and sets TF_CONFIG (docs/multiworker.md: on a cluster).
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from absl import flags

from core import cluster as cluster_lib
from core.errors import ConfigError, Terminated
from tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_integer('workers', 2, 'Number of worker processes (>= 1).')
flags.DEFINE_string('logdir', None, 'Folder for the non-chief workers\' logs (default: a new '
                    'temporary folder, printed at the start).')
flags.DEFINE_integer('port_retries', 3, 'New tries with other ports when a chosen port is '
                     'taken before its worker binds it.')
flags.DEFINE_float('stop_grace', 15.0, 'When a worker fails, seconds the others have to '
                   'end by themselves before SIGTERM (after Ctrl-C: to save a checkpoint, at '
                   'least 30).')

HOST = '127.0.0.1'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT_TAKEN = 'is in use by another process'  # core/cluster.in_use's line


class Worker:
  """One tools/train process; the chief's output is passed through (and its tail kept), the
  others' goes to a log file."""

  def __init__(self, index, address, addresses, train_args, logdir):
    self.index, self.address = index, address
    env = dict(os.environ, TF_CONFIG=cluster_lib.tf_config(addresses, index),
               PYTHONPATH=ROOT + (os.pathsep + os.environ['PYTHONPATH']
                                  if os.environ.get('PYTHONPATH') else ''))
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    cmd = [sys.executable, '-m', 'tools.train', *train_args, '--strategy=multi_worker']
    self.log = None if index == 0 else os.path.join(logdir, f'worker-{index}.log')
    self._tail = b''
    if self.log:
      with open(self.log, 'ab') as out:
        self.proc = subprocess.Popen(cmd, cwd=os.getcwd(), env=env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
    else:
      self.proc = subprocess.Popen(cmd, cwd=os.getcwd(), env=env, stderr=subprocess.PIPE,
                                   start_new_session=True)
      self._pump = threading.Thread(target=self._forward, daemon=True)
      self._pump.start()

  @property
  def name(self):
    return f'worker {self.index} ({self.address}, pid {self.proc.pid}' + (
        ', the chief)' if self.index == 0 else f', log {self.log})')

  def _forward(self):
    stream = self.proc.stderr
    while True:
      chunk = stream.read1(4096) if hasattr(stream, 'read1') else stream.read(4096)
      if not chunk:
        return
      out = getattr(sys.stderr, 'buffer', None)
      if out is not None:
        out.write(chunk)
        out.flush()
      else:
        sys.stderr.write(chunk.decode('utf-8', 'replace'))
      self._tail = (self._tail + chunk)[-8192:]

  def tail(self) -> str:
    """The last lines this worker wrote."""
    if self.log:
      with open(self.log, 'rb') as f:
        f.seek(max(0, os.path.getsize(self.log) - 8192))
        data = f.read()
    else:
      self._pump.join(timeout=5)
      data = self._tail
    return data.decode('utf-8', 'replace')

  def error_line(self) -> str:
    lines = [ln.strip() for ln in self.tail().replace('\r', '\n').splitlines()]
    return next((ln for ln in reversed(lines) if ln.startswith('error: ')), '')

  def signal(self, sig):
    if self.proc.poll() is None:
      try:
        os.killpg(self.proc.pid, sig)
      except ProcessLookupError:
        pass


def how(rc: int) -> str:
  if rc < 0:
    try:
      return f'was killed by {signal.Signals(-rc).name}'
    except ValueError:
      return f'was killed by signal {-rc}'
  return f'exited with status {rc}'


def stop(workers, sig=signal.SIGTERM, grace=10.0):
  """Sends `sig` to every running worker; kills those still running after `grace` s."""
  for w in workers:
    w.signal(sig)
  end = time.time() + grace
  while time.time() < end and any(w.proc.poll() is None for w in workers):
    time.sleep(0.1)
  for w in workers:
    w.signal(signal.SIGKILL)
  for w in workers:
    w.proc.wait()


def first_failure(workers):
  """The worker that failed, preferring one killed by a signal (the others then fail too,
  having lost their peer)."""
  failed = [w for w in workers if w.proc.poll() not in (None, 0)]
  killed = [w for w in failed if w.proc.returncode < 0]
  return (killed or failed or [None])[0]


def supervise(workers, grace):
  """Waits for the job; returns the worker that failed first, or None when all succeeded.
  After a failure the others get `grace` seconds to end by themselves (a worker that lost
  its peer stops with its own message, naming the checkpoint to resume), then SIGTERM."""
  chief_done = None
  while True:
    bad = first_failure(workers)
    if bad is not None:
      end = time.time() + grace
      while time.time() < end and any(w.proc.poll() is None for w in workers):
        time.sleep(0.2)
      bad = first_failure(workers)
      stop(workers, grace=5.0)
      return bad
    if all(w.proc.poll() == 0 for w in workers):
      return None
    if workers[0].proc.poll() == 0:
      chief_done = chief_done or time.time()
      if time.time() - chief_done > 120:  # the chief finished: the others should have too
        stop(workers, grace=grace)
        late = [w for w in workers if w.proc.returncode != 0]
        return late[0] if late else None
    time.sleep(0.2)


def launch(n: int, train_args: list[str], logdir: str, retries: int, grace: float) -> int:
  """Runs the job (retrying a taken port); returns the exit status for the command."""
  os.makedirs(logdir, exist_ok=True)
  for attempt in range(retries + 1):
    ports = cluster_lib.free_ports(n, HOST)
    addresses = [f'{HOST}:{p}' for p in ports]
    workers = []
    try:
      for i, address in enumerate(addresses):
        workers.append(Worker(i, address, addresses, train_args, logdir))
      where = f'; the others log to {logdir}' if n > 1 else ''
      print(f'launch: {n} worker(s) on {HOST}: '
            + ', '.join(f'worker {w.index} port {p} pid {w.proc.pid}'
                        for w, p in zip(workers, ports))
            + f'; worker 0 is the chief and prints here{where}', file=sys.stderr, flush=True)
      bad = supervise(workers, grace)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (core.errors.Terminated)
      sig = signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT
      print(f'launch: {sig.name}: passing it to the workers (the chief saves a checkpoint, '
            f'then all stop)', file=sys.stderr, flush=True)
      try:
        stop(workers, sig, grace=max(grace, 30.0))
      except KeyboardInterrupt:  # asked again while waiting: now
        print('launch: stopping the workers now (SIGKILL)', file=sys.stderr, flush=True)
        stop(workers, signal.SIGKILL, grace=0.0)
      return 128 + sig.value
    except BaseException:
      stop(workers, grace=0.0)  # none is left behind
      raise
    if bad is None:
      return 0
    if bad.proc.returncode in (130, 143) and all(w.proc.returncode in (0, 130, 143)
                                                 for w in workers):
      # A worker was told to stop (SIGTERM or Ctrl-C sent to it, not to tools/launch): they
      # agreed on a step and the chief saved it.
      print(f'launch: {bad.name} was stopped by a signal; the workers stopped at one step, '
            f'saved by the chief. Rerun the same command to resume', file=sys.stderr)
      return bad.proc.returncode
    line = bad.error_line()
    if PORT_TAKEN in line and attempt < retries:
      print(f'launch: {bad.address} was taken before worker {bad.index} could bind it; '
            f'retrying with other ports ({attempt + 1} of {retries})', file=sys.stderr)
      continue
    rc = bad.proc.returncode
    if rc == 2:  # bad input: the worker's own line says what and how to fix it
      if bad.index:  # the chief's line is already on the screen
        print(line or f'error: {bad.name} {how(rc)}', file=sys.stderr)
      return 2
    print(f'error: {bad.name} {how(rc)}' + (f' ({line[7:]})' if line and bad.index else '')
          + '; the other worker(s) were stopped. Rerun the same command to resume from the '
          'last checkpoint of the run', file=sys.stderr)
    return 1
  return 1


def main(argv):
  train_args = list(argv[1:])
  if FLAGS.workers < 1:
    raise ConfigError(f'--workers must be >= 1, got {FLAGS.workers}')
  if FLAGS.port_retries < 0 or FLAGS.stop_grace < 0:
    raise ConfigError(f'--port_retries and --stop_grace must be >= 0, got '
                      f'{FLAGS.port_retries} and {FLAGS.stop_grace:g}')
  if not any(a.startswith('--workdir') for a in train_args):
    raise ConfigError('give tools/train\'s flags after --, with a --workdir: tools/launch '
                      '--workers=2 -- --algo=triangle --workdir=runs/mw')
  strategy = [a for a in train_args if a.startswith('--strategy')]
  if strategy and strategy[-1] != '--strategy=multi_worker':
    raise ConfigError(f'tools/launch runs --strategy=multi_worker; drop {strategy[-1]}')
  if any(a.split('=')[0] in ('--help', '-h', '--helpfull') for a in train_args):
    raise ConfigError('for tools/train\'s flags run tools/train --help')
  logdir = FLAGS.logdir or tempfile.mkdtemp(prefix='twonets-launch-')
  sys.exit(launch(FLAGS.workers, train_args, logdir, FLAGS.port_retries, FLAGS.stop_grace))


if __name__ == '__main__':
  cli.start(main)
