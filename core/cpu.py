"""What the CPU can do, read without TensorFlow, and the TensorFlow settings that follow
from it: they must be in the environment before TensorFlow starts (tools/__init__.py and
tests/conftest.py apply them first thing).

oneDNN: TensorFlow turns its oneDNN kernels on by itself only on x86 CPUs with
neural-network instructions (AVX512-VNNI, AVX512-BF16, AMX); on AVX2-only CPUs it leaves
them off, where they pay most: make train's step 1.5× faster on a 2-core AVX2 EPYC (Zen 3),
a 4096² matmul 1.5–2.1× (bench/triangle_step.py, bench/onednn.py). So where
TF_ENABLE_ONEDNN_OPTS is unset and the CPU is x86 with AVX2, it is set to 1 (with or
without a GPU: oneDNN changes only the ops that run on the CPU); elsewhere (ARM, older x86)
TensorFlow's own default stands. A value the user set always wins: TF_ENABLE_ONEDNN_OPTS=0
gives the reference (Eigen) kernels, which round differently (step 1's losses agree to
~1e-7 relative, bench/onednn.py; trajectories part later, not bit for bit).
TensorFlow then writes a notice about it to stderr while it loads, before its logging
honours TF_CPP_MIN_LOG_LEVEL; wherever TF_ENABLE_ONEDNN_OPTS is 1 (set here, inherited by a
child process such as a worker or a test's tool run, or set by the user) and logs are not
asked for (TF_CPP_MIN_LOG_LEVEL not 0), the first `import tensorflow` runs with those lines
filtered out (stderr_without; the rest of what it writes is passed on when the import ends).
"""
import contextlib
import importlib.abc
import importlib.machinery
import os
import platform
import sys
import tempfile

ONEDNN = 'TF_ENABLE_ONEDNN_OPTS'
# CPU flags (Linux /proc/cpuinfo) that make bfloat16 matrix maths native rather than emulated.
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


def cpu_flags(path: str = '/proc/cpuinfo') -> set:
  """The first CPU's feature flags, or an empty set where /proc/cpuinfo is not readable."""
  try:
    with open(path) as f:
      for line in f:
        if line.startswith('flags'):
          return set(line.split(':', 1)[1].split())
  except OSError:
    pass
  return set()


def onednn_pays(flags=None, machine: str = '') -> bool:
  """Whether this project turns oneDNN on: an x86-64 CPU with AVX2."""
  machine = (machine or platform.machine()).lower()
  flags = cpu_flags() if flags is None else flags
  return machine in ('x86_64', 'amd64') and 'avx2' in flags


def tf_environment(env=None, flags=None, machine: str = '') -> dict:
  """Sets the TensorFlow start-up variables this project defaults (TF_CPP_MIN_LOG_LEVEL 2:
  no INFO lines; TF_ENABLE_ONEDNN_OPTS per onednn_pays) where they are unset, in `env`
  (default os.environ); returns what it set."""
  env = os.environ if env is None else env
  wanted = {'TF_CPP_MIN_LOG_LEVEL': '2'}
  if onednn_pays(flags, machine):
    wanted[ONEDNN] = '1'
  added = {k: v for k, v in wanted.items() if k not in env}
  env.update(added)
  # The notices come with oneDNN asked for by name (here, by a parent process that ran this,
  # or by the user): filtered while logs are quiet, until TensorFlow is imported.
  if (env is os.environ and env.get(ONEDNN) == '1' and env.get('TF_CPP_MIN_LOG_LEVEL') != '0' and
      'tensorflow' not in sys.modules and
      not any(isinstance(f, _QuietImport) for f in sys.meta_path)):
    sys.meta_path.insert(0, _QuietImport())
  return added


# What TensorFlow's C++ start-up writes to stderr before its logging honours
# TF_CPP_MIN_LOG_LEVEL: the oneDNN notice (twice, one per shared library) and absl's preface.
NOTICES = (b'All log messages before absl::InitializeLog() is called are written to STDERR',
           b'oneDNN custom operations are on')


@contextlib.contextmanager
def stderr_without(notices=NOTICES):
  """While inside, file descriptor 2 goes to a temporary file; after (also on an error), its
  lines are written back to stderr, but for those that contain one of `notices`. Where fd 2
  cannot be redirected (closed, no temporary directory), nothing is filtered."""
  saved = None
  try:
    for stream in (sys.stdout, sys.stderr):
      if stream is not None:
        stream.flush()
    saved = os.dup(2)
    tmp = tempfile.TemporaryFile()
  except (OSError, ValueError):
    if saved is not None:
      os.close(saved)
    saved = None
  if saved is None:
    yield
    return
  with tmp:
    os.dup2(tmp.fileno(), 2)
    try:
      yield
    finally:
      if sys.stderr is not None:
        sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      tmp.seek(0)
      kept = b''.join(line for line in tmp if not any(n in line for n in notices))
      if kept:
        os.write(2, kept)


class _QuietImport(importlib.abc.MetaPathFinder):
  """`import tensorflow`, wherever it happens first, under stderr_without; the finder leaves
  sys.meta_path when that import runs (a mere find_spec, as some libraries make to see
  whether TensorFlow is installed, leaves it in place)."""

  def find_spec(self, name, path=None, target=None):  # pylint: disable=unused-argument
    if name != 'tensorflow':
      return None
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is None or spec.loader is None:
      return spec
    run = spec.loader.exec_module

    def exec_module(module):
      if self in sys.meta_path:
        sys.meta_path.remove(self)
      with stderr_without():
        run(module)
    spec.loader.exec_module = exec_module
    return spec
