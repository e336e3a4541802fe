"""Restoring a run's nets by role from one of its checkpoints: `nets(cfg, checkpoint, roles)`
→ {role: net} (a TrainedRun, trainers/run.py, calls it once per role and keeps the nets; the
short form is trainers/run.restore(workdir, roles) → (config, {role: net})); and the
checkpoint a reader takes (`checkpoint_path`).

A role whose weight average the checkpoint keeps (`ROLE_ema`, optim.ema_decay) is restored
from the average unless average=False. The multi-grid run's `descriptors` are one slot per
grid. A conditional descriptor's class count comes from its config (stored there since the
trainer learned it); a run made before that counts the labels of its training set, as the
trainer did.
"""
import os
import sys

import tensorflow as tf

from core import checkpoints as checkpoints_lib
from core import data as data_lib
from core import loop
from core import runtime
from core import workdir as workdir_lib
from core.errors import CheckpointError
from trainers import nets as nets_lib
from trainers import registry


def roles(cfg, wanted=None) -> tuple:
  """The roles of `wanted` (default: all) that the run's checkpoint holds: the algorithm's
  roles, but for the descriptor of a triangle trained without one (model.use_descriptor)."""
  held = registry.get(cfg.algo).roles
  out = tuple(r for r in (wanted or held) if r in held)
  if 'use_descriptor' in cfg.model and not cfg.model.use_descriptor:
    out = tuple(r for r in out if r != 'descriptor')
  return out


def num_classes(cfg) -> int:
  """The conditional descriptor's K: model.num_classes (stored by its trainer), or for a run
  made before that (0 in its config) max(label) + 1 of its training set."""
  if 'num_classes' not in cfg.model:
    return 0
  if cfg.model.num_classes:
    return int(cfg.model.num_classes)
  return int(data_lib.from_config(cfg).labels.max()) + 1


def nets(cfg, path: str, wanted=None, average: bool = True) -> dict:
  """{role: net} of `wanted` roles (roles()) built from `cfg` and restored from the checkpoint
  `path`; CheckpointError (one line) when the checkpoint does not hold them."""
  runtime.set_precision('float32')
  built = {r: nets_lib.build(cfg, r, num_classes=num_classes(cfg)) for r in roles(cfg, wanted)}
  try:
    slots = loop.checkpoint_slots(path)
    items = {}
    for r, net in built.items():
      if r == 'descriptors':  # the multi-grid run: one slot per grid
        items.update({f'descriptor_{g}': n for g, n in net.items()})
      else:
        items[f'{r}_ema' if average and f'{r}_ema' in slots else r] = net
    tf.train.Checkpoint(**items).restore(path).expect_partial().assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise CheckpointError(f'{path} does not hold the {", ".join(built)} of its config.json '
                          f'({str(e).splitlines()[0][:200]}); retrain with --fresh') from None
  return built


def checkpoint_path(workdir: str, checkpoint: str = '', log=None) -> str:
  """WORKDIR's newest checkpoint that reads back intact (core/checkpoints.newest_readable:
  from the files, not the state file; a corrupt newer one is passed over with a warning), or
  the one `checkpoint` names (a step number or a path), checked the same way."""
  log = log or (lambda line: print(line, file=sys.stderr))
  ckpt_dir = os.path.join(workdir, workdir_lib.CHECKPOINTS)
  kept = [step for step, _ in checkpoints_lib.scan(ckpt_dir)]
  if not checkpoint:
    path = checkpoints_lib.newest_readable(ckpt_dir, log)
    if path is None:
      raise CheckpointError(
          f'no checkpoint in {ckpt_dir} can be read' + (f' (steps {kept} are corrupt)' if kept
                                                        else '') + '; rerun tools/train '
          f'--workdir={workdir} to repair or resume the run, or train with --fresh')
    return path
  if str(checkpoint).endswith('.index'):
    path = str(checkpoint)[:-len('.index')]
  elif str(checkpoint).isdigit():
    path = os.path.join(ckpt_dir, f'ckpt-{int(checkpoint)}')
  else:
    path = str(checkpoint)
  if not tf.io.gfile.exists(f'{path}.index'):
    raise CheckpointError(f'no checkpoint {checkpoint} in {ckpt_dir}; the run keeps steps '
                          f'{kept or "none"}: pass one of them, or train first')
  reason = checkpoints_lib.verify(path)
  if reason:
    raise CheckpointError(f'{path} cannot be read ({reason}); pass another --checkpoint '
                          f'(the run keeps steps {kept})')
  return path
