"""What every tool shares: quiet TF start-up, and bad input as one line and exit code."""
import errno
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from core.errors import Diverged, UsageError, WorkerLost  # pylint: disable=g-import-not-at-top


STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EPERM)


def run_main(main, argv=None):
  """Calls main(argv); UsageError → exit 2, Diverged → exit 1, Ctrl-C → exit 130."""
  from absl import app, logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.ERROR)  # TF's Python INFO/WARNING chatter (checkpoints, ...)
  if any(a in ('-h', '--help', '--helpshort', '-?') for a in (argv or sys.argv)[1:]):
    app.usage(shorthelp=True, writeto_stdout=True, exitcode=0)  # absl's own exits 1
  try:
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
