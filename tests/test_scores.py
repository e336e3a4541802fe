"""Tests of evaluation/scores.py, evaluation/scoring.py and models/classifier.py: distances against
closed forms, KID's unbiasedness, the cached classifier end to end and the InceptionV3 code path."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from evaluation import scores
from core.errors import CheckpointError
from core.errors import DataError
from tests import helpers
from evaluation import scoring


def _random_spd(d, rng):
  a = rng.standard_normal((d, d))
  return a @ a.T + 0.5 * np.eye(d)


def _orthogonal(d, rng):
  q, _ = np.linalg.qr(rng.standard_normal((d, d)))
  return q


# ------------------------------------------------------------ Fréchet distance


def test_frechet_distance_of_equal_gaussians_is_zero():
  rng = np.random.default_rng(0)
  mu, sigma = rng.standard_normal(6), _random_spd(6, rng)
  assert scores.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_shifted_means_is_squared_distance():
  rng = np.random.default_rng(1)
  sigma = _random_spd(5, rng)
  mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
  expected = float(np.sum((mu1 - mu2)**2))
  assert scores.frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_commuting_covariances_matches_closed_form():
  rng = np.random.default_rng(2)
  a, b = rng.uniform(0.1, 4.0, 7), rng.uniform(0.1, 4.0, 7)
  mu1, mu2 = rng.standard_normal(7), rng.standard_normal(7)
  expected = float(np.sum((mu1 - mu2)**2) + np.sum((np.sqrt(a) - np.sqrt(b))**2))
  got = scores.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
  assert got == pytest.approx(expected, rel=1e-8)
  q = _orthogonal(7, rng)  # the same rotation of both: still Σ(√a − √b)²
  got = scores.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
  assert got == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_with_singular_covariances():
  # Σ1 Σ2 = 0: the square root is 0 and the distance Tr Σ1 + Tr Σ2 = 2.
  got = scores.frechet_distance(np.zeros(2), np.diag([1.0, 0.0]), np.zeros(2),
                                np.diag([0.0, 1.0]))
  assert got == pytest.approx(2.0, abs=1e-6)


def test_frechet_distance_in_one_dimension():
  # N(m1, s1²) vs N(m2, s2²): (m1 − m2)² + (s1 − s2)².
  assert scores.frechet_distance(1.0, 4.0, -2.0, 0.25) == pytest.approx(9.0 + 1.5**2)
  assert scores.frechet_distance([0.5], [[9.0]], [0.5], [[1.0]]) == pytest.approx(4.0)


def test_fd_of_large_samples_is_close_to_the_analytic_value():
  rng = np.random.default_rng(3)
  d, n = 4, 200_000
  q = _orthogonal(d, rng)
  a, b = np.array([1.0, 2.0, 0.5, 3.0]), np.array([2.0, 0.5, 0.5, 1.0])
  mu1, mu2 = np.zeros(d), np.array([0.5, -0.5, 0.0, 1.0])
  x = rng.standard_normal((n, d)) * np.sqrt(a) @ q.T + mu1
  y = rng.standard_normal((n, d)) * np.sqrt(b) @ q.T + mu2
  expected = float(np.sum((mu1 - mu2)**2) + np.sum((np.sqrt(a) - np.sqrt(b))**2))
  assert scores.fd(x, y) == pytest.approx(expected, rel=0.02)
  assert scores.fd(x[:n // 2], x[n // 2:]) < 0.01


def test_fd_with_fewer_examples_than_dimensions_equals_the_full_computation():
  rng = np.random.default_rng(10)
  d = 200  # fd projects onto the data's span here; frechet_distance works in all d dimensions
  a = rng.standard_normal((30, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
  b = 1.5 * rng.standard_normal((40, d)) + 0.3
  full = scores.frechet_distance(*scores.feature_stats(a), *scores.feature_stats(b))
  assert scores.fd(a, b) == pytest.approx(full, rel=1e-6)
  assert scores.fd(a, a) == pytest.approx(0.0, abs=1e-6)


def test_feature_stats_and_fd_reject_bad_input():
  mu, sigma = scores.feature_stats(np.arange(12, dtype=np.float32).reshape(4, 3))
  assert mu.dtype == np.float64 and sigma.shape == (3, 3)
  with pytest.raises(DataError, match='at least 2'):
    scores.feature_stats(np.zeros((1, 3)))
  with pytest.raises(DataError, match='same D'):
    scores.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


# ------------------------------------------------------------------------ KID


def _kernel(x, y):
  return (x @ y.T / x.shape[1] + 1.0)**3


def test_kid_is_unbiased_and_the_v_statistic_is_not():
  rng = np.random.default_rng(4)
  d, m, reps = 8, 40, 300
  u, v = [], []
  for r in range(reps):
    x, y = rng.standard_normal((m, d)), rng.standard_normal((m, d))
    u.append(scores.kid(x, y, num_subsets=1, subset_size=m, seed=r)[0])
    v.append(_kernel(x, x).mean() + _kernel(y, y).mean() - 2 * _kernel(x, y).mean())
  u, v = np.array(u), np.array(v)
  u_se, v_se = u.std() / np.sqrt(reps), v.std() / np.sqrt(reps)
  assert abs(u.mean()) < 4 * u_se
  assert v.mean() > 10 * v_se  # the biased estimator is clearly positive
  assert v.mean() - u.mean() > 10 * u_se


def test_kid_of_different_distributions_matches_the_population_mmd():
  rng = np.random.default_rng(5)
  d = 4
  shift = np.full(d, 0.5)
  # Population MMD² from a large-sample U-statistic, computed here independently.
  big = 3000
  x, y = rng.standard_normal((big, d)), rng.standard_normal((big, d)) + shift
  kxx, kyy = _kernel(x, x), _kernel(y, y)
  population = ((kxx.sum() - np.trace(kxx)) / (big * (big - 1)) +
                (kyy.sum() - np.trace(kyy)) / (big * (big - 1)) - 2 * _kernel(x, y).mean())
  a, b = rng.standard_normal((2000, d)), rng.standard_normal((2000, d)) + shift
  mean, std = scores.kid(a, b, num_subsets=50, subset_size=200)
  assert population > 0.1
  assert mean > 0 and std > 0
  assert mean == pytest.approx(population, rel=0.15)


def test_kid_caps_the_subset_size_and_is_seeded():
  rng = np.random.default_rng(6)
  a, b = rng.standard_normal((30, 3)), rng.standard_normal((50, 3))
  first = scores.kid(a, b, num_subsets=5, subset_size=1000, seed=1)
  assert first == scores.kid(a, b, num_subsets=5, subset_size=1000, seed=1)
  assert first != scores.kid(a, b, num_subsets=5, subset_size=1000, seed=2)
  with pytest.raises(DataError, match='same D'):
    scores.kid(a, np.zeros((5, 4)))


# ------------------------------------------------------------ Inception Score


def test_inception_score_of_confident_uniform_predictions_is_the_class_count():
  k = 5
  probs = np.tile(np.eye(k), (100, 1))  # 500 rows, every split holds each class equally
  mean, std = scores.inception_score(probs, splits=10)
  assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_of_identical_predictions_is_one():
  probs = np.tile([[0.7, 0.2, 0.1]], (40, 1))
  assert scores.inception_score(probs, splits=4)[0] == pytest.approx(1.0, abs=1e-12)
  with pytest.raises(DataError, match='sum to 1'):
    scores.inception_score(np.full((4, 3), 2.0))  # logits, not probabilities


# ----------------------------------------------------------------------- blur


def test_blur_leaves_a_constant_image_unchanged():
  x = np.full((2, 16, 16, 3), 0.3, np.float32)
  np.testing.assert_allclose(scores.blur(x, 1.5), x, atol=1e-6)


def test_blur_reduces_noise_variance_without_mixing_channels_or_images():
  rng = np.random.default_rng(7)
  x = np.zeros((3, 32, 32, 2), np.float32)
  x[0, ..., 0] = rng.standard_normal((32, 32))
  y = scores.blur(x, 1.5)
  assert y.shape == x.shape and y.dtype == np.float32
  assert y[0, ..., 0].var() < 0.15 * x[0, ..., 0].var()
  assert np.all(y[0, ..., 1] == 0) and np.all(y[1:] == 0)  # nothing leaks across C or N


# ------------------------------------------------------- the project classifier


def test_classifier_builds_for_the_project_image_shapes():
  from models import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
  for shape in ((28, 28, 1), (32, 32, 3), (64, 64, 3)):
    model = classifier_lib.classifier(shape)
    x = np.zeros((2,) + shape, np.float32)
    logits = model.predict_on_batch(x)
    feats = classifier_lib.feature_extractor(model).predict_on_batch(x)
    assert logits.shape == (2, 10) and logits.dtype == np.float32
    assert tuple(feats.shape) == (2, 128)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A classifier trained on scikit-learn's digits, cached in a temporary TWONETS_CACHE."""
  root = tmp_path_factory.mktemp('scores')
  spec = 'npz:' + helpers.digits_npz(root / 'digits.npz', size=28, n=600)
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv('TWONETS_CACHE', str(root / 'cache'))
    record = scoring.train_classifier(spec, 28, 1, epochs=8, batch_size=32, log=lambda *_: None)
    yield spec, record, root


