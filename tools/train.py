"""Train one of the twonets algorithms.

  tools/train --algo=triangle --dataset=fashion_mnist --workdir=runs/main    # make train
  tools/train --algo=coopnets --dataset=fashion_mnist --workdir=runs/coop
  tools/train --algo=descriptor --dataset=fashion_mnist --workdir=runs/x
  tools/train --algo=descriptor --conditional --dataset=fashion_mnist --workdir=runs/cond
  tools/train --workdir=runs/x                        # resume the run in runs/x
  tools/train --algo=descriptor --dataset=texture:brick --workdir=runs/brick --set train.steps=300

Rerunning in a workdir that has a checkpoint resumes it (flags given again override the
stored config where the checkpoint allows); --fresh moves the old run to WORKDIR/previous/.
"""
import sys

from absl import app
from absl import flags

import configs
import trainers
from core import config as config_lib
from core import data as data_lib
from core import workdir as workdir_lib
from core.errors import ConfigError
from tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string('algo', None, f'Algorithm: {", ".join(sorted(trainers.ALGORITHMS))}.')
flags.DEFINE_string('dataset', None, f'Data source: {", ".join(data_lib.SOURCES)}. '
                    f'Default: fashion_mnist.')
flags.DEFINE_string('workdir', None, 'Run folder: config, checkpoints, TensorBoard, samples.')
flags.DEFINE_multi_string('set', [], 'Config override key=value, repeatable '
                          '(e.g. --set train.steps=200 --set langevin.step_size=0.005).')
flags.DEFINE_integer('steps', None, 'Training steps (train.steps).')
flags.DEFINE_integer('batch_size', None, 'Global batch size (data.batch_size).')
# Strings, not enums: a bad value is one line and exit 2 (config.validate), like every other.
flags.DEFINE_string('precision', None, f'{", ".join(config_lib.PRECISIONS)}: '
                  'Keras precision policy (train.precision); Langevin chains stay float32.')
flags.DEFINE_string('strategy', None, f'{", ".join(config_lib.STRATEGIES)}: '
                  'tf.distribute strategy (train.strategy): mirrored uses all GPUs, or '
                  '--replicas logical CPUs.')
flags.DEFINE_integer('replicas', None, 'Mirrored on CPU: number of logical CPU replicas.')
flags.DEFINE_string('data_dir', None, 'TFDS data_dir holding prepared datasets.')
flags.DEFINE_bool('download', None, 'Let TFDS download a missing dataset.')
flags.DEFINE_string('mask', None, 'Generator: learn from incomplete images (data.mask): '
                    'pixels:F (a fraction F missing at random) or block:K (one K×K block).')
flags.DEFINE_bool('conditional', None, 'Descriptor: the conditional descriptor '
                  '(model.conditional): K class scores from one net, learned from labelled '
                  'data; a classifier and K class-conditional samplers.')
flags.DEFINE_bool('smoke', False, 'A tiny, seconds-long run of the same code (tests, CI).')
flags.DEFINE_bool('fresh', False, 'Start over; the previous run is moved to WORKDIR/previous/.')
flags.mark_flag_as_required('workdir')

# Shortcut flags and the config key each one sets.
SHORTCUTS = {'steps': 'train.steps', 'batch_size': 'data.batch_size',
             'precision': 'train.precision', 'strategy': 'train.strategy',
             'replicas': 'train.replicas', 'data_dir': 'data.data_dir',
             'download': 'data.download', 'mask': 'data.mask',
             'conditional': 'model.conditional'}
# Sources that never carry labels (the conditional descriptor needs them).
UNLABELLED_SOURCES = ('texture:', 'folder:')


def apply_flags(cfg):
  """The shortcut flags, then --set, applied to `cfg` (in place)."""
  for flag, key in SHORTCUTS.items():
    if FLAGS[flag].value is not None:
      if key not in config_lib.flat_keys(cfg):
        raise ConfigError(f'--{flag} is not an option of --algo={cfg.algo}; drop it (the '
                          f'algorithms that take it: {", ".join(takers(key))})')
      config_lib.set_value(cfg, key, str(FLAGS[flag].value))
  return config_lib.apply_overrides(cfg, FLAGS.set)


def takers(key: str) -> list[str]:
  """The algorithms whose default config has `key`."""
  return [a for a in sorted(trainers.ALGORITHMS)
          if key in config_lib.flat_keys(configs.get(a, 'fashion_mnist'))]


