"""A trained run, read once: what every reader of a workdir (tools/export, tools/sample,
tools/evaluate and their tasks, the reproduction tables, notebooks) starts from.

    run = open_run('runs/main')            # config, algorithm; no TensorFlow yet
    run.checkpoint, run.step                # the checkpoint read (resolved once), its step
    g = run.nets(('generator',))['generator']   # restored once (trainers/restore.py)
    cfg, nets = restore('runs/main', ('generator',))   # the same in one call

`open_run` reads WORKDIR/config.json (upgraded and filled from the defaults,
trainers/registry.stored_config) without starting TensorFlow, so a missing run fails at once,
with the one "no checkpoint; train first" error. The checkpoint is resolved the first time it
is asked for (the newest that reads back intact, or the one `checkpoint` names) and kept, so
every later use of the run, such as each format of one export, reads the same file even
while a live run saves newer ones; so are the restored nets.
"""
import dataclasses
import hashlib
import os
from typing import Any

from core import workdir as workdir_lib
from core.errors import CheckpointError, ConfigError
from trainers import registry


@dataclasses.dataclass
class TrainedRun:
  """One trained run: its folder, its config, and (on first use) its checkpoint and nets."""
  workdir: str
  cfg: Any  # ml_collections.ConfigDict, upgraded and filled (registry.complete)
  requested: str = ''  # the checkpoint asked for: '' (the newest intact), a step, or a path
  _checkpoint: str = ''
  _step: int = -1
  _config_sha256: str = ''
  _nets: dict = dataclasses.field(default_factory=dict)  # (role, average) → net

  @property
  def algo(self) -> str:
    return self.cfg.algo

  @property
  def spec(self) -> registry.Algorithm:
    return registry.get(self.algo)

  @property
  def checkpoint(self) -> str:
    """The checkpoint prefix this run is read from (resolved on first use, then fixed)."""
    if not self._checkpoint:
      from trainers import restore  # pylint: disable=g-import-not-at-top  (TensorFlow)
      self._checkpoint = restore.checkpoint_path(self.workdir, self.requested)
    return self._checkpoint

  def resolve(self) -> 'TrainedRun':
    """Resolves the checkpoint now (every later use reads this one); returns the run."""
    _ = self.checkpoint  # CheckpointError here when none reads back
    return self

  @property
  def step(self) -> int:
    """The training step `checkpoint` was saved at (its `step` variable; read once)."""
    if self._step < 0:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      self._step = int(tf.train.load_checkpoint(self.checkpoint).get_tensor(
          'step/.ATTRIBUTES/VARIABLE_VALUE'))
    return self._step

  @property
  def config_sha256(self) -> str:
    """SHA-256 of WORKDIR/config.json (read once)."""
    if not self._config_sha256:
      with open(os.path.join(self.workdir, workdir_lib.CONFIG), 'rb') as f:
        self._config_sha256 = hashlib.sha256(f.read()).hexdigest()
    return self._config_sha256

  def nets(self, roles=None, average: bool = True) -> dict:
    """{role: net} restored from `checkpoint` (trainers/restore.py); roles: default, every
    net the algorithm's checkpoint holds; average: a role's weight average where the
    checkpoint keeps one (optim.ema_decay). Each (role, average) is restored once."""
    from trainers import restore  # pylint: disable=g-import-not-at-top  (TensorFlow)
    roles = restore.roles(self.cfg, roles)
    missing = [r for r in roles if (r, average) not in self._nets]
    if missing:
      built = restore.nets(self.cfg, self.checkpoint, missing, average)
      self._nets.update({(r, average): net for r, net in built.items()})
    return {r: self._nets[(r, average)] for r in roles}


def open_run(workdir: str, checkpoint: str = '', algos=(), purpose: str = '') -> TrainedRun:
  """The trained run in `workdir`, without starting TensorFlow: CheckpointError when it has no
  checkpoint (`purpose`, e.g. ' to export', says what for), ConfigError when `algos` is given
  and its algorithm is not one of them. `checkpoint`: a step number or a path ('' the newest
  intact), resolved on first use."""
  cfg = registry.stored_config(workdir)
  if cfg is None:
    raise CheckpointError(f'{workdir} has no checkpoint{purpose}; train first '
                          f'(tools/train --workdir={workdir} ...)')
  if algos and cfg.algo not in algos:
    raise ConfigError(f'{workdir} holds a {cfg.algo} run; this needs one of: '
                      f'{", ".join(algos)}')
  return TrainedRun(workdir, cfg, str(checkpoint or ''))


def opened(run, checkpoint: str = '', algos=(), purpose: str = '') -> TrainedRun:
  """`run` if it is a TrainedRun already, else open_run(run, ...): for the library functions
  that take either a workdir or an opened run."""
  if isinstance(run, TrainedRun):
    if algos and run.algo not in algos:
      raise ConfigError(f'{run.workdir} holds a {run.algo} run; this needs one of: '
                        f'{", ".join(algos)}')
    return run
  return open_run(run, checkpoint, algos, purpose)


def restore(workdir: str, roles=None, algos=(), checkpoint: str = '', average: bool = True):
  """(config, {role: net}) of the run in `workdir` at its newest intact checkpoint, or
  `checkpoint` (a step number or a path): open_run(...).nets(roles, average) in one call."""
  run = open_run(workdir, checkpoint, algos or ())
  return run.cfg, run.nets(roles, average)
