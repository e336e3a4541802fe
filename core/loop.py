"""The run loop every trainer hands its step to (Orbit's controller, in one page).

Resume order: build nets, optimizers, RNGs and chains (the trainer) → restore the latest
checkpoint if any → rebuild the data iterator seeded with the restored step → train.
Training stops at cfg.train.steps, or earlier once cfg.train.time_budget seconds (if > 0) of
this session have passed (wall-clock comparisons such as the plain-VAE reference use that).
Every step returns a metrics dict; a NaN/inf in any of them stops the run before anything
is saved, naming the step and the last good checkpoint. Ctrl-C saves a checkpoint first.
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

from core import images as images_lib
from core import workdir as workdir_lib
from core.errors import CheckpointError, Diverged


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


def checkpoint_slots(path: str) -> set:
  """The top-level slot names (roles) a checkpoint holds: generator, generator_ema, step, ..."""
  return {name.split('/')[0] for name, _ in tf.train.list_variables(path)}


def _restore(task, manager, workdir, log):
  path = manager.latest_checkpoint
  try:
    slots = checkpoint_slots(path)
    missing = [k for k in task.late_slots if k not in slots]
    items = {k: v for k, v in task.checkpoint.items() if k not in missing}
    tf.train.Checkpoint(step=task.step, **items).restore(path).assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    first = str(e).strip().splitlines()[0][:300]
    raise CheckpointError(f'{path} could not be restored: it is corrupt or was made with '
                          f'other settings ({first}); resume with the settings it was made '
                          f'with, or start over with --fresh (the old run is kept) or another '
                          f'--workdir than {workdir}') from None
  for k in missing:
    task.late_slots[k]()
    log(f'{path} predates the {k} slot: it starts from the restored weights')
  return path


def run(task: Task, cfg, workdir: str, log=print) -> dict:
  """Trains until cfg.train.steps, logging, sampling and checkpointing; returns final metrics."""
  t = cfg.train
  workdir_lib.write_config(workdir, cfg)  # everything downstream rebuilds from it
  ckpt = tf.train.Checkpoint(step=task.step, **task.checkpoint)
  manager = tf.train.CheckpointManager(
      ckpt, os.path.join(workdir, workdir_lib.CHECKPOINTS), max_to_keep=t.keep,
      checkpoint_name='ckpt')
  if manager.latest_checkpoint:
    path = _restore(task, manager, workdir, log)
    log(f'resumed from {path} at step {int(task.step.numpy())}')
  start = int(task.step.numpy())
  last_good = manager.latest_checkpoint
  if start >= t.steps:
    log(f'{workdir} already finished {start} of {t.steps} steps; raise --steps to continue')
    return _read_json(os.path.join(workdir, 'metrics.json'))

  iterator = task.make_iterator(start)
  writer = tf.summary.create_file_writer(workdir)
  tty = sys.stderr.isatty()
  budget = t.get('time_budget', 0.0)
  # A run bounded by wall-clock time shows its step count and rate, not a step-count ETA.
  bar = tqdm.tqdm(total=None if budget else t.steps, initial=start, unit='it',
                  desc=f'{budget:.0f} s budget' if budget else None, dynamic_ncols=True,
                  mininterval=0.5 if tty else 30.0, file=sys.stderr, smoothing=0.05)
  began, metrics = time.time(), {}
  step = start
  try:
    with open(os.path.join(workdir, 'metrics.jsonl'), 'a') as jsonl, writer.as_default():
      while step < t.steps and not (budget and time.time() - began >= budget):
        metrics = {k: float(v) for k, v in task.train_step(iterator).items()}
        bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
        if bad:
          raise Diverged(
              f'{", ".join(bad)} became {metrics[bad[0]]} at step {step + 1}; the last good '
              f'checkpoint is {last_good or "none (no checkpoint was saved yet)"}. Lower '
              f'optim.lr or langevin.step_size (--set ...), or set langevin.clip, and rerun '
              f'(it resumes from that checkpoint)')
        step = int(task.step.assign_add(1))
        bar.update(1)
        if step % t.log_every == 0 or step == t.steps:
          jsonl.write(json.dumps({'step': step, 'time': round(time.time() - began, 3),
                                  **metrics}) + '\n')
          jsonl.flush()
          for k, v in metrics.items():
            tf.summary.scalar(k, v, step=step)
          bar.set_postfix({k: f'{metrics[k]:.4g}' for k in task.headline if k in metrics},
                          refresh=False)
        if step % t.sample_every == 0 or step == t.steps:
          grid = images_lib.grid(task.samples(), task.columns)
          images_lib.save_png(os.path.join(workdir, 'samples', f'step_{step}.png'), grid)
          tf.summary.image('samples', grid[None], step=step)
        if step % t.ckpt_every == 0 or step == t.steps:
          last_good = manager.save(checkpoint_number=step)
  except KeyboardInterrupt:
    if step > start:
      last_good = manager.save(checkpoint_number=step)
    bar.close()  # before the message, so it is not drawn over
    log(f'interrupted at step {step}; saved {last_good}; rerun the same command to resume')
    raise
  finally:
    bar.close()
    writer.flush()

  elapsed = time.time() - began
  if step < t.steps:  # the time budget ran out
    log(f'stopped at step {step}: train.time_budget={budget:g} s used up')
    if step > start and step % t.ckpt_every:
      manager.save(checkpoint_number=step)
    if step > start and step % t.sample_every:
      images_lib.save_png(os.path.join(workdir, 'samples', f'step_{step}.png'),
                          images_lib.grid(task.samples(), task.columns))
  final = {'steps': step, 'wall_seconds': round(elapsed, 1),
           'steps_per_second': round((step - start) / max(elapsed, 1e-9), 3),
           'last': metrics, **task.evaluate(workdir, elapsed)}
  with open(os.path.join(workdir, 'metrics.json'), 'w') as f:
    json.dump(final, f, indent=2, default=float)
  log(f'done: {step} steps in {elapsed:.0f} s; samples in {workdir}/samples, '
      f'TensorBoard: tensorboard --logdir {workdir}')
  return final


def _read_json(path):
  if os.path.isfile(path):
    with open(path) as f:
      return json.load(f)
  return {}
