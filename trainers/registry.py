"""Every algorithm declared once: its trainer module, the nets its checkpoint holds, the
tools/evaluate tasks it offers and the config checks it adds to core.config.validate.

TensorFlow-free, so that `tools/train --help` and the flag checks run before it starts. The
lists other code used to keep (which runs have a generator, which nets an export restores,
which tasks tools/evaluate dispatches) are all read from here.
"""
import dataclasses
import importlib
import os

from core.errors import ConfigError

# The tasks every run with a generator offers (tasks/sampling.py).
SAMPLING = ('sample', 'score')


@dataclasses.dataclass(frozen=True)
class Algorithm:
  """One `--algo`.

  module:  its trainer, with `train(cfg, workdir, strategy=None, log=print) -> dict`.
  roles:   the nets its checkpoint holds, as trainers/nets.build names them.
  tasks:   tools/evaluate task → 'module:function' (called as function(run, **options)
           with the options its signature names, tasks.evaluate); the modules are in
           tasks/, above the trainers, and imported only when a task runs.
  samples: 'module:function' (cfg, {role: net}, n, seed) → {name: images in [-1, 1]}, for
           the sample and score tasks.
  check:   'module:function' (cfg) → None or ConfigError, run before TensorFlow starts.
  config:  the configs module of its defaults (`get_config(dataset, smoke)`).
  multiview: it trains on multi-view sources (identity × view grids, core/multiview.py),
           and only on them; the others train on image sources.
  """
  name: str
  module: str
  roles: tuple
  tasks: dict = dataclasses.field(default_factory=dict)
  samples: str = ''
  check: str = ''
  config: str = ''
  multiview: bool = False

  @property
  def has_generator(self) -> bool:
    return 'generator' in self.roles

  def trainer(self):
    return importlib.import_module(self.module)


def _sampling(samples='trainers.generator:sample_sets'):
  return {'sample': 'tasks.sampling:write_samples', 'score': 'tasks.sampling:score'}, samples


_GEN_TASKS, _GEN_SAMPLES = _sampling()
_COOP_TASKS, _COOP_SAMPLES = _sampling('trainers.coopnets:sample_sets')
_LEBM_TASKS, _LEBM_SAMPLES = _sampling('trainers.latent_ebm:sample_sets')
_DUAL_TASKS, _DUAL_SAMPLES = _sampling('trainers.dual_mcmc:sample_sets')
_ABP_TASKS = {'reconstruct': 'tasks.generator:reconstruct', 'recover': 'tasks.generator:recover',
              **_GEN_TASKS}
_JOINT_TASKS = {'reconstruct': 'tasks.triangle:reconstruct', **_GEN_TASKS}

ALGORITHMS = {a.name: a for a in (
    Algorithm('descriptor', 'trainers.descriptor', ('descriptor',)),
    Algorithm('conditional', 'trainers.conditional', ('descriptor',),
              check='configs.conditional:check'),
    Algorithm('generator', 'trainers.generator', ('generator',), _ABP_TASKS, _GEN_SAMPLES),
    Algorithm('deformable', 'trainers.generator', ('generator',), _ABP_TASKS, _GEN_SAMPLES),
    Algorithm('multigrid', 'trainers.multigrid', ('descriptors',),
              {'features': 'tasks.multigrid:evaluate_features',
               'inpaint': 'tasks.multigrid:evaluate_inpainting'},
              check='configs.multigrid:check'),
    Algorithm('coopnets', 'trainers.coopnets', ('generator', 'descriptor'),
              {'complete': 'tasks.coopnets:evaluate_completion', **_COOP_TASKS},
              _COOP_SAMPLES),
    Algorithm('triangle', 'trainers.triangle', ('generator', 'encoder', 'descriptor'),
              _JOINT_TASKS, _GEN_SAMPLES, check='configs.triangle:check'),
    # The triangle with the descriptor switched off (model.use_descriptor = False).
    Algorithm('vae', 'trainers.triangle', ('generator', 'encoder'), _JOINT_TASKS,
              _GEN_SAMPLES, check='configs.triangle:check'),
    # ABP's generator with a learned energy prior on z (Pang et al., NeurIPS 2020).
    Algorithm('latent_ebm', 'trainers.latent_ebm', ('generator', 'prior'),
              {'reconstruct': 'tasks.latent_ebm:reconstruct', **_LEBM_TASKS}, _LEBM_SAMPLES,
              check='configs.latent_ebm:check'),
    # The triangle's three nets taught by two chains (Cui & Han, NeurIPS 2023).
    Algorithm('dual_mcmc', 'trainers.dual_mcmc', ('generator', 'encoder', 'descriptor'),
              {**_JOINT_TASKS, **_DUAL_TASKS}, _DUAL_SAMPLES, check='configs.dual_mcmc:check'),
    # The shared representation X(i, v) = g(h1_i, h2_v): a generator and the view latents.
    Algorithm('multiview', 'trainers.multiview', ('generator', 'views'),
              {'rotate': 'tasks.multiview:rotate', 'sample': 'tasks.sampling:write_samples'},
              'trainers.multiview:sample_sets', check='configs.multiview:check',
              multiview=True),
)}
# Evaluation tasks that need no trained run.
STANDALONE_TASKS = ('train-classifier',)


