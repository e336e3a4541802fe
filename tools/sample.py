"""Draw from a trained generator and write a PNG grid.

  tools/sample --workdir=runs/abp                     # 64 samples g(z), z ~ N(0, I)
  tools/sample --workdir=runs/abp --interpolate       # rows of g((1−t) z0 + t z1)
  tools/sample --workdir=runs/deformable --swap_geometry
                      # per row: a1·g1, a1·g2, a2·g2, a2·g1 (appearance·geometry latents)
"""
import os
import sys

from absl import app
from absl import flags

from core.errors import ConfigError
from tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A trained generator run.')
flags.DEFINE_bool('interpolate', False, 'Latent interpolation grid.')
flags.DEFINE_bool('swap_geometry', False, 'Deformable generator: swap geometry latents.')
flags.DEFINE_integer('rows', 8, 'Rows (interpolations, or swapped pairs).')
flags.DEFINE_integer('steps', 10, 'Images per interpolation.')
flags.DEFINE_integer('seed', 0, 'Seed of the latents.')
flags.DEFINE_string('out', '', 'PNG path (default: WORKDIR/<kind>.png).')
flags.mark_flag_as_required('workdir')


def main(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}')
  if FLAGS.interpolate and FLAGS.swap_geometry:
    raise ConfigError('choose one of --interpolate and --swap_geometry')
  if FLAGS.rows <= 0 or FLAGS.steps < 2:
    raise ConfigError('--rows must be positive and --steps at least 2')
  from core import images  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  from trainers import generator  # pylint: disable=g-import-not-at-top
  _, model = generator.restore(FLAGS.workdir)
  if FLAGS.interpolate:
    kind, ncol = 'interpolation', FLAGS.steps
    x = generator.interpolation_grid(model, FLAGS.rows, FLAGS.steps, FLAGS.seed)
  elif FLAGS.swap_geometry:
    kind, ncol = 'geometry_swap', 4
    x = generator.geometry_swap(model, FLAGS.rows, FLAGS.seed)
  else:
    kind, ncol = 'samples', 8
    x = generator.sample(model, FLAGS.rows * 8, FLAGS.seed)
  out = FLAGS.out or os.path.join(FLAGS.workdir, f'{kind}.png')
  images.save_png(out, images.grid(x, ncol))
  print(f'wrote {out} ({len(x)} images)')


if __name__ == '__main__':
  cli.run_main(lambda argv: app.run(main, argv=argv or sys.argv))
