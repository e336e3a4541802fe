"""The exported generator in a real app runtime: the LiteRT.js page (apps/web) in headless
Chromium, its output tensor against ai_edge_litert on the same .tflite and z, with no
request leaving 127.0.0.1; the seeded latents; the bundled model; tools/export --formats=web.

The browser tests skip (with the reason) where Chromium, ChromeDriver or the npm-installed
runtime is missing: .ci/run installs chromium and chromium-driver, `make test` runs npm ci.
"""
import contextlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse

import numpy as np
import pytest
from scipy import stats

from core.errors import ConfigError
from bench import browser
from export import common
from export import latents
from export import litert
from export import web
from tests import helpers

TOLERANCE = 2 / 255  # of the [0, 1] range: the same file in two LiteRT runtimes
QUANTIZATIONS = ('float32', 'float16', 'dynamic', 'int8')
# The schemes that go over a network (the others are the browser's own pages, data: and
# blob: URLs).
NETWORK_SCHEMES = {'http', 'https', 'ws', 'wss', 'ftp'}


def test_seeded_latents_are_standard_normal_and_reproducible():
  u = latents.uniforms(123, 200_000)
  assert 0 <= u.min() and u.max() < 1
  assert abs(u.mean() - 0.5) < 3e-3 and abs(u.var() - 1 / 12) < 1e-3
  z = latents.latents(7, 2_000, 50)
  assert z.shape == (2_000, 50) and z.dtype == np.float32
  assert stats.kstest(z.ravel(), 'norm').pvalue > 1e-3
  # Image i's latent does not depend on how many images are drawn; another seed differs.
  np.testing.assert_array_equal(latents.latents(7, 3, 50), z[:3])
  assert np.abs(latents.latents(8, 3, 50) - z[:3]).mean() > 0.5
  # An odd count drops the last sine: the first 3 of 4 entries.
  np.testing.assert_array_equal(latents.latents(5, 1, 3)[0], latents.latents(5, 1, 4)[0, :3])
  with pytest.raises(ValueError, match='32-bit'):
    latents.latents(-1, 1, 2)


def test_mulberry32_first_draws():
  # mulberry32's defining recurrence, evaluated by hand for seed 0 (first state 0x6D2B79F5).
  a = 0x6D2B79F5
  t = ((a ^ (a >> 15)) * (a | 1)) % 2**32
  t = t ^ ((t + (t ^ (t >> 7)) * (t | 61)) % 2**32)
  assert latents.uniforms(0, 1)[0] == ((t ^ (t >> 14)) % 2**32) / 2**32
  r = np.sqrt(-2 * np.log(1 - latents.uniforms(0, 2)[0]))
  assert latents.latents(0, 1, 1)[0, 0] == np.float32(r * np.cos(2 * np.pi * latents.uniforms(0, 2)[1]))


def test_python_and_javascript_latents_agree(tmp_path):
  """apps/web/latents.js under Node.js against export/latents.py, bit for bit in float32."""
  node = shutil.which('node')
  if not node:
    pytest.skip('node is not installed (the browser tests compare the two as well)')
  script = tmp_path / 'latents.mjs'
  script.write_text(f"import {{latents}} from {json.dumps(os.path.join(web.APP, 'latents.js'))};\n"
                    "const out = {};\n"
                    "for (const s of [0, 1, 42, 2147483648, 4294967295]) "
                    "out[s] = Array.from(latents(s, 3, 7));\n"
                    "console.log(JSON.stringify(out));\n")
  out = json.loads(subprocess.run([node, str(script)], capture_output=True, text=True,
                                  check=True, timeout=60).stdout)
  for seed, values in out.items():
    np.testing.assert_array_equal(np.float32(values), latents.latents(int(seed), 3, 7).ravel())


