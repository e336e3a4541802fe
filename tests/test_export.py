"""Export: the SavedModel loads in a fresh process and equals the trained generator, its
signatures behave as documented, every .tflite runs under LiteRT and matches TF, a killed
export leaves no version directory, and bad input fails with one clear message."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests import helpers

# Largest |TFLite − TF| allowed per quantisation (images in [-1, 1]); the int8 variants must
# also stay finite and vary with z as the float model does.
BOUNDS = {'float32': 1e-5, 'float16': 1e-2, 'dynamic': 0.5, 'int8': 0.75}
MEAN_BOUNDS = {'dynamic': 0.05, 'int8': 0.1}


@pytest.fixture(scope='module')
def run(triangle_run):
  """The session's triangle run (tests/conftest.py: 120 steps, checkpoints at 60 and 120;
  long enough that its generator's images depend on z). Read-only: exports go elsewhere."""
  return triangle_run


@pytest.fixture(scope='module')
def export_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('exports'))


@pytest.fixture(scope='module')
def exported(run, export_dir):
  r = helpers.tool('export', f'--workdir={run}', f'--export_dir={export_dir}')
  assert r.returncode == 0, r.stderr[-2000:]
  return {'saved_model': os.path.join(export_dir, 'triangle', '1'),
          'tflite': os.path.join(export_dir, 'tflite', 'triangle', '1')}


@pytest.fixture(scope='module')
def reference(run):
  """z and the trained generator's images of it, computed by the training code."""
  from trainers import nets as nets_lib  # pylint: disable=g-import-not-at-top
  _, nets = nets_lib.restore(run, ('generator',))
  z = np.random.default_rng(5).standard_normal((64, 16)).astype(np.float32)
  return z, nets['generator'](z, training=False).numpy()


LOAD_SCRIPT = r'''
import sys, numpy as np, tensorflow as tf
path, zfile, out = sys.argv[1:]
m = tf.saved_model.load(path)
z = np.load(zfile)
s = m.signatures
serve = s['serving_default'](z=tf.constant(z))
a = s['sample'](n=tf.constant(6), seed=tf.constant(7, tf.int64))
b = s['sample'](n=tf.constant(6), seed=tf.constant(7, tf.int64))
c = s['sample'](n=tf.constant(6), seed=tf.constant(8, tf.int64))
x = serve['images'][:4]
enc = s['encode'](images=x)
rec = s['reconstruct'](images=x)
energy = s['energy'](images=x)
np.savez(out, images=serve['images'].numpy(), uint8=serve['images_uint8'].numpy(),
         a=a['images'].numpy(), b=b['images'].numpy(), c=c['images'].numpy(),
         mean=enc['mean'].numpy(), logvar=enc['logvar'].numpy(), rec=rec['images'].numpy(),
         score=energy['score'].numpy(), energy=energy['energy'].numpy(),
         signatures=np.array(sorted(s.keys())))
'''


