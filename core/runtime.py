"""Process-wide set-up that must happen before TensorFlow builds anything: devices,
the distribution strategy and the Keras precision policy."""
import tensorflow as tf
import keras  # after TensorFlow: without it, the ImportError names tensorflow (tools/cli)

from core import cluster as cluster_lib
from core import cpu
from core.errors import ConfigError


def configure():
  """Process-wide TF options. Grappler's remapper cannot fuse conv+bias+activation inside
  the Langevin loop's gradient (it logs an error and gives up); turning it off costs
  nothing measurable here (46.9 vs 45.6 ms/step float32) and keeps the log clean."""
  tf.config.optimizer.set_experimental_options({'remapping': False})


def make_strategy(name: str = 'default', replicas: int = 0,
                  cluster_timeout: float = 300.0) -> tf.distribute.Strategy:
  """`default` (one device), `mirrored` (all GPUs, or `replicas` logical CPUs, default 2) or
  `multi_worker` (MultiWorkerMirroredStrategy over the workers TF_CONFIG names, each with
  all its GPUs or one CPU device; `cluster_timeout` seconds for all of them to join).

  Logical CPUs are only configurable before TensorFlow initialises its devices, so call this
  before any op runs (the tools do; tests of `mirrored` start a fresh process).
  """
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'multi_worker':
    return _multi_worker(replicas, cluster_timeout)
  if name != 'mirrored':
    raise ConfigError(f'unknown strategy {name!r}; known: default, mirrored, multi_worker')
  gpus = tf.config.list_physical_devices('GPU')
  if gpus and not replicas:
    return tf.distribute.MirroredStrategy()
  replicas = replicas or 2
  cpu = tf.config.list_physical_devices('CPU')[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
  except RuntimeError:
    have = len(tf.config.list_logical_devices('CPU'))
    if have != replicas:
      raise ConfigError(
          f'cannot split the CPU into {replicas} replicas after TensorFlow has started '
          f'(it has {have}); choose the strategy first thing in the process') from None
  devices = [d.name for d in tf.config.list_logical_devices('CPU')][:replicas]
  # Logical CPUs share one host: all-reduce with plain copies (NCCL is for GPUs).
  return tf.distribute.MirroredStrategy(
      devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


def _multi_worker(replicas: int, timeout: float) -> tf.distribute.Strategy:
  """MultiWorkerMirroredStrategy from TF_CONFIG, with TF's failure modes as one line: a
  malformed TF_CONFIG, this task's port in use, or a cluster that has not formed within
  `timeout` seconds (core/cluster.rendezvous; TensorFlow alone would wait forever)."""
  if replicas:
    raise ConfigError(f'replicas={replicas} is for mirrored; multi_worker takes none')
  cluster = cluster_lib.from_env()
  cluster_lib.rendezvous(cluster, timeout)
  try:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # NCCL on GPUs, else ring
  except tf.errors.UnknownError as e:
    if 'gRPC server' in str(e):  # taken between the rendezvous and TF's bind
      raise cluster_lib.in_use(cluster) from None
    raise
  return strategy


class Workers:
  """This process's place among the strategy's workers (one, unless multi-worker), and the
  chief's values broadcast to all of them (an all-reduce: every worker must call it)."""

  def __init__(self, strategy=None):
    self.strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(self.strategy, 'cluster_resolver', None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    self.cluster = None
    if spec and resolver.task_type is not None:
      self.cluster = cluster_lib.Cluster(
          {j: list(spec[j]) for j in cluster_lib.JOBS if j in spec},
          resolver.task_type, int(resolver.task_id))
    self._broadcast = None
    self._poll = None

  @property
  def count(self) -> int:
    return self.cluster.num_workers if self.cluster else 1

  @property
  def index(self) -> int:
    return self.cluster.worker_index if self.cluster else 0

  @property
  def is_chief(self) -> bool:
    return self.index == 0

  def broadcast(self, value: int) -> int:
    """The chief's `value` (an int), on every worker."""
    if self.count == 1:
      return int(value)
    if self._broadcast is None:
      strategy = self.strategy

      def first_replica(v):
        ctx = tf.distribute.get_replica_context()
        return tf.where(ctx.replica_id_in_sync_group == 0, v, tf.zeros_like(v))

      @tf.function
      def broadcast(v):
        return strategy.reduce(tf.distribute.ReduceOp.SUM,
                               strategy.run(first_replica, args=(v,)), axis=None)
      self._broadcast = broadcast
    return int(self._broadcast(tf.constant(int(value), tf.int64)))

  def poll(self, chief_value: int, flag: bool) -> tuple[int, bool]:
    """(the chief's `chief_value`, whether any worker's `flag` is set), on every worker: one
    all-reduce (every worker must call it). The run loop's question at each step under
    multi_worker: is the time budget used up (the chief's clock), and did any worker get a
    stop signal (so that all stop at the same step and the chief saves it)."""
    if self.count == 1:
      return int(chief_value), bool(flag)
    if self._poll is None:
      strategy = self.strategy

      def packed(chief, local):
        ctx = tf.distribute.get_replica_context()
        return tf.where(ctx.replica_id_in_sync_group == 0, chief, tf.zeros_like(chief)) * (
            1 << 20) + local

      @tf.function
      def poll(chief, local):
        return strategy.reduce(tf.distribute.ReduceOp.SUM,
                               strategy.run(packed, args=(chief, local)), axis=None)
      self._poll = poll
    total = int(self._poll(tf.constant(int(chief_value), tf.int64),
                           tf.constant(int(bool(flag)), tf.int64)))
    return total >> 20, bool(total & ((1 << 20) - 1))


def check_batch(batch_size: int, strategy: tf.distribute.Strategy):
  """ConfigError unless the global batch splits evenly over the strategy's replicas (those
  of every worker, under multi_worker)."""
  replicas = strategy.num_replicas_in_sync
  if batch_size % replicas:
    workers = Workers(strategy).count
    where = (f' ({workers} workers × {replicas // workers} device(s) each)'
             if workers > 1 else '')
    raise ConfigError(f'data.batch_size={batch_size} does not split over {replicas} '
                      f'replicas{where}; use a multiple of {replicas}')


def resolve_precision(policy: str, gpus=None, flags=None) -> str:
  """`auto` → `mixed_bfloat16` where bfloat16 is native (a GPU, or a CPU with AVX512-BF16 or
  AMX), else `float32`: on a CPU without them bfloat16 is emulated and ~5× slower than float32
  (the triangle's step: 7.2 s against 1.5 s on a 2-core AVX2-only EPYC)."""
  if policy != 'auto':
    return policy
  gpus = tf.config.list_physical_devices('GPU') if gpus is None else gpus
  flags = cpu.cpu_flags() if flags is None else flags
  return 'mixed_bfloat16' if gpus or set(flags) & set(cpu.BF16_CPU_FLAGS) else 'float32'


def set_precision(policy: str) -> str:
  """Keras global dtype policy: `float32`, `mixed_bfloat16` (bf16 compute, f32 variables) or
  `auto` (resolve_precision); returns the policy set."""
  policy = resolve_precision(policy)
  if policy not in ('float32', 'mixed_bfloat16'):
    raise ConfigError(f'unknown precision {policy!r}; known: auto, float32, mixed_bfloat16')
  keras.mixed_precision.set_global_policy(policy)
  return policy


def seed(value: int, deterministic: bool = False):
  """Seeds Python, NumPy, TensorFlow and Keras (weight initialisers) from the run's seed, so
  the same seed builds the same nets. deterministic=True also turns on TF's op determinism
  (tf.config.experimental.enable_op_determinism), for kernels that are not deterministic by
  themselves (some GPU ones; on CPU the runs tested here were identical without it)."""
  keras.utils.set_random_seed(int(value))
  if deterministic:
    tf.config.experimental.enable_op_determinism()
