"""Reproduction tables: run every row's commands, time them, and write the results.

  python -m tools.reproduce --table=generator          # runs, then rewrites the docs
  python -m tools.reproduce --table=coop_triangle      # CoopNets, triangle, plain VAE
  python -m tools.reproduce --table=multigrid          # features, inpainting, conditional
  python -m tools.reproduce --table=multiview          # new views of held-out items, 2 seeds
  python -m tools.reproduce --render                   # only rebuild docs/RESULTS.md

Each row is a real `tools/train` + `tools/evaluate` run on this machine; its command line and
wall time go into docs/results/<table>.json (records {table, method, setting, metric, value,
command, seconds}), and docs/RESULTS.md is generated from those files alone, never typed.
This tool holds the flags; each table is a module of tools/reproduction/ (runner.py: running
the tools, timed and optionally pinned to a core, and reading what they wrote).
"""
import importlib
import os

from absl import flags

from core import files
from core.errors import ConfigError
from evaluation import results
from tools import cli
from tools.reproduction import runner

FLAGS = flags.FLAGS
# Each table is a module of tools/reproduction/ with `table() -> records`.
TABLES = ('generator', 'coop_triangle', 'multigrid', 'triangle_recipe', 'multiview', 'anchors',
          'successors')
flags.DEFINE_enum('table', None, list(TABLES), 'Which table to reproduce.')
flags.DEFINE_bool('render', False, 'Only regenerate docs/RESULTS.md from docs/results/*.json.')
flags.DEFINE_list('texture_figure', [], 'Write docs/figures/triangle_texture.png instead of a '
                  'table: 32 real test tops, then 32 samples of each named triangle_recipe '
                  'try (e.g. K,M; from their runs under --runs/recipe).')
flags.DEFINE_list('grid_figure', [], 'Write docs/figures/triangle_grids.png instead of a '
                  'table: real test images of the classes the first run\'s grid shows, then '
                  'the final grid of each given triangle workdir (make train\'s seeds 0, 1).')
flags.DEFINE_string('runs', 'runs/reproduce', 'Where runs are kept (relative to the repository).')
flags.DEFINE_integer('steps', 700, 'Training steps per run.')
flags.DEFINE_integer('infer_steps', 10, 'Langevin inference steps per training step.')
flags.DEFINE_integer('num_images', 1000, 'Test images per evaluation.')
flags.DEFINE_integer('multiview_steps', 0, 'multiview: training steps per seed (0: the '
                     'config\'s default, configs/multiview.py).')
flags.DEFINE_integer('rotate_steps', 300, 'multiview: test-time inference steps per identity.')
flags.DEFINE_list('tries', [], 'triangle_recipe: the tries to (re)run, by their letter '
                  '(A,B); the others keep their records. Default: all.')
flags.DEFINE_bool('curve', False, 'triangle_recipe: also score every kept checkpoint (the '
                  'averaged generator\'s FD by step; ~1 minute per checkpoint).')
flags.DEFINE_bool('recipe_pin', True, 'triangle_recipe: run the tries two at a time, each '
                  'pinned to one core with one TensorFlow thread (so both see the same '
                  'machine); --norecipe_pin: one at a time on the whole machine (a preset\'s '
                  'wall clock as a user sees it).')
flags.DEFINE_bool('score_only', False, 'triangle_recipe: score the tries\' existing runs '
                  'under --runs instead of training them again.')
flags.DEFINE_list('reuse', [], 'coop_triangle: parts kept from the existing table instead of '
                  'rerun (coopnets).')
flags.DEFINE_list('cores', [], 'coop_triangle: CPU cores to pin runs to, one TensorFlow thread '
                  'each, as many runs at a time as cores (needs the step-rate flags for a '
                  'fair VAE budget). Default: one unpinned run at a time.')
flags.DEFINE_float('triangle_steps_per_second', 0.0, 'coop_triangle: the triangle\'s step rate '
                   'measured alone (make train on a quiet machine); the VAE is then given '
                   'the triangle\'s steps / this rate seconds. 0: the run\'s own wall clock.')
flags.DEFINE_list('triangle_runs', [], 'coop_triangle: finished workdirs of make train\'s '
                  'command, one per seed (e.g. the triangle_recipe table\'s tries K,L), scored '
                  'as they are instead of training the triangle again.')
flags.DEFINE_float('vae_steps_per_second', 0.0, 'coop_triangle: the plain VAE\'s step rate '
                   'measured alone on this machine; its runs then take rate × the triangle\'s '
                   'training seconds steps instead of a wall-clock budget (which a loaded '
                   'machine would cut short). 0: train.time_budget.')
flags.DEFINE_integer('budget', 724, 'successors: training seconds of each run, alone (make '
                     'train\'s 724; the ~1 hour preset 3456).')
flags.DEFINE_list('methods', [], 'successors: the methods to (re)run (default all): triangle, '
                  'coopnets, latent_ebm, dual_mcmc, vae, abp (ABP\'s test reconstructions).')
flags.DEFINE_list('seeds', ['0', '1'], 'successors: the seeds (the learning rate is picked on '
                  'the first).')
flags.DEFINE_bool('default_rate_only', False, 'successors: run each method\'s default rate '
                  'only (no choice of the best of three).')


def table_module(name: str):
  """tools/reproduction/NAME.py, the module of table `name`."""
  return importlib.import_module(f'tools.reproduction.{name}')


def main(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}')
  if FLAGS.texture_figure or FLAGS.grid_figure:
    from tools.reproduction import triangle_recipe  # pylint: disable=g-import-not-at-top
    if FLAGS.texture_figure:
      return triangle_recipe.texture_figure(FLAGS.texture_figure)
    return triangle_recipe.grid_figure(FLAGS.grid_figure)
  if not FLAGS.render:
    if not FLAGS.table:
      raise ConfigError(f'pass --table={"|".join(TABLES)}, or --render to rebuild '
                        f'docs/RESULTS.md')
    records = table_module(FLAGS.table).table()
    files.write_json(os.path.join(runner.RESULTS, f'{FLAGS.table}.json'), records, indent=1)
  path = os.path.join(runner.ROOT, 'docs', 'RESULTS.md')
  results.render(runner.RESULTS, path)
  print(f'wrote {path}')


if __name__ == '__main__':
  cli.start(main)
