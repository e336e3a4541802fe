"""Errors a user can act on. The command-line tools print their message and exit non-zero."""
import errno

# OSError numbers that are the disk's, not the code's: full, read-only, not ours.
STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EPERM)


class UsageError(Exception):
  """Bad input a user can fix (data, flags, config, workdir): printed as one line, exit 2."""

  exit_code = 2


class DataError(UsageError):
  """A data source is missing, empty, corrupt or of the wrong shape."""


class ConfigError(UsageError):
  """An unknown config key, a value of the wrong type, or a bad combination of options."""


class CheckpointError(UsageError):
  """A workdir's checkpoint does not match the requested run."""


class Diverged(RuntimeError):
  """A loss or a sample became NaN/inf; the message names the step and the last good checkpoint."""

  exit_code = 1


class StorageError(UsageError):
  """The workdir cannot be written (disk full, read-only): the older checkpoints are intact."""


class Terminated(KeyboardInterrupt):
  """SIGTERM (docker stop, Kubernetes, Slurm, systemd, `timeout`), raised in the main thread
  where Ctrl-C raises KeyboardInterrupt, so that both take the same path: the run saves a
  checkpoint and stops (exit 143, 128 + SIGTERM)."""

  exit_code = 143


class WorkerLost(RuntimeError):
  """A multi-worker job lost a worker mid-run; the message names the checkpoint to resume."""

  exit_code = 1
