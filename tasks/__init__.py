"""tools/evaluate's tasks: what is measured on a trained run, kept apart from the trainers
(trainers/ hold the algorithms only). One dispatcher (`evaluate`) over the tasks each
algorithm declares (trainers/registry.py); sampling.py holds the two every run with a
generator offers (sample, score), and one module per algorithm its own (generator.py:
reconstruct, recover; multigrid.py: features, inpaint; coopnets.py: complete; multiview.py:
rotate; triangle.py: reconstruct; latent_ebm.py: reconstruct).

Every task is a function `task(run, **options)`: `run` the trained run, opened once by the
dispatcher (trainers/run.TrainedRun; a workdir path is accepted too, for callers in Python),
its keyword parameters named like tools/evaluate's flags (mask, num_images, steps, seed, ...);
the dispatcher passes each task the options its signature names.

This room sits above trainers/: it may import core, models, evaluation, configs and trainers;
only tools/ (and bench/) import it (tests/test_layering.py).
"""
import inspect

from trainers import registry
from trainers import run as run_lib


def evaluate(run, task: str, **options):
  """Runs task `task` on a trained run (a workdir, opened here once, or an opened
  trainers/run.TrainedRun), handing the run to the task; CheckpointError without a
  checkpoint, ConfigError (one line) when the run does not offer the task."""
  run = run_lib.opened(run)
  fn = registry.task(run.algo, task, run.workdir)
  wanted = inspect.signature(fn).parameters
  return fn(run, **{k: v for k, v in options.items() if k in wanted})
