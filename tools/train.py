"""Train one of the twonets algorithms.

  tools/train --algo=triangle --dataset=fashion_mnist --workdir=runs/main    # make train
  tools/train --algo=coopnets --dataset=fashion_mnist --workdir=runs/coop
  tools/train --algo=descriptor --dataset=fashion_mnist --workdir=runs/x
  tools/train --algo=conditional --dataset=fashion_mnist --workdir=runs/cond
                                    # (--algo=descriptor --conditional: the same)
  tools/train --algo=multiview --workdir=runs/mv      # multi-view: fashion_mnist_views
  tools/train --workdir=runs/x                        # resume the run in runs/x
  tools/train --algo=descriptor --dataset=texture:brick --workdir=runs/brick --set train.steps=300

Rerunning in a workdir that has a checkpoint resumes it (flags given again override the
stored config where the checkpoint allows); --fresh moves the old run to WORKDIR/previous/.
"""
import os

from absl import flags

from core import cluster as cluster_lib
from core import config as config_lib
from core import data as data_lib
from core import workdir as workdir_lib
from core.errors import ConfigError, DataError
from tools import cli
from trainers import registry

FLAGS = flags.FLAGS
flags.DEFINE_string('algo', None, f'Algorithm: {", ".join(registry.names())}.')
flags.DEFINE_string('dataset', None, f'Data source: {", ".join(data_lib.SOURCES)}. '
                    f'Default: fashion_mnist (fashion_mnist_views for --algo=multiview).')
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
                  '--replicas logical CPUs; multi_worker the workers of TF_CONFIG (docs/multiworker.md: '
                  'running on a cluster; tools/launch --workers=N on one machine).')
flags.DEFINE_integer('replicas', None, 'Mirrored on CPU: number of logical CPU replicas.')
flags.DEFINE_string('data_dir', None, 'TFDS data_dir holding prepared datasets.')
flags.DEFINE_bool('download', None, 'Let TFDS download a missing dataset.')
flags.DEFINE_string('mask', None, 'Generator: learn from incomplete images (data.mask): '
                    'pixels:F (a fraction F missing at random) or block:K (one K×K block).')
flags.DEFINE_bool('conditional', None, 'With --algo=descriptor: --algo=conditional, the '
                  'conditional descriptor (K class scores from one net, learned from labelled '
                  'data; a classifier and K class-conditional samplers).')
flags.DEFINE_bool('eager', None, 'Run every training step eagerly (train.eager): Python '
                  'breakpoints and prints inside the step work; several times slower.')
flags.DEFINE_bool('smoke', False, 'A tiny, seconds-long run of the same code (tests, CI).')
flags.DEFINE_bool('fresh', False, 'Start over; the previous run is moved to WORKDIR/previous/.')
flags.mark_flag_as_required('workdir')

# Shortcut flags and the config key each one sets.
SHORTCUTS = {'steps': 'train.steps', 'batch_size': 'data.batch_size',
             'precision': 'train.precision', 'strategy': 'train.strategy',
             'replicas': 'train.replicas', 'data_dir': 'data.data_dir',
             'download': 'data.download', 'mask': 'data.mask', 'eager': 'train.eager'}


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
  return [a for a in registry.names()
          if key in config_lib.flat_keys(registry.defaults(a, registry.default_dataset(a)))]


def requested_algo(old_algo: str = '') -> str:
  """--algo, with --conditional (the older spelling of --algo=conditional) folded in."""
  algo = FLAGS.algo or old_algo
  if FLAGS.conditional:
    if algo not in (None, '', 'descriptor', 'conditional'):
      raise ConfigError(f'--conditional is an option of the descriptor (the conditional '
                        f'descriptor, --algo=conditional); --algo={algo} has no conditional '
                        f'mode: use --algo=conditional or drop --conditional')
    algo = 'conditional'
  return algo or 'descriptor'