def test_saved_model_in_a_fresh_process_equals_the_trained_generator(exported, reference,
                                                                      tmp_path):
  z, want = reference
  np.save(tmp_path / 'z.npy', z)
  r = subprocess.run([sys.executable, '-c', LOAD_SCRIPT, exported['saved_model'],
                      str(tmp_path / 'z.npy'), str(tmp_path / 'out.npz')],
                     capture_output=True, text=True, timeout=300,
                     env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
  assert r.returncode == 0, r.stderr[-2000:]
  out = np.load(tmp_path / 'out.npz')
  assert list(out['signatures']) == ['encode', 'energy', 'reconstruct', 'sample',
                                     'serving_default']
  assert np.abs(out['images'] - want).max() <= 1e-5
  assert want.std(0).mean() > 1e-3  # the generator's images do depend on z
  np.testing.assert_array_equal(out['uint8'], np.round((out['images'] + 1) * 127.5))
  np.testing.assert_array_equal(out['a'], out['b'])  # same seed, same images
  assert out['a'].shape == (6, 28, 28, 1) and np.abs(out['a'] - out['c']).max() > 1e-3
  assert out['mean'].shape == out['logvar'].shape == (4, 16)
  assert out['rec'].shape == (4, 28, 28, 1) and out['score'].shape == (4,)
  # The triangle's energy is U = −f (no reference term: langevin.ref_sigma = 0).
  np.testing.assert_allclose(out['energy'], -out['score'], rtol=1e-6)


def test_metadata_and_versions(run, exported, export_dir):
  with open(os.path.join(exported['saved_model'], 'metadata.json')) as f:
    meta = json.load(f)
  assert meta['algorithm'] == 'triangle' and meta['latent_dim'] == 16
  assert meta['image_shape'] == [28, 28, 1] and meta['value_range'] == [-1.0, 1.0]
  assert meta['training_step'] == 120 and meta['config_hash'].startswith('sha256:')
  assert set(meta['signatures']) == {'serving_default', 'sample', 'encode', 'reconstruct',
                                     'energy'}
  with open(os.path.join(exported['tflite'], 'metadata.json')) as f:
    assert json.load(f)['files']['int8'] == 'generator_int8.tflite'
  # The next export takes the next free version, and a chosen checkpoint is honoured.
  r = helpers.tool('export', f'--workdir={run}', f'--export_dir={export_dir}',
                   '--formats=saved_model', '--checkpoint=60')
  assert r.returncode == 0, r.stderr[-2000:]
  with open(os.path.join(export_dir, 'triangle', '2', 'metadata.json')) as f:
    assert json.load(f)['training_step'] == 60
  # SavedModels and TFLite files share one numbering: this TFLite-only export is version 3.
  r = helpers.tool('export', f'--workdir={run}', f'--export_dir={export_dir}',
                   '--formats=tflite', '--quantize=float32')
  assert r.returncode == 0, r.stderr[-2000:]
  assert sorted(os.listdir(os.path.join(export_dir, 'tflite', 'triangle'))) == ['1', '3']
  assert not os.path.exists(os.path.join(run, 'exports'))  # nothing written in the run


def test_saved_model_cli_runs_the_serving_signature(exported, reference, tmp_path):
  """saved_model_cli restores the variables as TF Serving does (a TF1 session loader)."""
  z, want = reference
  cli = os.path.join(os.path.dirname(sys.executable), 'saved_model_cli')
  np.save(tmp_path / 'z.npy', z[:2])
  r = subprocess.run([cli, 'run', '--dir', exported['saved_model'], '--tag_set', 'serve',
                      '--signature_def', 'serving_default', '--inputs',
                      f'z={tmp_path / "z.npy"}', '--outdir', str(tmp_path / 'out')],
                     capture_output=True, text=True, timeout=300,
                     env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
  assert r.returncode == 0, r.stderr[-2000:]
  images = np.load(tmp_path / 'out' / 'images.npy')
  assert images.shape == (2, 28, 28, 1) and np.abs(images - want[:2]).max() <= 1e-5
  assert np.load(tmp_path / 'out' / 'images_uint8.npy').dtype == np.uint8


@pytest.mark.parametrize('quantization', list(BOUNDS))
def test_every_tflite_runs_under_litert_and_matches_tf(exported, reference, quantization):
  from export import litert  # pylint: disable=g-import-not-at-top
  z, want = reference
  interp = litert.interpreter(os.path.join(exported['tflite'],
                                           f'generator_{quantization}.tflite'))
  for batch in (1, 64):  # the batch size is dynamic
    got = litert.run(interp, z[:batch])
    assert got.shape == want[:batch].shape and np.all(np.isfinite(got))
    assert np.abs(got - want[:batch]).max() <= BOUNDS[quantization], quantization
  if quantization in MEAN_BOUNDS:
    assert np.abs(got - want).mean() <= MEAN_BOUNDS[quantization]
  # Not a constant image: the pixels vary over z about as much as the float model's do.
  assert got.std(0).mean() > 0.5 * want.std(0).mean()


def test_sample_tool_reads_both_formats_without_the_run(exported, tmp_path):
  from skimage import io  # pylint: disable=g-import-not-at-top
  for model in (exported['saved_model'],
                os.path.join(exported['tflite'], 'generator_float32.tflite')):
    pngs = []
    for i in range(2):
      out = str(tmp_path / f'{os.path.basename(model)}_{i}.png')
      r = helpers.tool('sample', f'--model={model}', '--rows=2', '--seed=3', f'--out={out}')
      assert r.returncode == 0, r.stderr[-2000:]
      pngs.append(io.imread(out))
    np.testing.assert_array_equal(pngs[0], pngs[1])
    assert pngs[0].std() > 0
  r = helpers.tool('sample', f'--model={tmp_path}')
  helpers.one_line_error(r, 'no saved_model.pb')
  # A SavedModel whose variables were cut short: one line, exit 2.
  bad = str(tmp_path / 'truncated')
  shutil.copytree(exported['saved_model'], bad)
  (data,) = glob.glob(os.path.join(bad, 'variables', 'variables.data-*'))
  os.truncate(data, os.path.getsize(data) // 2)
  r = helpers.tool('sample', f'--model={bad}', f'--out={tmp_path / "x.png"}')
  helpers.one_line_error(r, 'corrupt or truncated')


@pytest.mark.slow
def test_a_killed_export_leaves_no_version_directory(run, tmp_path):
  """Slow: the export is killed (SIGKILL) half-way in a process of its own, then rerun."""
  export_dir = tmp_path / 'exports'
  base = export_dir / 'killed'
  proc = subprocess.Popen([sys.executable, '-m', 'tools.export', f'--workdir={run}',
                           '--formats=saved_model', f'--export_dir={export_dir}',
                           '--name=killed'], cwd=helpers.ROOT,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
                                   PYTHONPATH=helpers.ROOT),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 120
  while time.time() < deadline and proc.poll() is None:
    if base.is_dir() and any(n.startswith('.tmp-') for n in os.listdir(base)):
      break
    time.sleep(0.005)
  assert proc.poll() is None, 'the export finished before it could be killed'
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not [n for n in os.listdir(base) if n.isdigit()]
  # The next export writes version 1 whole and clears the dead one's leftovers.
  r = helpers.tool('export', f'--workdir={run}', '--formats=saved_model',
                   f'--export_dir={export_dir}', '--name=killed')
  assert r.returncode == 0, r.stderr[-2000:]
  assert sorted(os.listdir(base)) == ['1']
  assert os.path.isfile(base / '1' / 'saved_model.pb')


def test_bad_input_gets_one_clear_message(run, descriptor_run, tmp_path):
  for args, message in [
      ([f'--workdir={tmp_path / "empty"}'], 'has no checkpoint to export'),
      ([f'--workdir={run}', '--formats=onnx'], 'unknown format onnx'),
      ([f'--workdir={run}', '--quantize=int4'], 'unknown quantisation int4'),
      ([f'--workdir={run}', '--checkpoint=7'], 'no checkpoint 7'),
      ([f'--workdir={descriptor_run}'], 'has no generator to export'),
  ]:
    r = helpers.tool('export', *args, f'--export_dir={tmp_path / "out"}')
    helpers.one_line_error(r, message)
  assert not os.path.exists(tmp_path / 'out')
