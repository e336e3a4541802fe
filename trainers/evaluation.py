"""Evaluation shared by the joint trainers (CoopNets, triangle, VAE) and tools/evaluate:
restoring a run's nets, scoring samples on the project classifier's features beside the
reference points, and the plain-VAE reference trained for the same wall-clock budget.

Sample quality (trainers/scoring.py): Fréchet distance and KID between N samples and the
second half of the test split; reference rows: the first half of the test split (real vs real, the
floor) and the first half blurred by a Gaussian of σ = 1.5 px. Every row states its counts.
"""
import os

import tensorflow as tf

from core import data as data_lib
from core import workdir as workdir_lib
from core.errors import CheckpointError, ConfigError
from trainers import generator as generator_lib
from trainers import nets


def restore(workdir: str, roles=('generator',), algos=None, checkpoint: str = ''):
  """(config, {role: net}) rebuilt from WORKDIR/config.json and its latest checkpoint, or
  `checkpoint` (a step number or a checkpoint path) if given."""
  cfg = workdir_lib.stored_config(workdir)
  if cfg is None:
    raise CheckpointError(f'{workdir} has no checkpoint; train first '
                          f'(tools/train --workdir={workdir} ...)')
  if algos and cfg.algo not in algos:
    raise ConfigError(f'{workdir} holds a {cfg.algo} run; this needs one of: '
                      f'{", ".join(algos)}')
  if cfg.algo in nets.JOINT and not cfg.model.get('use_descriptor', True):
    roles = tuple(r for r in roles if r != 'descriptor')
  from core import runtime  # pylint: disable=g-import-not-at-top
  runtime.set_precision('float32')
  built = {r: nets.build(cfg, r) for r in roles}
  path = checkpoint_path(workdir, checkpoint)
  try:
    tf.train.Checkpoint(**built).restore(path).expect_partial().assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise CheckpointError(f'{path} does not hold the {", ".join(roles)} of its config.json '
                          f'({str(e).splitlines()[0][:200]}); retrain with --fresh') from None
  return cfg, built


def checkpoint_path(workdir: str, checkpoint: str = '') -> str:
  """WORKDIR's latest checkpoint, or the one `checkpoint` names (a step number or a path)."""
  ckpt_dir = os.path.join(workdir, workdir_lib.CHECKPOINTS)
  if not checkpoint:
    path = tf.train.latest_checkpoint(ckpt_dir)
  elif str(checkpoint).endswith('.index'):
    path = str(checkpoint)[:-len('.index')]
  elif str(checkpoint).isdigit():
    path = os.path.join(ckpt_dir, f'ckpt-{int(checkpoint)}')
  else:
    path = str(checkpoint)
  if not path or not tf.io.gfile.exists(f'{path}.index'):
    kept = sorted(int(p.rsplit('-', 1)[1]) for p in
                  tf.train.get_checkpoint_state(ckpt_dir).all_model_checkpoint_paths
                  ) if workdir_lib.has_checkpoint(workdir) else []
    raise CheckpointError(f'no checkpoint {checkpoint or "(latest)"} in {ckpt_dir}; the run '
                          f'keeps steps {kept or "none"}: pass one of them, or train first')
  return path


def sample_quality(cfg, sets: dict, headline: str, log=print) -> dict:
  """Scores each {name: samples in [-1, 1]} against held-out real images; the headline set's
  fd, kid and classes_present are repeated at the top level."""
  from trainers import scoring  # pylint: disable=g-import-not-at-top
  d = cfg.data
  test = data_lib.from_config(cfg, 'test')
  if test.labels is None:
    return {'sample_quality': f'skipped: {d.dataset} has no labels to train the project '
                              f'classifier on'}
  scorer = scoring.Scorer(d.dataset, d.image_size, d.channels, data_dir=d.data_dir,
                         train_if_missing=True)
  x = data_lib.to_float(test.images)
  half = len(x) // 2
  reference = f'{d.dataset} test images {half}..{2 * half - 1} ({half} images)'
  rows = {name: scorer.score(s, x[half:2 * half], reference_name=reference)
          for name, s in sets.items()}
  rows.update(scorer.reference_points(x[:half], x[half:2 * half], reference_name=reference))
  for name, r in rows.items():
    log(f'{name:>34}: FD {r["fd"]:8.2f}  KID {r["kid"]:.4f}  '
        f'({r.get("num_samples", "?")} vs {r.get("num_reference", "?")})')
  head = rows[headline]
  return {'fd': head['fd'], 'kid': head['kid'], 'classes_present': head['classes_present'],
          'sample_quality': {'reference': reference, 'blur_sigma_px': scoring.BLUR_SIGMA_PX,
                             'rows': rows}}


def vae_reference(cfg, workdir: str, seconds: float, strategy, log=print) -> dict:
  """{'plain VAE (S s)': samples} from a plain VAE on the same data, trained for the same
  wall-clock `seconds` in WORKDIR/vae_reference (reused when it has finished before)."""
  from trainers import triangle  # pylint: disable=g-import-not-at-top
  vdir = os.path.join(workdir, 'vae_reference')
  done = os.path.isfile(os.path.join(vdir, 'metrics.json'))
  if not done:  # the same config with the descriptor (and the wake-sleep term) switched off
    vcfg = cfg.copy_and_resolve_references()
    vcfg.algo = 'vae'
    vcfg.model.use_descriptor = False
    vcfg.optim.wake_sleep = 0.0
    vcfg.train.update(time_budget=float(seconds), steps=10**8, sample_every=10**8,
                      ckpt_every=10**8, log_every=100)
    vcfg.eval.update(vae_reference=False, score=False)
    if workdir_lib.has_checkpoint(vdir):  # an unfinished reference: start it over
      workdir_lib.archive(vdir)
    log(f'plain-VAE reference: training for the same {seconds:.0f} s in {vdir}')
    triangle.train(vcfg, vdir, strategy, log=log)
  vcfg, built = restore(vdir, ('generator',))
  stored = vcfg.train.time_budget
  samples = generator_lib.sample(built['generator'], cfg.eval.num_samples, cfg.seed + 7)
  return {f'plain VAE ({stored:.0f} s)': samples}

