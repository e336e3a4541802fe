"""What a run writes to TensorBoard, grouped so that the dashboard tells the run's story.

Each metric a training step returns is logged under `GROUP/name` (`tag`): `loss/`, `energy/`
(the descriptor's scores and energies of data and of samples), `grad_norm/`, `langevin/`,
`recon/`, `latent/`, `samples/`, `accuracy/`; the loop adds `optim/` (each optimizer's
learning rate, the rollback count and scales, every log step) and `eval/` (the quick Fréchet
distance every sample_every steps, and the final scores of metrics.json). metrics.jsonl keeps
the plain names. `energy_layout` puts the data and sample sides of each energy on one chart
(TensorBoard's Custom Scalars tab: one tag per chart in the Scalars tab cannot overlay two
series without inventing a second run), and `config` writes the config as text and as
hparams, so `tensorboard --logdir runs` compares runs in the HParams tab.
"""
import json
import os
import re

import tensorflow as tf

# name pattern → group; the first that matches wins. A name no pattern knows goes to other/.
_PATTERNS = (
    (r'langevin_(?P<name>.+)', 'langevin'),
    (r'(f|energy)_(data|samples|gen|revisions)(_\d+)?', 'energy'),
    (r'grad_norm', 'grad_norm'),
    (r'grad_norm_(?P<name>.+)', 'grad_norm'),
    (r'(recon|recon_mae|recovery_mae|revision_mae|mean_image_mse_\d+)', 'recon'),
    (r'(loss|loss_.+|ml_loss|cross_entropy|kl|latent_nll|energy_penalty|r1)', 'loss'),
    (r'(latent_norm|view_latent_norm)', 'latent'),
    (r'samples_(?P<name>.+)', 'samples'),
    (r'train_accuracy', 'accuracy'),
)
# Short names where the suffix is a net's initial (grad_norm_d → grad_norm/descriptor).
_NETS = {'d': 'descriptor', 'g': 'generator', 'e': 'encoder'}
# The sides of an energy that share a chart: data against what the model draws.
_SIDES = re.compile(r'(?<=_)(data|samples|gen|revisions)(?=_|$)')


def tag(key: str) -> str:
  """The TensorBoard tag of metric `key`: GROUP/name."""
  for pattern, group in _PATTERNS:
    m = re.fullmatch(pattern, key)
    if m:
      name = m.groupdict().get('name') or key
      if group == 'grad_norm':
        name = _NETS.get(name, name) if name != key else 'total'
      return f'{group}/{name}'
  return f'other/{key}'


def energy_layout(keys) -> list:
  """[(chart title, [tags])]: each energy's data and sample sides (f_data with f_samples,
  f_gen or f_revisions; energy_data with energy_samples; per grid for the multi-grid run)."""
  charts = {}
  for key in keys:
    t = tag(key)
    if t.startswith('energy/') and _SIDES.search(key):
      charts.setdefault(_SIDES.sub('*', key), []).append(t)
  return [(f'{title}: data vs samples', sorted(tags)) for title, tags in sorted(charts.items())
          if len(tags) > 1]


def write_layout(keys):
  """The Custom Scalars layout of energy_layout(keys) (once per session, at the first row)."""
  from tensorboard.plugins.custom_scalar import layout_pb2  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.custom_scalar import summary as cs  # pylint: disable=g-import-not-at-top
  charts = [layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(
      tag=[f'^{re.escape(t)}$' for t in tags])) for title, tags in energy_layout(keys)]
  if charts:
    layout = layout_pb2.Layout(category=[layout_pb2.Category(title='energy', chart=charts)])
    tf.summary.experimental.write_raw_pb(cs.pb(layout).SerializeToString(), step=0)


def flat(d: dict, prefix: str = '') -> dict:
  """{'section.key': value} of a nested dict, lists and None as text (hparams take bool, int,
  float and str)."""
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flat(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v if isinstance(v, (bool, int, float, str)) else json.dumps(v)
  return out


def write_config(cfg_dict: dict, workdir: str, step: int):
  """The config as text (config/json) and as hparams (the HParams tab), at `step`."""
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  text = json.dumps(cfg_dict, indent=2, sort_keys=True)
  # Indented four spaces: Markdown code, as TensorBoard's text tab renders it.
  tf.summary.text('config/json', '\n'.join('    ' + line for line in text.splitlines()),
                  step=step)
  hp.hparams(flat(cfg_dict), trial_id=os.path.basename(os.path.abspath(workdir)))


def write_eval(final: dict, step: int):
  """The final evaluation's scalar scores under eval/ (metrics.json keeps them too)."""
  for k, v in final.items():
    if k in ('steps', 'wall_seconds', 'steps_per_second'):
      continue
    if isinstance(v, (int, float)) and not isinstance(v, bool):
      tf.summary.scalar(f'eval/{k}', v, step=step)
