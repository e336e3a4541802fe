"""The multi-worker cluster, read from `TF_CONFIG` as every cluster scheduler sets it.

    TF_CONFIG='{"cluster": {"worker": ["host0:port", "host1:port"]},
                "task": {"type": "worker", "index": 0}}'

Worker 0 is the chief (or the single task of a `chief` job, where there is one): it alone
writes the run's files. TensorFlow-free, so that a malformed TF_CONFIG, a port in use or a
worker that never joins is one line, not a gRPC trace or a hang:

* `from_env` checks TF_CONFIG before TensorFlow starts (`ConfigError` naming what is wrong);
* `rendezvous` waits for every task to answer on its port, with one line naming those that
  did not within the timeout (TensorFlow itself waits forever, deaf to SIGTERM), or naming
  this task's port when another process holds it.
"""
import dataclasses
import errno
import json
import os
import socket
import time

from core.errors import ConfigError

ENV = 'TF_CONFIG'
JOBS = ('chief', 'worker')  # MultiWorkerMirroredStrategy's task types, in TF's order
FORM = ('{"cluster": {"worker": ["host:port", ...]}, '
        '"task": {"type": "worker", "index": I}}')
FIX = f'set TF_CONFIG to {FORM} on every worker, or start the workers with tools/launch'


@dataclasses.dataclass(frozen=True)
class Cluster:
  """The cluster's tasks (job → addresses) and which of them this process is."""
  jobs: dict
  task_type: str
  task_index: int

  @property
  def tasks(self) -> list[tuple[str, int, str]]:
    """(job, index, address) of every task, chief first (TF's ordering of the workers)."""
    return [(job, i, a) for job in JOBS for i, a in enumerate(self.jobs.get(job, ()))]

  @property
  def num_workers(self) -> int:
    return len(self.tasks)

  @property
  def worker_index(self) -> int:
    """This task's place among all workers (0: the chief)."""
    return [(j, i) for j, i, _ in self.tasks].index((self.task_type, self.task_index))

  @property
  def is_chief(self) -> bool:
    return self.worker_index == 0

  @property
  def address(self) -> str:
    return self.jobs[self.task_type][self.task_index]

  def name(self, job: str | None = None, index: int | None = None) -> str:
    job = self.task_type if job is None else job
    index = self.task_index if index is None else index
    return f'{job} {index} ({self.jobs[job][index]})'


def _split(address: str):
  host, sep, port = str(address).rpartition(':')
  if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
    return None
  return host.strip('[]'), int(port)


def parse(text: str | None) -> Cluster:
  """The Cluster a TF_CONFIG text describes; ConfigError naming the first thing wrong."""
  if not text:
    raise ConfigError(f'--strategy=multi_worker reads the cluster from {ENV}, which is not '
                      f'set; {FIX} (docs/multiworker.md: on a cluster)')
  try:
    spec = json.loads(text)
  except json.JSONDecodeError as e:
    raise ConfigError(f'{ENV} is not valid JSON ({e.msg} at character {e.pos}); {FIX}') from None
  if not isinstance(spec, dict) or not isinstance(spec.get('cluster'), dict):
    raise ConfigError(f'{ENV} has no "cluster" object; {FIX}')
  jobs = spec['cluster']
  other = sorted(set(jobs) - set(JOBS))
  if other:
    raise ConfigError(f'{ENV}\'s cluster has {", ".join(map(repr, other))} task(s): '
                      f'MultiWorkerMirroredStrategy runs chief and worker tasks only '
                      f'(parameter servers and evaluators are not supported); {FIX}')
  for job, addresses in jobs.items():
    if not isinstance(addresses, list) or not addresses:
      raise ConfigError(f'{ENV}\'s cluster.{job} must be a non-empty list of "host:port" '
                        f'addresses, got {addresses!r}')
    bad = [a for a in addresses if _split(a) is None]
    if bad:
      raise ConfigError(f'{ENV}\'s cluster.{job} holds {bad[0]!r}, not a "host:port" address '
                        f'with a port in 1-65535')
  if len(jobs.get('chief', ())) > 1:
    raise ConfigError(f'{ENV}\'s cluster has {len(jobs["chief"])} chiefs; there is at most '
                      f'one (or none: then worker 0 is the chief)')
  every = [a for job in JOBS for a in jobs.get(job, ())]
  if len(set(every)) < len(every):
    dup = next(a for a in every if every.count(a) > 1)
    raise ConfigError(f'{ENV}\'s cluster lists {dup} twice; every task needs its own port')
  task = spec.get('task')
  if not isinstance(task, dict) or 'type' not in task or 'index' not in task:
    raise ConfigError(f'{ENV} has no "task": {{"type": ..., "index": ...}} saying which task '
                      f'this process is; {FIX}')
  kind, index = task['type'], task['index']
  if kind not in jobs:
    raise ConfigError(f'{ENV}\'s task type {kind!r} is not a job of its cluster '
                      f'({", ".join(jobs)})')
  if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(jobs[kind]):
    raise ConfigError(f'{ENV}\'s task index {index!r} is not one of the {len(jobs[kind])} '
                      f'{kind} task(s) of its cluster (0 to {len(jobs[kind]) - 1})')
  return Cluster({j: list(jobs[j]) for j in JOBS if j in jobs}, kind, index)


