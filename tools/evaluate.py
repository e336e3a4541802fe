"""Evaluate a trained run on held-out test images.

  tools/evaluate --task=reconstruct --workdir=runs/abp        # ABP vs PCA at the same d
  tools/evaluate --task=recover --mask=pixels:0.5 --workdir=runs/abp
                                   # ABP vs mean-image, nearest and biharmonic fills

Writes WORKDIR/reconstructions.npz (or recovered_MASK.npz: the test indices, the images,
the masks), reconstruct.json (or recover_MASK.json: every method's errors in [0, 1] pixel
units and PSNR) and a PNG of originals / masked / results.
"""
import sys

from absl import app
from absl import flags

from core import masks as masks_lib
from core.errors import ConfigError
from tools import cli

TASKS = ('reconstruct', 'recover')
FLAGS = flags.FLAGS
flags.DEFINE_enum('task', None, list(TASKS), 'What to evaluate.')
flags.DEFINE_string('workdir', None, 'A trained run (its config.json and checkpoints).')
flags.DEFINE_string('mask', 'none', f'For --task=recover: {", ".join(masks_lib.KINDS)}.')
flags.DEFINE_integer('num_images', 1000, 'Test images to evaluate (the first N).')
flags.DEFINE_integer('steps', 300, 'Posterior inference steps per image (generator frozen).')
flags.mark_flags_as_required(['task', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}')
  if FLAGS.num_images <= 0 or FLAGS.steps <= 0:
    raise ConfigError('--num_images and --steps must be positive')
  from core import runtime  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  from trainers import generator  # pylint: disable=g-import-not-at-top
  runtime.configure()
  generator.evaluate_test_images(FLAGS.workdir, FLAGS.task, FLAGS.mask, FLAGS.num_images,
                                 FLAGS.steps)


if __name__ == '__main__':
  cli.run_main(lambda argv: app.run(main, argv=argv or sys.argv))
