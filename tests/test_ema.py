"""The weight average of trainers/ema.py against its closed form on toy sequences, the `auto`
precision that picks bfloat16 only where it is native, train.deterministic, and stored
configs gaining new keys."""
import numpy as np
import tensorflow as tf

from trainers import ema


def test_decay_warms_up_then_holds():
  t = np.arange(0, 10000)  # (1 + t) / (10 + t) passes 0.999 at t = 8,991
  got = ema.decay_at(tf.constant(t), 0.999).numpy()
  np.testing.assert_allclose(got, np.minimum(0.999, (1 + t) / (10 + t)), rtol=1e-6)
  assert got[0] == np.float32(0.1) and got[-1] == np.float32(0.999)


def test_average_of_a_toy_sequence_matches_the_closed_form():
  """a_T = Π d_t · a_0 + Σ_t (1 − d_t) Π_{s>t} d_s · w_t, with d_t from decay_at."""
  rng = np.random.default_rng(0)
  seq = rng.standard_normal((40, 3)).astype(np.float32)
  a0 = rng.standard_normal(3).astype(np.float32)
  avg, w = tf.Variable(a0), tf.Variable(np.zeros(3, np.float32))
  for t, x in enumerate(seq):
    w.assign(x)
    ema.update([avg], [w], tf.constant(t, tf.int64), 0.9)
  d = np.minimum(0.9, (1 + np.arange(40)) / (10 + np.arange(40)))
  want = np.prod(d) * a0
  for t in range(40):
    want = want + (1 - d[t]) * np.prod(d[t + 1:]) * seq[t]
  np.testing.assert_allclose(avg.numpy(), want, rtol=1e-5, atol=1e-6)


def test_a_constant_sequence_is_its_own_average_and_copy_starts_there():
  avg, w = tf.Variable([5.0, -1.0]), tf.Variable([2.0, 3.0])
  ema.copy([avg], [w])
  np.testing.assert_array_equal(avg.numpy(), [2.0, 3.0])
  for t in range(100):
    ema.update([avg], [w], t, 0.999)
  np.testing.assert_allclose(avg.numpy(), [2.0, 3.0], rtol=1e-6)


def test_auto_precision_picks_bfloat16_only_where_it_is_native(tmp_path):
  from core import cpu  # pylint: disable=g-import-not-at-top
  from core import runtime  # pylint: disable=g-import-not-at-top
  assert runtime.resolve_precision('auto', gpus=[], flags={'avx2', 'fma'}) == 'float32'
  assert runtime.resolve_precision('auto', gpus=[], flags={'avx512_bf16'}) == 'mixed_bfloat16'
  assert runtime.resolve_precision('auto', gpus=[], flags={'amx_bf16'}) == 'mixed_bfloat16'
  assert runtime.resolve_precision('auto', gpus=['GPU:0'], flags=set()) == 'mixed_bfloat16'
  assert runtime.resolve_precision('float32', gpus=['GPU:0']) == 'float32'
  info = tmp_path / 'cpuinfo'
  info.write_text('processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nflags\t\t: other\n')
  assert cpu.cpu_flags(str(info)) == {'fpu', 'avx2', 'avx512_bf16'}
  assert cpu.cpu_flags(str(tmp_path / 'missing')) == set()


def test_a_stored_config_gains_the_keys_added_since_with_their_defaults():
  """How a run made before optim.ema_decay / optim.r1_penalty resumes (tools/train fills a
  stored config.json from the algorithm's defaults; values it has are kept)."""
  import configs  # pylint: disable=g-import-not-at-top
  from core import config as config_lib  # pylint: disable=g-import-not-at-top
  stored = configs.get('triangle', 'fashion_mnist')
  del stored.optim['ema_decay'], stored.optim['r1_penalty']
  stored.optim.lr = 0.5
  added = config_lib.fill_missing(stored, configs.get('triangle', 'fashion_mnist'))
  assert sorted(added) == ['optim.ema_decay', 'optim.r1_penalty']
  assert stored.optim.ema_decay == 0.999 and stored.optim.lr == 0.5
  assert config_lib.fill_missing(stored, configs.get('triangle', 'fashion_mnist')) == []


def test_train_deterministic_turns_on_op_determinism(monkeypatch):
  """train.deterministic=true (runtime.seed) calls TensorFlow's op determinism; off, it does
  not (it is process-wide and sticky, so it is recorded here rather than turned on)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from core import runtime  # pylint: disable=g-import-not-at-top
  calls = []
  monkeypatch.setattr(tf.config.experimental, 'enable_op_determinism',
                      lambda: calls.append('on'))
  runtime.seed(3, deterministic=False)
  assert calls == []
  runtime.seed(3, deterministic=True)
  assert calls == ['on']
