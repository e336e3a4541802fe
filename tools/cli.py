"""What every tool shares: quiet TF start-up, bad input as one line and exit code, and
SIGTERM handled like Ctrl-C (a training run saves a checkpoint first)."""
import contextlib
import os
import signal
import sys
import threading

from core.errors import STORAGE_ERRNOS, Diverged, Terminated, UsageError, WorkerLost  # pylint: disable=g-import-not-at-top


def _raise_terminated(signum, frame):  # pylint: disable=unused-argument
  signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: the save is not cut short
  raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt():
  """While inside: SIGTERM raises core.errors.Terminated (a KeyboardInterrupt) in the main
  thread, where the run loop saves a checkpoint and stops, as on Ctrl-C. The handler before
  is put back after (a tool run in process, as the tests do, leaves none behind)."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  before = signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, before)


def parse_flags(argv):
  """absl's flag parsing, with a bad flag (unknown, malformed, a value of the wrong type, a
  required one missing) as one line and exit 2 instead of absl's two lines and exit 1."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    raise FlagError(f'{str(e).strip().splitlines()[0]}; see --help') from None


class FlagError(UsageError):
  """A command-line flag absl cannot parse."""


def start(main):
  """A tool's entry point: absl's app.run of `main` under run_main, its flags parsed by
  parse_flags."""
  from absl import app  # pylint: disable=g-import-not-at-top
  run_main(lambda argv: app.run(main, argv=argv or sys.argv, flags_parser=parse_flags))


def run_main(main, argv=None):
  """Calls main(argv); UsageError → exit 2, Diverged → exit 1, Ctrl-C → exit 130, SIGTERM →
  exit 143 (both after a training run saved its checkpoint)."""
  from absl import app, logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.ERROR)  # TF's Python INFO/WARNING chatter (checkpoints, ...)
  if any(a in ('-h', '--help', '--helpshort', '-?') for a in (argv or sys.argv)[1:]):
    app.usage(shorthelp=True, writeto_stdout=True, exitcode=0)  # absl's own exits 1
  try:
    with sigterm_as_interrupt():
      return main(argv)
  except UsageError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(e.exit_code)
  except Diverged as e:
    print(f'error: training diverged: {e}', file=sys.stderr)
    sys.exit(e.exit_code)
  except WorkerLost as e:
    print(f'error: {e}', file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(e.exit_code)  # pylint: disable=protected-access  (TF's shutdown would wait for the lost peer)
  except Terminated:
    print('stopped by SIGTERM', file=sys.stderr)
    sys.exit(Terminated.exit_code)
  except KeyboardInterrupt:
    sys.exit(130)
  except ModuleNotFoundError as e:
    if e.name != 'tensorflow':
      raise
    print('error: TensorFlow is not installed here; make setup (or pip install -e \'.[cpu]\', '
          'or \'.[gpu]\' on a machine with an NVIDIA GPU)', file=sys.stderr)
    sys.exit(2)
  except OSError as e:  # the disk, not the code: full, read-only, not ours
    if e.errno not in STORAGE_ERRNOS:
      raise
    print(f'error: cannot write {e.filename or "a file"} ({e.strerror}); free space or '
          f'choose a writable --workdir; what was saved before is intact', file=sys.stderr)
    sys.exit(2)


def _console(tool):
  """The console script of tools/<tool>.py (pyproject.toml's [project.scripts]): runs the
  tool as `python -m tools.<tool>` does, as __main__ with its file as sys.argv[0], so that
  --help finds its docstring and flags (absl keys a __main__ module's flags by argv[0])."""
  import runpy  # pylint: disable=g-import-not-at-top  (by name: no tools → cli import cycle)
  runpy.run_module(f'tools.{tool}', run_name='__main__', alter_sys=True)


def train():
  _console('train')


def launch():
  _console('launch')


def evaluate():
  _console('evaluate')


def sample():
  _console('sample')


def export():
  _console('export')


def bundle_model():
  _console('bundle_model')
