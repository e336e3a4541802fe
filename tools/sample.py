"""Draw from a trained generator and write a PNG grid.

  tools/sample --workdir=runs/abp                     # 64 samples g(z), z ~ N(0, I)
  tools/sample --workdir=runs/abp --interpolate       # rows of g((1−t) z0 + t z1)
  tools/sample --workdir=runs/deformable --swap_geometry
                      # per row: a1·g1, a1·g2, a2·g2, a2·g1 (appearance·geometry latents)
  tools/sample --workdir=runs/multiview               # identities h1 ~ N(0, I) × every view
  tools/sample --workdir=runs/multiview --views=front,roll+90          # × the views named
  tools/sample --model=runs/main/exports/triangle/1          # an exported SavedModel
  tools/sample --model=runs/main/exports/tflite/triangle/1/generator_int8.tflite
                      # a .tflite under LiteRT; neither needs the code that trained it
  tools/sample        # the bundled model (apps/web/model: a make train run, float16)
With --model (or the bundled model), z = the seeded latents of export/latents.py (mulberry32
and Box–Muller, written out in docs/export.md), so every export format, the web page and any
app that follows it draw the same z for the same --seed.
"""
import os
import time

from absl import flags

from core import multiview as multiview_data
from core.errors import ConfigError
from tools import cli
from trainers import run as run_lib

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A trained generator run.')
flags.DEFINE_string('model', None, 'An exported SavedModel directory (or its model '
                    'directory: the newest version), a .tflite file or a folder of them '
                    '(metadata.json: its first file), instead of --workdir. Default: the '
                    'bundled model (apps/web/model).')
flags.DEFINE_bool('interpolate', False, 'Latent interpolation grid.')
flags.DEFINE_bool('swap_geometry', False, 'Deformable generator: swap geometry latents.')
flags.DEFINE_integer('rows', 8, 'Rows (interpolations, swapped pairs, or identities).')
flags.DEFINE_list('views', [], 'Multi-view runs: the grid\'s columns, views by name or index '
                  '(default: all of the run\'s views).')
flags.DEFINE_integer('steps', 10, 'Images per interpolation.')
flags.DEFINE_integer('seed', 0, 'Seed of the latents (with --model: 0..4294967295).')
flags.DEFINE_string('out', '', 'PNG path (default: WORKDIR/<kind>.png).')
flags.DEFINE_integer('scale', 0, 'Each image pixel as a scale×scale block in the PNG (nearest '
                     'neighbour; 0: a readable size, 4 for 28 px images; 1: pixel for pixel).')


def main(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}')
  if FLAGS.interpolate and FLAGS.swap_geometry:
    raise ConfigError('choose one of --interpolate and --swap_geometry')
  if FLAGS.rows <= 0 or FLAGS.steps < 2:
    raise ConfigError('--rows must be positive and --steps at least 2')
  if FLAGS.workdir and FLAGS.model:
    raise ConfigError('pass one of --workdir=RUN and --model=EXPORT')
  if not 0 <= FLAGS.seed <= 0xFFFFFFFF:
    raise ConfigError(f'--seed={FLAGS.seed}: a seed is 0..4294967295')
  if not 0 <= FLAGS.scale <= 32:
    raise ConfigError(f'--scale={FLAGS.scale}: give 1..32 (pixels per image pixel), or 0 for a '
                      f'readable size')
  if not FLAGS.workdir:
    if FLAGS.interpolate or FLAGS.swap_geometry or FLAGS.views:
      raise ConfigError('--model (and the bundled model) draws samples only; --interpolate, '
                        '--swap_geometry and --views need --workdir')
    return sample_export(FLAGS.model or bundled_model(), FLAGS.rows * 8, FLAGS.seed, FLAGS.out)
  run = run_lib.open_run(FLAGS.workdir)  # no TensorFlow yet: a missing run fails at once
  if run.algo == 'multiview':
    return sample_views(run)
  if FLAGS.views:
    raise ConfigError('--views applies to a multi-view run (--algo=multiview)')
  from core import images  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  from trainers import generator  # pylint: disable=g-import-not-at-top
  began = time.time()
  _, model = generator.restore(run)
  print(f'restored {FLAGS.workdir} in {time.time() - began:.1f} s; drawing …', flush=True)
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
  images.save_png(out, readable(images, images.grid(x, ncol), x.shape[1]))
  print(f'wrote {out} ({len(x)} images)')


def sample_views(run):
  """The identities × views grid of a multi-view run (one identity h1 ~ N(0, I) per row)."""
  cfg = run.cfg
  if FLAGS.interpolate or FLAGS.swap_geometry:
    raise ConfigError(f'{FLAGS.workdir} holds a multi-view run: it draws an identities × views '
                      f'grid (--views, --rows); --interpolate and --swap_geometry need a '
                      f'single-latent generator')
  views = [multiview_data.view_index(cfg.data.views, v) for v in FLAGS.views] or None
  from core import images  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  from trainers import multiview  # pylint: disable=g-import-not-at-top
  _, model, h2 = multiview.restore(run)
  x = multiview.sample_grid(model, h2, FLAGS.rows, FLAGS.seed, views)
  out = FLAGS.out or os.path.join(FLAGS.workdir, 'views.png')
  columns = [cfg.data.views[v] for v in views] if views else list(cfg.data.views)
  images.save_png(out, readable(images, images.grid(x, len(columns)), x.shape[1]))
  print(f'wrote {out} ({FLAGS.rows} identities × views {", ".join(columns)})')


def readable(images, grid, size: int):
  """The grid enlarged by --scale (0: core/images.readable_scale of the images' `size`)."""
  return images.upscale(grid, FLAGS.scale or images.readable_scale(size))


def bundled_model():
  """apps/web/model in a checkout; in an installed wheel, the copy it ships (export/web.py)."""
  from export import web  # pylint: disable=g-import-not-at-top  (no TensorFlow)
  if not os.path.isfile(os.path.join(web.BUNDLED, 'metadata.json')):
    raise ConfigError(f'the bundled model is missing ({web.BUNDLED}/metadata.json); pass '
                      f'--workdir=RUN or --model=EXPORT')
  return web.BUNDLED


def sample_export(path, n, seed, out):
  """A PNG grid of n images from an exported SavedModel or .tflite (no training code)."""
  from core import images  # pylint: disable=g-import-not-at-top
  from export import common  # pylint: disable=g-import-not-at-top
  from export import web  # pylint: disable=g-import-not-at-top
  x, path = common.sample_export(path, n, seed)
  if not out and os.path.realpath(os.path.dirname(path)) == os.path.realpath(web.BUNDLED):
    # The bundled model's grid goes to the checkout's runs/ (ignored by git), not into
    # apps/web/model beside the committed files; from an installed wheel, into the current
    # folder (not site-packages).
    out = ('bundled_samples.png' if web.INSTALLED
           else os.path.join(web.ROOT, 'runs', 'bundled_samples.png'))
  out = out or (path[:-len('.tflite')] if path.endswith('.tflite') else path) + '_samples.png'
  try:
    images.save_png(out, readable(images, images.grid(x, 8), x.shape[1]))
  except OSError as e:
    raise ConfigError(f'cannot write {out} ({e}); pass --out=PATH') from None
  print(f'wrote {out} ({len(x)} images from {path})')


if __name__ == '__main__':
  cli.start(main)