def test_fixed_batch_model_runs_any_batch_padding_the_last_chunk(tmp_path):
  import keras  # pylint: disable=g-import-not-at-top
  from export import tflite  # pylint: disable=g-import-not-at-top
  z_in = keras.Input((4,), name='z')
  x = keras.layers.Dense(12, activation='tanh')(z_in)
  generator = keras.Model(z_in, keras.layers.Reshape((2, 2, 3))(x))
  (tmp_path / 'g.tflite').write_bytes(tflite.convert(generator, 'float32', batch=2))
  interp = litert.interpreter(str(tmp_path / 'g.tflite'))
  assert litert.fixed_batch(interp) == 2
  z = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)  # 2 + 2 + 1
  np.testing.assert_allclose(litert.run(interp, z), generator(z).numpy(), atol=1e-5)


def test_web_app_needs_its_runtime(tmp_path):
  for f in web.PAGE:
    (tmp_path / f).write_text('')
  with pytest.raises(ConfigError, match='make web'):
    web.app_dir(str(tmp_path))


@pytest.fixture(scope='module')
def chromium():
  try:
    browser.find_browser()
  except browser.BrowserMissing as e:
    pytest.skip(f'no browser to test in: {e}')
  try:
    web.app_dir()
  except ConfigError as e:
    pytest.skip(str(e))


@pytest.fixture(scope='module')
def deformable(deformable_run, tmp_path_factory):
  """The session's deformable run (its latent has two parts) and its web and tflite exports,
  by tools/export."""
  try:
    web.app_dir()
  except ConfigError as e:
    pytest.skip(str(e))
  exports = tmp_path_factory.mktemp('exports')
  # Every quantisation for the web; the tflite format (dynamic batch) as version 2 beside it
  # (exports share one version numbering), two quantisations of it are all the tests read.
  for formats in (['--formats=web'], ['--formats=tflite', '--quantize=float32,int8']):
    r = helpers.tool('export', f'--workdir={deformable_run}', *formats,
                     f'--export_dir={exports}')
    assert r.returncode == 0, r.stderr[-2000:]
  return {'run': deformable_run, 'exports': str(exports),
          'web': str(exports / 'web' / 'deformable' / '1'),
          'tflite': str(exports / 'tflite' / 'deformable' / '2')}


def test_web_export_layout(deformable):
  folder = deformable['web']
  for f in web.PAGE + web.RUNTIME:
    assert os.path.isfile(os.path.join(folder, f)), f
  with open(os.path.join(folder, 'model', 'metadata.json')) as f:
    meta = json.load(f)
  assert meta['batch'] == 1 and meta['latent_dim'] == 16
  assert meta['latent_parts'] == {'appearance': [0, 12], 'geometry': [12, 16]}
  for q in QUANTIZATIONS:
    interp = litert.interpreter(os.path.join(folder, 'model', meta['files'][q]))
    assert litert.fixed_batch(interp) == 1
  # The tflite format keeps its dynamic batch.
  assert litert.fixed_batch(litert.interpreter(
      os.path.join(deformable['tflite'], 'generator_float32.tflite'))) == 0
  # Readers of exports (tools/sample --model) find the first file of a web export's version
  # folder, of its model/ folder and of its NAME folder (the newest version).
  first = os.path.join(folder, 'model', 'generator_float32.tflite')
  for path in (folder, os.path.join(folder, 'model'), os.path.dirname(folder)):
    assert common.find_export(path) == ('tflite', first)