def test_train_classifier_saves_the_model_and_its_record(trained):
  spec, record, root = trained
  path = scoring.classifier_path(spec, 28, 1)
  assert record['path'] == path
  assert path.startswith(str(root / 'cache' / 'classifiers'))
  assert os.path.isfile(path)
  assert [f for f in os.listdir(os.path.dirname(path)) if '.tmp' in f] == []
  with open(os.path.splitext(path)[0] + '.json') as f:
    sidecar = json.load(f)
  for key in ('dataset', 'image_size', 'channels', 'epochs', 'train_examples', 'test_accuracy',
              'seconds'):
    assert sidecar[key] == record[key]
  assert sidecar['train_examples'] == 540  # 600 less the held-out 10 %
  assert record['test_accuracy'] > 0.5


def test_load_classifier_returns_the_trained_model(trained):
  spec, _, _ = trained
  model = scoring.load_classifier(spec, 28, 1)
  assert tuple(model.input_shape) == (None, 28, 28, 1)
  assert tuple(model.output_shape) == (None, 10)


def test_missing_and_corrupt_classifiers_raise_checkpoint_errors(trained):
  spec, _, root = trained
  with pytest.raises(CheckpointError, match='train-classifier') as e:
    scoring.load_classifier(spec, 32, 1)
  assert scoring.classifier_path(spec, 32, 1) in str(e.value)
  assert not os.path.exists(scoring.classifier_path(spec, 32, 1))
  bad = 'npz:' + str(root / 'corrupt.npz')
  with open(scoring.classifier_path(bad, 28, 1), 'wb') as f:
    f.write(b'not a keras file')
  with pytest.raises(CheckpointError, match='delete it or retrain'):
    scoring.load_classifier(bad, 28, 1)


