"""Small real data sets made on the fly, the tools run in this process or in a fresh one, and
the toy task of the loop's tests."""
import contextlib
import io
import os
import shutil
import subprocess
import sys
from typing import NamedTuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The logical CPUs of the test process (tests/conftest.py splits the CPU before TensorFlow
# starts), so MirroredStrategy runs in process: test_mirrored, --strategy=mirrored runs.
REPLICAS = 2


def digits_npz(path, size=28, n=600):
  """scikit-learn's handwritten digits (8×8, shipped in the wheel) upscaled to size×size,
  as an npz `images` uint8 [n, size, size] with `labels`: real images in milliseconds."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  d = datasets.load_digits()
  x = (d.images[:n, ..., None] / 16.0 * 255.0).astype(np.float32)
  x = tf.image.resize(x, [size, size], method='bilinear').numpy()
  images = np.clip(np.round(x[..., 0]), 0, 255).astype(np.uint8)
  np.savez(path, images=images, labels=d.target[:n])
  return str(path)


def run_tool(name, *args, timeout=300, env=None):
  """Runs tools/<name> in a fresh process; returns the CompletedProcess."""
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=ROOT, **(env or {}))
  return subprocess.run([sys.executable, '-m', f'tools.{name}', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout, env=full_env)


class Result(NamedTuple):
  """What a tool run gives: its exit code and its two streams (as subprocess's)."""
  returncode: int
  stdout: str
  stderr: str


def _forget_other_tools(name):
  """Every tool defines its flags in absl's one FLAGS when imported, several under the same
  names (--workdir): before importing tools/<name>, the other tools' flags and modules go."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  fv = flags.FLAGS
  for module in [m for m in fv.flags_by_module_dict() if m.startswith('tools.')]:
    if module == f'tools.{name}':
      continue
    for flag in list(fv.flags_by_module_dict().get(module, ())):
      if flag.name in fv:
        delattr(fv, flag.name)
    sys.modules.pop(module, None)


def tool(name, *args):
  """tools/<name> with `args`, run in this process as its command line runs it
  (tools/cli.run_main around absl's app.run): Result(returncode, stdout, stderr).

  TensorFlow is already started here, so this costs what the tool does and nothing of a
  process start (~7 s each on 2 cores). What only a fresh process shows (the exit code seen
  by a shell, nothing but the one line on stderr, kill -9) is tested with run_tool."""
  import importlib  # pylint: disable=g-import-not-at-top
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  from tools import cli  # pylint: disable=g-import-not-at-top
  _forget_other_tools(name)
  module = importlib.import_module(f'tools.{name}')
  flags.FLAGS.unparse_flags()
  # Text streams over bytes, as sys.stdout is (tools/evaluate reconfigures its buffering).
  out, err = (io.TextIOWrapper(io.BytesIO(), encoding='utf-8') for _ in range(2))
  code = 0
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
      cli.run_main(lambda argv: app.run(module.main, argv=argv, flags_parser=cli.parse_flags),
                   argv=[f'tools/{name}', *args])
    except SystemExit as e:
      code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
  texts = []
  for stream in (out, err):
    stream.flush()
    texts.append(stream.buffer.getvalue().decode('utf-8', 'replace'))
  return Result(code, *texts)


def copy_run(workdir, dest):
  """A copy of a (shared, read-only) trained run to change or write into; returns its path."""
  shutil.copytree(workdir, dest)
  return str(dest)


def one_line_error(result, message):
  """`result` failed with exit 2 and one stderr line holding `message`."""
  err = result.stderr.strip()
  assert result.returncode == 2, (result.returncode, err[-2000:])
  assert message in err and err.count('\n') == 0, err[-2000:]


# ------------------------------------------------------------------ the loop, on a toy task

def toy_task(nan_at=(), huge_at=()):
  """w ← Adam on (w − 3)²; the step's metrics turn NaN (or huge) the first time the step
  counter reaches a step in nan_at (huge_at)."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from core import loop  # pylint: disable=g-import-not-at-top
  w = tf.Variable([0.0])
  opt = keras.optimizers.Adam(0.1)
  opt.build([w])
  rng = tf.random.Generator.from_seed(1)
  step = tf.Variable(0, dtype=tf.int64)
  fired = set()

  def train_step(iterator):
    del iterator
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(w - 3.0))
    opt.apply_gradients([(tape.gradient(loss, w), w)])
    s = int(step.numpy()) + 1
    out = {'loss': loss, 'u': tf.constant(1.0) + 0.0 * rng.normal([])}
    if s in nan_at and ('nan', s) not in fired:
      fired.add(('nan', s))
      out['loss'] = tf.constant(float('nan'))
    if s in huge_at and ('huge', s) not in fired:
      fired.add(('huge', s))
      out['u'] = tf.constant(1e9)
    return out

  task = loop.Task(step=step, checkpoint={'w': tf.train.Checkpoint(w=w), 'opt': opt,
                                          'rng': rng},
                   train_step=train_step, make_iterator=lambda start: None,
                   samples=lambda: np.zeros((4, 8, 8, 1), np.float32), energy_keys=('u',))
  return task, w, opt


def toy_config(steps=12, **train):
  """The config the loop's tests run toy_task under."""
  from core import config as config_lib  # pylint: disable=g-import-not-at-top
  c = config_lib.base()
  c.algo = 'toy'
  c.train.update(steps=steps, log_every=1, sample_every=100, ckpt_every=4, **train)
  return c


def tensors(prefix):
  """Every saved tensor of a checkpoint but the save counter (it counts saves, not steps)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  r = tf.train.load_checkpoint(prefix)
  return {k: r.get_tensor(k) for k in r.get_variable_to_shape_map()
          if not k.startswith(('save_counter', '_CHECKPOINTABLE_OBJECT_GRAPH'))}


def assert_same_tensors(a, b):
  ta, tb = tensors(a), tensors(b)
  assert sorted(ta) == sorted(tb)
  differ = [k for k in ta if not np.array_equal(ta[k], tb[k])]
  assert not differ, f'{len(differ)} of {len(ta)} tensors differ, e.g. {differ[:3]}'


def events(logdir):
  """What a run's TensorBoard files hold: {'scalars': {tag: [(step, value)]}, 'text': {tag:
  last text}, 'hparams': whether an hparams summary is there, 'layout': the Custom Scalars
  charts' tags (their regexes unescaped)}."""
  import glob  # pylint: disable=g-import-not-at-top
  import re  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.custom_scalar import layout_pb2  # pylint: disable=g-import-not-at-top
  out = {'scalars': {}, 'text': {}, 'hparams': False, 'layout': []}
  for path in sorted(glob.glob(os.path.join(logdir, 'events.out.tfevents.*'))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        plugin = v.metadata.plugin_data.plugin_name
        if plugin == 'scalars':
          out['scalars'].setdefault(v.tag, []).append(
              (event.step, float(tf.make_ndarray(v.tensor))))
        elif plugin == 'text':
          out['text'][v.tag] = tf.make_ndarray(v.tensor).item().decode()
        elif plugin == 'hparams':
          out['hparams'] = True
        elif plugin == 'custom_scalars':
          layout = layout_pb2.Layout.FromString(tf.make_ndarray(v.tensor).item())
          out['layout'] = [[re.sub(r'\\(.)', r'\1', t.strip('^$'))
                            for t in chart.multiline.tag]
                           for c in layout.category for chart in c.chart]
  return out
