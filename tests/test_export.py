"""Export: the SavedModel loads in a fresh process and equals the trained generator, its
signatures behave as documented, TF Serving's warm-up requests and the README's clients run
through them, every .tflite runs under LiteRT by its signature's names and matches TF, the
.keras files load in bare Keras, the export prints a line per file and logs the rest, a
killed export leaves no version directory, and bad input fails with one clear message."""
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
  r = helpers.tool('export', f'--workdir={run}', f'--export_dir={export_dir}',
                   '--formats=saved_model,tflite,keras')
  assert r.returncode == 0, r.stderr[-2000:]
  return {'saved_model': os.path.join(export_dir, 'triangle', '1'),
          'tflite': os.path.join(export_dir, 'tflite', 'triangle', '1'),
          'keras': os.path.join(export_dir, 'keras', 'triangle', '1'),
          'log': os.path.join(export_dir, 'export.log'), 'result': r}


@pytest.fixture(scope='module')
def loaded(exported):
  """The SavedModel loaded in this process (tf.saved_model.load), as a server holds it."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.saved_model.load(exported['saved_model'])


@pytest.fixture(scope='module')
def reference(run):
  """z and the trained generator's images of it, computed by the training code."""
  from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
  _, nets = run_lib.restore(run, ('generator',))
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
  """Read as an app reads it: the `serving_default` signature runner, called with z= and
  read by the output names metadata.json documents."""
  from ai_edge_litert import interpreter as litert_api  # pylint: disable=g-import-not-at-top
  z, want = reference
  with open(os.path.join(exported['tflite'], 'metadata.json')) as f:
    meta = json.load(f)
  interp = litert_api.Interpreter(model_path=os.path.join(exported['tflite'],
                                                          meta['files'][quantization]))
  assert interp.get_signature_list() == {
      'serving_default': {'inputs': list(meta['inputs']), 'outputs': list(meta['outputs'])}}
  assert list(meta['inputs']) == ['z'] and list(meta['outputs']) == ['images']
  runner = interp.get_signature_runner('serving_default')
  for batch in (1, 64):  # the batch size is dynamic
    got = runner(z=z[:batch])['images']
    assert got.shape == want[:batch].shape and np.all(np.isfinite(got))
    assert np.abs(got - want[:batch]).max() <= BOUNDS[quantization], quantization
  if quantization in MEAN_BOUNDS:
    assert np.abs(got - want).mean() <= MEAN_BOUNDS[quantization]
  # Not a constant image: the pixels vary over z about as much as the float model's do.
  assert got.std(0).mean() > 0.5 * want.std(0).mean()
  # The difference the export measured (16 other latents) is in metadata.json and bounded too.
  assert 0 <= meta['max_abs_diff_to_tf'][meta['files'][quantization]] <= BOUNDS[quantization]