def test_train_classifier_needs_labels(tmp_path, monkeypatch):
  monkeypatch.setenv('TWONETS_CACHE', str(tmp_path / 'cache'))
  np.savez(tmp_path / 'unlabelled.npz', images=np.zeros((20, 28, 28), np.uint8))
  with pytest.raises(DataError, match='labelled'):
    scoring.train_classifier(f'npz:{tmp_path}/unlabelled.npz', 28, 1, log=lambda *_: None)


def test_scorer_tells_real_images_from_noise(trained):
  from core import data  # pylint: disable=g-import-not-at-top
  spec, _, _ = trained
  scorer = scoring.Scorer(spec, 28, 1, train_if_missing=False)
  real = data.to_float(data.load(spec, 'train', image_size=28, channels=1).images)
  test = data.to_float(data.load(spec, 'test', image_size=28, channels=1).images)
  assert scorer.features(test).shape == (60, 128)
  assert scorer.predict(test).shape == (60,)
  noise = np.random.default_rng(8).uniform(-1, 1, (200, 28, 28, 1)).astype(np.float32)
  like = scorer.score(real[:200], test, reference_name='test', kid_subsets=20)
  unlike = scorer.score(noise, test, reference_name='test', kid_subsets=20)
  assert like['fd'] < 0.2 * unlike['fd']
  assert like['kid'] < 0.2 * unlike['kid']
  assert unlike['num_samples'] == 200 and unlike['num_reference'] == 60
  assert unlike['reference'] == 'test' and scorer.path in unlike['features']
  assert sum(unlike['class_histogram']) == 200 and len(unlike['class_histogram']) == 10
  # Noise lands in fewer classes than real digits, and mostly in a few (this tiny classifier
  # still spreads some noise images widely; the Fashion-MNIST one puts all of it in 2).
  assert unlike['classes_present'] < like['classes_present'] == 10
  assert sum(sorted(unlike['class_histogram'])[-3:]) > 0.7 * 200
  assert max(like['class_histogram']) < 0.2 * 200
  with pytest.raises(DataError, match='28, 28, 1'):
    scorer.features(np.zeros((2, 32, 32, 1), np.float32))