def requests_conditional(cfg) -> bool:
  """Whether --conditional or --set model.conditional=... turn the conditional mode on."""
  scratch = cfg.copy_and_resolve_references()
  if FLAGS.conditional is not None:
    config_lib.set_value(scratch, 'model.conditional', str(FLAGS.conditional))
  config_lib.apply_overrides(scratch, [item for item in FLAGS.set
                                       if item.partition('=')[0].strip() == 'model.conditional'])
  return scratch.model.conditional


def check_conditional(cfg):
  """ConfigError for a conditional request the algorithm or the data cannot honour."""
  if FLAGS.conditional and cfg.algo != 'descriptor':
    raise ConfigError(f'--conditional is an option of the descriptor (the conditional '
                      f'descriptor); --algo={cfg.algo} has no conditional mode: use '
                      f'--algo=descriptor or drop --conditional')
  if cfg.model.get('conditional', False) and cfg.data.dataset.startswith(UNLABELLED_SOURCES):
    raise ConfigError(f'--conditional (model.conditional) needs labelled data, and '
                      f'{cfg.data.dataset} has no labels; use a labelled dataset '
                      f'(fashion_mnist, mnist, cifar10, an npz with a "labels" array) or '
                      f'drop --conditional')


def build_config():
  """The run's config: the stored one when resuming, else the algorithm's defaults; then the
  flags given on the command line."""
  stored, resumable = (None, False) if FLAGS.fresh else workdir_lib.stored_run(FLAGS.workdir)
  if stored is not None:  # its config.json binds the algorithm and the data
    for flag, key in (('algo', 'algo'), ('dataset', 'data.dataset')):
      given = FLAGS[flag].value
      have = stored.get('algo') if flag == 'algo' else stored.get('data', {}).get('dataset')
      if given is not None and have and given != have:
        raise ConfigError(f'{FLAGS.workdir} holds a run with --{flag}={have}, not {given}; '
                          f'drop --{flag} to resume it, or use --fresh or another --workdir')
  if resumable:
    if FLAGS.smoke:
      raise ConfigError('--smoke cannot resume a run; use a new --workdir or --fresh')
    # Keys added to the defaults since the run was made take their defaults.
    config_lib.fill_missing(stored, configs.get(stored.algo, stored.data.dataset))
    cfg = stored.copy_and_resolve_references()  # `stored` stays as it was, for the diff
  else:
    # A config.json without a checkpoint (a run stopped before its first save) gives the
    # algorithm and the data; the rest starts from the defaults and this command's flags.
    old = stored if stored is not None else {}
    algo = FLAGS.algo or old.get('algo') or 'descriptor'
    dataset = FLAGS.dataset or old.get('data', {}).get('dataset') or 'fashion_mnist'
    stored = None
    cfg = configs.get(algo, dataset, FLAGS.smoke)
    check_conditional(cfg)
    # --conditional (or --set model.conditional=true) starts from the conditional defaults.
    if cfg.model.get('conditional') is False and requests_conditional(cfg):
      from configs import descriptor as descriptor_config  # pylint: disable=g-import-not-at-top
      cfg = descriptor_config.get_config(dataset, FLAGS.smoke, conditional=True)
  check_conditional(cfg)
  apply_flags(cfg)
  check_conditional(cfg)
  return config_lib.validate(cfg), stored


def main(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}; flags look like --name=value')
  cfg, stored = build_config()
  # Before TensorFlow starts: a missing dataset is reported at once.
  data_lib.locate(cfg.data.dataset, cfg.data.data_dir, cfg.data.download)
  workdir_lib.lock(FLAGS.workdir)  # before anything in it changes
  if FLAGS.fresh:
    moved = workdir_lib.archive(FLAGS.workdir)
    if moved:
      print(f'--fresh: the previous run was moved to {moved}')
  elif stored is not None:
    workdir_lib.check_compatible(stored, cfg, FLAGS.workdir)

  from core import runtime  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  runtime.configure()
  strategy = runtime.make_strategy(cfg.train.strategy, cfg.train.replicas)
  trainers.get(cfg.algo).train(cfg, FLAGS.workdir, strategy)


if __name__ == '__main__':
  cli.run_main(lambda argv: app.run(main, argv=argv or sys.argv))
