"""Langevin speed of the dataset descriptors on this machine: `make bench`.

Prints ms per Langevin step and images·steps/s at batch 100 for the 28×28 and 32×32
descriptors: eager, compiled float32, compiled mixed_bfloat16 (and XLA with --xla), plus the
float32 GFLOP/s of a 4096² matmul as the machine's yardstick. Beside each compiled mode, a
bare `tf.function` loop of the same update (no diagnostics, no bounds, no mask) and the
kernel's time relative to it, so the cost of trainers/langevin.py's extras stays visible.
bfloat16 rows are skipped where bfloat16 is emulated (core/runtime.resolve_precision);
--bf16 times them anyway.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from core import cpu  # pylint: disable=g-import-not-at-top,wrong-import-position
cpu.tf_environment()  # before TensorFlow: quiet logs, oneDNN where it pays

import keras  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

import models  # pylint: disable=g-import-not-at-top
from core import runtime  # pylint: disable=g-import-not-at-top
from trainers import langevin as langevin_lib  # pylint: disable=g-import-not-at-top


def timed(fn, repeats):
  fn()  # trace / warm up
  start = time.perf_counter()
  for _ in range(repeats):
    fn()
  return (time.perf_counter() - start) / repeats


def matmul_gflops(n=4096, repeats=5):
  a = tf.random.normal((n, n))
  b = tf.random.normal((n, n))
  f = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
  return 2 * n**3 / timed(lambda: f().numpy(), repeats) / 1e9


def bare_loop(energy, steps, step_size, ref_sigma, rng):
  """The update X ← X − (δ²/2)∇E + δ·N(0, I) and nothing else, as one tf.function."""
  @tf.function
  def run(x):
    for _ in tf.range(steps):
      with tf.GradientTape() as tape:
        tape.watch(x)
        e = tf.reduce_sum(tf.cast(energy(x), tf.float32)) + tf.reduce_sum(
            tf.square(x)) / (2.0 * ref_sigma**2)
      x = x - 0.5 * step_size**2 * tape.gradient(e, x) + step_size * rng.normal(tf.shape(x))
    return x
  return run


def bench(size, channels, mode, batch, steps, repeats):
  policy = 'mixed_bfloat16' if 'mixed_bfloat16' in mode else 'float32'
  keras.mixed_precision.set_global_policy(policy)
  net = models.build(f'descriptor/{size}', (size, size, channels))
  x0 = tf.random.uniform((batch, size, size, channels), -1, 1)
  settings = dict(steps=steps, step_size=0.01, ref_sigma=1.0,
                  rng=tf.random.Generator.from_seed(0))
  energy = lambda x: -net(x)
  if mode == 'eager':
    run = lambda: langevin_lib.langevin(energy, x0, **settings)[0].numpy()
  elif mode.startswith('bare'):
    fn = bare_loop(energy, steps, 0.01, 1.0, settings['rng'])
    run = lambda: fn(x0).numpy()
  else:
    fn = langevin_lib.compiled(energy, jit_compile=(mode == 'compiled float32 XLA'), **settings)
    run = lambda: fn(x0)[0].numpy()
  seconds = timed(run, repeats)
  keras.mixed_precision.set_global_policy('float32')
  return 1000 * seconds / steps, batch * steps / seconds


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--batch', type=int, default=100)
  p.add_argument('--steps', type=int, default=15)
  p.add_argument('--repeats', type=int, default=3)
  p.add_argument('--xla', action='store_true', help='also time XLA (jit_compile=True)')
  p.add_argument('--bf16', action='store_true', help='time bfloat16 where it is emulated too')
  args = p.parse_args()
  runtime.configure()
  onednn = os.environ.get(cpu.ONEDNN, 'unset (TensorFlow\'s default)')
  print(f'TensorFlow {tf.__version__}, Keras {keras.__version__}, '
        f'{os.cpu_count()} CPU cores, batch {args.batch}, {args.steps} steps per call, '
        f'{cpu.ONEDNN}={onednn}')
  print(f'float32 matmul 4096²: {matmul_gflops():.0f} GFLOP/s')
  native = runtime.resolve_precision('auto') == 'mixed_bfloat16'
  modes = ['eager', 'bare float32', 'compiled float32']  # bare first: the ratio needs it
  if native or args.bf16:
    modes += ['bare mixed_bfloat16', 'compiled mixed_bfloat16']
  else:
    print('bfloat16 is emulated on this CPU (no AVX512-BF16 / AMX, no GPU): its rows are '
          'skipped (--bf16 times them)')
  if args.xla:
    modes.append('compiled float32 XLA')
  print(f'{"net":<16}{"mode":<26}{"ms/step":>9}{"images·steps/s":>16}{"vs bare":>9}')
  for size, channels in ((28, 1), (32, 3)):
    ms = {}
    for mode in modes:
      ms[mode], rate = bench(size, channels, mode, args.batch, args.steps, args.repeats)
      bare = ms.get(mode.replace('compiled', 'bare'))
      ratio = f'{ms[mode] / bare:.2f}x' if mode.startswith('compiled') and bare else ''
      print(f'{f"descriptor/{size}":<16}{mode:<26}{ms[mode]:>9.1f}{rate:>16.0f}{ratio:>9}')


if __name__ == '__main__':
  main()
