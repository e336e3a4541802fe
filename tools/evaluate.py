"""Evaluate a trained run, or train the project classifier the sample scores use.

  tools/evaluate --task=reconstruct --workdir=runs/abp     # ABP vs PCA; triangle/VAE: encoder
  tools/evaluate --task=recover --mask=pixels:0.5 --workdir=runs/abp
                                   # ABP vs mean-image, nearest and biharmonic fills
  tools/evaluate --task=complete --mask=block:13 --workdir=runs/coop
                                   # CoopNets pattern completion vs the same fills
  tools/evaluate --task=sample --num_images=5000 --workdir=runs/triangle
                                   # WORKDIR/samples.npz (uint8 images; CoopNets: and `net`)
  tools/evaluate --task=score --workdir=runs/triangle [--inception_weights=imagenet]
                                   # Fréchet distance / KID beside the reference points
  tools/evaluate --task=train-classifier --dataset=fashion_mnist
                                   # the feature net of the scores, cached once
  tools/evaluate --task=features --workdir=runs/multigrid
                                   # linear SVM on multi-grid features vs pixels, random nets
  tools/evaluate --task=inpaint --mask=block:14 --workdir=runs/multigrid
                                   # multi-grid prior (observed pixels clamped) vs the fills
  tools/evaluate --task=rotate --workdir=runs/multiview [--view=roll+90]
                                   # held-out identities in new views, from the standard view
                                   # (and from it and --view) vs nearest identity, mean view

Errors are mean absolute errors in [0, 1] pixel units, PSNR on [0, 1] images. Every score
states its sample count and reference set. Results go to WORKDIR/<task>*.json (and .npz/.png).
"""
import json
import sys

from absl import flags

from core import masks as masks_lib
from core.errors import ConfigError
from tools import cli
from trainers import registry
from trainers import run as run_lib

TASKS = registry.all_tasks()
FLAGS = flags.FLAGS
flags.DEFINE_enum('task', None, list(TASKS), 'What to evaluate (the tasks each algorithm '
                  'offers: trainers/registry.py).')
flags.DEFINE_string('workdir', None, 'A trained run (its config.json and checkpoints).')
flags.DEFINE_string('mask', 'none', f'For recover, complete and inpaint: '
                    f'{", ".join(masks_lib.KINDS)}.')
flags.DEFINE_integer('num_images', 1000, 'Test images to evaluate, or samples to draw.')
flags.DEFINE_integer('steps', 300, 'Latent inference steps per image (generator frozen).')
flags.DEFINE_integer('revise_steps', None, 'complete: descriptor Langevin steps on the '
                     'missing pixels (default: the run\'s langevin.steps).')
flags.DEFINE_string('samples', '', 'score: an npz of samples (`images`, uint8 or [-1, 1]) to '
                    'score instead of drawing them from --workdir.')
flags.DEFINE_string('inception_weights', '', 'score: also the Inception FD and IS with these '
                    'InceptionV3 weights: "imagenet" (Keras\'s cache, or download with network) '
                    'or a .h5 path.')
flags.DEFINE_string('dataset', 'fashion_mnist', 'train-classifier: the labelled dataset.')
flags.DEFINE_string('data_dir', '', 'train-classifier: TFDS data_dir.')
flags.DEFINE_integer('epochs', 3, 'train-classifier: epochs.')
flags.DEFINE_bool('pin', False, 'train-classifier: also write it as the repository\'s pinned '
                  'classifier (evaluation/classifiers/, with its recipe): make classifier.')
flags.DEFINE_integer('seed', 0, 'Seed of drawn samples (features: of the labelled subset).')
flags.DEFINE_list('labels', ['1000', '2000', '4000'], 'features: numbers of labelled training '
                  'images the linear SVM is trained on.')
flags.DEFINE_integer('num_test', 10000, 'features: test images the SVM is scored on.')
flags.DEFINE_integer('chains', 1, 'inpaint: chains per image, averaged (with Langevin noise '
                     'on, an estimate of the posterior mean).')
flags.DEFINE_integer('grid_steps', None, 'inpaint: Langevin steps per grid (default: the '
                     'run\'s training T per grid).')
flags.DEFINE_string('view', '', 'rotate: the second given view of the two-view row, by name '
                    'or index (default: the run\'s second view).')
flags.mark_flag_as_required('task')
# The flags a task may take (each task picks those its function names).
OPTIONS = ('mask', 'num_images', 'steps', 'revise_steps', 'samples', 'inception_weights',
           'seed', 'num_test', 'chains', 'grid_steps', 'view')


def train_classifier():
  import configs  # pylint: disable=g-import-not-at-top
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  data_lib.locate(FLAGS.dataset, FLAGS.data_dir)
  from evaluation import scoring  # pylint: disable=g-import-not-at-top
  size, channels = configs.image_defaults(FLAGS.dataset)
  out = scoring.train_classifier(FLAGS.dataset, size, channels, data_dir=FLAGS.data_dir,
                                 epochs=FLAGS.epochs, pin=FLAGS.pin)
  print(json.dumps(out, indent=2))


def _label_counts():
  try:
    counts = [int(n) for n in FLAGS.labels]
  except ValueError:
    counts = []
  if not counts or min(counts) < 10:
    raise ConfigError(f'--labels takes numbers of labelled images of at least 10, such as '
                      f'1000,2000,4000; got {",".join(FLAGS.labels)}')
  return counts


def main(argv):
  sys.stdout.reconfigure(line_buffering=True)  # progress lines appear as they are made
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}')
  if FLAGS.num_images <= 0 or FLAGS.steps <= 0 or FLAGS.num_test <= 0:
    raise ConfigError('--num_images, --num_test and --steps must be positive')
  if not 0 <= FLAGS.seed <= 0xFFFFFFFF:
    raise ConfigError(f'--seed={FLAGS.seed}: a seed is 0..4294967295')
  if FLAGS.grid_steps is not None and FLAGS.grid_steps < 0:
    raise ConfigError('--grid_steps must be >= 0')
  labels = _label_counts() if FLAGS.task == 'features' else ()  # before TensorFlow starts
  if FLAGS.task == 'train-classifier':
    return train_classifier()
  if not FLAGS.workdir:
    raise ConfigError(f'--task={FLAGS.task} needs --workdir=RUN')
  run = run_lib.open_run(FLAGS.workdir)  # fail before TensorFlow starts
  cfg = run.cfg
  registry.task(run.algo, FLAGS.task, FLAGS.workdir)
  if FLAGS.view:
    if FLAGS.task != 'rotate':
      raise ConfigError(f'--view is an option of --task=rotate, not --task={FLAGS.task}')
    from core import multiview  # pylint: disable=g-import-not-at-top
    multiview.view_index(cfg.data.views, FLAGS.view)
  from core import runtime  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  runtime.configure()
  import tasks  # pylint: disable=g-import-not-at-top
  tasks.evaluate(run, FLAGS.task, labels=labels,
                 **{k: FLAGS[k].value for k in OPTIONS})
  return None  # (absl's app.run exits with main's return value)


if __name__ == '__main__':
  cli.start(main)
