"""The run loop every trainer hands its step to (Orbit's controller, in one page).

Resume order: build nets, optimizers, RNGs and chains (the trainer) → restore the newest
intact checkpoint (core/checkpoints: a corrupt one is moved aside, a broken state file
rebuilt) → rebuild the data iterator at the restored step (the data order is a function of
the seed and the step, so a resumed run sees the batches an uninterrupted one would) → train.
Training stops at cfg.train.steps, or earlier once cfg.train.time_budget seconds (if > 0) of
this session have passed. cfg.train.eager runs each step eagerly (debugging; `eagerly`).
Every step returns a metrics dict; a NaN/inf in any of them (or an energy beyond
train.energy_bound) rolls back to the last good checkpoint with lowered rates
(core/recovery), at most train.max_rollbacks times, then stops naming the step. Ctrl-C
and SIGTERM (tools/cli) save a checkpoint first. A run whose training finished but whose
evaluation did not (killed) evaluates when rerun. `run` restores; `_Loop` trains, one named
method per part of a step (rollback, record, sample) and of the session's end.

Under multi_worker (core/runtime.Workers) every worker runs this loop in lockstep, and only
the chief writes: config.json, checkpoints, TensorBoard, samples and metrics. The chief picks
the checkpoint to resume (repairing the folder as above) and broadcasts its step; every worker
restores that file (the workdir is shared storage). The other workers save their checkpoints
(as TensorFlow's multi-worker convention has every worker take part in a save) into a
temporary folder that is emptied after each save and removed at the end. A worker lost
mid-run ends the step with WorkerLost naming the checkpoint a rerun resumes from.
"""
import dataclasses
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf
import tqdm

from core import checkpoints as checkpoints_lib
from core import config as config_lib
from core import files
from core import images as images_lib
from core import recovery as recovery_lib
from core import runtime
from core import summaries
from core import workdir as workdir_lib
from core.errors import CheckpointError, Diverged, StorageError, Terminated, WorkerLost


@dataclasses.dataclass
class Task:
  """What a trainer hands the loop."""
  step: tf.Variable  # int64, counts finished steps; lives in the checkpoint
  checkpoint: dict[str, Any]  # everything that makes up the state, by role
  train_step: Callable[[Any], dict]  # iterator → metrics (scalar tensors); one update
  make_iterator: Callable[[int], Any]  # start step → (distributed) iterator of batches
  samples: Callable[[], np.ndarray]  # current samples in [-1, 1] for the grid
  # Final evaluation → metrics.json (beside the loop's own steps and seconds): workdir → dict.
  evaluate: Callable[[str], dict] = lambda workdir: {}
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
  # The quick Fréchet distance of a few generated images (eval.quick_fd), every sample_every
  # steps on the chief: log → FD, or None where it cannot be computed (it says why, once).
  quick_score: Callable[[Callable], float | None] | None = None


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
  with files.atomic(path, 'w') as f:
    f.writelines(keep)


def _append_row(path: str, row: dict):
  with open(path, 'a') as f:
    f.write(json.dumps(row) + '\n')


class _Saver:
  """manager.save with the disk's failures as one line: the unfinished files are removed and
  the older checkpoints stay as they were. A non-chief worker's manager saves into a
  temporary folder (`scratch`), emptied after each save; every worker gets back the path of
  the chief's checkpoint of that step (the one a rollback restores)."""

  def __init__(self, manager, ckpt_dir, chief_dir=None, scratch=None):
    self.manager, self.ckpt_dir = manager, ckpt_dir
    self.chief_dir, self.scratch = chief_dir or ckpt_dir, scratch

  def __call__(self, step: int) -> str:
    try:
      path = self.manager.save(checkpoint_number=step)
      if self.scratch is None:
        return path
      for name in os.listdir(self.scratch):
        target = os.path.join(self.scratch, name)
        if os.path.isdir(target):
          shutil.rmtree(target, ignore_errors=True)
        else:
          os.remove(target)
      return os.path.join(self.chief_dir, f'ckpt-{step}')
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


