"""core/summaries.py: every metric a trainer logs lands in a TensorBoard group, and each
energy's data and sample sides share a chart. (The event files of a real run are read in
tests/test_triangle.py's final-evaluation test.)"""
import json
import os

import pytest

from core import summaries

# The metrics of the trainers without a session run here (their steps' dicts).
OTHERS = {
    'coopnets': ['loss_d', 'loss_g', 'energy_penalty', 'f_data', 'f_revisions', 'revision_mae',
                 'grad_norm_d', 'grad_norm_g', 'langevin_energy_start', 'langevin_energy_end'],
    'multigrid': ['loss_7', 'f_data_7', 'f_samples_7', 'mean_image_mse_7', 'loss_28',
                  'f_data_28', 'f_samples_28', 'mean_image_mse_28', 'loss', 'grad_norm'],
    'conditional': ['loss', 'ml_loss', 'cross_entropy', 'train_accuracy', 'f_data', 'f_samples',
                    'energy_data', 'energy_samples', 'grad_norm', 'langevin_grad_norm'],
    'multiview': ['loss', 'recon_mae', 'grad_norm', 'latent_norm', 'view_latent_norm'],
    'latent_ebm': ['loss_prior', 'recon', 'recon_mae', 'f_data', 'f_samples', 'latent_norm',
                   'grad_norm_prior', 'grad_norm_g', 'langevin_prior_energy_end',
                   'langevin_posterior_energy_start', 'langevin_posterior_energy_end'],
    'dual_mcmc': ['grad_norm_d', 'grad_norm_g', 'grad_norm_e', 'loss_d', 'energy_penalty',
                  'loss_g', 'recon', 'loss_g_samples', 'loss_e', 'latent_nll', 'recon_mae',
                  'f_data', 'f_samples', 'revision_mae', 'langevin_latent_shift',
                  'langevin_energy_start', 'langevin_energy_end',
                  'langevin_posterior_energy_start', 'langevin_posterior_energy_end'],
}


def logged_keys(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return sorted({k for line in f for k in json.loads(line)} - {'step', 'time'})


def test_every_trainers_metrics_land_in_a_group(triangle_run, generator_run, descriptor_run):
  runs = {'triangle': triangle_run, 'generator': generator_run, 'descriptor': descriptor_run}
  keys = {algo: logged_keys(wd) for algo, wd in runs.items()} | OTHERS
  for algo, names in keys.items():
    tags = [summaries.tag(k) for k in names]
    assert len(set(tags)) == len(tags), algo  # no two metrics share a tag
    assert not [t for t in tags if t.startswith('other/')], (algo, tags)
  assert summaries.tag('f_gen') == 'energy/f_gen'
  assert summaries.tag('grad_norm_e') == 'grad_norm/encoder'
  assert summaries.tag('grad_norm') == 'grad_norm/total'
  assert summaries.tag('langevin_grad_norm') == 'langevin/grad_norm'
  assert summaries.tag('energy_penalty') == 'loss/energy_penalty'
  assert summaries.tag('something_new') == 'other/something_new'


@pytest.mark.parametrize('keys,charts', [
    (OTHERS['conditional'], [('energy_*: data vs samples',
                              ['energy/energy_data', 'energy/energy_samples']),
                             ('f_*: data vs samples', ['energy/f_data', 'energy/f_samples'])]),
    (OTHERS['multigrid'], [('f_*_28: data vs samples', ['energy/f_data_28', 'energy/f_samples_28']),
                           ('f_*_7: data vs samples', ['energy/f_data_7', 'energy/f_samples_7'])]),
    (OTHERS['coopnets'], [('f_*: data vs samples', ['energy/f_data', 'energy/f_revisions'])]),
    (OTHERS['multiview'], []),
    (OTHERS['latent_ebm'], [('f_*: data vs samples', ['energy/f_data', 'energy/f_samples'])]),
])
def test_data_and_samples_share_a_chart(keys, charts):
  assert summaries.energy_layout(keys) == charts


def test_flat_config_for_hparams():
  assert summaries.flat({'a': {'b': 1, 'c': [1, 2], 'd': None}, 'e': 'x', 'f': True}) == {
      'a.b': 1, 'a.c': '[1, 2]', 'a.d': 'null', 'e': 'x', 'f': True}