def test_reference_points_report_the_floor_and_blurred_rows(trained):
  from core import data  # pylint: disable=g-import-not-at-top
  spec, _, _ = trained
  scorer = scoring.Scorer(spec, 28, 1, train_if_missing=False)
  images = data.to_float(data.load(spec, 'train', image_size=28, channels=1).images)
  ref = scorer.reference_points(images[:200], images[200:400], reference_name='train 200..399',
                                kid_subsets=20)
  assert set(ref) == {'real_vs_real', 'blurred_real'}
  for row in ref.values():
    assert row['num_samples'] == row['num_reference'] == 200
    assert np.isfinite(row['fd']) and np.isfinite(row['kid'])
  assert ref['blurred_real']['sigma_px'] == 1.5
  assert ref['real_vs_real']['fd'] < ref['blurred_real']['fd']


def test_scores_module_does_not_import_tensorflow():
  code = 'import sys, evaluation.scores, evaluation.scoring; print("tensorflow" in sys.modules)'
  out = subprocess.run([sys.executable, '-c', code], cwd=helpers.ROOT, capture_output=True,
                       text=True, timeout=60, check=True)
  assert out.stdout.strip() == 'False'


# ---------------------------------------------------------------- InceptionV3


def test_inception_weights_available(tmp_path, monkeypatch):
  assert not scoring.inception_weights_available('/nonexistent.h5')
  assert not scoring.inception_weights_available(None)
  weights = tmp_path / 'w.h5'
  weights.write_bytes(b'')
  assert scoring.inception_weights_available(str(weights))
  monkeypatch.setenv('KERAS_HOME', str(tmp_path / 'keras'))
  assert not scoring.inception_weights_available('imagenet')
  with pytest.raises(CheckpointError, match='ImageNet weights'):
    scoring.inception_features(np.zeros((1, 75, 75, 3), np.float32), weights='imagenet', size=75)
  os.makedirs(tmp_path / 'keras' / 'models')
  (tmp_path / 'keras' / 'models' / scoring.INCEPTION_WEIGHTS_FILE).write_bytes(b'')
  assert scoring.inception_weights_available('imagenet')