class _Signals:
  """While training: SIGTERM and SIGINT (Ctrl-C) only note the signal, and the loop stops at
  the end of the step, saving it. An exception raised wherever the signal lands could leave
  TensorFlow's state half-changed (a context stack mid-exit); under multi_worker the workers
  also agree on the step (runtime.Workers.poll) so that all stop there, where a worker
  stopped alone mid-collective would leave its peers waiting. A second Ctrl-C stops at once;
  a repeated SIGTERM (systemd and Slurm signal every process of the job, tools/launch passes
  it on too) changes nothing."""

  def __init__(self):
    self.got, self._before = None, {}

  def _note(self, signum, frame):  # pylint: disable=unused-argument
    if self.got is not None:
      if signum == signal.SIGINT:  # Ctrl-C twice: now
        raise KeyboardInterrupt()
      return
    self.got = signum
    sys.stderr.write(f'\n{signal.Signals(signum).name}: stopping at the end of this step '
                     f'(saving it){"; Ctrl-C again to stop now" if signum == signal.SIGINT else ""}'
                     f'\n')

  def stop(self):
    """Raises the noted signal's exception (KeyboardInterrupt, or Terminated for SIGTERM)."""
    raise KeyboardInterrupt() if self.got == signal.SIGINT else Terminated()

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._before[sig] = signal.signal(sig, self._note)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._before.items():
      signal.signal(sig, handler)
    self._before = {}


def eagerly(fn: Callable) -> Callable:
  """`fn` with every tf.function it calls (the trainer's step, Langevin, the strategy's
  replica step) run as plain Python, eagerly (tf.config.run_functions_eagerly, Orbit's
  use_tf_function=False): train.eager. The setting is put back after each call, so the
  sample grids and the final evaluation stay compiled."""
  def call(*args, **kwargs):
    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
      return fn(*args, **kwargs)
    finally:
      tf.config.run_functions_eagerly(before)
  return call


def _diverged(metrics: dict, energy_keys, bound: float) -> list[str]:
  bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
  if bound > 0:
    bad += sorted(k for k in energy_keys if k in metrics and math.isfinite(metrics[k])
                  and abs(metrics[k]) > bound)
  return bad


def evaluate_and_write(task, workdir, step, start, elapsed, metrics, log=print) -> dict:
  """The final evaluation → WORKDIR/metrics.json (written whole or not at all), said as it
  starts and ends (its phases say their own lines: sample quality, reconstructions)."""
  began = time.time()
  log(f'final evaluation of step {step} …')
  final = {'steps': step, 'wall_seconds': round(elapsed, 1),
           'steps_per_second': round((step - start) / max(elapsed, 1e-9), 3),
           'last': metrics, **task.evaluate(workdir)}
  path = os.path.join(workdir, 'metrics.json')
  files.write_json(path, final, default=float)
  log(f'final evaluation done in {time.time() - began:.1f} s: {path}')
  return final


NONE_LEFT = -2  # the chief's broadcast: checkpoints were there, but none reads back


def _resume_point(ckpt_dir: str, workers, log) -> str | None:
  """The checkpoint to resume from (None: a new run). The chief repairs the folder and picks
  it (core/checkpoints); the other workers learn its step from the chief."""
  code = -1
  if workers.is_chief:
    had = checkpoints_lib.scan(ckpt_dir)
    path = checkpoints_lib.newest_intact(ckpt_dir, log)
    code = NONE_LEFT if had and path is None else (
        int(os.path.basename(path).split('-')[-1]) if path else -1)
  code = workers.broadcast(code)
  if code == NONE_LEFT:
    raise CheckpointError(f'no checkpoint in {ckpt_dir} can be read (each was moved to '
                          f'{ckpt_dir}/{checkpoints_lib.CORRUPT}/); start over with --fresh')
  return None if code < 0 else os.path.join(ckpt_dir, f'ckpt-{code}')


def _cluster_failure(e: Exception, step: int, last_good: str) -> WorkerLost:
  lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
  why = next((ln for ln in lines if 'abort' in ln.lower() or 'peer' in ln.lower()),
             lines[0] if lines else type(e).__name__)
  return WorkerLost(f'the cluster lost a worker during step {step + 1} ({why[:200]}); the job '
                    f'stopped. Rerun the same command (tools/launch, or every worker) to '
                    f'resume from {last_good}')


# What a collective raises when a peer is gone (killed, unreachable, restarted).
CLUSTER_ERRORS = (tf.errors.UnavailableError, tf.errors.CancelledError,
                  tf.errors.DeadlineExceededError, tf.errors.AbortedError,
                  tf.errors.FailedPreconditionError, tf.errors.InternalError)


