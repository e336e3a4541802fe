"""The first training step of each trainer under MultiWorkerMirroredStrategy (the workers of
TF_CONFIG, one CPU device each) against the one-process step with the same global batch,
Langevin noise off, same seeds and initial weights (tests/mirrored_equivalence.one_step).

Every worker runs this file with its TF_CONFIG (tests/test_multiworker.py starts 2 on
127.0.0.1); the chief also takes the one-process step and prints, as JSON, the differences
per algorithm:
  TF_CONFIG=... python -m tests.multiworker_equivalence DIGITS.npz ALGO [ALGO ...]
"""
import json
import sys

from core import cpu  # pylint: disable=g-import-not-at-top,wrong-import-position
cpu.tf_environment()  # before TensorFlow, as the tools do
from core import runtime  # pylint: disable=g-import-not-at-top,wrong-import-position

STRATEGY = runtime.make_strategy('multi_worker', cluster_timeout=120)  # before TF starts
runtime.configure()

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from tests import mirrored_equivalence as eq  # pylint: disable=g-import-not-at-top,wrong-import-position


def main(digits, algos):
  chief = runtime.Workers(STRATEGY).is_chief
  out = {}
  for algo in algos:
    one = eq.one_step(algo, digits, tf.distribute.get_strategy()) if chief else None
    many = eq.one_step(algo, digits, STRATEGY)  # every worker, in lockstep
    if chief:
      out[algo] = eq.compare(algo, one, many, STRATEGY)
  if chief:
    print(json.dumps(out))


if __name__ == '__main__':
  main(sys.argv[1], sys.argv[2:])
