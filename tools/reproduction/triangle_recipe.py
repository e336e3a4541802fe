"""The tries behind the triangle's default recipe (--table=triangle_recipe) and the figures
that compare their samples with real images (--texture_figure, --grid_figure)."""
import json
import os

from absl import flags

from evaluation import results
from tools.reproduction import runner

FLAGS = flags.FLAGS  # defined by tools/reproduce.py

# The tries behind the triangle's default recipe (`--table=triangle_recipe`): name → flags
# added to `make train`'s command. They run two at a time, each pinned to one core with one
# TensorFlow thread (so two tries see the same machine); a try's budget is a step count or
# train.time_budget seconds of that one core. Every checkpoint is kept and scored with the
# averaged (EMA) and the raw generator.
# Every setting a try changes is spelled out, so that a later default does not change it.
LEAN = ['--batch_size=64', '--set', 'model.descriptor_widths=32,64,128']

NO_R1 = ['--set', 'optim.r1_penalty=0']


R1 = ['--set', 'optim.r1_penalty=1']


BUDGET = ['--set', 'train.time_budget=1100']

LEAN_GE = ['--set', 'model.generator_widths=64,32', '--set', 'model.encoder_widths=32,64']


RECIPE_TRIES = {
    'A: registry nets, batch 100': ['--steps=540', '--batch_size=100', '--set',
                                    'model.descriptor_widths=64,128,256', *NO_R1, '--set',
                                    'train.ckpt_every=90'],
    'B: descriptor 32-64-128, batch 64': ['--steps=1250', *LEAN, *NO_R1],
    'C: B + R1 penalty 1 (1,100 s)': ['--steps=100000', *LEAN, '--set',
                                      'train.time_budget=1100', '--set', 'optim.r1_penalty=1'],
    'D: B + 5 Langevin revision steps (1,100 s)': ['--steps=100000', *LEAN, *NO_R1, '--set',
                                                    'train.time_budget=1100', '--set',
                                                    'langevin.steps=5'],
    'E: C + generator energy weight 5 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                   '--set', 'optim.gen_energy_weight=5'],
    'F: C + generator 64-32, encoder 32-64 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                        *LEAN_GE],
    'G: C + generator energy weight 10 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                    '--set', 'optim.gen_energy_weight=10'],
    'H: C + generator energy weight 25 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                    '--set', 'optim.gen_energy_weight=25'],
    'I: C + generator energy weight 50 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                    '--set', 'optim.gen_energy_weight=50'],
    'J: C + generator energy weight 100 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, *R1,
                                                     '--set', 'optim.gen_energy_weight=100'],
    'M: H + bilinear up-sampling in the generator (1,100 s)': [
        '--steps=100000', *LEAN, *BUDGET, *R1, '--set', 'optim.gen_energy_weight=25',
        '--set', 'model.generator_upsample=bilinear'],
    'N: H + R1 penalty 5 (1,100 s)': ['--steps=100000', *LEAN, *BUDGET, '--set',
                                      'optim.r1_penalty=5', '--set',
                                      'optim.gen_energy_weight=25'],
    # The default recipe (H's: energy weight 25) as make train ran it until 81de632: 1,300
    # steps. Their records were made with that step (R1 on every step, oneDNN off, the
    # generator resizing then convolving); rerun, they take today's step with R1 on every
    # step (Q and R isolate what changed).
    'K: default (make train), seed 0': ['--steps=1300', '--set', 'optim.r1_every=1'],
    'L: default (make train), seed 1': ['--steps=1300', '--set', 'optim.r1_every=1', '--set',
                                        'seed=1'],
    # The longer preset of that time: 5× the steps (seed 0).
    'P: default, 6,500 steps (the ~1 hour preset), seed 0': ['--steps=6500', '--set',
                                                             'optim.r1_every=1'],
    # The faster step (bench/triangle_step.py: oneDNN on, the one-pass nearest up-convolution,
    # g(z) and g(h) in one batch, lazy R1) at K's 1,300 steps, and its one lever that changes
    # the maths (lazy R1) taken back: each lever's FD at equal steps beside K.
    'Q: K with the faster step (R1 every 4th step, × 4), seed 0': ['--steps=1300'],
    'R: Q with R1 on every step again (optim.r1_every=1)': ['--steps=1300', '--set',
                                                            'optim.r1_every=1'],
    # The ~1 hour preset with the faster step: make train's command for 20,000 steps (55
    # minutes at the 6.08 it/s make train measured alone), seed 0; run with --norecipe_pin.
    'T: the ~1 hour preset, 20,000 steps, seed 0': ['--steps=20000'],
}