def test_bundle_checks_the_model_and_keeps_the_old_one(deformable, tmp_path):
  dest = tmp_path / 'model'
  web.bundle(os.path.dirname(deformable['web']), 'the test', 'abc123', str(dest), log=print)
  with open(dest / 'metadata.json') as f:
    meta = json.load(f)
  assert meta['made_by']['command'] == 'the test' and meta['made_by']['commit'] == 'abc123'
  assert sorted(os.listdir(dest)) == sorted(['metadata.json'] + list(meta['files'].values()))
  # The run's scores, when its metrics.json is beside the checkpoint, come along with the
  # scoring classifier's hash (the page shows both).
  scored = tmp_path / 'scored'
  shutil.copytree(deformable['web'], scored)
  (tmp_path / 'run').mkdir()
  (tmp_path / 'run' / 'metrics.json').write_text(json.dumps(
      {'fd': 12.5, 'kid': 0.5, 'classifier_sha256': 'abcd1234', 'steps': 40}))
  with open(scored / 'model' / 'metadata.json', 'w') as f:
    json.dump(dict(meta, checkpoint=str(tmp_path / 'run' / 'checkpoints' / 'ckpt-40')), f)
  scored_dest = tmp_path / 'scored_model'
  web.bundle(str(scored), 'the test', 'abc123', str(scored_dest), log=print)
  with open(scored_dest / 'metadata.json') as f:
    assert json.load(f)['made_by']['metrics'] == {'fd': 12.5, 'kid': 0.5,
                                                  'classifier_sha256': 'abcd1234'}
  before = {n: (dest / n).read_bytes() for n in os.listdir(dest)}
  # A garbled metadata.json, a listed file that is missing, a dynamic-batch model: one line
  # naming the problem, and the bundled model as it was.
  bad = tmp_path / 'bad'
  shutil.copytree(deformable['web'], bad)
  (bad / 'model' / 'metadata.json').write_text('{"files": ')
  with pytest.raises(ConfigError, match='cannot be read'):
    web.bundle(str(bad), 'x', 'y', str(dest))
  shutil.copy(os.path.join(deformable['web'], 'model', 'metadata.json'), bad / 'model')
  os.remove(bad / 'model' / 'generator_int8.tflite')
  with pytest.raises(ConfigError, match='generator_int8.tflite, which is missing'):
    web.bundle(str(bad), 'x', 'y', str(dest))
  shutil.copy(os.path.join(deformable['tflite'], 'generator_int8.tflite'), bad / 'model')
  with pytest.raises(ConfigError, match='batch of 1'):
    web.bundle(str(bad), 'x', 'y', str(dest))
  assert {n: (dest / n).read_bytes() for n in os.listdir(dest)} == before
  r = helpers.tool('bundle_model', f'--export={tmp_path / "nothing"}', '--command=x',
                   '--commit=y', f'--dest={dest}')
  helpers.one_line_error(r, 'not a web export')


def test_bundle_refuses_file_names_that_leave_the_folder(deformable, tmp_path):
  """metadata.json's `files` names are plain .tflite names in model/: `../`, an absolute
  path, another suffix or a link out of the folder is refused (exit 2, one line naming the
  entry and the fix) before anything is read or written, and the bundled model stays."""
  dest = tmp_path / 'a' / 'b' / 'c' / 'model'
  web.bundle(deformable['web'], 'the test', 'abc123', str(dest), log=lambda *_: None)
  before = {n: (dest / n).read_bytes() for n in os.listdir(dest)}
  good = os.path.join(deformable['web'], 'model')
  with open(os.path.join(good, 'metadata.json')) as f:
    meta = json.load(f)
  # A real batch-1 model with shell text appended (LiteRT still loads it), as reported.
  payload = tmp_path / 'payload.tflite'
  with open(os.path.join(good, meta['files']['float16']), 'rb') as f:
    payload.write_bytes(f.read() + b'\n#!/bin/sh\necho pwned\n')
  bad = tmp_path / 'export'
  # `../../x/escape.tflite` read from export/model/ is tmp_path/x/escape.tflite; written into
  # the new folder beside dest (a/b/c/model.tmp-PID) it would land in a/b/x/escape.tflite.
  (tmp_path / 'x').mkdir()
  shutil.copy(payload, tmp_path / 'x' / 'escape.tflite')
  (tmp_path / 'a' / 'b' / 'x').mkdir()
  escaped = tmp_path / 'a' / 'b' / 'x' / 'escape.tflite'
  absolute = tmp_path / 'abs' / 'evil.tflite'
  absolute.parent.mkdir()
  shutil.copy(payload, absolute)
  outside = tmp_path / 'outside.tflite'
  shutil.copy(payload, outside)
  cases = [
      ({'files': {'float16': '../../x/escape.tflite'}}, 'files.float16'),
      ({'files': {'float16': str(absolute)}}, 'files.float16'),
      ({'files': {'float16': 'x.sh'}}, 'files.float16'),
      ({'files': {'float16': 'generator_float16.tflite'},
        'view_files': {'front': {'float16': '../../x/escape.tflite'}}},
       'view_files.front.float16'),
      ({'files': {'float16': 'linked.tflite'}}, 'leads out of'),  # a link to outside.tflite
  ]
  for change, message in cases:
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(deformable['web'], bad)
    shutil.copy(payload, bad / 'model' / 'x.sh')
    os.symlink(outside, bad / 'model' / 'linked.tflite')
    with open(bad / 'model' / 'metadata.json', 'w') as f:
      json.dump(dict(meta, **change), f)
    r = helpers.tool('bundle_model', f'--export={bad}', '--command=x', '--commit=y',
                     f'--dest={dest}')
    helpers.one_line_error(r, message)
    assert 'tools/export --formats=web' in r.stderr, r.stderr
    assert not escaped.exists(), change
    assert absolute.read_bytes() == payload.read_bytes()
    assert {n: (dest / n).read_bytes() for n in os.listdir(dest)} == before, change
    assert sorted(os.listdir(dest.parent)) == ['model'], change  # no leftover folders