def build_config():
  """The run's config: the stored one when resuming, else the algorithm's defaults; then the
  flags given on the command line."""
  stored, resumable = (None, False) if FLAGS.fresh else workdir_lib.stored_run(FLAGS.workdir)
  if stored is not None:  # its config.json binds the algorithm and the data
    registry.upgrade(stored)
    given = {'algo': requested_algo(stored.algo) if (FLAGS.algo or FLAGS.conditional) else None,
             'dataset': FLAGS.dataset}
    have = {'algo': stored.get('algo'), 'dataset': stored.get('data', {}).get('dataset')}
    for flag in ('algo', 'dataset'):
      if given[flag] is not None and have[flag] and given[flag] != have[flag]:
        raise ConfigError(f'{FLAGS.workdir} holds a run with --{flag}={have[flag]}, not '
                          f'{given[flag]}; drop --{flag} to resume it, or use --fresh or '
                          f'another --workdir')
  if resumable:
    if FLAGS.smoke and not stored.get('train', {}).get('smoke', False):
      raise ConfigError(f'--smoke cannot resume {FLAGS.workdir}, a full-size run; drop --smoke '
                        f'to resume it, or use a new --workdir or --fresh')
    # Keys added to the defaults since the run was made take their defaults; a damaged
    # config.json (a value of the wrong kind) is refused here, naming the key.
    registry.complete(stored, os.path.join(FLAGS.workdir, workdir_lib.CONFIG))
    cfg = stored.copy_and_resolve_references()  # `stored` stays as it was, for the diff
  else:
    # A config.json without a checkpoint (a run stopped before its first save) gives the
    # algorithm and the data; the rest starts from the defaults and this command's flags.
    old = stored if stored is not None else {}
    algo = requested_algo(old.get('algo', ''))
    registry.get(algo)
    dataset = (FLAGS.dataset or old.get('data', {}).get('dataset')
               or registry.default_dataset(algo))
    stored = None
    cfg = registry.defaults(algo, dataset, FLAGS.smoke)
  apply_flags(cfg)
  if not resumable:
    native_image_shape(cfg)
  if FLAGS.eager is None and not any(a.strip().startswith('train.eager') for a in FLAGS.set):
    cfg.train.eager = False  # debugging holds for the command that asks, not its resumes
  if (cfg.train.strategy == 'multi_worker' and FLAGS.strategy is None
      and not any(a.strip().startswith('train.strategy') for a in FLAGS.set)
      and not os.environ.get(cluster_lib.ENV)):
    # A multi-worker run resumed by one process: its state is global (docs/multiworker.md).
    print(f'{FLAGS.workdir} was trained with --strategy=multi_worker; {cluster_lib.ENV} is '
          f'not set, so this process resumes it alone (--strategy=default)')
    cfg.train.strategy = 'default'
  return registry.check(cfg), stored


def native_image_shape(cfg):
  """A new run on a prepared TFDS dataset other than the five named ones trains at its own
  image size and channels (features.json), unless --set gives data.image_size or
  data.channels; a square 1- or 3-channel image only (others keep the defaults)."""
  if cfg.data.dataset.split(':')[-1] in data_lib.TFDS_NAMES or any(
      a.split('=')[0].strip() in ('data.image_size', 'data.channels') for a in FLAGS.set):
    return
  try:
    loc = data_lib.locate(cfg.data.dataset, cfg.data.data_dir, cfg.data.download)
  except DataError:
    return  # main() says it, with the ways to get the data
  shape = data_lib.tfds_image_shape(loc)
  if shape and shape[0] == shape[1] and shape[2] in (1, 3):
    cfg.data.image_size, cfg.data.channels = shape[0], shape[2]
    print(f'{cfg.data.dataset}: its {shape[0]}x{shape[1]}x{shape[2]} images (features.json); '
          f'--set data.image_size=... data.channels=... to train at another size')


def main(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}; flags look like --name=value')
  cfg, stored = build_config()
  # Before TensorFlow starts: a missing dataset or a malformed TF_CONFIG is reported at once.
  data_lib.locate(cfg.data.dataset, cfg.data.data_dir, cfg.data.download)
  # Under multi_worker only the chief writes the workdir (core/loop.py), so only it locks it.
  chief = cfg.train.strategy != 'multi_worker' or cluster_lib.from_env().is_chief
  if chief:
    workdir_lib.lock(FLAGS.workdir)  # before anything in it changes
  if FLAGS.fresh:
    moved = workdir_lib.archive(FLAGS.workdir) if chief else None
    if moved:
      print(f'--fresh: the previous run was moved to {moved}')
  elif stored is not None:
    workdir_lib.check_compatible(stored, cfg, FLAGS.workdir)

  from core import runtime  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  runtime.configure()
  strategy = runtime.make_strategy(cfg.train.strategy, cfg.train.replicas,
                                   cfg.train.cluster_timeout)
  registry.get(cfg.algo).trainer().train(cfg, FLAGS.workdir, strategy)


if __name__ == '__main__':
  cli.start(main)
