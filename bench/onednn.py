"""oneDNN on or off for make train's step, interleaved: `python bench/onednn.py`.

TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it starts, so each variant is its own
`tools/train` process: make train's command (the triangle on Fashion-MNIST, batch 64,
float32 on CPUs without native bfloat16) for --steps steps, oneDNN off and on in turn, for
--rounds rounds. The step time is read from metrics.jsonl's `time` column between --skip
and --steps (tracing and the first steps left out); the evaluation is cut short
(eval.num_samples and eval.num_test small, no scores). Prints ms/step of each run, the
medians and the ratio off/on, and the last round's reconstruction error and KL at the last
step of each (the two paths' float32 results differ in rounding, not in maths, so their
trajectories part: compare FD at equal steps with make train, not these).
"""
import argparse
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import triangle_step  # pylint: disable=g-import-not-at-top,wrong-import-position


def run(onednn: bool, steps: int, skip: int, workdir: str) -> tuple[float, dict]:
  """(seconds per step between `skip` and `steps`, {step: logged row})."""
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS='1' if onednn else '0')
  return triangle_step.train_run(ROOT, steps, skip, workdir, env)


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--steps', type=int, default=60)
  p.add_argument('--skip', type=int, default=10)
  p.add_argument('--rounds', type=int, default=3)
  a = p.parse_args()
  times = {False: [], True: []}
  last = {}
  with tempfile.TemporaryDirectory() as tmp:
    for r in range(a.rounds):
      for onednn in (False, True):  # interleaved: the machine's drift hits both
        seconds, rows = run(onednn, a.steps, a.skip, os.path.join(tmp, f'{r}-{onednn}'))
        times[onednn].append(seconds)
        last[onednn] = rows[a.steps]
        print(f'round {r + 1}: oneDNN {"on " if onednn else "off"} '
              f'{1000 * seconds:7.1f} ms/step', flush=True)
  if a.rounds:  # --rounds=0: only the agreement below
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f'median ms/step: oneDNN off {1000 * off:.1f}, on {1000 * on:.1f}; off/on '
          f'{off / on:.2f}× ({a.rounds} interleaved rounds, steps {a.skip}..{a.steps})')
    for k in ('recon_mae', 'kl'):  # the two paths round differently: trajectories part
      print(f'step {a.steps} {k}: off {last[False][k]:.4f}, on {last[True][k]:.4f}')
  one_step_agreement()


def one_step_agreement():
  """The two paths on the same initial weights and batch: step 1's losses and gradient norms
  (computed before any update) side by side, and their largest relative difference. (After
  an update the weights part faster than rounding suggests: Adam's first steps move every
  weight by ~lr·sign(gradient), and a near-zero gradient's sign is rounding's to decide.)"""
  rows = {}
  with tempfile.TemporaryDirectory() as tmp:
    for onednn in (False, True):
      rows[onednn] = run(onednn, 2, 1, os.path.join(tmp, str(onednn)))[1][1]
  keys = [k for k in rows[False] if k not in ('step', 'time') and k in rows[True]]
  rel = {k: abs(rows[True][k] - rows[False][k]) / max(abs(rows[False][k]), 1e-12)
         for k in keys}
  print('step 1 (the same weights and batch), oneDNN off vs on: ' + ', '.join(
      f'{k} {rows[False][k]:.6g} / {rows[True][k]:.6g}' for k in keys))
  worst = max(rel, key=rel.get)
  print(f'largest relative difference: {rel[worst]:.1e} ({worst})')


if __name__ == '__main__':
  main()