def run(task: Task, cfg, workdir: str, log=print, strategy=None, workers=None) -> dict:
  """Trains until cfg.train.steps, logging, sampling and checkpointing; returns final metrics.
  Under a multi-worker `strategy` every worker calls it; only the chief writes. `workers`:
  the strategy's runtime.Workers (made from it when None)."""
  workers = workers or runtime.Workers(strategy)
  chief = workers.is_chief
  if chief:
    workdir_lib.write_config(workdir, cfg)  # everything downstream rebuilds from it
  ckpt_dir = os.path.join(workdir, workdir_lib.CHECKPOINTS)
  rec = task.recovery or recovery_lib.Recovery()
  rec.track_optimizers(task.checkpoint)
  slots = {**task.checkpoint, 'recovery': rec}
  late = {**task.late_slots, 'recovery': rec.reset}
  path = _resume_point(ckpt_dir, workers, log)
  if path:
    _restore(task.step, slots, late, path, workdir, log)
    log(f'resumed from {path} at step {int(task.step.numpy())}'
        + (f' ({rec.values()["rollbacks"]} rollback(s) so far, learning rates × '
           f'{rec.values()["lr_scale"]:g}, Langevin step sizes × '
           f'{rec.values()["langevin_scale"]:g})' if rec.values()['rollbacks'] else ''))
  ckpt = tf.train.Checkpoint(step=task.step, **slots)
  scratch = None if chief else tempfile.mkdtemp(prefix=f'twonets-worker{workers.index}-')
  try:
    final = _Loop(task, cfg, workdir, log, workers, ckpt, scratch, path, slots, late,
                  rec).run()
    workers.broadcast(0)  # the others wait for the chief's evaluation, then all stop at once
    return final
  finally:
    if scratch:
      shutil.rmtree(scratch, ignore_errors=True)


