"""The layering, read from the imports themselves (function-local ones included): no import
cycles among the project's modules, and no room importing a room above it."""
import ast
import os

import pytest

# Under Bazel this file is a symlink into the checkout: realpath finds the real tree.
ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
PACKAGES = ('core', 'models', 'evaluation', 'trainers', 'tasks', 'export', 'tools', 'configs',
            'bench')
MODULES = ('twonets',)  # top-level modules: twonets.py, the notebook API
# What each room may import, besides itself (DESIGN: core knows no algorithm; models know no
# training; evaluation knows no trainer; the trainers hold the algorithms and know no
# evaluation task; library code never reaches into a CLI module).
MAY_IMPORT = {
    'core': set(),
    'models': {'core'},
    'evaluation': {'core', 'models'},
    'configs': {'core'},
    'trainers': {'core', 'models', 'evaluation', 'configs'},
    'tasks': {'core', 'models', 'evaluation', 'configs', 'trainers'},
    'export': {'core', 'models', 'trainers'},
    'bench': {'core', 'models', 'evaluation', 'trainers', 'tasks', 'export'},
    'tools': {'core', 'models', 'evaluation', 'trainers', 'tasks', 'export', 'configs', 'tools'},
    'twonets': {'core', 'models', 'evaluation', 'trainers', 'tasks', 'export', 'configs'},
}


def module_name(root, path):
  rel = os.path.relpath(path, root)[:-3].replace(os.sep, '.')
  return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def imports_of(path, name, known):
  """The project modules `path` (module `name`) imports, anywhere in its body."""
  tree = ast.parse(open(path).read(), path)
  out = set()
  package = name if path.endswith('__init__.py') else name.rpartition('.')[0]
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:  # relative: from the module's package
        parts = package.split('.')[:len(package.split('.')) - node.level + 1]
        base = '.'.join(p for p in parts + [base] if p)
      # `from pkg import mod` imports pkg.mod when that is a module, else pkg.
      targets = [f'{base}.{a.name}' if f'{base}.{a.name}' in known else base
                 for a in node.names]
    else:
      continue
    for t in targets:
      while t and t not in known:  # a.b.c → the nearest project module above it
        t = t.rpartition('.')[0]
      if t and t != name:
        out.add(t)
  return out


def import_graph(root, packages=PACKAGES):
  files = {}
  for pkg in packages:
    for dirpath, dirs, names in os.walk(os.path.join(root, pkg)):
      dirs[:] = [d for d in dirs if d != '__pycache__']
      for f in names:
        if f.endswith('.py'):
          path = os.path.join(dirpath, f)
          files[module_name(root, path)] = path
  for name in MODULES:
    if os.path.isfile(os.path.join(root, f'{name}.py')):
      files[name] = os.path.join(root, f'{name}.py')
  known = set(files)
  return {name: imports_of(path, name, known) for name, path in files.items()}


def find_cycle(graph):
  """One import cycle as a list of modules [a, b, ..., a], or None."""
  state, stack = {}, []

  def visit(node):
    state[node] = 'open'
    stack.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == 'open':
        return stack[stack.index(nxt):] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    stack.pop()
    state[node] = 'done'
    return None

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return None


def upward_imports(graph):
  bad = []
  for name, deps in graph.items():
    room = name.split('.')[0]
    for dep in deps:
      dep_room = dep.split('.')[0]
      if dep_room != room and dep_room not in MAY_IMPORT.get(room, set()):
        bad.append(f'{name} imports {dep}')
  return sorted(bad)


@pytest.fixture(scope='module')
def graph():
  assert os.path.isfile(os.path.join(ROOT, 'core', 'data.py')), f'{ROOT} is not the checkout'
  return import_graph(ROOT)


def test_no_import_cycles(graph):
  assert graph['trainers.triangle'] >= {'trainers.nets', 'trainers.losses'}  # the walk sees
  assert graph['twonets'] >= {'trainers.run', 'export.common'}  # ... and the top-level API
  assert find_cycle(graph) is None, ' → '.join(find_cycle(graph))


def test_no_room_imports_a_room_above_it(graph):
  assert upward_imports(graph) == []


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path):
  for pkg, body in (('core', {'a.py': 'from core import b\n',
                              'b.py': 'def f():\n  from core import a\n'}),
                    ('models', {'m.py': 'import trainers.t\n'}),
                    ('trainers', {'t.py': 'from . import u\n', 'u.py': ''})):
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / '__init__.py').write_text('')
    for f, text in body.items():
      (tmp_path / pkg / f).write_text(text)
  g = import_graph(str(tmp_path), ('core', 'models', 'trainers'))
  assert find_cycle(g) in (['core.a', 'core.b', 'core.a'], ['core.b', 'core.a', 'core.b'])
  assert upward_imports(g) == ['models.m imports trainers.t']
  assert g['trainers.t'] == {'trainers.u'}