def test_batch1_and_multiview_tflite_files_keep_the_names(run, reference):
  """The web export's batch-1 files and a multi-view run's per-view files (the generator with
  one view's h2 built in) carry the same signature: z → images."""
  from ai_edge_litert import interpreter as litert_api  # pylint: disable=g-import-not-at-top
  from export import common  # pylint: disable=g-import-not-at-top
  from export import tflite  # pylint: disable=g-import-not-at-top
  from models import generator as generator_nets  # pylint: disable=g-import-not-at-top
  from models import multiview as multiview_nets  # pylint: disable=g-import-not-at-top
  z, want = reference
  names = {'serving_default': {'inputs': ['z'], 'outputs': ['images']}}
  _, nets, _ = common.load_run(run)
  multiview = multiview_nets.with_view(
      generator_nets.generator_28((28, 28, 1), 16 + 2, (8, 4)), [0.5, -1.0])
  for generator, batch, quantization, bound in [(nets['generator'], 1, 'int8', 0.75),
                                                (multiview, 0, 'float32', 1e-5)]:
    interp = litert_api.Interpreter(
        model_content=tflite.convert(generator, quantization, batch=batch))
    assert interp.get_signature_list() == names
    runner = interp.get_signature_runner('serving_default')
    rows = 1 if batch else 8
    got = runner(z=z[:rows])['images']
    expect = want[:rows] if generator is nets['generator'] else generator(z[:rows]).numpy()
    assert got.shape == expect.shape and np.abs(got - expect).max() <= bound
    assert got.std() > 0


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
def test_api_loads_each_format_and_draws_the_runs_images(run, exported, reference):
  """twonets.load of an export: the export's seeded latents (export/latents.py), and the same
  images as the run's generator for the same z; encode is refused with the fix."""
  import twonets  # pylint: disable=g-import-not-at-top
  from core.errors import ConfigError  # pylint: disable=g-import-not-at-top
  from export import latents  # pylint: disable=g-import-not-at-top
  z, want = reference
  for path, kind in ((exported['saved_model'], 'saved_model'),
                     (os.path.join(exported['tflite'], 'generator_float32.tflite'), 'tflite')):
    m = twonets.load(path)
    assert (m.kind, m.algo, m.latent_dim, m.image_shape) == (kind, 'triangle', 16, (28, 28, 1))
    np.testing.assert_array_equal(m.latents(3, 9), latents.latents(9, 3, 16))
    np.testing.assert_allclose(m.generate(z[:8]), want[:8], atol=1e-4)
    with pytest.raises(ConfigError, match='holds the generator only'):
      m.encode(np.zeros((1, 28, 28, 1), np.uint8))


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


# ------------------------------------------------------------------ what the export prints


def test_export_prints_a_line_per_file_and_logs_the_chatter(exported):
  """One line per file or folder written (path, size, difference to TF) and one naming the
  log; Keras's "Saved artifact" blocks (Python) and the TFLite converter's C++ lines (written
  to file descriptor 2 by libtensorflow_cc) are in export.log."""
  r = exported['result']
  lines = r.stdout.splitlines()
  assert r.stderr == '' and len(lines) == 1 + 4 + 3 + 1, r.stdout  # SavedModel, TFLite, Keras
  written = [line.split()[1] for line in lines[:-1]]
  assert written[0] == exported['saved_model'] and 'SavedModel' in lines[0]
  assert written[1:5] == [os.path.join(exported['tflite'], f'generator_{q}.tflite')
                          for q in BOUNDS]
  assert written[5:] == [os.path.join(exported['keras'], f'{n}.keras')
                         for n in ('descriptor', 'encoder', 'generator')]
  for line, path in zip(lines, written):
    size = f'{common_size(path) / 1e6:.2f} MB;'
    assert (f'(SavedModel, {size}' if os.path.isdir(path) else f'({size}') in line, line
    assert 'max |diff| to TF' in line, line
  assert lines[-1] == f'Keras and converter messages: {exported["log"]}'
  with open(exported['log']) as f:
    log = f.read().split('\n=== ')[0]  # this export's part (later tests' exports append)
  assert log.startswith('=== ') and log.splitlines()[0].endswith(
      '--formats=saved_model,tflite,keras: triangle version 1 ===')
  assert log.count("Saved artifact at '") == 4  # one per TFLite conversion
  assert 'fully_quantize: 0, inference_type: 6' in log  # C++, the int8 conversion
  assert 'Saved artifact' not in r.stdout + r.stderr


def common_size(path):
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(path)
             for f in names) if os.path.isdir(path) else os.path.getsize(path)


