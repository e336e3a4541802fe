"""Workdirs made by older code resume and restore: committed fixtures (tests/fixtures/old_runs,
config.json + checkpoints of --smoke runs) written by the code at the commit in each name.

- triangle_1adb744: before the weight average, R1, rollbacks and exact resume (its
  config.json lacks optim.ema_decay, r1_penalty, train.deterministic, energy_bound, ...; its
  checkpoint lacks the generator_ema and recovery slots).
- conditional_e13ccb2: a conditional descriptor from when it was `--algo=descriptor
  --conditional` (algo "descriptor", model.conditional true).
- multigrid_e13ccb2: multi-grid descriptors from before the clamped masks were drawn on the
  host (no `rng` slot).
Each is copied, pointed at a small labelled npz (the fixtures were made on Fashion-MNIST,
which CI need not have), resumed for two more steps through tools/train, and restored.
"""
import json
import os
import shutil

import pytest
import tensorflow as tf

from tests import helpers
from trainers import run as run_lib
from trainers import registry

FIXTURES = os.path.join(os.path.dirname(os.path.realpath(__file__)), 'fixtures', 'old_runs')


def copy_run(name, tmp_path, digits):
  wd = tmp_path / name
  shutil.copytree(os.path.join(FIXTURES, name), wd)
  path = wd / 'config.json'
  cfg = json.load(open(path))
  cfg['data']['dataset'] = f'npz:{digits}'
  path.write_text(json.dumps(cfg, indent=2))
  return str(wd), cfg


def test_an_old_config_loads_with_the_new_keys_filled_from_the_defaults(tmp_path, digits):
  wd, raw = copy_run('triangle_1adb744', tmp_path, digits)
  assert 'ema_decay' not in raw['optim'] and 'deterministic' not in raw['train']
  cfg = registry.stored_config(wd)
  defaults = registry.defaults('triangle', cfg.data.dataset)
  assert cfg.optim.ema_decay == defaults.optim.ema_decay > 0
  assert cfg.optim.r1_penalty == defaults.optim.r1_penalty
  assert cfg.optim.r1_every == 1 != defaults.optim.r1_every  # R1 on every step, as it was
  assert cfg.train.deterministic is False and cfg.train.energy_bound == defaults.train.energy_bound
  assert cfg.model.latent_dim == raw['model']['latent_dim'] == 8  # its own values stay


@pytest.mark.parametrize('name, algo', [('triangle_1adb744', 'triangle'),
                                        ('conditional_e13ccb2', 'conditional'),
                                        ('multigrid_e13ccb2', 'multigrid')])
def test_an_old_run_resumes_and_restores(tmp_path, digits, name, algo):
  wd, raw = copy_run(name, tmp_path, digits)
  done = raw['train']['steps']
  assert registry.stored_config(wd).algo == algo
  if algo == 'conditional':  # not yet resumed: K (0 in its config) is counted from the labels
    assert set(run_lib.restore(wd)[1]) == {'descriptor'}
  r = helpers.tool('train', f'--workdir={wd}', f'--steps={done + 2}')
  assert r.returncode == 0, r.stderr[-3000:]
  out = r.stdout + r.stderr
  assert f'ckpt-{done} at step {done}' in out, r.stdout[-2000:]
  final = json.load(open(os.path.join(wd, 'metrics.json')))
  assert final['steps'] == done + 2
  stored = json.load(open(os.path.join(wd, 'config.json')))
  assert stored['algo'] == algo and 'conditional' not in stored['model']
  if algo == 'conditional':  # made when K was counted from the labels at every start: the
    # resumed run stores it, so that a restore builds the net without the data
    assert raw['model']['num_classes'] == 0 and stored['model']['num_classes'] == 10
  cfg, built = run_lib.restore(wd)
  assert set(built) == set(registry.get(algo).roles) and cfg.algo == algo
  if algo == 'triangle':  # made before the generator's weight average: it starts from the
    # restored generator, and the new checkpoint holds it
    assert 'predates the generator_ema slot' in out, out[-2000:]
    names = [n for n, _ in tf.train.list_variables(
        tf.train.latest_checkpoint(os.path.join(wd, 'checkpoints')))]
    assert any(n.startswith('generator_ema/') for n in names)