class _Loop:
  """One session of training, in named steps: `run` → (`finished` for a run already done) →
  `train_step`, and after each `rollback` or `record` (log row, grid, checkpoint), → `finish`
  (the time budget's last save and grid, the final evaluation). Signals, a lost worker and a
  full disk end it through `interrupted` and `stopped`."""

  def __init__(self, task, cfg, workdir, log, workers, ckpt, scratch, path, slots, late, rec):
    self.task, self.cfg, self.t, self.workdir, self.log = task, cfg, cfg.train, workdir, log
    self.workers, self.chief = workers, workers.is_chief
    self.slots, self.late, self.rec = slots, late, rec
    self.ckpt_dir = os.path.join(workdir, workdir_lib.CHECKPOINTS)
    manager = tf.train.CheckpointManager(ckpt, scratch or self.ckpt_dir,
                                         max_to_keep=self.t.keep, checkpoint_name='ckpt')
    self.save = _Saver(manager, scratch or self.ckpt_dir, self.ckpt_dir, scratch)
    self.resumed_from = path
    self.start = self.step = int(task.step.numpy())
    self.jsonl = os.path.join(workdir, 'metrics.jsonl')
    self.metrics, self.began, self.last_good = {}, time.time(), path
    self.signals = _Signals()
    self.call_step = eagerly(task.train_step) if self.t.eager else task.train_step
    self.writer = None
    self.laid_out = False  # the Custom Scalars layout is written at the session's first row
    self.optimizers = {k: v for k, v in task.checkpoint.items()
                       if isinstance(v, keras.optimizers.Optimizer)}
    self.quick = {'count': 0, 'seconds': 0.0}

  # ---------------------------------------------------------------- the session

  def run(self) -> dict:
    t = self.t
    if self.start >= t.steps:
      return self.finished()
    if self.chief:
      _drop_rows_after(self.jsonl, self.start)
    # A new run saves at once: a divergence before the first save rolls back here.
    self.last_good = self.resumed_from or self.save(self.start)
    self.iterator = self.task.make_iterator(self.start)
    self.writer = self.summary_writer()
    if self.chief and not self.resumed_from:  # a new run: its config, as text and hparams
      with self.writer.as_default():
        summaries.write_config(config_lib.to_dict(self.cfg), self.workdir, self.start)
    budget = t.time_budget
    # A run bounded by wall-clock time shows its step count and rate, not a step-count ETA.
    self.bar = tqdm.tqdm(total=None if budget else t.steps, initial=self.start, unit='it',
                         desc=f'{budget:.0f} s budget' if budget else None, dynamic_ncols=True,
                         mininterval=0.5 if sys.stderr.isatty() else 30.0, file=sys.stderr,
                         smoothing=0.05, disable=not self.chief)
    if t.eager:
      self.log('train.eager: every training step runs eagerly (for debugging: Python '
               'breakpoints and prints inside the step work; several times slower)')
    self.began = time.time()
    try:
      with self.writer.as_default(), self.signals:
        while self.step < t.steps and not self.out_of_time():
          self.metrics = {k: float(v) for k, v in self.call_step(self.iterator).items()}
          bad = _diverged(self.metrics, self.task.energy_keys, t.energy_bound)
          if bad:
            self.rollback(bad)
            continue
          self.step = int(self.task.step.assign_add(1))
          self.bar.update(1)
          self.record()
        # A signal during the last step: stop here too (every worker asks, as in the loop).
        if self.workers.poll(0, self.signals.got is not None)[1]:
          self.signals.stop()
    except CLUSTER_ERRORS as e:
      if self.workers.count == 1:
        raise
      self.bar.close()
      raise _cluster_failure(e, self.step, self.last_good) from None
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (tools/cli: core.errors.Terminated)
      self.interrupted(e)
      raise
    except OSError as e:  # a full disk or a read-only workdir while logging or sampling
      raise StorageError(f'could not write {e.filename or self.workdir} ({e.strerror or e}); '
                         f'free space or make {self.workdir} writable and rerun to resume '
                         f'from {self.last_good} (intact)') from None
    finally:
      self.bar.close()
      self.writer.flush()
    return self.finish()

  def out_of_time(self) -> bool:
    """Whether the time budget is used up (the chief's clock decides for every worker);
    raises (at the same step on every worker) once a stop signal came (to any worker)."""
    budget = self.t.time_budget
    over = bool(budget) and time.time() - self.began >= budget
    over, stop = self.workers.poll(over, self.signals.got is not None)
    if stop:
      self.signals.stop()
    return bool(over)

  # ---------------------------------------------------------------- the named steps

  def rollback(self, bad: list):
    """A diverged step: back to the last good checkpoint with lowered rates and reseeded
    RNGs, or Diverged once train.max_rollbacks are used up."""
    t, metrics, step = self.t, self.metrics, self.step
    what = (f'{", ".join(bad)} became {metrics[bad[0]]:g} at step {step + 1}'
            + (f' (train.energy_bound={t.energy_bound:g})'
               if math.isfinite(metrics[bad[0]]) else ''))
    count = self.rec.values()['rollbacks']
    if count >= t.max_rollbacks:
      raise Diverged(
          f'{what}, after {count} rollback(s) (train.max_rollbacks={t.max_rollbacks}); the '
          f'last good checkpoint is {self.last_good}. Lower optim.lr or langevin.step_size '
          f'(--set ...), or set langevin.clip, and rerun (it resumes from that checkpoint)')
    before = self.rec.values()  # a rollback since the last save lowered them already
    _restore(self.task.step, self.slots, self.late, self.last_good, self.workdir, self.log)
    now = self.rec.after_rollback(before, t.rollback_factor)
    recovery_lib.reseed(self.task.checkpoint, self.cfg.seed, now['rollbacks'])
    self.step = step = int(self.task.step.numpy())
    self.iterator = self.task.make_iterator(step)
    if self.chief:
      _drop_rows_after(self.jsonl, step)
      _append_row(self.jsonl, {'event': 'rollback', 'at_step': step, 'cause': what, **now})
    self.write_optim(step)
    self.bar.n = step
    self.bar.set_description(f'rollback {now["rollbacks"]}', refresh=False)
    self.log(f'\nwarning: {what}; rolled back to {self.last_good} (step {step}), learning '
             f'rates × {now["lr_scale"]:g}, Langevin step sizes × {now["langevin_scale"]:g}, '
             f'reseeded (rollback {now["rollbacks"]} of {t.max_rollbacks})')

  def record(self):
    """After a step: its row (metrics.jsonl, TensorBoard, the bar) every log_every steps, the
    sample grid every sample_every, a checkpoint every ckpt_every (and all at the last)."""
    t, step, metrics = self.t, self.step, self.metrics
    last = step == t.steps
    if self.chief and (step % t.log_every == 0 or last):
      _append_row(self.jsonl, {'step': step, 'time': round(time.time() - self.began, 3),
                               **metrics})
      if not self.laid_out:
        summaries.write_layout(metrics)
        self.laid_out = True
      for k, v in metrics.items():
        tf.summary.scalar(summaries.tag(k), v, step=step)
      self.write_optim(step)
      self.bar.set_postfix({k: f'{metrics[k]:.4g}' for k in self.task.headline
                            if k in metrics}, refresh=False)
    if step % t.sample_every == 0 or last:
      self.sample(summary=True)
      if self.chief and self.task.quick_score:
        self.quick_fd()
    if step % t.ckpt_every == 0 or last:
      self.last_good = self.save(step)

  def summary_writer(self):
    return (tf.summary.create_file_writer(self.workdir) if self.chief
            else tf.summary.create_noop_writer())

  def write_optim(self, step: int):
    """optim/: each optimizer's learning rate, the rollbacks so far and their scales."""
    for name, opt in self.optimizers.items():
      # (a Keras variable, mirrored under a strategy, or a schedule's value: a tensor)
      tf.summary.scalar(f'optim/lr_{name}', tf.convert_to_tensor(opt.learning_rate),
                        step=step)
    for k, v in self.rec.values().items():
      tf.summary.scalar(f'optim/{k}', v, step=step)

  def quick_fd(self):
    """eval/quick_fd of the task's few generated images (eval.quick_fd), timed."""
    began = time.time()
    fd = self.task.quick_score(self.log)
    if fd is None:
      self.task.quick_score = None  # it said why; not again this session
      return
    self.quick['count'] += 1
    self.quick['seconds'] += time.time() - began
    tf.summary.scalar('eval/quick_fd', fd, step=self.step)

  def sample(self, summary: bool = False):
    """The grid of the current samples: every worker draws it (a sampler may consume the
    run's RNG: the workers' states must stay equal for an exact resume); the chief writes
    samples/step_N.png, enlarged to a readable size (core/images.readable_scale: 4× for 28
    px), and with `summary` the TensorBoard image (1×)."""
    x = self.task.samples()
    grid = images_lib.grid(x, self.task.columns)
    if self.chief:
      images_lib.save_png(os.path.join(self.workdir, 'samples', f'step_{self.step}.png'),
                          images_lib.upscale(grid, images_lib.readable_scale(x.shape[1])))
      if summary:
        tf.summary.image('samples', grid[None], step=self.step)

  def interrupted(self, e: KeyboardInterrupt):
    """Ctrl-C or SIGTERM: the step reached is saved (a repeated SIGTERM does not cut the
    save short; the handler before is put back after) and said."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, signal.SIG_IGN) if main else None
    try:
      if self.last_good != os.path.join(self.ckpt_dir, f'ckpt-{self.step}'):
        self.last_good = self.save(self.step)
    finally:
      if main:
        signal.signal(signal.SIGTERM, before)
    self.bar.close()  # before the message, so it is not drawn over
    how = 'stopped by SIGTERM' if isinstance(e, Terminated) else 'interrupted'
    self.log(f'{how} at step {self.step}; saved {self.last_good}; rerun the same command to '
             f'resume')

  def finish(self) -> dict:
    """After the last step (or the time budget): the step saved and drawn if it was not, and
    the chief's final evaluation (metrics.json)."""
    t, step, start = self.t, self.step, self.start
    elapsed = time.time() - self.began
    if step < t.steps:  # the time budget ran out
      self.log(f'stopped at step {step}: train.time_budget={t.time_budget:g} s used up')
      if step > start and step % t.ckpt_every:
        self.save(step)
      if step > start and step % t.sample_every:
        self.sample()
    if not self.chief:  # the chief evaluates and writes metrics.json
      return {'steps': step, 'last': self.metrics}
    final = evaluate_and_write(self.task, self.workdir, step, start, elapsed, self.metrics,
                               self.log)
    self.write_eval(final, step)
    if self.quick['count']:
      q = self.quick
      self.log(f'quick FD: {q["count"]} evaluations in {q["seconds"]:.1f} s '
               f'({100 * q["seconds"] / max(elapsed, 1e-9):.1f}% of the training time)')
    self.log(f'done: {step} steps in {elapsed:.0f} s; samples in {self.workdir}/samples, '
             f'TensorBoard: tensorboard --logdir {self.workdir}')
    return final

  def finished(self) -> dict:
    """A run already at train.steps: its metrics.json if that is of this step, else the
    final evaluation it missed (killed during it)."""
    if not self.chief:
      return {}
    workdir, start = self.workdir, self.start
    done = _read_json(os.path.join(workdir, 'metrics.json'))
    if done.get('steps') == start:  # an older finish's scores (a shorter run) are stale
      self.log(f'{workdir} already finished {start} of {self.t.steps} steps; raise --steps '
               f'to continue')
      return done
    self.log(f'{workdir} finished training ({start} steps) but not its evaluation'
             + (f' (metrics.json is of step {done["steps"]})' if 'steps' in done else '')
             + ': evaluating')
    final = evaluate_and_write(self.task, workdir, start, start, 0.0, {}, self.log)
    self.write_eval(final, start)
    return final

  def write_eval(self, final: dict, step: int):
    """The final scores under eval/ in TensorBoard (the chief's)."""
    self.writer = self.writer or self.summary_writer()
    with self.writer.as_default():
      summaries.write_eval(final, step)
    self.writer.flush()


def _read_json(path) -> dict:
  """The dict a JSON file holds, or {} when it is missing or unreadable (evaluate again)."""
  try:
    with open(path) as f:
      out = json.load(f)
  except (OSError, ValueError):
    return {}
  return out if isinstance(out, dict) else {}