def from_env(environ=None) -> Cluster:
  return parse((os.environ if environ is None else environ).get(ENV))


def in_use(cluster: Cluster) -> ConfigError:
  return ConfigError(f'port {_split(cluster.address)[1]} of this task, {cluster.name()} in '
                     f'{ENV}, is in use by another process; give it a free port in {ENV} '
                     f'(tools/launch picks free ones)')


def reachable(address: str, timeout: float = 1.0) -> bool:
  host, port = _split(address)
  try:
    with socket.create_connection((host, port), timeout=timeout):
      return True
  except OSError:
    return False


def free_ports(count: int, host: str = '127.0.0.1') -> list[int]:
  """`count` distinct ports free on `host` now (the kernel's choice; one may still be taken
  before its user binds it: tools/launch retries then)."""
  socks = []
  try:
    for _ in range(count):
      s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
      s.bind((host, 0))
      socks.append(s)
    return [s.getsockname()[1] for s in socks]
  finally:
    for s in socks:
      s.close()


def tf_config(addresses: list[str], index: int) -> str:
  """The TF_CONFIG of worker `index` of a cluster of workers at `addresses`."""
  return json.dumps({'cluster': {'worker': list(addresses)},
                     'task': {'type': 'worker', 'index': index}})


def rendezvous(cluster: Cluster, timeout: float, poll: float = 0.2):
  """Waits until every other task answers on its port, listening on this task's own port
  meanwhile (so that the others see it), then frees the port for TensorFlow's server.
  ConfigError when the port is in use, or naming the tasks that did not answer within
  `timeout` seconds: TensorFlow's own wait for a missing worker is endless, and deaf to
  SIGTERM. (A task that has moved on answers through TensorFlow's server on the same port.)"""
  _, port = _split(cluster.address)
  listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
  try:
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      listener.bind(('', port))
    except OSError as e:
      if e.errno != errno.EADDRINUSE:
        raise
      raise in_use(cluster) from None
    listener.listen(64)  # the kernel completes the others' connects; none is accepted
    me = (cluster.task_type, cluster.task_index)
    pending = [(j, i, a) for j, i, a in cluster.tasks if (j, i) != me]
    deadline = time.time() + timeout
    while pending:
      pending = [(j, i, a) for j, i, a in pending if not reachable(a, timeout=poll)]
      if not pending:
        break
      if time.time() >= deadline:
        gone = ', '.join(cluster.name(j, i) for j, i, _ in pending)
        raise ConfigError(
            f'the cluster of {cluster.num_workers} workers did not form within {timeout:g} s '
            f'(train.cluster_timeout): {gone} did not answer; start every task of {ENV} '
            f'with its own task index, check the addresses, or raise '
            f'--set train.cluster_timeout=SECONDS')
      time.sleep(poll)
  finally:
    listener.close()