def test_inception_input_is_resized_rgb_in_minus_one_to_one(monkeypatch):
  seen = []

  class Recorder:

    def predict_on_batch(self, x):
      seen.append(np.asarray(x))
      return np.zeros((len(x), 2048), np.float32), np.full((len(x), 1000), 1e-3, np.float32)

  monkeypatch.setitem(scoring._INCEPTION_MODELS, ('recorder', 80), Recorder())
  images = np.linspace(-1, 1, 5 * 28 * 28, dtype=np.float32).reshape(5, 28, 28, 1)
  pool, probs = scoring.inception_features(images, weights='recorder', size=80, batch_size=2)
  assert pool.shape == (5, 2048) and probs.shape == (5, 1000)
  assert [len(x) for x in seen] == [2, 2, 1]
  x = np.concatenate(seen)
  assert x.shape == (5, 80, 80, 3)
  np.testing.assert_array_equal(x[..., 0], x[..., 2])
  assert x.min() == pytest.approx(-1.0, abs=1e-3) and x.max() == pytest.approx(1.0, abs=1e-3)


def test_inception_code_path_with_random_weights():
  rng = np.random.default_rng(9)
  samples = rng.uniform(-1, 1, (8, 28, 28, 1)).astype(np.float32)
  reference = np.tanh(rng.standard_normal((8, 28, 28, 1))).astype(np.float32)
  pool, probs = scoring.inception_features(samples, weights=None, size=75)
  assert pool.shape == (8, 2048) and probs.shape == (8, 1000)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
  out = scoring.inception_scores(samples, reference, weights=None, size=75)
  for key in ('inception_fd', 'inception_score', 'inception_score_std'):
    assert np.isfinite(out[key])
  assert out['num_samples'] == out['num_reference'] == 8
  assert 'random weights' in out['weights']


def test_kid_in_float32_matches_the_closed_form_and_float64_sums():
  """The float32-matmul KID: for constant sets x_i = a, y_j = b the unbiased MMD² is exactly
  k(a, a) + k(b, b) − 2 k(a, b); on ReLU-like features it equals the float64 computation to
  1e-6 (relative)."""
  rng = np.random.default_rng(11)
  a, b = rng.uniform(0, 2, 64), rng.uniform(0, 2, 64)
  k = lambda p, q: (p @ q / 64 + 1.0)**3
  x, y = np.tile(a, (50, 1)), np.tile(b, (50, 1))
  closed = k(a, a) + k(b, b) - 2 * k(a, b)
  assert scores.kid(x, y, num_subsets=1, subset_size=50)[0] == pytest.approx(closed, rel=1e-5)
  f = np.maximum(rng.normal(0.5, 1.5, (600, 128)), 0)
  g = np.maximum(rng.normal(0.7, 1.5, (600, 128)), 0)
  m = 600
  exact = ((_kernel(f, f).sum() - np.trace(_kernel(f, f))) / (m * (m - 1))
           + (_kernel(g, g).sum() - np.trace(_kernel(g, g))) / (m * (m - 1))
           - 2 * _kernel(f, g).mean())
  assert scores.kid(f, g, num_subsets=1, subset_size=m)[0] == pytest.approx(exact, rel=1e-6)


def test_the_weights_hash_is_of_the_weights_not_the_file(tmp_path):
  """Two saves of the same weights (a .keras zip records its save time) hash alike; the pinned
  .npz form too; one changed weight changes the hash."""
  import time  # pylint: disable=g-import-not-at-top
  import keras  # pylint: disable=g-import-not-at-top
  from models import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(3)
  model = classifier_lib.classifier((28, 28, 1), 10)
  model.save(tmp_path / 'a.keras')
  time.sleep(1.1)
  model.save(tmp_path / 'b.keras')
  assert (tmp_path / 'a.keras').read_bytes() != (tmp_path / 'b.keras').read_bytes()
  loaded = [keras.saving.load_model(tmp_path / f'{n}.keras', compile=False) for n in 'ab']
  np.savez(tmp_path / 'w.npz', **{f'w{i:02d}': np.asarray(w) for i, w in
                                  enumerate(model.weights)})
  pinned = scoring._from_weights(str(tmp_path / 'w.npz'), 28, 1)  # pylint: disable=protected-access
  hashes = {scoring.weights_sha256(m) for m in (model, *loaded, pinned)}
  assert len(hashes) == 1 and len(hashes.pop()) == 16
  before = scoring.weights_sha256(model)
  w = model.weights[-1]
  w.assign(w.numpy() + 1e-6)
  assert scoring.weights_sha256(model) != before


