"""core/cpu.py: TensorFlow's start-up variables from the CPU, and its start-up notices kept
off stderr."""
import os
import subprocess
import sys

from core import cpu
from tests import helpers


def test_onednn_is_turned_on_for_avx2_x86_only_where_unset():
  env = {}
  assert cpu.tf_environment(env, flags={'avx2', 'fma'}, machine='x86_64') == {
      'TF_CPP_MIN_LOG_LEVEL': '2', 'TF_ENABLE_ONEDNN_OPTS': '1'}
  assert env == {'TF_CPP_MIN_LOG_LEVEL': '2', 'TF_ENABLE_ONEDNN_OPTS': '1'}
  user = {'TF_ENABLE_ONEDNN_OPTS': '0', 'TF_CPP_MIN_LOG_LEVEL': '0'}
  assert cpu.tf_environment(user, flags={'avx2'}, machine='x86_64') == {}  # theirs wins
  assert user == {'TF_ENABLE_ONEDNN_OPTS': '0', 'TF_CPP_MIN_LOG_LEVEL': '0'}
  for flags, machine in (({'sse4_2', 'avx'}, 'x86_64'), ({'avx2'}, 'aarch64')):
    env = {}
    cpu.tf_environment(env, flags=flags, machine=machine)
    assert env == {'TF_CPP_MIN_LOG_LEVEL': '2'}  # TensorFlow's own default stands


def test_stderr_without_drops_only_the_notices(capfd):
  with cpu.stderr_without():
    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are '
                b'written to STDERR\nI0000 port.cc:153] oneDNN custom operations are on. You '
                b'may see ...\nan error that matters\n')
  assert capfd.readouterr().err == 'an error that matters\n'


def test_a_fresh_tool_process_starts_with_onednn_and_no_notice():
  """The tools import TensorFlow after core/cpu set its variables: oneDNN is on where the
  CPU has AVX2, and TensorFlow's start-up notices do not reach the user."""
  code = ('import tools, tensorflow\n'
          'from tensorflow.python.util import _pywrap_util_port as p\n'
          'print(p.IsMklEnabled())')
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_ENABLE_ONEDNN_OPTS', 'TF_CPP_MIN_LOG_LEVEL')}
  r = subprocess.run([sys.executable, '-c', code], cwd=helpers.ROOT, env=env,
                     capture_output=True, text=True, timeout=120, check=True)
  # (elsewhere TensorFlow's own default stands, which may be on or off)
  assert r.stdout.strip() in (('True',) if cpu.onednn_pays() else ('True', 'False'))
  assert 'oneDNN custom operations' not in r.stderr and 'absl::InitializeLog' not in r.stderr


def test_the_filter_leaves_a_mere_lookup_alone_and_goes_with_the_import():
  """A library that only asks whether TensorFlow is installed (importlib.util.find_spec)
  does not use the filter up; the import itself takes it out of sys.meta_path, with the
  oneDNN notice filtered."""
  code = ('import importlib.util, sys\n'
          'from core import cpu\n'
          'finder = cpu._QuietImport()\n'
          'sys.meta_path.insert(0, finder)\n'
          'assert importlib.util.find_spec("tensorflow") is not None\n'
          'assert finder in sys.meta_path\n'
          'import tensorflow\n'
          'print(finder in sys.meta_path)')
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS='1', TF_CPP_MIN_LOG_LEVEL='2')
  r = subprocess.run([sys.executable, '-c', code], cwd=helpers.ROOT, env=env,
                     capture_output=True, text=True, timeout=120)
  assert r.returncode == 0 and r.stdout.strip() == 'False', r.stderr[-2000:]
  assert 'oneDNN custom operations' not in r.stderr


def test_the_filter_is_installed_where_onednn_is_asked_for_by_name():
  """A child process (a worker, a test's tool run) inherits TF_ENABLE_ONEDNN_OPTS=1 from the
  parent that set it: it filters the notices too; with TensorFlow's logs asked for
  (TF_CPP_MIN_LOG_LEVEL=0) or oneDNN turned off, nothing is filtered."""
  def installed():
    return [f for f in sys.meta_path if isinstance(f, cpu._QuietImport)]  # pylint: disable=protected-access
  before = installed()  # conftest's own, where this process has not imported TensorFlow
  for f in before:
    sys.meta_path.remove(f)
  saved = {k: os.environ.get(k) for k in ('TF_ENABLE_ONEDNN_OPTS', 'TF_CPP_MIN_LOG_LEVEL')}
  tf_module = sys.modules.pop('tensorflow', None)  # as if not yet imported
  try:
    for onednn, level, filtered in (('1', '2', True), ('1', '0', False), ('0', '2', False)):
      os.environ.update(TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL=level)
      assert cpu.tf_environment() == {}  # both inherited: nothing set
      assert bool(installed()) == filtered, (onednn, level)
      for f in installed():
        sys.meta_path.remove(f)
  finally:
    if tf_module is not None:
      sys.modules['tensorflow'] = tf_module
    for f in installed():
      sys.meta_path.remove(f)
    sys.meta_path[:0] = before
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v