def table():
  """Each try of RECIPE_TRIES: FD of the averaged and raw generator at every checkpoint."""
  path = os.path.join(runner.RESULTS, 'triangle_recipe.json')
  chosen = [k for k in RECIPE_TRIES if not FLAGS.tries or k.split(':')[0] in FLAGS.tries]
  records = [r for r in (json.load(open(path)) if os.path.isfile(path) else [])
             if r['method'] not in chosen and r['method'] in RECIPE_TRIES]
  add = results.adder(records)
  width = 2 if FLAGS.recipe_pin else 1
  for pair in (chosen[i:i + width] for i in range(0, len(chosen), width)):
    runs = {}
    for core, name in enumerate(pair):
      core = core if FLAGS.recipe_pin else None
      wd = os.path.join(FLAGS.runs, 'recipe', name.split(':')[0])
      args = ['tools.train', '--algo=triangle', '--dataset=fashion_mnist', '--fresh',
              f'--workdir={wd}', '--set', 'train.ckpt_every=250', '--set', 'train.keep=100',
              *RECIPE_TRIES[name]]
      if FLAGS.score_only:  # a run made before by this command: score it again
        runs[name] = (wd, (runner.command_line(args, core),
                           runner.load(wd, 'metrics.json')['wall_seconds']))
      else:
        runs[name] = (wd, runner.start(args, core))
    for name, (wd, started) in runs.items():
      command, seconds = started if FLAGS.score_only else runner.wait(started)
      out = runner.load(wd, 'metrics.json')
      rows = out['sample_quality']['rows']  # the final evaluation: the last checkpoint
      classifier = runner.scoring_classifier_sha()
      for row, label in (('triangle generator', 'averaged (EMA) generator'),
                         ('triangle generator, raw weights', 'raw generator')):
        add('triangle recipe tries, last checkpoint (fd)', name, label, 'fd', rows[row]['fd'],
            command, seconds, classifier=classifier)
        hist = rows[row]['class_histogram']
        add('triangle recipe tries, last checkpoint (class_max_share)', name, label,
            'class_max_share', max(hist) / sum(hist), command, seconds, classifier=classifier)
      add('triangle recipe tries, steps in the budget (steps)', name, 'one core', 'steps',
          out['steps'], command, seconds)
      if FLAGS.curve:
        for step, row in sorted(runner.score_checkpoints(os.path.join(runner.ROOT, wd)).items()):
          add('triangle recipe tries, averaged generator by step (fd)', name, f'step {step}',
              'fd', row['fd'], command, seconds, classifier=row['classifier'])
  return records


def texture_figure(tries, per=32, seed=7):
  """docs/figures/triangle_texture.png: blocks of `per` images, left to right: real test
  tops (T-shirt, pullover, coat, shirt), then the averaged generator's samples of each try
  (make train's sample seed), so garment texture can be compared by eye."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  from core import images as images_lib  # pylint: disable=g-import-not-at-top
  from trainers import generator as generator_lib  # pylint: disable=g-import-not-at-top
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  blocks = []
  for name in tries:
    cfg, built = run_lib.restore(os.path.join(runner.ROOT, FLAGS.runs, 'recipe', name),
                                 ('generator',))
    blocks.append(generator_lib.sample(built['generator'], per, cfg.seed + seed))
  test = data_lib.from_config(cfg, 'test')
  tops = np.flatnonzero(np.isin(test.labels, (0, 2, 4, 6)))[:per]
  blocks.insert(0, data_lib.to_float(test.images[tops]))
  rows = per // 8
  grid = np.concatenate([b.reshape((rows, 8) + b.shape[1:]) for b in blocks], axis=1)
  path = os.path.join(runner.ROOT, 'docs', 'figures', 'triangle_texture.png')
  images_lib.save_png(path, images_lib.grid(grid.reshape((-1,) + grid.shape[2:]),
                                            8 * len(blocks)))
  print(f'wrote {path}: real tops | ' + ' | '.join(f'try {t}' for t in tries))


def grid_figure(workdirs, figure='triangle_grids.png'):
  """docs/figures/FIGURE: 8×8 blocks, left to right: real test images of the same classes as
  the first run's final grid (the pinned classifier names each sample's class; each gets the
  next unused test image of that class, in test-split order), then each run's final grid (its
  averaged generator at the run's grid latents, as samples/step_N.png shows it)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  from core import images as images_lib  # pylint: disable=g-import-not-at-top
  from evaluation import scoring  # pylint: disable=g-import-not-at-top
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  from trainers import triangle  # pylint: disable=g-import-not-at-top
  grids = []
  for wd in workdirs:
    cfg, built = run_lib.restore(os.path.join(runner.ROOT, wd), ('generator',))
    z = np.random.default_rng(cfg.seed).standard_normal(
        (triangle.GRID, cfg.model.latent_dim)).astype(np.float32)  # Triangle.grid_z
    grids.append(built['generator'](z, training=False).numpy())
  scorer = scoring.Scorer(cfg.data.dataset, 28, 1, train_if_missing=False)
  test = data_lib.from_config(cfg, 'test')
  unused = {int(k): list(np.flatnonzero(test.labels == k)) for k in np.unique(test.labels)}
  real = [test.images[unused[int(k)].pop(0)] for k in scorer.predict(grids[0])]
  blocks = [data_lib.to_float(np.stack(real))] + grids
  rows = np.concatenate([b.reshape((8, 8) + b.shape[1:]) for b in blocks], axis=1)
  path = os.path.join(runner.ROOT, 'docs', 'figures', figure)
  images_lib.save_png(path, images_lib.grid(rows.reshape((-1,) + rows.shape[2:]),
                                            8 * len(blocks)))
  print(f'wrote {path}: real test images of the same classes | ' + ' | '.join(workdirs))
