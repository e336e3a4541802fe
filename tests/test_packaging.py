"""The wheel (`pip install .`): every package, the web page and the bundled model as package
data (export/web_app), the LICENSE, and the tools as console scripts (twonets-train, ...)
that run from an installed copy, away from the checkout.

The fast tests read pyproject.toml and the checkout; the slow one builds the wheel, installs
it into a scratch venv and runs its commands there."""
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile

import numpy as np
import pytest

from core.errors import ConfigError
from export import web
from tools import cli

# Under Bazel this file is a symlink into the checkout: realpath finds the real tree.
ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
SCRIPTS = {'twonets-train': 'train', 'twonets-launch': 'launch',
           'twonets-evaluate': 'evaluate', 'twonets-sample': 'sample',
           'twonets-export': 'export', 'twonets-bundle-model': 'bundle_model'}
APP_PACKAGE = 'export.web_app'  # apps/web, shipped inside `export` (pyproject.toml)
NOT_SHIPPED = ('tests', 'bench', 'third_party', 'bazel', 'docs', 'apps', 'build')


def pyproject():
  with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
    return tomllib.load(f)


def source_packages():
  """The dotted names of the checkout's Python packages (folders with an __init__.py) that
  ship: all but the tests."""
  found = []
  for top in sorted(os.listdir(ROOT)):
    if top.startswith('.') or top.startswith('bazel-') or top in NOT_SHIPPED:
      continue
    for dirpath, dirs, names in os.walk(os.path.join(ROOT, top)):
      dirs[:] = [d for d in dirs if d != '__pycache__']
      if '__init__.py' in names:
        found.append(os.path.relpath(dirpath, ROOT).replace(os.sep, '.'))
  return found


def app_files():
  """The files of apps/web the wheel ships, relative to it: the page, package.json and its
  lock, and the bundled model (metadata.json and the .tflite files it lists)."""
  with open(os.path.join(web.BUNDLED, 'metadata.json')) as f:
    model = web.model_files(json.load(f))
  return ([*web.PAGE, 'package.json', 'package-lock.json', f'{web.MODEL_DIR}/metadata.json']
          + [f'{web.MODEL_DIR}/{n}' for n in model])


def test_the_console_scripts_run_the_tools():
  scripts = pyproject()['project']['scripts']
  assert scripts == {name: f'tools.cli:{tool}' for name, tool in SCRIPTS.items()}
  for tool in SCRIPTS.values():
    assert callable(getattr(cli, tool)), tool
    assert os.path.isfile(os.path.join(ROOT, 'tools', f'{tool}.py')), tool


def test_every_package_and_the_web_app_are_listed():
  setuptools = pyproject()['tool']['setuptools']
  listed = set(setuptools['packages'])
  missing = sorted(set(source_packages()) - listed)
  assert not missing, f'add them to [tool.setuptools] packages in pyproject.toml: {missing}'
  assert setuptools['package-dir'] == {APP_PACKAGE: 'apps/web'}
  data = setuptools['package-data']
  for rel in app_files():  # each matched by a package-data pattern of its folder's package
    folder, name = os.path.split(rel)
    package = '.'.join([APP_PACKAGE, *filter(None, folder.split('/'))])
    assert package in listed, package
    assert any(fnmatch.fnmatch(name, p) for p in data.get(package, ())), rel
  assert pyproject()['project']['license'] == 'Apache-2.0'
  with open(os.path.join(ROOT, 'LICENSE')) as f:
    assert 'Apache License' in f.read(200)


def test_a_checkout_uses_apps_web():
  assert not web.INSTALLED
  assert web.APP == os.path.join(ROOT, 'apps', 'web')
  assert web.BUNDLED == os.path.join(ROOT, 'apps', 'web', 'model')
  assert not os.path.exists(web.SHIPPED)  # only a wheel has export/web_app


def test_an_installed_app_without_its_runtime_says_npm_ci(tmp_path, monkeypatch):
  for f in web.PAGE:
    (tmp_path / f).write_text('')
  monkeypatch.setattr(web, 'SHIPPED', str(tmp_path))
  with pytest.raises(ConfigError, match=r'the wheel does not ship it: run `npm ci` in ') as e:
    web.app_dir(str(tmp_path))
  assert '\n' not in str(e.value)


def build_wheel(out):
  """The wheel of a copy of the checkout (without .venv, node_modules, build/ and the other
  ignored folders, so no stale build output gets in), built as `pip install .` builds it:
  in an isolated environment with setuptools>=77 from pip's configured index."""
  src = out / 'src'
  shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
      '.git', '.venv', 'node_modules', 'build', 'runs', '*.egg-info', '__pycache__',
      'bazel-*', '.pytest_cache'))
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q', '-w',
                  str(out / 'dist'), str(src)], check=True, timeout=300, cwd=out)
  (wheel,) = (out / 'dist').glob('twonets-*.whl')
  return wheel


