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

Errors are mean absolute errors in [0, 1] pixel units, PSNR on [0, 1] images. Every score
states its sample count and reference set. Results go to WORKDIR/<task>*.json (and .npz/.png).
"""
import json
import os
import sys

from absl import app
from absl import flags

from core import masks as masks_lib
from core.errors import ConfigError
from tools import cli

TASKS = ('reconstruct', 'recover', 'complete', 'sample', 'score', 'train-classifier',
         'features', 'inpaint')
FLAGS = flags.FLAGS
flags.DEFINE_enum('task', None, list(TASKS), 'What to evaluate.')
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
flags.DEFINE_integer('seed', 0, 'Seed of drawn samples (features: of the labelled subset).')
flags.DEFINE_list('labels', ['1000', '2000', '4000'], 'features: numbers of labelled training '
                  'images the linear SVM is trained on.')
flags.DEFINE_integer('num_test', 10000, 'features: test images the SVM is scored on.')
flags.DEFINE_integer('chains', 1, 'inpaint: chains per image, averaged (with Langevin noise '
                     'on, an estimate of the posterior mean).')
flags.DEFINE_integer('grid_steps', None, 'inpaint: Langevin steps per grid (default: the '
                     'run\'s training T per grid).')
flags.mark_flag_as_required('task')


def _write(workdir, name, out):
  path = os.path.join(workdir, name)
  with open(path, 'w') as f:
    json.dump(out, f, indent=2)
  print(f'wrote {path}')


def train_classifier():
  import configs  # pylint: disable=g-import-not-at-top
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  data_lib.locate(FLAGS.dataset, FLAGS.data_dir)
  from trainers import scoring  # pylint: disable=g-import-not-at-top
  size, channels = configs.image_defaults(FLAGS.dataset)
  out = scoring.train_classifier(FLAGS.dataset, size, channels, data_dir=FLAGS.data_dir,
                                epochs=FLAGS.epochs)
  print(json.dumps(out, indent=2))


def sample_sets(workdir, n, seed):
  """(config, {name: samples in [-1, 1]}) drawn from the run in `workdir`."""
  from core import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from trainers import evaluation  # pylint: disable=g-import-not-at-top
  from trainers import generator as generator_lib  # pylint: disable=g-import-not-at-top
  stored = workdir_lib.stored_config(workdir)
  roles = ('generator', 'descriptor') if stored and stored.algo == 'coopnets' else (
      'generator',)
  cfg, built = evaluation.restore(workdir, roles, algos=generator_lib.GENERATOR_RUNS)
  if cfg.algo == 'coopnets':
    from trainers import coopnets  # pylint: disable=g-import-not-at-top
    drafts, revisions = coopnets.sample_both(built['generator'], built['descriptor'], cfg, n,
                                             seed)
    return cfg, {'coopnets descriptor': revisions, 'coopnets generator': drafts}
  return cfg, {f'{cfg.algo} generator': generator_lib.sample(built['generator'], n, seed)}


def write_samples(workdir, n, seed):
  """WORKDIR/samples.npz: `images` uint8 [N', H, W, C] and `net` (which net made each)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  _, sets = sample_sets(workdir, n, seed)
  images = np.concatenate([data_lib.to_uint8(s) for s in sets.values()])
  net = np.concatenate([[name.split()[-1]] * len(s) for name, s in sets.items()])
  path = os.path.join(workdir, 'samples.npz')
  np.savez_compressed(path, images=images, net=net.astype(str), seed=seed)
  print(f'wrote {path}: {len(images)} images ' +
        ', '.join(f'{len(s)} by the {name}' for name, s in sets.items()))


def score(workdir, n, seed):
  """Fréchet distance and KID of the run's samples (or --samples) beside the reference
  points; with --inception_weights also the Inception FD and IS. WORKDIR/score.json."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  from trainers import evaluation  # pylint: disable=g-import-not-at-top
  if FLAGS.samples:
    from core import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
    cfg = workdir_lib.stored_config(workdir)
    if cfg is None:
      raise ConfigError(f'{workdir} has no trained run to take the dataset from')
    try:
      with np.load(FLAGS.samples) as f:
        images = f['images']
    except (OSError, KeyError, ValueError) as e:
      raise ConfigError(f'--samples={FLAGS.samples} is not an npz with an `images` array '
                        f'({e})') from None
    sets = {os.path.basename(FLAGS.samples): data_lib.to_float(images)
            if images.dtype == np.uint8 else images.astype(np.float32)}
  else:
    cfg, sets = sample_sets(workdir, n, seed)
  out = evaluation.sample_quality(cfg, sets, headline=next(iter(sets)))
  if FLAGS.inception_weights:
    from trainers import scoring  # pylint: disable=g-import-not-at-top
    test = data_lib.to_float(data_lib.from_config(cfg, 'test').images)
    half = len(test) // 2
    out['inception'] = {name: scoring.inception_scores(s, test[half:2 * half],
                                                      weights=FLAGS.inception_weights)
                        for name, s in sets.items()}
  _write(workdir, 'score.json', out)


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
  if FLAGS.grid_steps is not None and FLAGS.grid_steps < 0:
    raise ConfigError('--grid_steps must be >= 0')
  if FLAGS.task == 'features':
    _label_counts()  # before TensorFlow starts
  if FLAGS.task == 'train-classifier':
    return train_classifier()
  if not FLAGS.workdir:
    raise ConfigError(f'--task={FLAGS.task} needs --workdir=RUN')
  from core import runtime  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  runtime.configure()
  if FLAGS.task == 'sample':
    return write_samples(FLAGS.workdir, FLAGS.num_images, FLAGS.seed)
  if FLAGS.task == 'score':
    return score(FLAGS.workdir, FLAGS.num_images, FLAGS.seed)
  if FLAGS.task in ('features', 'inpaint'):
    from trainers import multigrid  # pylint: disable=g-import-not-at-top
    if FLAGS.task == 'features':
      multigrid.evaluate_features(FLAGS.workdir, _label_counts(), FLAGS.num_test, FLAGS.seed)
    else:
      multigrid.evaluate_inpainting(FLAGS.workdir, FLAGS.mask, FLAGS.num_images,
                                    FLAGS.grid_steps, FLAGS.chains)
    return None
  if FLAGS.task == 'complete':
    from trainers import coopnets  # pylint: disable=g-import-not-at-top
    coopnets.evaluate_completion(FLAGS.workdir, FLAGS.mask, FLAGS.num_images, FLAGS.steps,
                                 FLAGS.revise_steps)
    return None  # (absl's app.run exits with main's return value)
  from core import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  stored = workdir_lib.stored_config(FLAGS.workdir)
  if FLAGS.task == 'reconstruct' and stored is not None and stored.algo in ('triangle', 'vae'):
    from trainers import evaluation  # pylint: disable=g-import-not-at-top
    from trainers import triangle  # pylint: disable=g-import-not-at-top
    cfg, built = evaluation.restore(FLAGS.workdir, ('encoder', 'generator'))
    out = triangle.reconstruct_test(cfg, built['encoder'], built['generator'], FLAGS.workdir,
                                    FLAGS.num_images)
    print(json.dumps(out, indent=2))
    return _write(FLAGS.workdir, 'reconstruct.json', out)
  from trainers import generator  # pylint: disable=g-import-not-at-top
  generator.evaluate_test_images(FLAGS.workdir, FLAGS.task, FLAGS.mask, FLAGS.num_images,
                                 FLAGS.steps)


if __name__ == '__main__':
  cli.run_main(lambda argv: app.run(main, argv=argv or sys.argv))