def test_fixed_batch_file_runs_any_batch_under_litert(deformable):
  z = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
  fixed = litert.run(litert.interpreter(
      os.path.join(deformable['web'], 'model', 'generator_float32.tflite')), z)
  dynamic = litert.run(litert.interpreter(
      os.path.join(deformable['tflite'], 'generator_float32.tflite')), z)
  assert fixed.shape == (5, 28, 28, 1)
  np.testing.assert_allclose(fixed, dynamic, atol=1e-5)


def _assert_only_loopback(page, origin):
  urls = page.requests()
  assert any(u.startswith(origin) and u.endswith('.wasm') for u in urls), urls
  assert any(u.startswith(origin) and u.endswith('.tflite') for u in urls), urls
  remote = [u for u in urls if urllib.parse.urlsplit(u).scheme in NETWORK_SCHEMES
            and not u.startswith(origin)]
  assert not remote, f'requests left 127.0.0.1: {remote}'


@pytest.mark.slow
def test_page_output_matches_litert_for_every_variant(chromium, deformable, tmp_path):
  """Slow: the browser matrix (every quantisation in the page against ai_edge_litert, the
  sliders, a screenshot). test_bundled_model_in_the_page_and_in_tools_sample keeps the page
  against LiteRT, and its network, in the fast tier."""
  folder = deformable['web']
  z = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
  # A web export served as its log line says: python3 -m http.server in its folder.
  with browser.python_http_server(folder) as url, browser.open_page(
      url + '?variant=int8&seed=5') as page:
    assert page.error() == ''
    assert page.info['latent_dim'] == 16 and page.info['image_shape'] == [28, 28, 1]
    assert page.info['file'] == 'generator_int8.tflite'  # ?variant= picks the first file
    assert page.driver.find_element('id', 'seed').get_attribute('value') == '5'
    for q in QUANTIZATIONS:
      info = page.select(q)
      assert info['file'] == f'generator_{q}.tflite'
      got = page.generate(z)
      want = litert.run(litert.interpreter(os.path.join(folder, 'model', info['file'])), z)
      assert got.shape == want.shape == (3, 28, 28, 1)
      assert np.isfinite(got).all()
      assert np.abs(got - want).max() / 2 <= TOLERANCE, q  # [-1, 1] → [0, 1] units
      assert got.std(0).mean() > 1e-3, q  # the images depend on z
    # The page's seeded latents are export/latents.py's.
    np.testing.assert_allclose(page.latents(42, 4), latents.latents(42, 4, 16), atol=1e-6)
    # Appearance and geometry move separately: the appearance slider at 1, geometry at 0.
    za, zb = latents.latents(3, 1, 16)[0], latents.latents(4, 1, 16)[0]
    mix = np.asarray(page.call('window.twonets.interpolate(3, 4, {appearance: 1})'))
    np.testing.assert_allclose(mix[:12], zb[:12], atol=1e-6)
    np.testing.assert_allclose(mix[12:], za[12:], atol=1e-6)
    half = np.asarray(page.call('window.twonets.interpolate(3, 4, {geometry: 0.5})'))
    np.testing.assert_allclose(half[12:], (za[12:] + zb[12:]) / 2, atol=1e-6)
    assert page.driver.find_element('css selector', '#sliders').text.split() == [
        'appearance', 'geometry']
    # Dragging the geometry slider to the end redraws the big image as g(z_A with z_B's
    # geometry): its canvas pixels against the output tensor for that z.
    page.driver.execute_script(
        "const s = document.querySelector('#sliders input[data-part=\"geometry\"]');"
        "s.value = 100; s.dispatchEvent(new Event('input'));")
    z_geometry = np.asarray(page.call('window.twonets.interpolate(0, 1, {geometry: 1})'))
    want = page.generate(z_geometry[None])[0, ..., 0]  # queued behind the slider's redraw
    pixels = np.asarray(page.call(
        "Array.from(document.getElementById('mix').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data)")).reshape(28, 28, 4)[..., 0]
    assert np.abs(pixels - np.round((np.clip(want, -1, 1) + 1) * 127.5)).max() <= 1
    z_start = latents.latents(0, 1, 16)
    assert np.abs(page.generate(z_start)[0, ..., 0] - want).max() > 0.05  # the slider mattered
    assert 'ms per image' in page.text('latency')
    shot = tmp_path / 'page.png'
    page.screenshot(str(shot))
    _assert_only_loopback(page, url)
  from skimage import io  # pylint: disable=g-import-not-at-top
  image = io.imread(shot)
  assert image.shape[0] > 400 and image.shape[1] > 800 and image.std() > 10


