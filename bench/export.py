"""File size and sampling latency of every export format on this machine: `make bench-export`.

  python bench/export.py --workdir=runs/main      # exports the run (into a temporary folder)

For the SavedModel (serving_default, loaded with tf.saved_model.load) and each .tflite
(float32, float16, dynamic, int8 under ai_edge_litert): size on disk, and milliseconds per
image at batch 1 and batch 64 (median of --repeats timed calls after one warm-up call).
With --results the rows also go to docs/results/export.json and docs/RESULTS.md is rebuilt.
"""
import json
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core import cpu  # pylint: disable=g-import-not-at-top,wrong-import-position
cpu.tf_environment()  # before TensorFlow: quiet logs, oneDNN where it pays

import numpy as np  # pylint: disable=g-import-not-at-top


def median_seconds(fn, repeats):
  fn()  # warm up (allocation, tracing)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def size_mb(path):
  if os.path.isfile(path):
    return os.path.getsize(path) / 1e6
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 1e6


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', default='runs/main', help='A trained run with a generator.')
  parser.add_argument('--repeats', type=int, default=20)
  parser.add_argument('--results', action='store_true',
                      help='Write docs/results/export.json and rebuild docs/RESULTS.md.')
  args = parser.parse_args()
  began = time.time()
  from core import runtime  # pylint: disable=g-import-not-at-top
  runtime.configure()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from export import litert  # pylint: disable=g-import-not-at-top
  from export import saved_model  # pylint: disable=g-import-not-at-top
  from export import tflite  # pylint: disable=g-import-not-at-top
  quiet = lambda *a, **k: None  # pylint: disable=unnecessary-lambda-assignment
  with tempfile.TemporaryDirectory() as tmp:
    sm = saved_model.export(args.workdir, export_dir=tmp, name='bench', log=quiet)
    lite = tflite.export(args.workdir, export_dir=tmp, name='bench', log=quiet)
    serve = tf.saved_model.load(sm).signatures['serving_default']
    d = serve.structured_input_signature[1]['z'].shape[-1]
    runners = {'saved_model': (sm, lambda z: serve(z=tf.constant(z))['images'].numpy())}
    for q in tflite.QUANTIZATIONS:
      path = os.path.join(lite, f'generator_{q}.tflite')
      interp = litert.interpreter(path)
      runners[f'tflite {q}'] = (path, lambda z, i=interp: litert.run(i, z))
    print(f'{args.workdir}: latent {d}; ms per image (median of {args.repeats} calls)')
    print(f'{"format":<16} {"size MB":>8} {"batch 1":>9} {"batch 64":>9}')
    records = []
    for name, (path, fn) in runners.items():
      row = []
      for batch in (1, 64):
        z = np.random.default_rng(0).standard_normal((batch, d)).astype(np.float32)
        row.append(1e3 * median_seconds(lambda f=fn, z=z: f(z), args.repeats) / batch)
      print(f'{name:<16} {size_mb(path):8.2f} {row[0]:9.3f} {row[1]:9.3f}')
      records.append(('file size', name, 'on disk', 'size_mb', size_mb(path)))
      records += [('sampling latency', name, f'batch={b}', 'ms_per_image', v)
                  for b, v in zip((1, 64), row)]
  if args.results:
    write_results(records, f'python bench/export.py --workdir={args.workdir}',
                  round(time.time() - began, 1))


def write_results(rows, command, seconds):
  from evaluation import results  # pylint: disable=g-import-not-at-top
  records = []
  add = results.adder(records)
  for table, method, setting, metric, value in rows:
    add(table, method, setting, metric, value, command, seconds)
  os.makedirs(results.RESULTS, exist_ok=True)
  with open(os.path.join(results.RESULTS, 'export.json'), 'w') as f:
    json.dump(records, f, indent=1)
  results.render()
  print(f'wrote {os.path.join(results.RESULTS, "export.json")} and {results.RESULTS_MD}')


if __name__ == '__main__':
  main()
