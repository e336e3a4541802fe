"""What every reproduction table shares: running tools in subprocesses (timed, optionally
pinned to a core), reading what they wrote, and the records of sample quality."""
import json
import os
import subprocess
import sys
import time

from absl import flags

from evaluation import results

FLAGS = flags.FLAGS  # defined by tools/reproduce.py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = results.RESULTS  # docs/results/<table>.json
# Seeds of the tables that run twice (coop_triangle, multiview).
SEEDS = (0, 1)


def run(args, core=None):
  """Runs `python -m tools.X args`, returns (printable command, seconds); with `core`, pinned
  to that CPU core with one TensorFlow thread (taskset)."""
  return wait(start(args, core))


def command_line(args, core=None):
  """The command line of `python -m tools.X args` as the tables print it."""
  shown = 'tools/' + args[0].split('.')[1] + ' ' + ' '.join(args[1:])
  return shown if core is None else f'TF_NUM_INTRAOP_THREADS=1 taskset -c {core} {shown}'


def start(args, core=None):
  cmd = [sys.executable, '-m'] + args
  shown = command_line(args, core)
  env = dict(os.environ, PYTHONPATH=ROOT)
  if core is not None:
    cmd = ['taskset', '-c', str(core)] + cmd
    env.update(TF_NUM_INTRAOP_THREADS='1', TF_NUM_INTEROP_THREADS='1')
  print(f'$ {shown}', flush=True)
  return shown, time.time(), subprocess.Popen(cmd, cwd=ROOT, env=env)


def wait(started):
  shown, began, proc = started
  if proc.wait():
    raise RuntimeError(f'{shown} failed with exit code {proc.returncode}')
  return shown, round(time.time() - began, 1)


def load(workdir, name):
  with open(os.path.join(ROOT, workdir, name)) as f:
    return json.load(f)


def quality_records(add, out, method_names, setting, command, seconds):
  """fd, kid, classes present and the largest class share of the rows of a metrics.json
  named in `method_names` ({row: method}); the scoring classifier's hash goes into each
  record's `classifier`."""
  sq = out['sample_quality']
  for name, method in method_names.items():
    row = sq['rows'][name]
    for metric in ('fd', 'kid', 'classes_present', 'class_max_share'):
      add(f'sample quality ({metric})', method, setting, metric, row[metric], command, seconds,
          classifier=sq['classifier_sha256'])


def masked_task(add, workdir, task, label, spec, what, metric, command, seconds, extra=()):
  """tools/evaluate --task=TASK --mask=SPEC on a trained run (`command`, `seconds`: how it was
  trained): a record per method of TASK_MASK.json for METRIC_mae and METRIC_psnr (tables
  `what (METRIC_mae)`, ...), each with both commands and their seconds."""
  c, s = run(['tools.evaluate', f'--task={task}', f'--mask={spec}', f'--workdir={workdir}',
              *extra, f'--num_images={FLAGS.num_images}'])
  result = load(workdir, f'{task}_{spec.replace(":", "-")}.json')
  for method, metrics in result['methods'].items():
    for key in (f'{metric}_mae', f'{metric}_psnr'):
      add(f'{what} ({key})', method, label, key, metrics[key], f'{command} && {c}',
          round(seconds + s, 1))


_next_core = [0]


def next_core():
  """The next core of --cores for a pinned run (round robin); None: unpinned."""
  if not FLAGS.cores:
    return None
  core = FLAGS.cores[_next_core[0] % len(FLAGS.cores)]
  _next_core[0] += 1
  return int(core)


def in_waves(starters):
  """Runs the zero-argument starters len(--cores) at a time (one at a time unpinned);
  returns their finish() results in order."""
  width = max(1, len(FLAGS.cores))
  results = []
  for i in range(0, len(starters), width):
    results += [finish() for finish in [start() for start in starters[i:i + width]]]
  return results


def score_checkpoints(workdir, num_samples=5000, seed=7):
  """{step: {'fd', 'fd_raw', 'class_max_share', 'classes_present'}} of every checkpoint kept in
  a triangle/VAE workdir: the averaged generator (as exported) and the raw one."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from evaluation import reports  # pylint: disable=g-import-not-at-top
  from trainers import generator as generator_lib  # pylint: disable=g-import-not-at-top
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  state = tf.train.get_checkpoint_state(os.path.join(workdir, 'checkpoints'))
  out = {}
  for path in state.all_model_checkpoint_paths:
    step = int(path.rsplit('-', 1)[1])
    sets = {}
    for average in (True, False):
      cfg, built = run_lib.restore(workdir, ('generator',), checkpoint=path, average=average)
      sets['ema' if average else 'raw'] = generator_lib.sample(built['generator'], num_samples,
                                                               cfg.seed + seed)
    q = reports.sample_quality(cfg, sets, headline='ema')
    rows = q['sample_quality']['rows']
    out[step] = {'fd': rows['ema']['fd'], 'fd_raw': rows['raw']['fd'],
                 'class_max_share': rows['ema']['class_max_share'],
                 'classes_present': rows['ema']['classes_present'],
                 'classifier': q['sample_quality']['classifier_sha256']}
  return out


def scoring_classifier_sha():
  """The weights' hash of the Fashion-MNIST scoring classifier (evaluation/scoring.py)."""
  from evaluation import scoring  # pylint: disable=g-import-not-at-top
  return scoring.weights_sha256(scoring.load_classifier('fashion_mnist', 28, 1))