def test_bundled_model_in_the_page_and_in_tools_sample(chromium, tmp_path):
  with open(os.path.join(web.BUNDLED, 'metadata.json')) as f:
    meta = json.load(f)
  size = sum(os.path.getsize(os.path.join(web.BUNDLED, n)) for n in os.listdir(web.BUNDLED))
  assert size <= 2e6
  assert meta['algorithm'] == 'triangle' and meta['made_by']['commit']
  d = meta['latent_dim']
  z = latents.latents(9, 4, d)
  # Served as the README says: `cd apps/web && python3 -m http.server` (no extra headers).
  with browser.python_http_server(web.APP) as url, browser.open_page(url) as page:
    got = page.generate(z)
    _assert_only_loopback(page, url)
    # With no ?model=, the page loads the bundled model.
    assert url + 'model/' + meta['files']['float16'] in page.requests()
  want = litert.run(litert.interpreter(os.path.join(web.BUNDLED, page.info['file'])), z)
  assert np.abs(got - want).max() / 2 <= TOLERANCE
  assert got.std(0).mean() > 0.1  # a trained generator: the images vary with z
  # tools/sample with no --workdir or --model samples the bundled model, seeded as the page.
  out = tmp_path / 'bundled.png'
  r = helpers.tool('sample', f'--out={out}', '--rows=1', '--seed=9', '--scale=1')
  assert r.returncode == 0, r.stderr[-2000:]
  from skimage import io  # pylint: disable=g-import-not-at-top
  grid = io.imread(out).astype(np.float32)
  grid = grid[..., 0] if grid.ndim == 3 else grid
  h, w = want.shape[1:3]  # the grid's first image is the page's first: z = latents(9)[0]
  first = np.round((np.clip(want[0, ..., 0], -1, 1) + 1) * 127.5)
  assert np.abs(grid[:h, :w] - first).max() <= 1


