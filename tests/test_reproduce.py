"""docs/RESULTS.md is generated from docs/results/*.json, never typed."""
import json

from evaluation import results


def test_render_builds_tables_from_the_records(tmp_path):
  (tmp_path / 'docs' / 'results').mkdir(parents=True)
  records = [
      {'table': 'reconstruction', 'method': m, 'setting': f'd={d}', 'metric': 'recon_mae',
       'value': v, 'command': f'tools/train d={d}', 'seconds': 12.0}
      for m, d, v in (('abp', 10, 0.061234), ('pca', 10, 0.0912), ('abp', 20, 0.05),
                      ('pca', 20, 0.07))]
  (tmp_path / 'docs' / 'results' / 'generator.json').write_text(json.dumps(records))
  results.render(str(tmp_path / 'docs' / 'results'), str(tmp_path / 'docs' / 'RESULTS.md'))
  text = (tmp_path / 'docs' / 'RESULTS.md').read_text()
  assert '## generator: reconstruction (recon_mae)' in text
  assert '| method | d=10 | d=20 |' in text
  assert '| abp | 0.0612 | 0.0500 |' in text and '| pca | 0.0912 | 0.0700 |' in text
  assert '- d=10, 12 s: `tools/train d=10`' in text
  assert 'Lowest recon_mae: abp at d=10, d=20.' in text


def test_render_names_the_rows_each_command_made(tmp_path):
  (tmp_path / 'docs' / 'results').mkdir(parents=True)
  records = [
      {'table': 'sample quality (fd)', 'method': m, 'setting': 'Fashion-MNIST', 'metric': 'fd',
       'value': v, 'command': c, 'seconds': t}
      for m, v, c, t in (('triangle', 60.0, 'train tri', 700.0), ('VAE', 61.0, 'train tri', 700.0),
                         ('CoopNets descriptor', 50.0, 'train coop', 600.0))]
  (tmp_path / 'docs' / 'results' / 'coop.json').write_text(json.dumps(records))
  results.render(str(tmp_path / 'docs' / 'results'), str(tmp_path / 'docs' / 'RESULTS.md'))
  text = (tmp_path / 'docs' / 'RESULTS.md').read_text()
  assert '- triangle, VAE (Fashion-MNIST), 700 s: `train tri`' in text
  assert '- CoopNets descriptor (Fashion-MNIST), 600 s: `train coop`' in text
  assert 'Lowest fd: CoopNets descriptor at Fashion-MNIST.' in text


def test_adder_writes_the_record_layout():
  records = []
  results.adder(records)('t', 'm', 's', 'fd', 3, 'cmd', 1.5, classifier='abc')
  assert records == [{'table': 't', 'method': 'm', 'setting': 's', 'metric': 'fd', 'value': 3.0,
                      'command': 'cmd', 'seconds': 1.5, 'classifier': 'abc'}]
  assert isinstance(records[0]['value'], float)


def test_every_table_is_a_module_of_tools_reproduction_with_a_table_function():
  """tools/reproduce.py keeps the flags; --table=NAME runs tools/reproduction/NAME.table()."""
  import ast  # pylint: disable=g-import-not-at-top
  import importlib  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from tests import helpers  # pylint: disable=g-import-not-at-top
  tree = ast.parse(open(os.path.join(helpers.ROOT, 'tools', 'reproduce.py')).read())
  (tables,) = [ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
               and getattr(n.targets[0], 'id', '') == 'TABLES']
  modules = {f[:-3] for f in os.listdir(os.path.join(helpers.ROOT, 'tools', 'reproduction'))
             if f.endswith('.py') and f not in ('__init__.py', 'runner.py')}
  assert modules == set(tables)
  for name in tables:
    assert callable(importlib.import_module(f'tools.reproduction.{name}').table), name
  from tools.reproduction import runner  # pylint: disable=g-import-not-at-top
  assert runner.command_line(['tools.train', '--steps=3'], core=1) == (
      'TF_NUM_INTRAOP_THREADS=1 taskset -c 1 tools/train --steps=3')
