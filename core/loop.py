"""The run loop every trainer hands its step to (Orbit's controller, in one page).

Resume order: build nets, optimizers, RNGs and chains (the trainer) → restore the newest
intact checkpoint (core/checkpoints: a corrupt one is moved aside, a broken state file
rebuilt) → rebuild the data iterator at the restored step (the data order is a function of
the seed and the step, so a resumed run sees the batches an uninterrupted one would) → train.
Training stops at cfg.train.steps, or earlier once cfg.train.time_budget seconds (if > 0) of
this session have passed.
Every step returns a metrics dict; a NaN/inf in any of them (or an energy beyond
train.energy_bound) rolls back to the last good checkpoint with lowered rates
(core/recovery), at most train.max_rollbacks times, then stops naming the step. Ctrl-C
saves a checkpoint first. A run whose training finished but whose evaluation did not
(killed) evaluates when rerun.
"""
import dataclasses
import json
import math
import os
import sys
import time
from typing import Any, Callable

import numpy as np
import tensorflow as tf
import tqdm

from core import checkpoints as checkpoints_lib
from core import images as images_lib
from core import recovery as recovery_lib
from core import workdir as workdir_lib
from core.errors import CheckpointError, Diverged, StorageError


@dataclasses.dataclass
class Task:
  """What a trainer hands the loop."""
  step: tf.Variable  # int64, counts finished steps; lives in the checkpoint
  checkpoint: dict[str, Any]  # everything that makes up the state, by role
  train_step: Callable[[Any], dict]  # iterator → metrics (scalar tensors); one update
  make_iterator: Callable[[int], Any]  # start step → (distributed) iterator of batches
  samples: Callable[[], np.ndarray]  # current samples in [-1, 1] for the grid
  # Final evaluation → metrics.json: (workdir, seconds this session trained) → dict.
  evaluate: Callable[[str, float], dict] = lambda workdir, seconds: {}
  headline: tuple[str, ...] = ('loss',)  # metrics shown on the progress bar
  columns: int = 0  # images per row of the sample grid (0: a square grid)
  # Checkpoint slots that older checkpoints may lack (added after they were made): name →
  # a function that initialises the slot when the restored checkpoint has none.
  late_slots: dict[str, Callable[[], None]] = dataclasses.field(default_factory=dict)
  # The rollback state; a trainer with Langevin passes its own, whose langevin_scale
  # multiplies its step sizes. None: the loop makes one (learning rates only).
  recovery: recovery_lib.Recovery | None = None
  # Metrics that are energies: |value| > cfg.train.energy_bound (if > 0) counts as divergence.
  energy_keys: tuple[str, ...] = ()


def checkpoint_slots(path: str) -> set:
  """The top-level slot names (roles) a checkpoint holds: generator, generator_ema, step, ..."""
  return {name.split('/')[0] for name, _ in tf.train.list_variables(path)}


def _restore(step, slots, late_slots, path, workdir, log):
  """Restores an intact checkpoint into `slots`; CheckpointError if it was made with other
  settings. Slots the checkpoint predates are initialised by their `late_slots` function."""
  try:
    have = checkpoint_slots(path)
    missing = [k for k in late_slots if k not in have]
    items = {k: v for k, v in slots.items() if k not in missing}
    tf.train.Checkpoint(step=step, **items).restore(path).assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    first = str(e).strip().splitlines()[0][:300]
    raise CheckpointError(f'{path} could not be restored: it was made with other settings '
                          f'({first}); resume with the settings it was made with, or start '
                          f'over with --fresh (the old run is kept) or another --workdir than '
                          f'{workdir}') from None
  for k in missing:
    late_slots[k]()
    log(f'{path} predates the {k} slot: it starts from the restored weights'
        if k != 'recovery' else f'{path} predates exact resume: its data order restarts, '
        f'and no rollback is counted yet')
  return path


def _drop_rows_after(path: str, step: int):
  """Keeps the rows of metrics.jsonl up to `step` (and every event row): after a resume or a
  rollback each step appears once. A torn last line (a kill mid-write) is dropped too."""
  if not os.path.isfile(path):
    return
  keep = []
  with open(path) as f:
    for line in f:
      try:
        row = json.loads(line)
      except json.JSONDecodeError:
        continue
      if 'step' not in row or row['step'] <= step:
        keep.append(json.dumps(row) + '\n')
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.writelines(keep)
  os.replace(tmp, path)