def names():
  return sorted(ALGORITHMS)


def get(name: str) -> Algorithm:
  """The declaration of algorithm `name`; ConfigError lists the known names."""
  if name not in ALGORITHMS:
    raise ConfigError(f'unknown algorithm {name!r}; known: {", ".join(names())}')
  return ALGORITHMS[name]


def default_dataset(algo: str) -> str:
  """The source `tools/train --algo=ALGO` trains on when --dataset is not given."""
  return 'fashion_mnist_views' if get(algo).multiview else 'fashion_mnist'


def with_generator():
  """The algorithms whose runs hold a generator (sampled, scored and exported)."""
  return sorted(n for n, a in ALGORITHMS.items() if a.has_generator)


def all_tasks():
  """Every task tools/evaluate knows, in a stable order."""
  seen = dict.fromkeys(t for a in ALGORITHMS.values() for t in a.tasks)
  return tuple(seen) + STANDALONE_TASKS


def resolve(ref: str):
  """The function a 'module:function' reference names (imports the module)."""
  module, _, fn = ref.partition(':')
  return getattr(importlib.import_module(module), fn)


def task(algo: str, name: str, workdir: str = ''):
  """The function of task `name` for a run of `algo`; ConfigError names the tasks it has."""
  a = get(algo)
  if name not in a.tasks:
    where = f'{workdir} holds a {algo} run' if workdir else f'--algo={algo}'
    offered = ', '.join(a.tasks) or 'none'
    takers = ', '.join(n for n in names() if name in ALGORITHMS[n].tasks)
    raise ConfigError(f'--task={name} does not apply: {where}, whose tasks are {offered} '
                      f'(--task={name} needs a run of {takers})')
  return resolve(a.tasks[name])


def check(cfg):
  """core.config.validate, then the algorithm's own checks; returns cfg."""
  from core import config as config_lib  # pylint: disable=g-import-not-at-top
  config_lib.validate(cfg)
  a = get(cfg.algo)
  from core import data as data_lib  # pylint: disable=g-import-not-at-top
  if data_lib.is_multiview(cfg.data.dataset) and not a.multiview:
    takers = ', '.join(n for n in names() if ALGORITHMS[n].multiview)
    raise ConfigError(f'--dataset={cfg.data.dataset} is a multi-view source (an identity × '
                      f'view grid); --algo={cfg.algo} trains on images: use --algo={takers}, '
                      f'or an image source')
  if a.check:
    resolve(a.check)(cfg)
  return cfg


def defaults(algo: str, dataset: str, smoke: bool = False):
  """The default config of `algo` on `dataset` (configs/<algo>.py)."""
  import configs  # pylint: disable=g-import-not-at-top
  get(algo)
  return configs.get(algo, dataset, smoke)


def upgrade(cfg):
  """A stored config brought to the current layout, in place: a conditional descriptor run
  made while it was `--algo=descriptor` with model.conditional becomes `conditional`; a
  triangle or VAE run made before optim.r1_every keeps R1 on every step (1), not the new
  default."""
  if cfg.get('algo') == 'descriptor' and cfg.get('model', {}).get('conditional', False):
    cfg.algo = 'conditional'
  if cfg.get('algo') in ('descriptor', 'conditional') and 'conditional' in cfg.get('model', {}):
    del cfg.model['conditional']
  optim = cfg.get('optim')
  if cfg.get('algo') in ('triangle', 'vae') and optim is not None and 'r1_every' not in optim:
    optim['r1_every'] = 1  # made when R1 (if any) ran on every step: resumed, it still does
  return cfg


def stored_config(workdir: str):
  """The config of the trained run in `workdir` (None when it has no checkpoint), upgraded
  to the current layout, with every key added to the defaults since it was written filled
  from them (so no reader needs to hedge for old runs)."""
  from core import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  cfg = workdir_lib.stored_config(workdir)
  if cfg is None:
    return None
  return complete(cfg, os.path.join(workdir, workdir_lib.CONFIG))


def complete(cfg, where: str):
  """A stored config (core/config.load) upgraded (`upgrade`), filled with the keys added to
  the defaults since it was written, and checked against them (a known algorithm, every value
  of its default's kind): ConfigError naming `where` (its file) otherwise. In place."""
  from core import config as config_lib  # pylint: disable=g-import-not-at-top
  upgrade(cfg)
  if cfg.algo not in ALGORITHMS:
    raise ConfigError(f'{where}: unknown algo {cfg.algo!r} (known: {", ".join(names())}); '
                      f'restore it, or start over with --fresh')
  base = defaults(cfg.algo, cfg.data.get('dataset') or default_dataset(cfg.algo))
  config_lib.fill_missing(cfg, base)
  config_lib.check_types(cfg, base, where)
  return cfg
