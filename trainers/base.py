"""The skeleton every trainer shares: its optimizers (one meaning of optim.clipnorm), the
state every run checkpoints, the data iterator, metric reduction, the run loop's task, and
`train()`.

A trainer subclasses `Trainer`, builds its nets and optimizers in `strategy.scope()`, writes
its compiled `train_step(iterator) -> metrics`, `checkpoint_items()`, `samples()` and (if it
has one) a final `evaluate(workdir)`, and sets the class attributes that differ (`headline`,
`columns`, `energy_keys`); `task()` hands them to core/loop. Its module's `train` is
`base.train(cfg, workdir, strategy, log, TheTrainer)`.
"""
import keras
import numpy as np
import tensorflow as tf

from core import data as data_lib
from core import loop
from core import recovery as recovery_lib
from core import runtime
from core.errors import UsageError
from evaluation import scores as scores_lib
from evaluation import scoring
from trainers import nets


def adam(optim, lr, weight_decay: float = 0.0):
  """Adam with the run's betas. optim.clipnorm > 0 clips the GLOBAL norm of the gradients of
  the variables this optimizer updates (one net's, or the multi-grid run's), in every
  trainer; 0: no clipping. lr: a float or a schedule."""
  return keras.optimizers.Adam(lr, beta_1=optim.beta1, beta_2=optim.beta2,
                               global_clipnorm=optim.clipnorm or None,
                               weight_decay=weight_decay or None)


def reduce_mean(strategy, metrics: dict) -> dict:
  """Per-replica metrics averaged over the replicas."""
  return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
          for k, v in metrics.items()}