def _append_row(path: str, row: dict):
  with open(path, 'a') as f:
    f.write(json.dumps(row) + '\n')


class _Saver:
  """manager.save with the disk's failures as one line: the unfinished files are removed and
  the older checkpoints stay as they were."""

  def __init__(self, manager, ckpt_dir):
    self.manager, self.ckpt_dir = manager, ckpt_dir

  def __call__(self, step: int) -> str:
    try:
      return self.manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as e:
      prefix = os.path.join(self.ckpt_dir, f'ckpt-{step}')
      checkpoints_lib.clean_temp(self.ckpt_dir, log=lambda _: None)
      for name in os.listdir(self.ckpt_dir):
        if name.startswith(f'ckpt-{step}.'):
          try:
            os.remove(os.path.join(self.ckpt_dir, name))
          except OSError:
            pass
      first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
      raise StorageError(f'could not write {prefix} ({first}); free space or make '
                         f'{self.ckpt_dir} writable and rerun to resume from the last '
                         f'checkpoint, {self.manager.latest_checkpoint or "none yet"} '
                         f'(intact)') from None


def _diverged(metrics: dict, energy_keys, bound: float) -> list[str]:
  bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
  if bound > 0:
    bad += sorted(k for k in energy_keys if k in metrics and math.isfinite(metrics[k])
                  and abs(metrics[k]) > bound)
  return bad


def evaluate_and_write(task, workdir, step, start, elapsed, metrics) -> dict:
  """The final evaluation → WORKDIR/metrics.json (written whole or not at all)."""
  final = {'steps': step, 'wall_seconds': round(elapsed, 1),
           'steps_per_second': round((step - start) / max(elapsed, 1e-9), 3),
           'last': metrics, **task.evaluate(workdir, elapsed)}
  path = os.path.join(workdir, 'metrics.json')
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(final, f, indent=2, default=float)
  os.replace(tmp, path)
  return final