# The page's controls, each against LiteRT in Python on the latents the page says it drew:
# one page (the bundled model) for all of them, the walk paused except in its own test.
GRID = 8


def _uint8(images):
  """Model output in [-1, 1] as the page draws it: round((x + 1) · 127.5)."""
  return np.round((np.clip(images, -1, 1) + 1) * 127.5)


def _tiled(images, cols):
  n, h, w = images.shape[:3]
  return images[..., 0].reshape(n // cols, cols, h, w).transpose(0, 2, 1, 3).reshape(
      n // cols * h, cols * w)


def _sample_latent(sample, d):
  """A sample {seed, index} of the page: image `index` of that seed's grid."""
  return latents.latents(sample['seed'], sample['index'] + 1, d)[sample['index']]


def _slerp(a, b, t):
  a, b = np.float64(a), np.float64(b)
  omega = np.arccos(np.clip(a @ b / np.sqrt((a @ a) * (b @ b)), -1, 1))
  return np.float32((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega))


@pytest.fixture(scope='module')
def app(chromium):
  """The bundled model's page (walk paused) and LiteRT on the same file: (page, run), run(z)
  giving the page's pixels, uint8 [n, H, W, 1]."""
  with browser.serve(web.APP) as url, browser.open_page(url + '?seed=3&walk=0') as page:
    interp = litert.interpreter(os.path.join(web.BUNDLED, page.info['file']))
    yield page, lambda z: _uint8(litert.run(interp, np.asarray(z, np.float32).reshape(
        -1, page.info['latent_dim'])))


def _enter():
  """The Enter key for WebElement.send_keys (Selenium is imported only where a browser is)."""
  from selenium.webdriver.common.keys import Keys  # pylint: disable=g-import-not-at-top
  return Keys.ENTER


def _assert_pixels(canvas, want):
  """A canvas (RGBA) against the pixels LiteRT gives: gray, opaque, within the two runtimes'
  float16 difference (2/255 of the range, ≤ 3 levels with rounding)."""
  assert canvas.shape[:2] == want.shape, (canvas.shape, want.shape)
  assert (canvas[..., 3] == 255).all()
  assert np.abs(canvas[..., 0].astype(float) - want).max() <= 3


def test_sample_button_and_seed_box_draw_the_seed_shown(app):
  page, run = app
  d = page.info['latent_dim']
  _assert_pixels(page.canvas('grid'), _tiled(run(latents.latents(3, 64, d)), GRID))  # ?seed=3
  before = page.canvas('grid')
  seeds = []
  for _ in range(2):
    page.click('sample')
    page.idle()
    seed = int(page.driver.find_element('id', 'seed').get_attribute('value'))
    assert page.state()['seed'] == seed
    seeds.append(seed)
    grid = page.canvas('grid')
    _assert_pixels(grid, _tiled(run(latents.latents(seed, 64, d)), GRID))
    assert np.abs(grid.astype(float) - before).mean() > 5  # a new grid, not a redraw
    before = grid
  assert len({3, *seeds}) == 3
  page.type_into('seed', '12345' + _enter())
  page.idle()
  assert page.state()['seed'] == 12345
  _assert_pixels(page.canvas('grid'), _tiled(run(latents.latents(12345, 64, d)), GRID))
  page.click('next')
  page.idle()
  assert page.driver.find_element('id', 'seed').get_attribute('value') == '12346'
  _assert_pixels(page.canvas('grid'), _tiled(run(latents.latents(12346, 64, d)), GRID))


def test_clicking_samples_sets_the_endpoints_and_the_explorer(app):
  page, run = app
  d = page.info['latent_dim']
  page.type_into('seed', '77' + _enter())
  page.idle()
  page.click_cell('grid', 10, GRID, GRID)
  page.click_cell('grid', 45, GRID, GRID)
  page.click_cell('grid', 3, GRID, GRID)  # the third click sets A again
  page.idle()
  state = page.state()
  assert state['ends'] == {'a': {'seed': 77, 'index': 3}, 'b': {'seed': 77, 'index': 45}}
  assert state['next_end'] == 'b' and state['pick'] == {'seed': 77, 'index': 3}
  assert page.text('index-a') == '#3' and page.text('index-b') == '#45'
  assert 'next' in page.driver.find_element('id', 'end-b').get_attribute('class')
  # The markers sit over cells 3 (A) and 45 (B) of the grid.
  box = page.driver.find_element('id', 'grid').rect
  for end, index in (('a', 3), ('b', 45)):
    marker = page.driver.find_element('css selector', f'.marker.{end}')
    assert marker.is_displayed()
    row, col = divmod(index, GRID)
    assert abs(marker.rect['x'] - box['x'] - col * box['width'] / GRID) <= 2
    assert abs(marker.rect['y'] - box['y'] - row * box['height'] / GRID) <= 2
  za, zb = _sample_latent(state['ends']['a'], d), _sample_latent(state['ends']['b'], d)
  strip = page.canvas('.strip')
  _assert_pixels(strip, _tiled(run(np.stack([za + s / 7 * (zb - za) for s in range(8)])), 8))
  page.set_range('#sliders input', 30)
  page.idle()
  _assert_pixels(page.canvas('mix'), run(0.7 * za + 0.3 * zb)[0, ..., 0])
  # The explorer starts from the clicked sample; axis 3 at 1.5 draws g(z + 1.5·e_3).
  _assert_pixels(page.canvas('image'), run(za)[0, ..., 0])
  page.set_range('#explore input[data-axis="2"]', 1.5)
  page.idle()
  assert page.state()['explore'] == [0, 0, 1.5, 0, 0]
  moved = za.copy()
  moved[2] += 1.5
  image = page.canvas('image')
  _assert_pixels(image, run(moved)[0, ..., 0])
  assert np.abs(image[..., 0].astype(float) - run(za)[0, ..., 0]).mean() > 1  # it moved
  name, png = page.download('download-image')
  assert name == 'twonets-seed77-3.png' and png.shape[:2] == (28, 28)
  np.testing.assert_array_equal(png[..., 0], image[..., 0])
  name, png = page.download('download-grid')
  assert name == 'twonets-seed77.png' and png.shape[:2] == (28 * GRID, 28 * GRID)
  np.testing.assert_array_equal(png[..., 0], page.canvas('grid')[..., 0])


def test_walk_plays_and_pauses(app):
  page, run = app
  d = page.info['latent_dim']
  assert not page.state()['walk']['playing']  # ?walk=0
  page.click('play')
  start = page.state()['walk']['frame']
  first = page.canvas('walk')
  time.sleep(1.0)
  assert page.state()['walk']['frame'] >= start + 3  # ~10 fps
  assert np.abs(page.canvas('walk').astype(float) - first).mean() > 0.1
  page.click('play')  # pause
  page.idle()
  walk = page.state()['walk']
  assert not walk['playing'] and page.text('play') == 'play'
  frame = page.canvas('walk')
  j, k = divmod(walk['frame'], walk['frames_per_step'])
  z = _slerp(latents.latents((walk['seed'] + j) % 2**32, 1, d)[0],
             latents.latents((walk['seed'] + j + 1) % 2**32, 1, d)[0], k / walk['frames_per_step'])
  _assert_pixels(frame, run(z)[0, ..., 0])
  time.sleep(0.5)
  assert page.state()['walk']['frame'] == walk['frame']
  np.testing.assert_array_equal(page.canvas('walk'), frame)


def test_page_describes_its_model_fits_narrow_screens_and_logs_no_errors(app):
  page, _ = app
  with open(os.path.join(web.BUNDLED, 'metadata.json')) as f:
    meta = json.load(f)
  metrics = meta['made_by']['metrics']
  about = page.text('about')
  assert f'FD {metrics["fd"]:.2f}' in about and metrics['classifier_sha256'] in about
  assert meta['made_by']['command'] in about and meta['made_by']['commit'] in about
  assert 'Fashion-MNIST' in page.text('title') and 'R^' not in page.text('title')
  width = page.driver.get_window_size()
  try:
    page.driver.set_window_size(360, 800)
    inner, scroll = page.driver.execute_script(
        'return [window.innerWidth, document.documentElement.scrollWidth]')
    assert inner <= 360 and scroll <= inner, (inner, scroll)
  finally:
    page.driver.set_window_size(width['width'], width['height'])
  entries = page.console()
  assert not [e for e in entries if e['level'] == 'SEVERE'], entries
  assert not [e for e in entries if 'GPU adapter' in e['message']], entries


def test_page_refuses_a_dynamic_batch_file_and_unknown_variants(chromium, deformable):
  """A plain TFLite export (dynamic batch), or a file the folder does not have, is named as
  the problem, with the fix."""
  with browser.serve(deformable['exports']) as url:
    with pytest.raises(RuntimeError, match='fixed batch of 1.*formats=web'):
      with browser.open_page(url + 'web/deformable/1/index.html?model=../../../tflite/'
                             'deformable/2/'):
        pass
    with pytest.raises(RuntimeError, match=r'no int4 file .*files: float32, float16'):
      with browser.open_page(url + 'web/deformable/1/index.html?variant=int4'):
        pass


@contextlib.contextmanager
def _recording_server():
  """Another origin: an HTTP server on 127.0.0.1 and a free port that records every request
  line it receives (and answers 404, readable from any origin); yields (url, lines)."""
  lines = []

  class Handler(http.server.BaseHTTPRequestHandler):

    def parse_request(self):
      ok = super().parse_request()
      lines.append(self.requestline)
      return ok

    def do_GET(self):  # pylint: disable=invalid-name
      self.send_response(404)
      self.send_header('Access-Control-Allow-Origin', '*')
      self.end_headers()

    do_OPTIONS = do_HEAD = do_GET  # pylint: disable=invalid-name

    def log_message(self, *args):  # pylint: disable=arguments-differ
      pass

  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  try:
    yield f'http://127.0.0.1:{server.server_address[1]}/', lines
  finally:
    server.shutdown()
    server.server_close()


def test_page_loads_models_only_from_its_own_origin(chromium):
  """?model= on another origin (another port of 127.0.0.1 here; a host name, data:,
  javascript:) is refused with the page's one-line error naming that origin, before any
  request goes there; the page's own folder still loads."""
  with browser.serve(web.APP) as url, _recording_server() as (other, lines), \
      browser.open_page(url) as page:  # the bundled model, from the page's own origin
    assert page.error() == ''
    other_origin = other.rstrip('/')  # http://127.0.0.1:PORT
    for value, named in [(other + 'm/', other_origin),
                         (other[len('http:'):] + 'm/', other_origin),  # //127.0.0.1:PORT/m/
                         ('https://evil.example/m/', 'https://evil.example'),
                         ('data:application/json,{}', 'data:'),
                         ('javascript:alert(1)//', 'javascript:')]:
      page.driver.get(url + '?model=' + urllib.parse.quote(value, safe=''))
      with pytest.raises(RuntimeError, match='not this page') as e:
        page.wait_ready(timeout=60)
      assert named in str(e.value), value
      assert named in page.error() and page.error() == page.text('status'), value
      assert url.rstrip('/') in page.error()  # and the page's own origin
    assert lines == [], f'requests reached {other}: {lines}'
    hosts = {urllib.parse.urlsplit(u).netloc for u in page.requests()}
    assert not hosts & {urllib.parse.urlsplit(other).netloc, 'evil.example'}, hosts


def test_export_web_bad_input(tmp_path):
  r = helpers.tool('export', f'--workdir={tmp_path}', '--formats=web', '--quantize=int4')
  helpers.one_line_error(r, 'unknown quantisation int4')
  r = helpers.tool('sample', '--seed=-1')
  helpers.one_line_error(r, '0..4294967295')