def scratch_venv(path, wheel):
  """A venv holding only the wheel, which finds the dependencies in this interpreter's
  site-packages through a .pth file (no reinstall). That folder's own .pth files (this
  checkout's editable install) are not run, so the checkout is not importable there."""
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(path)], check=True,
                 timeout=120)
  python = path / 'bin' / 'python'
  site = subprocess.run([str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()'
                         '["purelib"])'], check=True, capture_output=True, text=True).stdout
  deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ('purelib', 'platlib'))
  with open(os.path.join(site.strip(), 'twonets_test_deps.pth'), 'w') as f:
    f.write(''.join(f'{d}\n' for d in deps))
  subprocess.run([sys.executable, '-m', 'pip', '--python', str(python), 'install', '--no-deps',
                  '-q', str(wheel)], check=True, timeout=300)
  return python, site.strip()


@pytest.mark.slow
def test_the_wheel_installs_and_its_commands_run_away_from_the_checkout(tmp_path):
  """Slow: builds the wheel (pip, an isolated build environment), installs it into a scratch
  venv and starts five commands there, each a fresh TensorFlow or LiteRT process, one of them
  a 1-worker tools/launch job (40-50 s in all on 2 cores; the launch is about half)."""
  wheel = build_wheel(tmp_path)
  info = f'twonets-{pyproject()["project"]["version"]}.dist-info'
  with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    entry_points = z.read(f'{info}/entry_points.txt').decode()
    metadata = z.read(f'{info}/METADATA').decode()
  for package in source_packages():
    folder = os.path.join(ROOT, *package.split('.'))
    for f in os.listdir(folder):
      if f.endswith('.py'):
        assert f'{package.replace(".", "/")}/{f}' in names, f
  assert 'twonets.py' in names  # the notebook API, a top-level module
  for rel in app_files():
    assert f'export/web_app/{rel}' in names, rel
  for f in os.listdir(os.path.join(ROOT, 'evaluation', 'classifiers')):  # the pinned scorer
    assert f'evaluation/classifiers/{f}' in names, f
  assert not [n for n in names if 'node_modules' in n or n.startswith(('tests/', 'apps/'))]
  assert f'{info}/licenses/LICENSE' in names
  assert 'License-Expression: Apache-2.0' in metadata
  for name, tool in SCRIPTS.items():
    assert f'{name} = tools.cli:{tool}' in entry_points

  python, site = scratch_venv(tmp_path / 'venv', wheel)
  bin_dir = python.parent
  away = tmp_path / 'away'  # the commands' working folder, outside the checkout
  away.mkdir()
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'

  def run(*cmd, timeout=300):
    return subprocess.run([str(c) for c in cmd], cwd=away, env=env, capture_output=True,
                          text=True, timeout=timeout)

  # The packages (and so every command) come from the wheel, not from the checkout.
  r = run(python, '-c', 'import sys, tools.cli, export.web as w; '
          'print(tools.cli.__file__, w.APP, w.INSTALLED, *sys.path, sep="\\n")')
  assert r.returncode == 0, r.stderr
  cli_file, app, installed, *path = r.stdout.splitlines()
  assert cli_file == os.path.join(site, 'tools', 'cli.py')
  assert (app, installed) == (os.path.join(site, 'export', 'web_app'), 'True')
  assert not [p for p in path if os.path.realpath(os.path.join(away, p)) == ROOT], path

  # The bundled model, shipped in the wheel; its grid written where asked.
  r = run(bin_dir / 'twonets-sample', f'--out={away / "grid.png"}')
  assert r.returncode == 0, r.stderr
  assert (away / 'grid.png').stat().st_size > 1000
  assert f'from {site}/export/web_app/model/' in r.stdout, r.stdout

  r = run(bin_dir / 'twonets-train', '--help')
  assert r.returncode == 0, r.stderr
  assert 'Train one of the twonets algorithms' in r.stdout and '--algo' in r.stdout

  # --formats=web needs the LiteRT.js runtime, which the wheel does not ship: one line.
  shutil.copytree(os.path.join(ROOT, 'tests', 'fixtures', 'old_runs', 'triangle_1adb744'),
                  away / 'run')
  r = run(bin_dir / 'twonets-export', '--workdir=run', '--formats=web',
          f'--export_dir={away / "exports"}')
  assert r.returncode == 2, r.stderr
  line = r.stderr.strip()
  assert '\n' not in line, line
  assert re.fullmatch(r'error: the LiteRT\.js runtime is not installed .*; the wheel does not '
                      rf'ship it: run `npm ci` in {re.escape(site)}/export/web_app .*', line)

  # tools/launch starts its workers (python -m tools.train) from the installed copy.
  images = np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8)
  np.savez(away / 'tiny.npz', images=images, labels=np.arange(64) % 10)
  r = run(bin_dir / 'twonets-launch', '--workers=1', f'--logdir={away / "logs"}', '--',
          '--algo=generator', '--dataset=npz:tiny.npz', '--set', 'data.image_size=28',
          '--set', 'data.channels=1', '--workdir=mw', '--smoke', '--steps=1')
  assert r.returncode == 0, r.stderr[-3000:]
  assert os.path.isfile(away / 'mw' / 'metrics.json'), r.stderr[-3000:]