def run(task: Task, cfg, workdir: str, log=print) -> dict:
  """Trains until cfg.train.steps, logging, sampling and checkpointing; returns final metrics."""
  t = cfg.train
  workdir_lib.write_config(workdir, cfg)  # everything downstream rebuilds from it
  ckpt_dir = os.path.join(workdir, workdir_lib.CHECKPOINTS)
  rec = task.recovery or recovery_lib.Recovery()
  rec.track_optimizers(task.checkpoint)
  slots = {**task.checkpoint, 'recovery': rec}
  late = {**task.late_slots, 'recovery': rec.reset}
  had = checkpoints_lib.scan(ckpt_dir)
  path = checkpoints_lib.newest_intact(ckpt_dir, log)
  if had and path is None:
    raise CheckpointError(f'no checkpoint in {ckpt_dir} can be read (each was moved to '
                          f'{ckpt_dir}/{checkpoints_lib.CORRUPT}/); start over with --fresh')
  if path:
    _restore(task.step, slots, late, path, workdir, log)
    log(f'resumed from {path} at step {int(task.step.numpy())}'
        + (f' ({rec.values()["rollbacks"]} rollback(s) so far, learning rates × '
           f'{rec.values()["lr_scale"]:g})' if rec.values()['rollbacks'] else ''))
  ckpt = tf.train.Checkpoint(step=task.step, **slots)
  manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=t.keep,
                                       checkpoint_name='ckpt')
  save = _Saver(manager, ckpt_dir)
  start = int(task.step.numpy())
  jsonl = os.path.join(workdir, 'metrics.jsonl')
  if start >= t.steps:
    done = _read_json(os.path.join(workdir, 'metrics.json'))
    if done:
      log(f'{workdir} already finished {start} of {t.steps} steps; raise --steps to continue')
      return done
    log(f'{workdir} finished training ({start} steps) but not its evaluation: evaluating')
    return evaluate_and_write(task, workdir, start, start, 0.0, {})
  _drop_rows_after(jsonl, start)
  if manager.latest_checkpoint is None:  # a divergence before the first save rolls back here
    save(start)
  last_good = manager.latest_checkpoint

  iterator = task.make_iterator(start)
  writer = tf.summary.create_file_writer(workdir)
  tty = sys.stderr.isatty()
  budget = t.time_budget
  # A run bounded by wall-clock time shows its step count and rate, not a step-count ETA.
  bar = tqdm.tqdm(total=None if budget else t.steps, initial=start, unit='it',
                  desc=f'{budget:.0f} s budget' if budget else None, dynamic_ncols=True,
                  mininterval=0.5 if tty else 30.0, file=sys.stderr, smoothing=0.05)
  began, metrics = time.time(), {}
  step = start
  try:
    with writer.as_default():
      while step < t.steps and not (budget and time.time() - began >= budget):
        metrics = {k: float(v) for k, v in task.train_step(iterator).items()}
        bad = _diverged(metrics, task.energy_keys, t.energy_bound)
        if bad:
          what = (f'{", ".join(bad)} became {metrics[bad[0]]:g} at step {step + 1}'
                  + (f' (train.energy_bound={t.energy_bound:g})'
                     if math.isfinite(metrics[bad[0]]) else ''))
          count = rec.values()['rollbacks']
          if count >= t.max_rollbacks:
            raise Diverged(
                f'{what}, after {count} rollback(s) (train.max_rollbacks='
                f'{t.max_rollbacks}); the last good checkpoint is {last_good}. '
                f'Lower optim.lr or langevin.step_size (--set ...), or set langevin.clip, '
                f'and rerun (it resumes from that checkpoint)')
          before = rec.values()  # a rollback since the last save lowered them already
          _restore(task.step, slots, late, last_good, workdir, log)
          now = rec.after_rollback(before, t.rollback_factor)
          recovery_lib.reseed(task.checkpoint, cfg.seed, now['rollbacks'])
          step = int(task.step.numpy())
          _drop_rows_after(jsonl, step)
          iterator = task.make_iterator(step)
          _append_row(jsonl, {'event': 'rollback', 'at_step': step, 'cause': what, **now})
          tf.summary.scalar('rollbacks', now['rollbacks'], step=step)
          tf.summary.scalar('lr_scale', now['lr_scale'], step=step)
          bar.n = step
          bar.set_description(f'rollback {now["rollbacks"]}', refresh=False)
          log(f'\nwarning: {what}; rolled back to {last_good} (step {step}), learning rates '
              f'× {now["lr_scale"]:g}, Langevin step sizes × {now["langevin_scale"]:g}, '
              f'reseeded (rollback {now["rollbacks"]} of {t.max_rollbacks})')
          continue
        step = int(task.step.assign_add(1))
        bar.update(1)
        if step % t.log_every == 0 or step == t.steps:
          _append_row(jsonl, {'step': step, 'time': round(time.time() - began, 3), **metrics})
          for k, v in metrics.items():
            tf.summary.scalar(k, v, step=step)
          bar.set_postfix({k: f'{metrics[k]:.4g}' for k in task.headline if k in metrics},
                          refresh=False)
        if step % t.sample_every == 0 or step == t.steps:
          grid = images_lib.grid(task.samples(), task.columns)
          images_lib.save_png(os.path.join(workdir, 'samples', f'step_{step}.png'), grid)
          tf.summary.image('samples', grid[None], step=step)
        if step % t.ckpt_every == 0 or step == t.steps:
          last_good = save(step)
  except KeyboardInterrupt:
    if manager.latest_checkpoint != os.path.join(ckpt_dir, f'ckpt-{step}'):
      last_good = save(step)
    bar.close()  # before the message, so it is not drawn over
    log(f'interrupted at step {step}; saved {last_good}; rerun the same command to resume')
    raise
  except OSError as e:  # a full disk or a read-only workdir while logging or sampling
    raise StorageError(f'could not write {e.filename or workdir} ({e.strerror or e}); free '
                       f'space or make {workdir} writable and rerun to resume from '
                       f'{last_good} (intact)') from None
  finally:
    bar.close()
    writer.flush()

  elapsed = time.time() - began
  if step < t.steps:  # the time budget ran out
    log(f'stopped at step {step}: train.time_budget={budget:g} s used up')
    if step > start and step % t.ckpt_every:
      save(step)
    if step > start and step % t.sample_every:
      images_lib.save_png(os.path.join(workdir, 'samples', f'step_{step}.png'),
                          images_lib.grid(task.samples(), task.columns))
  final = evaluate_and_write(task, workdir, step, start, elapsed, metrics)
  log(f'done: {step} steps in {elapsed:.0f} s; samples in {workdir}/samples, '
      f'TensorBoard: tensorboard --logdir {workdir}')
  return final


def _read_json(path):
  if os.path.isfile(path):
    with open(path) as f:
      try:
        return json.load(f)
      except json.JSONDecodeError:  # torn by a kill mid-write: evaluate again
        return {}
  return {}
