"""Every Python file is named in a BUILD target, so `bazel test //...` cannot silently skip
code (the BUILD files list their srcs explicitly; there is no glob to hide behind)."""
import os

# Under Bazel this file is a symlink into the checkout: realpath finds the real tree.
ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
PACKAGES = ('core', 'models', 'evaluation', 'trainers', 'tasks', 'export', 'tests', 'tools',
            'configs', 'bench')


def uncovered(root, packages):
  """Python files under `packages` whose nearest BUILD file does not name them."""
  missing = []
  for pkg in packages:
    for dirpath, dirs, files in os.walk(os.path.join(root, pkg)):
      dirs[:] = [d for d in dirs if d != '__pycache__']
      for name in sorted(f for f in files if f.endswith('.py')):
        build = dirpath
        while not os.path.isfile(os.path.join(build, 'BUILD')) and build != root:
          build = os.path.dirname(build)
        build_file = os.path.join(build, 'BUILD')
        rel = os.path.relpath(os.path.join(dirpath, name), build)
        text = open(build_file).read() if os.path.isfile(build_file) else ''
        if f'"{rel}"' not in text:
          missing.append(os.path.relpath(os.path.join(dirpath, name), root))
  return missing


def test_every_python_file_is_in_a_build_target():
  assert os.path.isfile(os.path.join(ROOT, 'core', 'data.py')), f'{ROOT} is not the checkout'
  missing = uncovered(ROOT, PACKAGES)
  assert not missing, f'not in any BUILD target (add them to srcs): {missing}'


def test_top_level_modules_are_in_the_root_build_file():
  top = sorted(f for f in os.listdir(ROOT) if f.endswith('.py') and f != 'setup.py')
  assert 'twonets.py' in top
  text = open(os.path.join(ROOT, 'BUILD')).read()
  assert not [f for f in top if f'"{f}"' not in text]


def test_the_check_catches_a_forgotten_file(tmp_path):
  (tmp_path / 'pkg' / 'sub').mkdir(parents=True)
  (tmp_path / 'pkg' / 'a.py').write_text('')
  (tmp_path / 'pkg' / 'sub' / 'b.py').write_text('')
  (tmp_path / 'pkg' / 'BUILD').write_text('py_library(name = "a", srcs = ["a.py"])')
  assert uncovered(str(tmp_path), ['pkg']) == ['pkg/sub/b.py']
  (tmp_path / 'pkg' / 'BUILD').write_text('srcs = ["a.py", "sub/b.py"]')
  assert uncovered(str(tmp_path), ['pkg']) == []
