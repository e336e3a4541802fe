"""One trainer per algorithm, and the registry `tools/train --algo=` reads.

The registry maps names to module paths so that `--help` can list algorithms without
importing TensorFlow. Each module provides `train(config, workdir, strategy) -> dict`.
"""
import importlib

from core.errors import ConfigError

# The one place algorithms are registered.
ALGORITHMS = {
    'coopnets': 'trainers.coopnets',
    'deformable': 'trainers.generator',  # the ABP trainer with the deformable net
    'descriptor': 'trainers.descriptor',
    'generator': 'trainers.generator',
    'multigrid': 'trainers.multigrid',
    'triangle': 'trainers.triangle',
    'vae': 'trainers.triangle',  # the triangle with the descriptor switched off
}


def get(name: str):
  """The trainer module of algorithm `name`; ConfigError lists the known names."""
  if name not in ALGORITHMS:
    raise ConfigError(f'unknown algorithm {name!r}; known: {", ".join(sorted(ALGORITHMS))}')
  return importlib.import_module(ALGORITHMS[name])