def test_a_fresh_process_prints_two_lines(run, tmp_path):
  """The terminal of a real process: nothing but the lines on stdout, nothing on stderr (the
  converter's C++ output redirected at the file-descriptor level)."""
  r = helpers.run_tool('export', f'--workdir={run}', '--formats=tflite', '--quantize=int8',
                       f'--export_dir={tmp_path}')
  assert r.returncode == 0, r.stderr[-2000:]
  log = os.path.join(tmp_path, 'export.log')
  lines = r.stdout.splitlines()
  assert r.stderr == '' and len(lines) == 2, r.stdout + r.stderr
  assert lines[0].startswith(f'wrote {tmp_path}/tflite/triangle/1/generator_int8.tflite (0.')
  assert lines[0].endswith(' on 16 latents)') and 'max |diff| to TF' in lines[0]
  assert lines[1] == f'Keras and converter messages: {log}'
  with open(log) as f:
    text = f.read()
  assert 'fully_quantize: 0' in text and "Saved artifact at '" in text
  assert 'INFO: Created TensorFlow Lite XNNPACK delegate' in text  # LiteRT's C++, first use


# ------------------------------------------------------------------ TF Serving


def test_warmup_requests_run_through_every_signature(exported, loaded):
  """assets.extra/tf_serving_warmup_requests, read as TF Serving reads it: a TFRecord of
  PredictionLogs, each request's inputs (tf.make_ndarray) run through its signature."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  path = os.path.join(exported['saved_model'], 'assets.extra', 'tf_serving_warmup_requests')
  logs = [prediction_log_pb2.PredictionLog.FromString(record.numpy())
          for record in tf.data.TFRecordDataset(path)]
  requests = [log.predict_log.request for log in logs]
  names = [q.model_spec.signature_name for q in requests]
  assert sorted(names) == sorted(loaded.signatures.keys()) == [
      'encode', 'energy', 'reconstruct', 'sample', 'serving_default']
  assert {q.model_spec.name for q in requests} == {'triangle'}
  image = (2, 28, 28, 1)
  shapes = {'serving_default': {'images': image, 'images_uint8': image},
            'sample': {'z': (2, 16), 'images': image, 'images_uint8': image},
            'encode': {'mean': (2, 16), 'logvar': (2, 16)},
            'reconstruct': {'images': image, 'images_uint8': image},
            'energy': {'score': (2,), 'energy': (2,)}}
  for request in requests:
    fn = loaded.signatures[request.model_spec.signature_name]
    inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    out = fn(**inputs)
    assert {k: tuple(v.shape) for k, v in out.items()} == shapes[
        request.model_spec.signature_name], request.model_spec.signature_name
    assert all(np.all(np.isfinite(v.numpy())) for v in out.values())
  with open(os.path.join(exported['saved_model'], 'metadata.json')) as f:
    assert json.load(f)['warmup_requests']['signatures'] == names


def readme_section(title, page='docs/export.md'):
  """The text of the section headed `title` in a Markdown page of the repository (the
  export's documentation by default), up to the next heading of the same or a higher level
  outside code blocks."""
  with open(os.path.join(helpers.ROOT, page)) as f:
    lines = f.read().split('\n')
  level, fenced, out = 0, False, []
  for line in lines:
    if line.lstrip().startswith('```'):
      fenced = not fenced
    hashes = len(line) - len(line.lstrip('#'))
    heading = not fenced and 0 < hashes <= 6 and line[hashes:hashes + 1] == ' '
    if heading and level and hashes <= level:
      break
    if heading and not level and line[hashes + 1:] == title:
      level = hashes
    if level:
      out.append(line)
  assert level, f'no section {title!r} in {page}'
  return '\n'.join(out)


def test_rest_and_grpc_requests_as_the_readme_shows(loaded, reference):
  """The README's REST bodies (its `...` filled to d numbers), parsed as TF Serving's REST API
  parses them (JSON numbers as the signature's dtypes; `instances` rows stacked, `inputs`
  columns), and its gRPC PredictRequest (tf.make_tensor_proto, serialised and parsed back),
  fed to the signatures; the dtypes the README names are the signatures' and the others fail
  as it says."""
  import re  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  z, _ = reference
  section = readme_section('Serve with TF Serving')
  bodies = [json.loads(b.replace(', ...]', ''.join(f', {v!r}' for v in z[0, 2:].tolist()) + ']'))
            for b in re.findall(r"curl -d '([^']+)'", section)]
  assert [b['signature_name'] for b in bodies] == ['serving_default', 'sample']

  def rest(body):  # TF Serving's REST API: a dict of named inputs, dtypes from the signature
    fn = loaded.signatures[body['signature_name']]
    specs = fn.structured_input_signature[1]
    if 'instances' in body:
      cols = {k: np.array([row[k] for row in body['instances']], specs[k].dtype.as_numpy_dtype)
              for k in body['instances'][0]}
    else:
      cols = {k: np.array(v, specs[k].dtype.as_numpy_dtype) for k, v in body['inputs'].items()}
    return fn(**{k: tf.constant(v) for k, v in cols.items()})

  first = rest(bodies[0])
  z0 = np.array([bodies[0]['instances'][0]['z']], np.float32)
  assert z0.shape == (1, 16) and first['images'].shape == (1, 28, 28, 1)
  direct = loaded.signatures['serving_default'](z=tf.constant(z0))['images'].numpy()
  np.testing.assert_array_equal(first['images'].numpy(), direct)
  sample = rest(bodies[1])
  assert sample['images'].shape == (4, 28, 28, 1) and sample['z'].shape == (4, 16)
  # gRPC, as the README's client builds it.
  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'triangle'
  request.model_spec.signature_name = 'sample'
  request.inputs['n'].CopyFrom(tf.make_tensor_proto(4, tf.int32))
  request.inputs['seed'].CopyFrom(tf.make_tensor_proto(7, tf.int64))
  parsed = predict_pb2.PredictRequest.FromString(request.SerializeToString())
  out = loaded.signatures['sample'](**{k: tf.constant(tf.make_ndarray(v))
                                       for k, v in parsed.inputs.items()})
  np.testing.assert_array_equal(out['images'].numpy(), sample['images'].numpy())
  # The dtypes: what the README says a client must send, and what happens otherwise.
  specs = {name: {k: v.dtype.name for k, v in fn.structured_input_signature[1].items()}
           for name, fn in loaded.signatures.items()}
  assert specs['serving_default'] == {'z': 'float32'}
  assert specs['sample'] == {'n': 'int32', 'seed': 'int64'}
  assert '`z` DT_FLOAT (float32)' in section and '`seed` DT_INT64' in section
  assert tf.make_tensor_proto(z.astype(np.float64)).dtype == tf.float64.as_datatype_enum
  assert tf.make_tensor_proto(7).dtype == tf.int32.as_datatype_enum
  for signature, inputs, message in [
      ('serving_default', {'z': tf.make_tensor_proto(z.astype(np.float64))},
       'expected to be a float tensor but is a double tensor'),
      ('sample', {'n': tf.make_tensor_proto(4), 'seed': tf.make_tensor_proto(7)},
       'expected to be a int64 tensor but is a int32 tensor')]:
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
      loaded.signatures[signature](**{k: tf.constant(tf.make_ndarray(v))
                                      for k, v in inputs.items()})
    assert message in section


# ------------------------------------------------------------------ .keras


KERAS_SCRIPT = r'''
import sys
site, folder, inputs, out = sys.argv[1:]
sys.path.append(site)  # the venv's packages, without their .pth hooks (python -S)
try:
  import trainers
  sys.exit('the project is importable')
except ImportError:
  pass
import json, os, numpy as np, keras
meta = json.load(open(os.path.join(folder, 'metadata.json')))
x = np.load(inputs)
got = {}
for role, name in meta['files'].items():
  model = keras.saving.load_model(os.path.join(folder, name))
  y = model(x['z'] if role == 'generator' else x['images'])
  for i, t in enumerate(y if isinstance(y, (list, tuple)) else [y]):
    got[f'{role}{i}'] = np.asarray(t)
np.savez(out, **got)
'''


def test_keras_files_load_in_bare_keras_and_equal_the_saved_model(exported, loaded, reference,
                                                                  tmp_path):
  """A fresh process with no project on its path (python -S: not even the editable install's
  .pth hook; cwd /tmp, no PYTHONPATH) loads each .keras file with keras.saving.load_model;
  each net's output equals the SavedModel's signature for the same input."""
  import sysconfig  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  z, _ = reference
  with open(os.path.join(exported['keras'], 'metadata.json')) as f:
    meta = json.load(f)
  assert meta['files'] == {'descriptor': 'descriptor.keras', 'encoder': 'encoder.keras',
                           'generator': 'generator.keras'} and meta['left_out'] == {}
  serve = loaded.signatures['serving_default'](z=tf.constant(z[:8]))['images'].numpy()
  images = serve[:4]
  np.savez(tmp_path / 'x.npz', z=z[:8], images=images)
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  r = subprocess.run([sys.executable, '-S', '-c', KERAS_SCRIPT,
                      sysconfig.get_paths()['purelib'], exported['keras'],
                      str(tmp_path / 'x.npz'), str(tmp_path / 'out.npz')],
                     cwd='/tmp', capture_output=True, text=True, timeout=300,
                     env=dict(env, TF_CPP_MIN_LOG_LEVEL='2'))
  assert r.returncode == 0, r.stderr[-2000:]
  got = np.load(tmp_path / 'out.npz')
  enc = loaded.signatures['encode'](images=tf.constant(images))
  energy = loaded.signatures['energy'](images=tf.constant(images))
  assert np.abs(got['generator0'] - serve).max() <= 1e-5
  assert np.abs(got['encoder0'] - enc['mean'].numpy()).max() <= 1e-5
  assert np.abs(got['encoder1'] - enc['logvar'].numpy()).max() <= 1e-5
  np.testing.assert_allclose(got['descriptor0'], energy['score'].numpy(), rtol=1e-5, atol=1e-5)


def test_keras_leaves_out_what_bare_keras_cannot_load(deformable_run, tmp_path):
  """The deformable generator (a Lambda calling models/deformable.warp): one line, nothing
  written. A multi-view run: one generator file per view in built-in layers, each equal to
  the generator with that view's h2; the views table (custom layer ViewTable) left out."""
  import keras  # pylint: disable=g-import-not-at-top
  from types import SimpleNamespace  # pylint: disable=g-import-not-at-top
  from export import saved_model  # pylint: disable=g-import-not-at-top
  from models import generator as generator_nets  # pylint: disable=g-import-not-at-top
  from models import multiview as multiview_nets  # pylint: disable=g-import-not-at-top
  r = helpers.tool('export', f'--workdir={deformable_run}', '--formats=saved_model,keras',
                   f'--export_dir={tmp_path / "out"}')
  helpers.one_line_error(r, 'no net of this deformable run loads in bare Keras (generator: '
                            'a Lambda layer that is not Keras ops')
  assert not [d for d, _, files in os.walk(tmp_path / 'out') for f in files
              if f != 'export.log' and not f.startswith('.')]
  nets = {'generator': generator_nets.generator_28((28, 28, 1), 6 + 2, (8, 4)),
          'views': multiview_nets.view_table(num_views=3, view_dim=2)}
  cfg = SimpleNamespace(data=SimpleNamespace(views=('front', 'left', 'right')))
  models, left_out = saved_model.keras_models(cfg, nets)
  assert sorted(models) == ['generator.keras', 'generator_left.keras', 'generator_right.keras']
  assert list(left_out) == ['views'] and 'ViewTable (models.multiview)' in left_out['views']
  h2 = multiview_nets.table_of(nets['views'])
  z = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
  for v, name in enumerate(['generator.keras', 'generator_left.keras', 'generator_right.keras']):
    model, reference = models[name]
    assert saved_model._not_bare_keras(model) == ''  # pylint: disable=protected-access
    model.save(tmp_path / name)
    back = keras.saving.load_model(tmp_path / name)
    want = nets['generator'](np.concatenate([z, np.tile(h2[v], (4, 1))], 1)).numpy()
    np.testing.assert_allclose(back(z).numpy(), want, atol=1e-6)
    np.testing.assert_allclose(reference(z).numpy(), want, atol=1e-6)
