"""core/cluster: TF_CONFIG read and checked before TensorFlow starts, ports, and the line a
cluster that never forms ends with. TensorFlow-free and in-process, but for the two CLI
cases (the watchdog ends its process; a port in use is TensorFlow's own bind)."""
import json
import socket
import types

import pytest

from core import cluster
from core.errors import ConfigError
from tests import helpers

TWO = ['127.0.0.1:2222', '127.0.0.1:2223']


def spec(workers=TWO, task=None, **jobs):
  return json.dumps({'cluster': {'worker': workers, **jobs},
                     'task': task if task is not None else {'type': 'worker', 'index': 1}})


def test_a_two_worker_cluster_and_which_task_is_chief():
  c = cluster.parse(spec())
  assert (c.num_workers, c.worker_index, c.is_chief, c.address) == (2, 1, False, TWO[1])
  assert cluster.parse(spec(task={'type': 'worker', 'index': 0})).is_chief
  # With a chief job, the chief is worker 0 of the job and the workers follow it.
  c = cluster.parse(spec(chief=['127.0.0.1:2221'], task={'type': 'worker', 'index': 0}))
  assert (c.num_workers, c.worker_index, c.is_chief) == (3, 1, False)
  assert cluster.parse(spec(chief=['127.0.0.1:2221'],
                            task={'type': 'chief', 'index': 0})).is_chief


def test_the_launcher_writes_what_parse_reads():
  for i in range(2):
    c = cluster.parse(cluster.tf_config(TWO, i))
    assert (c.worker_index, c.address) == (i, TWO[i])


@pytest.mark.parametrize('text, message', [
    (None, 'TF_CONFIG, which is not set'),
    ('{"cluster": ', 'TF_CONFIG is not valid JSON'),
    ('[1, 2]', 'no "cluster" object'),
    (spec(ps=['127.0.0.1:2224']), "'ps' task(s): MultiWorkerMirroredStrategy runs chief "
                                  "and worker tasks only"),
    (spec(workers=[]), 'must be a non-empty list'),
    (spec(workers=['127.0.0.1']), "holds '127.0.0.1', not a \"host:port\" address"),
    (spec(workers=['127.0.0.1:99999']), 'a port in 1-65535'),
    (spec(workers=[TWO[0], TWO[0]]), 'lists 127.0.0.1:2222 twice'),
    (spec(chief=['127.0.0.1:1', '127.0.0.1:2']), 'has 2 chiefs'),
    (json.dumps({'cluster': {'worker': TWO}}), 'no "task"'),
    (spec(task={'type': 'chief', 'index': 0}), "task type 'chief' is not a job"),
    (spec(task={'type': 'worker', 'index': 2}), 'task index 2 is not one of the 2 worker'),
    (spec(task={'type': 'worker', 'index': '0'}), "task index '0' is not one of"),
])
def test_a_malformed_tf_config_is_one_line(text, message):
  with pytest.raises(ConfigError) as e:
    cluster.parse(text)
  assert message in str(e.value) and '\n' not in str(e.value), str(e.value)


def test_a_port_in_use_is_named():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    s.listen()
    port = s.getsockname()[1]
    c = cluster.parse(cluster.tf_config([f'127.0.0.1:{port}', TWO[1]], 0))
    with pytest.raises(ConfigError, match=f'port {port} of this task, worker 0 '
                                          f'\\(127.0.0.1:{port}\\) in TF_CONFIG, is in use'):
      cluster.rendezvous(c, 1)


def test_free_ports_are_distinct_and_bindable():
  ports = cluster.free_ports(4)
  assert len(set(ports)) == 4
  for p in ports:
    with socket.socket() as s:
      s.bind(('127.0.0.1', p))


def test_the_rendezvous_waits_for_the_others_and_names_those_that_never_answer():
  with socket.socket() as up:
    up.bind(('127.0.0.1', 0))
    up.listen()
    alive = f'127.0.0.1:{up.getsockname()[1]}'
    mine, dead = (f'127.0.0.1:{p}' for p in cluster.free_ports(2))
    c = cluster.parse(cluster.tf_config([mine, alive], 0))
    cluster.rendezvous(c, 5)  # its peer answers: returns, and frees its own port
    with socket.socket() as s:
      s.bind(('127.0.0.1', int(mine.split(':')[1])))
    c = cluster.parse(cluster.tf_config([mine, alive, dead], 0))
    with pytest.raises(ConfigError) as e:
      cluster.rendezvous(c, 0.5)
  line = str(e.value)
  assert f'worker 2 ({dead}) did not answer' in line, line
  assert alive not in line and 'within 0.5 s (train.cluster_timeout)' in line, line


def test_check_batch_counts_the_replicas_of_every_worker():
  from core import runtime  # pylint: disable=g-import-not-at-top
  resolver = types.SimpleNamespace(
      cluster_spec=lambda: types.SimpleNamespace(as_dict=lambda: {'worker': TWO}),
      task_type='worker', task_id=1)
  strategy = types.SimpleNamespace(num_replicas_in_sync=4, cluster_resolver=resolver)
  runtime.check_batch(8, strategy)
  with pytest.raises(ConfigError, match=r'data.batch_size=6 does not split over 4 replicas '
                                        r'\(2 workers × 2 device\(s\) each\); use a multiple '
                                        r'of 4'):
    runtime.check_batch(6, strategy)


@pytest.mark.slow
def test_a_cluster_that_never_forms_ends_with_one_line(tmp_path):
  """Worker 1 of TF_CONFIG is never started: worker 0 stops after train.cluster_timeout.

  Slow: a fresh process starts TensorFlow's collective server and waits out the timeout
  (~11 s); the rendezvous's own wait and message are checked in process above."""
  digits = helpers.digits_npz(tmp_path / 'digits.npz', n=100)
  ports = cluster.free_ports(2)
  addresses = [f'127.0.0.1:{p}' for p in ports]
  r = helpers.run_tool('train', '--algo=generator', f'--dataset=npz:{digits}', '--smoke',
                       f'--workdir={tmp_path / "w"}', '--strategy=multi_worker',
                       '--set', 'train.cluster_timeout=4', timeout=120,
                       env={'TF_CONFIG': cluster.tf_config(addresses, 0)})
  assert r.returncode == 2, r.stderr[-2000:]
  last = r.stderr.strip().splitlines()[-1]
  assert last.startswith('error: the cluster of 2 workers did not form within 4 s'), last
  assert f'worker 1 ({addresses[1]}) did not answer' in last, last


def test_multi_worker_flag_errors_come_before_tensorflow(tmp_path):
  digits = helpers.digits_npz(tmp_path / 'digits.npz', n=100)
  r = helpers.run_tool('train', '--algo=generator', '--smoke', f'--workdir={tmp_path}',
                       f'--dataset=npz:{digits}',
                       '--strategy=multi_worker', timeout=60, env={'TF_CONFIG': '{"cluster"'})
  assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(
      'error: TF_CONFIG is not valid JSON'), r.stderr[-2000:]
  r = helpers.run_tool('train', '--algo=generator', '--smoke', f'--workdir={tmp_path}',
                       f'--dataset=npz:{digits}', '--strategy=multi_worker', '--replicas=2', timeout=60,
                       env={'TF_CONFIG': cluster.tf_config(TWO, 0)})
  assert r.returncode == 2 and 'drop --replicas' in r.stderr, r.stderr[-2000:]