def test_the_pinned_classifier_is_used_without_training_and_named(tmp_path, monkeypatch):
  """Fashion-MNIST scores use the repository's classifier (evaluation/classifiers/): nothing
  is trained or cached (an empty TWONETS_CACHE), the hash is its recipe's, the source says so;
  $TWONETS_SCORING_CLASSIFIER names another one."""
  monkeypatch.setenv('TWONETS_CACHE', str(tmp_path / 'cache'))
  path = scoring.pinned_path('fashion_mnist', 28, 1)
  recipe = json.load(open(os.path.splitext(path)[0] + '.json'))
  scorer = scoring.Scorer('fashion_mnist', 28, 1, train_if_missing=False)
  assert scorer.kind == 'pinned' and scorer.path == path
  assert scorer.sha256 == recipe['weights_sha256']
  assert recipe['test_accuracy'] > 0.85 and 'make classifier' in recipe['command']
  assert not os.path.exists(tmp_path / 'cache' / 'classifiers')
  row = scorer.score(np.zeros((4, 28, 28, 1), np.float32), np.zeros((4, 28, 28, 1), np.float32),
                     reference_name='zeros', kid_subsets=2)
  assert row['classifier_sha256'] == recipe['weights_sha256']
  assert row['features'].startswith('project classifier, the pinned classifier')


def test_a_retrained_classifier_is_named_as_such_and_the_variable_is_checked(trained,
                                                                             monkeypatch):
  spec, record, _ = trained
  scorer = scoring.Scorer(spec, 28, 1, train_if_missing=False)
  assert scorer.kind == 'cached' and scorer.sha256 == record['weights_sha256']
  assert 'trained on this machine (not the pinned one)' in scorer.source
  monkeypatch.setenv(scoring.CLASSIFIER_ENV, scoring.pinned_path('fashion_mnist', 28, 1))
  given = scoring.Scorer(spec, 28, 1, train_if_missing=False)
  assert given.kind == 'given' and given.sha256 != record['weights_sha256']
  monkeypatch.setenv(scoring.CLASSIFIER_ENV, '/nonexistent.keras')
  with pytest.raises(Exception, match='TWONETS_SCORING_CLASSIFIER=/nonexistent.keras: no such'):
    scoring.Scorer(spec, 28, 1, train_if_missing=False)


def test_the_reference_rows_are_computed_once_per_classifier_and_images(trained,
                                                                        monkeypatch):
  from core import data  # pylint: disable=g-import-not-at-top
  spec, _, _ = trained
  scorer = scoring.Scorer(spec, 28, 1, train_if_missing=False)
  images = data.to_float(data.load(spec, 'train', image_size=28, channels=1).images)
  kw = dict(reference_name='train 200..399', kid_subsets=5)
  folder = os.path.join(scoring.cache_dir(), 'references')
  listed = lambda: set(os.listdir(folder)) if os.path.isdir(folder) else set()
  before = listed()
  first = scorer.reference_points(images[:200], images[200:400], **kw)
  assert len(listed() - before) == 1
  with monkeypatch.context() as m:
    m.setattr(scorer, '_reference_points', lambda *a: pytest.fail('recomputed'))
    assert scorer.reference_points(images[:200], images[200:400], **kw) == first
  other = scorer.reference_points(images[:200], images[200:399], **kw)  # other images
  assert other['real_vs_real']['num_reference'] == 199 and len(listed() - before) == 2
