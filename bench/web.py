"""Per-image latency of the web export in a real browser: `make bench-web`.

  python bench/web.py --workdir=runs/main                  # float32 and int8
  python bench/web.py --workdir=runs/main --screenshot=docs/figures/web_app.png

Exports the run's generator for the web (batch 1, into a temporary folder), serves it on
127.0.0.1 and opens the page in headless Chromium (bench/browser.py, the tests' browser
code). For each quantisation: milliseconds per image in the page (LiteRT.js WebAssembly, one
call per image as the page draws, median of --images calls after a warm-up call) beside
ai_edge_litert (the Python LiteRT runtime) on the same file, and on the tflite export's
dynamic-batch file at batch 1 and 64. --screenshot writes the whole page showing the bundled
model (apps/web/model: what a fresh clone serves), two grid samples picked as endpoints A and
B, to PATH; --workdir= (empty) writes only the screenshot.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core import cpu  # pylint: disable=g-import-not-at-top,wrong-import-position
cpu.tf_environment()  # before TensorFlow: quiet logs, oneDNN where it pays

import numpy as np  # pylint: disable=g-import-not-at-top


def median_ms(fn, repeats):
  fn()  # warm up
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', default='runs/main', help='A trained run with a generator.')
  parser.add_argument('--quantize', default='float32,int8')
  parser.add_argument('--images', type=int, default=200, help='Timed calls per variant.')
  parser.add_argument('--screenshot', default='', help='PNG path of the page (bundled model).')
  args = parser.parse_args()
  from bench import browser  # pylint: disable=g-import-not-at-top
  from export import latents  # pylint: disable=g-import-not-at-top
  from export import litert  # pylint: disable=g-import-not-at-top
  from export import web  # pylint: disable=g-import-not-at-top
  if args.screenshot:
    with browser.serve(web.APP) as url, browser.open_page(url + 'index.html') as page:
      for cell in (10, 45):  # endpoints A and B picked from the grid, as a visitor does
        page.click_cell('grid', cell, 8, 8)
      page.idle()
      page.driver.execute_script('window.scrollTo(0, 0)')
      # The whole page: the window grown to its height (the window's own frame: 143 px).
      height = page.driver.execute_script('return document.documentElement.scrollHeight')
      page.driver.set_window_size(1200, height + 143)
      page.idle()
      page.screenshot(args.screenshot)
      print(f'wrote {args.screenshot} (the page with {page.info["file"]}, '
            f'{page.text("latency")})')
  if not args.workdir:
    return
  from core import runtime  # pylint: disable=g-import-not-at-top
  runtime.configure()
  from export import tflite  # pylint: disable=g-import-not-at-top
  quantizations = args.quantize.split(',')
  with tempfile.TemporaryDirectory() as tmp:
    web_dir = web.export(args.workdir, quantizations, export_dir=tmp, log=lambda _: None)
    tflite_dir = tflite.export(args.workdir, quantizations, export_dir=tmp, log=lambda _: None)
    rows = []
    with browser.serve(web_dir) as url, browser.open_page(url + 'index.html') as page:
      print(f'Chromium {page.driver.capabilities.get("browserVersion")}, LiteRT.js '
            f'(WebAssembly, CPU), {os.cpu_count()} cores; {args.images} calls per variant')
      d = page.info['latent_dim']
      for q in quantizations:
        page.select(q)
        b = page.benchmark(args.images)
        fixed = litert.interpreter(os.path.join(web_dir, 'model', f'generator_{q}.tflite'))
        dynamic = litert.interpreter(os.path.join(tflite_dir, f'generator_{q}.tflite'))
        z1, z64 = latents.latents(0, 1, d), latents.latents(0, 64, d)
        py_fixed = median_ms(lambda i=fixed: litert.run(i, z1), args.images)
        py_dyn1 = median_ms(lambda i=dynamic: litert.run(i, z1), args.images)
        py_dyn64 = median_ms(lambda i=dynamic: litert.run(i, z64), max(args.images // 10, 5)) / 64
        size = os.path.getsize(os.path.join(web_dir, 'model', f'generator_{q}.tflite')) / 1e6
        rows.append((q, size, b['median_ms'], b['min_ms'], py_fixed, py_dyn1, py_dyn64))
  print(f'{"file":10s} {"MB":>5s}  {"browser ms/img":>14s} {"(min)":>6s}  '
        f'{"ai_edge_litert batch-1 file":>27s}  {"dynamic file b=1":>16s} {"b=64":>6s}')
  for q, size, med, low, py_fixed, py_dyn1, py_dyn64 in rows:
    print(f'{q:10s} {size:5.2f}  {med:14.2f} {low:6.2f}  {py_fixed:27.3f}  {py_dyn1:16.3f} '
          f'{py_dyn64:6.3f}')


if __name__ == '__main__':
  main()