class Trainer:
  """What every trainer holds: cfg, strategy, the training set, the step counter, the
  recovery state (core/recovery.py), a host RNG drawing global random inputs (`rng`, seed)
  and, once `replica_rngs()` ran in the strategy's scope, a per-replica RNG for Langevin noise
  (`replica_rng`, seed + 1)."""
  # A one-line description of the run, for train()'s opening line.
  title = ''
  # What core/loop.Task takes besides the methods: the metrics shown on the progress bar, the
  # images per row of the sample grid (0: square) and the metrics that are energies (checked
  # against train.energy_bound). A trainer whose values depend on its config sets them in
  # __init__.
  headline = ('loss',)
  columns = 0
  energy_keys = ()

  def __init__(self, cfg, strategy, train_set: data_lib.ImageSet):
    self.cfg, self.strategy, self.train_set = cfg, strategy, train_set
    runtime.check_batch(cfg.data.batch_size, strategy)
    self.recovery = recovery_lib.Recovery()  # rollbacks lower the rates through it
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')

  @staticmethod
  def load_data(cfg):
    """The training set `train()` hands the trainer (core/data: an ImageSet)."""
    return data_lib.from_config(cfg)

  def net_and_adam(self, role: str, lr, weight_decay: float = 0.0):
    """Call inside strategy.scope(): the run's `role` net (trainers/nets.build) and its Adam
    (`adam`), built on the net's trainable variables."""
    net = nets.build(self.cfg, role)
    opt = adam(self.cfg.optim, lr, weight_decay)
    opt.build(net.trainable_variables)
    return net, opt

  def replica_rngs(self):
    """Call inside strategy.scope(): the mirrored Langevin-noise RNG, and the host RNG."""
    self.replica_rng = tf.random.Generator.from_seed(self.cfg.seed + 1)

  def host_rng(self):
    self.rng = tf.random.Generator.from_seed(self.cfg.seed)

  def grid_latents(self, n: int, dim: int):
    """The fixed latents [n, dim] of the sample grid, N(0, I) drawn from the seed, so that
    every grid of a run (and of a resumed run) shows the same draws."""
    return tf.constant(np.random.default_rng(self.cfg.seed).standard_normal(
        (n, dim)).astype(np.float32))

  def langevin_fn(self, fn):
    """fn (a step's Langevin revision or inference), compiled with XLA when
    langevin.jit_compile."""
    return tf.function(fn, jit_compile=True) if self.cfg.langevin.jit_compile else fn

  def update_rows(self, variable, idx, rows):
    """variable[idx] ← rows, for per-replica indices and rows (a step's persistent latents):
    gathered from every replica first."""
    variable.scatter_nd_update(self.strategy.gather(idx, 0)[:, None],
                               self.strategy.gather(rows, 0))

  def make_iterator(self, start_step: int, **kw):
    """The training batches from `start_step` on (core/data.pipeline), distributed: each
    input pipeline (one per worker) reads its slice of every global batch, split over its
    replicas, so replica r of any topology gets rows [r·b, (r+1)·b) of the global batch."""
    batch = self.cfg.data.batch_size

    def dataset(ctx):
      return data_lib.pipeline(
          self.train_set.images, batch, seed=self.cfg.seed, start_step=start_step,
          part=(ctx.input_pipeline_id, ctx.num_input_pipelines),
          per_replica=ctx.get_per_replica_batch_size(batch), **kw)
    return iter(self.strategy.distribute_datasets_from_function(dataset))

  def reduce(self, metrics: dict) -> dict:
    return reduce_mean(self.strategy, metrics)

  def describe(self) -> str:
    """What train() prints after the title: the run's size and settings."""
    d, cfg = self.cfg.data, self.cfg
    return (f'{len(self.train_set)} images of {d.image_size}x{d.image_size}x{d.channels}, '
            f'batch {d.batch_size}, {cfg.train.steps} steps, '
            f'{self.strategy.num_replicas_in_sync} replica(s)')

  # ---------------------------------------------------------------- what the loop runs

  def train_step(self, iterator) -> dict:
    """One update on the next global batch: its metrics, reduced over the replicas."""
    raise NotImplementedError

  def checkpoint_items(self) -> dict:
    """Everything a checkpoint holds but the step counter, by slot name (the names are the
    checkpoint's layout: renaming one breaks the restore of older runs)."""
    raise NotImplementedError

  def samples(self) -> np.ndarray:
    """The current samples in [-1, 1] for the sample grid."""
    raise NotImplementedError

  def evaluate(self, workdir: str) -> dict:
    """The final evaluation, into metrics.json (may write files into workdir)."""
    del workdir
    return {}

  def quick_samples(self, n: int):
    """n generated images in [-1, 1] for the quick FD (eval.quick_fd), drawn from fixed
    latents without touching the run's RNGs; None: the trainer has no generator."""
    del n
    return None

  def quick_score(self, log) -> float | None:
    """The Fréchet distance of quick_samples(eval.quick_fd) to as many held-out test images,
    in the project classifier's features (evaluation/scoring.py; the real side's features
    computed once). None, said once, where it cannot be had: no generator, no labels, no
    classifier for the dataset (it is not trained here: that takes minutes)."""
    n = self.cfg.eval.quick_fd
    if not hasattr(self, '_quick'):
      self._quick = None
      why = self._quick_setup(n)
      if why:
        log(f'quick FD off: {why}')
    if self._quick is None:
      return None
    scorer, ref_feats = self._quick
    x = self.quick_samples(n)
    return float(scores_lib.fd(scorer.features(x), ref_feats))

  def _quick_setup(self, n: int) -> str:
    """Loads the scorer and the real features into self._quick, or says why not."""
    if type(self).quick_samples is Trainer.quick_samples:
      return f'{self.title or "this algorithm"} has no generator to sample'
    d = self.cfg.data
    test = data_lib.from_config(self.cfg, 'test')
    if test.labels is None or len(test) < 2:
      return f'{d.dataset} has no labelled test split to score against'
    try:
      scorer = scoring.Scorer(d.dataset, d.image_size, d.channels, data_dir=d.data_dir,
                              train_if_missing=False, log=lambda *_: None)
    except UsageError as e:
      return f'no scoring classifier for {d.dataset} ({str(e)[:200]})'
    half = len(test) // 2  # the final evaluation's reference half of the test split
    real = data_lib.to_float(test.images[half:half + n])
    self._quick = (scorer, scorer.features(real))
    return ''

  def late_slots(self) -> dict:
    """Checkpoint slots that older checkpoints lack: name → what initialises the slot when
    the restored checkpoint has none (core/loop.Task.late_slots)."""
    return {}

  def task(self) -> loop.Task:
    """What train() hands the run loop."""
    return loop.Task(step=self.step, checkpoint=self.checkpoint_items(),
                     train_step=self.train_step, make_iterator=self.make_iterator,
                     samples=self.samples, evaluate=self.evaluate,
                     headline=tuple(self.headline), columns=self.columns,
                     late_slots=self.late_slots(), recovery=self.recovery,
                     energy_keys=tuple(self.energy_keys),
                     quick_score=self.quick_score if self.cfg.eval.quick_fd else None)


def train(cfg, workdir: str, strategy, log, trainer_cls) -> dict:
  """Sets precision and seeds, loads the training set, builds `trainer_cls(cfg, strategy,
  train_set)`, prints one line on the run and hands its task to core/loop.run."""
  precision = runtime.set_precision(cfg.train.precision)
  runtime.seed(cfg.seed, cfg.train.deterministic)
  strategy = strategy or tf.distribute.get_strategy()
  train_set = trainer_cls.load_data(cfg)
  trainer = trainer_cls(cfg, strategy, train_set)
  log(f'{trainer.title} on {cfg.data.dataset}: {trainer.describe()}, {precision} → {workdir}')
  return loop.run(trainer.task(), cfg, workdir, log=log, strategy=strategy)
