"""The feature nets sample scores are computed on, and the scorer the trainers and
tools/evaluate use (the maths is in evaluation/scores.py).

* The project classifier (models/classifier.py): Fréchet distance and KID on its
  penultimate features. Where the repository pins one for a data set and size
  (evaluation/classifiers/NAME.npz, its float32 weights, and NAME.json, its recipe: `make
  classifier`), that one is used, so scores are comparable across machines; otherwise one is
  trained once and cached under `cache_dir()` (`$TWONETS_CACHE`, default ~/.cache/twonets).
  `$TWONETS_SCORING_CLASSIFIER=PATH` (a .keras or a pinned .npz) scores with another one.
  Every score carries the hash of the classifier's *weights* (`weights_sha256`: the same
  weights give the same hash on any machine, whatever file holds them) and where they came
  from. The reference rows (real vs real, blurred real) depend only on the classifier and
  the reference images: they are computed once and cached under `cache_dir()/references/`.
* Keras's InceptionV3 when its ImageNet weights are on disk (or any weights file): the
  Inception FD and Inception Score. Keras's InceptionV3 is not the TF1 graph of the original
  FID code, so its distances are close to, not equal to, published FIDs.
TensorFlow is imported only by the functions that need it.
"""
import hashlib
import json
import os
import re
import time

import numpy as np

from core import batches
from core import files
from core.errors import CheckpointError
from core.errors import ConfigError
from core.errors import DataError
from evaluation.scores import BLUR_SIGMA_PX
from evaluation.scores import blur
from evaluation.scores import fd
from evaluation.scores import inception_score
from evaluation.scores import kid

INCEPTION_WEIGHTS_FILE = 'inception_v3_weights_tf_dim_ordering_tf_kernels.h5'
INCEPTION_WEIGHTS_URL = ('https://storage.googleapis.com/tensorflow/keras-applications/'
                         'inception_v3/' + INCEPTION_WEIGHTS_FILE)

# ------------------------------------------------------------ project classifier


def cache_dir() -> str:
  """$TWONETS_CACHE if set, else ~/.cache/twonets."""
  return os.environ.get('TWONETS_CACHE') or os.path.join(os.path.expanduser('~'), '.cache',
                                                         'twonets')


def classifier_path(dataset: str, image_size: int, channels: int) -> str:
  """Where the classifier of a data set at a size is cached (a .keras file)."""
  return os.path.join(cache_dir(), 'classifiers',
                      _name(dataset, image_size, channels) + '.keras')


PINNED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'classifiers')
CLASSIFIER_ENV = 'TWONETS_SCORING_CLASSIFIER'
REFERENCE_VERSION = 1  # bump when the reference rows' maths changes: older caches are ignored


def _name(dataset: str, image_size: int, channels: int) -> str:
  safe = re.sub(r'[^A-Za-z0-9._-]+', '_', dataset).strip('_') or 'dataset'
  return f'{safe}_{image_size}x{image_size}x{channels}'


def pinned_path(dataset: str, image_size: int, channels: int) -> str:
  """Where the repository's pinned classifier of a data set at a size is (.npz weights)."""
  return os.path.join(PINNED_DIR, _name(dataset, image_size, channels) + '.npz')


def weights_sha256(model) -> str:
  """The first 16 hex digits of the SHA-256 of a model's weights (each as float32, C order,
  after its shape): the classifier's identity, the same for the same weights in any file."""
  h = hashlib.sha256()
  for w in model.weights:
    a = np.ascontiguousarray(np.asarray(w, np.float32))
    h.update(f'{a.shape}'.encode())
    h.update(a.tobytes())
  return h.hexdigest()[:16]


def _sidecar(path: str) -> str:
  return os.path.splitext(path)[0] + '.json'


def _write_json_atomic(path: str, payload: dict):
  files.write_json(path, payload)


def _labelled(dataset, split, image_size, channels, data_dir, max_examples):
  from core import data  # pylint: disable=g-import-not-at-top
  s = data.load(dataset, split, image_size=image_size, channels=channels, data_dir=data_dir,
                max_examples=max_examples)
  if s.labels is None:
    raise DataError(f'{dataset} {split} split has no labels; the scoring classifier needs a '
                    f'labelled dataset (an npz with "labels", or a TFDS set with "label")')
  return s


def _batches(images, labels, batch_size, seed=None):
  """A tf.data pipeline of (float32 [-1, 1] images, labels) from uint8 arrays."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from core import data  # pylint: disable=g-import-not-at-top
  ds = tf.data.Dataset.from_tensor_slices((images, labels))
  if seed is not None:
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
  ds = ds.batch(batch_size).map(lambda x, y: (data.to_float(x), y),
                                num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)


def train_classifier(dataset, image_size, channels, data_dir='', epochs=3, batch_size=128,
                     max_examples=0, seed=0, pin=False, log=print) -> dict:
  """Trains the project classifier on a labelled data set and caches it; returns its record.
  pin: also writes it as the repository's pinned classifier (`make classifier`)."""
  import keras  # pylint: disable=g-import-not-at-top
  from models import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
  if epochs < 1 or batch_size < 1:
    raise ConfigError(f'epochs and batch_size must be positive, got {epochs} and {batch_size}')
  start = time.time()
  train = _labelled(dataset, 'train', image_size, channels, data_dir, max_examples)
  test = _labelled(dataset, 'test', image_size, channels, data_dir, 0)
  num_classes = int(max(train.labels.max(), test.labels.max())) + 1
  keras.utils.set_random_seed(seed)
  model = classifier_lib.classifier((image_size, image_size, channels), num_classes)
  model.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=['accuracy'])
  log(f'training the scoring classifier on {dataset} ({len(train)} images, {num_classes} '
      f'classes, {epochs} epochs)')
  progress = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: log(
      f'  epoch {e + 1}/{epochs}: loss {logs["loss"]:.4f}, train accuracy '
      f'{logs["accuracy"]:.4f}'))
  model.fit(_batches(train.images, train.labels, batch_size, seed), epochs=epochs, verbose=0,
            shuffle=False, callbacks=[progress])  # the pipeline shuffles
  _, accuracy = model.evaluate(_batches(test.images, test.labels, 512), verbose=0)
  path = classifier_path(dataset, image_size, channels)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f'{os.path.splitext(path)[0]}.{os.getpid()}.tmp.keras'
  try:
    model.save(tmp)
    with open(tmp, 'rb') as f:  # on disk before it takes the name
      os.fsync(f.fileno())
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  record = {'dataset': dataset, 'image_size': image_size, 'channels': channels,
            'epochs': epochs, 'batch_size': batch_size, 'seed': seed,
            'max_examples': max_examples, 'train_examples': len(train),
            'test_examples': len(test), 'num_classes': num_classes,
            'test_accuracy': float(accuracy), 'seconds': round(time.time() - start, 1),
            'weights_sha256': weights_sha256(model)}
  _write_json_atomic(_sidecar(path), record)
  log(f'scoring classifier: test accuracy {accuracy:.4f} after {record["seconds"]} s; '
      f'saved {path} (weights {record["weights_sha256"]})')
  if pin:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    target = pinned_path(dataset, image_size, channels)
    files.write_npz(target, **{f'w{i:02d}': np.asarray(w, np.float32)
                               for i, w in enumerate(model.weights)})
    _write_json_atomic(_sidecar(target), dict(
        record, command=f'tools/evaluate --task=train-classifier --dataset={dataset} '
                        f'--epochs={epochs} --pin  (make classifier)',
        made_with=f'TensorFlow {tf.__version__}, Keras {keras.__version__}, '
                  f'numpy {np.__version__}', made=time.strftime('%Y-%m-%d')))
    log(f'pinned it: {target} ({os.path.getsize(target) / 1e6:.2f} MB)')
  elif os.path.isfile(pinned_path(dataset, image_size, channels)):
    log(f'the pinned classifier ({pinned_path(dataset, image_size, channels)}) stays the one '
        f'scores use; {CLASSIFIER_ENV}={path} scores with this one')
  return dict(record, path=path)


def _from_weights(path: str, image_size: int, channels: int):
  """A pinned classifier: models/classifier.classifier with the .npz's weights."""
  from models import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
  try:
    with np.load(path, allow_pickle=False) as f:
      weights = [f[k] for k in sorted(f.files)]
    model = classifier_lib.classifier((image_size, image_size, channels),
                                      int(weights[-1].shape[-1]))
    model.set_weights(weights)
  except Exception as e:  # pylint: disable=broad-except  (a torn or foreign file)
    raise CheckpointError(f'scoring classifier {path} could not be loaded ({type(e).__name__}: '
                          f'{str(e)[:160]}); restore it from the repository (git checkout '
                          f'{path}) or remake it with make classifier') from None
  return model


def classifier_source(dataset, image_size, channels) -> tuple[str, str]:
  """(kind, path) of the classifier a score of this data set and size uses: 'given'
  ($TWONETS_SCORING_CLASSIFIER), 'pinned' (the repository's), else 'cached' (trained on this
  machine, possibly not yet)."""
  given = os.environ.get(CLASSIFIER_ENV)
  if given:
    return 'given', given
  pinned = pinned_path(dataset, image_size, channels)
  if os.path.isfile(pinned):
    return 'pinned', pinned
  return 'cached', classifier_path(dataset, image_size, channels)


def load_classifier(dataset, image_size, channels, train_if_missing=False, **train_kw):
  """The classifier of a data set (a keras.Model): $TWONETS_SCORING_CLASSIFIER, else the
  pinned one, else the cached one, trained first if asked to."""
  import keras  # pylint: disable=g-import-not-at-top
  kind, path = classifier_source(dataset, image_size, channels)
  if kind == 'given' and not os.path.isfile(path):
    raise ConfigError(f'{CLASSIFIER_ENV}={path}: no such file; point it at a .keras or a '
                      f'pinned .npz classifier, or unset it')
  if path.endswith('.npz'):
    model = _from_weights(path, image_size, channels)
    return _checked(model, path, image_size, channels)
  if not os.path.exists(path):
    if not train_if_missing:
      raise CheckpointError(
          f'no scoring classifier for {dataset} at {image_size}x{image_size}x{channels} '
          f'({path} does not exist); train it once with '
          f'tools/evaluate --task=train-classifier --dataset={dataset}')
    train_kw.get('log', print)(f'no scoring classifier at {path}; training it once')
    train_classifier(dataset, image_size, channels, **train_kw)
  try:
    model = keras.saving.load_model(path, compile=False)
  except Exception as e:  # zipfile.BadZipFile, ValueError, OSError ...
    raise CheckpointError(f'scoring classifier {path} could not be loaded ({type(e).__name__}: '
                          f'{e}); delete it or retrain with tools/evaluate '
                          f'--task=train-classifier --dataset={dataset}') from None
  return _checked(model, path, image_size, channels)


def _checked(model, path, image_size, channels):
  expected = (None, image_size, image_size, channels)
  names = [layer.name for layer in model.layers]
  if tuple(model.input_shape) != expected or 'features' not in names:
    raise CheckpointError(f'scoring classifier {path} takes {model.input_shape}, not '
                          f'{expected}, or has no "features" layer; delete it or retrain')
  return model


class Scorer:
  """Fréchet distance, KID and class coverage of samples in the project classifier's features."""

  def __init__(self, dataset, image_size, channels, data_dir='', train_if_missing=True,
               batch_size=500, log=print):
    import keras  # pylint: disable=g-import-not-at-top
    self.dataset, self.batch_size, self.log = dataset, batch_size, log
    self.image_shape = (image_size, image_size, channels)
    self.kind, self.path = classifier_source(dataset, image_size, channels)
    self.model = load_classifier(dataset, image_size, channels,
                                 train_if_missing=train_if_missing, data_dir=data_dir, log=log)
    self.num_classes = int(self.model.output_shape[-1])
    # Beside every score, so that numbers from different classifiers are not mixed: the hash
    # of the weights, the same on every machine for the pinned classifier.
    self.sha256 = weights_sha256(self.model)
    self.source = {'pinned': 'the pinned classifier', 'cached': 'a classifier trained on '
                   'this machine (not the pinned one)', 'given': f'${CLASSIFIER_ENV}'}[self.kind]
    self._both = keras.Model(self.model.inputs,
                             [self.model.get_layer('features').output, self.model.output])

  def _check(self, images):
    x = np.asarray(images)
    if x.dtype == np.uint8:
      from core import data  # pylint: disable=g-import-not-at-top
      x = data.to_float(x)
    x = x.astype(np.float32, copy=False)
    if x.ndim != 4 or x.shape[1:] != self.image_shape:
      raise DataError(f'the {self.dataset} scoring classifier takes images [N, '
                      f'{", ".join(map(str, self.image_shape))}], got {x.shape}')
    if len(x) == 0:
      raise DataError('no images to score')
    return x

  def _run(self, images):
    """(features [N, D], logits [N, classes]) as float32 numpy, in batches."""
    x = self._check(images)
    return batches.apply(lambda b: tuple(np.asarray(out, np.float32)
                                         for out in self._both.predict_on_batch(b)),
                         x, batch_size=self.batch_size)

  def features(self, images) -> np.ndarray:
    """Penultimate features [N, feature_dim] of float32 [-1, 1] images (uint8 is converted)."""
    return self._run(images)[0]

  def predict(self, images) -> np.ndarray:
    """Predicted class ids [N]."""
    return self._run(images)[1].argmax(axis=1)

  def _score(self, feats, logits, ref_feats, *, num_reference, reference_name, kid_subsets,
             kid_subset_size):
    kid_mean, kid_std = kid(feats, ref_feats, kid_subsets, kid_subset_size)
    hist = np.bincount(logits.argmax(axis=1), minlength=self.num_classes)
    return {'fd': fd(feats, ref_feats), 'kid': kid_mean, 'kid_std': kid_std,
            'num_samples': len(feats), 'num_reference': num_reference,
            'reference': reference_name,
            'features': f'project classifier, {self.source} ({self.path})',
            'classifier_sha256': self.sha256,
            'classes_present': int(np.count_nonzero(hist)),
            'class_max_share': float(hist.max() / max(1, hist.sum())),
            'class_histogram': [int(c) for c in hist]}

  def score(self, samples, reference, *, reference_name, kid_subsets=100,
            kid_subset_size=1000, ref_feats=None) -> dict:
    """FD, KID (mean and std over subsets) and predicted-class coverage of samples
    (ref_feats: the reference's features, when the caller has them already)."""
    feats, logits = self._run(samples)
    if ref_feats is None:
      ref_feats, _ = self._run(reference)
    return self._score(feats, logits, ref_feats, num_reference=len(ref_feats),
                       reference_name=reference_name, kid_subsets=kid_subsets,
                       kid_subset_size=kid_subset_size)

  def reference_points(self, real, reference, *, reference_name, kid_subsets=100,
                       kid_subset_size=1000, ref_feats=None) -> dict:
    """The floor (`real` test images vs the disjoint `reference` test images) and the same
    real images blurred by σ = BLUR_SIGMA_PX, scored exactly as samples are. They depend only
    on the classifier and the images: cached under cache_dir()/references/, keyed by the
    weights' hash, the images' bytes and the settings."""
    real = self._check(real)
    if len(real) < 2 or len(reference) < 2:
      raise DataError(f'reference points need at least 2 images on each side, got '
                      f'{len(real)} and {len(reference)}')
    key = hashlib.sha256()
    for part in (self.sha256, reference_name, kid_subsets, kid_subset_size, BLUR_SIGMA_PX,
                 REFERENCE_VERSION):
      key.update(f'{part}|'.encode())
    key.update(np.ascontiguousarray(real).tobytes())
    key.update(np.ascontiguousarray(np.asarray(reference, np.float32)).tobytes())
    cached = os.path.join(cache_dir(), 'references', key.hexdigest()[:24] + '.json')
    try:
      with open(cached) as f:
        return json.load(f)
    except (OSError, ValueError):
      pass  # not computed yet (or torn): compute it
    out = self._reference_points(real, reference, reference_name, kid_subsets,
                                 kid_subset_size, ref_feats)
    try:
      files.write_json(cached, out)
    except OSError as e:  # a read-only cache costs time, not the scores
      self.log(f'warning: could not cache the reference rows in {cached} ({e.strerror})')
    return out

  def _reference_points(self, real, reference, reference_name, kid_subsets, kid_subset_size,
                        ref_feats):
    if ref_feats is None:
      ref_feats, _ = self._run(reference)
    kw = dict(num_reference=len(ref_feats), reference_name=reference_name,
              kid_subsets=kid_subsets, kid_subset_size=kid_subset_size)
    out = {'real_vs_real': self._score(*self._run(real), ref_feats, **kw),
           'blurred_real': self._score(*self._run(blur(real, BLUR_SIGMA_PX)), ref_feats, **kw)}
    out['real_vs_real']['samples'] = f'{len(real)} other test images'
    out['blurred_real']['samples'] = (f'the same {len(real)} test images blurred, sigma '
                                      f'{BLUR_SIGMA_PX} px')
    out['blurred_real']['sigma_px'] = BLUR_SIGMA_PX
    return out


# ------------------------------------------------------------------ InceptionV3

_INCEPTION_MODELS = {}


def _keras_home() -> str:
  """Keras's cache directory, resolved as keras.src.backend.config does (no Keras import)."""
  if 'KERAS_HOME' in os.environ:
    return os.environ['KERAS_HOME']
  base = os.path.expanduser('~')
  return os.path.join(base if os.access(base, os.W_OK) else '/tmp', '.keras')


def imagenet_weights_path() -> str:
  """Where Keras caches InceptionV3's ImageNet weights (with the top)."""
  return os.path.join(_keras_home(), 'models', INCEPTION_WEIGHTS_FILE)


def inception_weights_available(weights) -> bool:
  """True if `weights` is an existing .h5/.keras file, or 'imagenet' and Keras has cached it."""
  if weights == 'imagenet':
    return os.path.isfile(imagenet_weights_path())
  return (isinstance(weights, (str, os.PathLike)) and
          str(weights).endswith(('.h5', '.keras')) and os.path.isfile(weights))


def _inception_model(weights, size):
  """InceptionV3 with its top at size×size, images → (avg_pool [N, 2048], softmax [N, 1000])."""
  key = (weights, size)
  if key in _INCEPTION_MODELS:
    return _INCEPTION_MODELS[key]
  import keras  # pylint: disable=g-import-not-at-top
  if size < 75:
    raise ConfigError(f'InceptionV3 needs images of at least 75 px, not {size}')
  if weights is not None and not inception_weights_available(weights):
    if weights == 'imagenet':
      raise CheckpointError(f'InceptionV3 ImageNet weights are not at '
                            f'{imagenet_weights_path()}; copy {INCEPTION_WEIGHTS_URL} there '
                            f'from a machine with network, or score with the project '
                            f'classifier')
    raise CheckpointError(f'InceptionV3 weights {weights} do not exist (or are not a .h5 or '
                          f'.keras file); pass an existing weights file or "imagenet"')
  # Built without weights at the requested size (Keras's own loader insists on 299 px with the
  # top), then loaded from the same file Keras would use: one code path for every case.
  model = keras.applications.InceptionV3(include_top=True, weights=None,
                                         input_shape=(size, size, 3))
  if weights is not None:
    path = imagenet_weights_path() if weights == 'imagenet' else weights
    try:
      model.load_weights(path)
    except Exception as e:
      raise CheckpointError(f'InceptionV3 weights {path} could not be loaded '
                            f'({type(e).__name__}: {e}); delete the file and fetch it '
                            f'again') from None
  both = keras.Model(model.inputs, [model.get_layer('avg_pool').output, model.output])
  _INCEPTION_MODELS[key] = both
  return both


def inception_features(images, weights='imagenet', size=299, batch_size=50):
  """InceptionV3 pool features [N, 2048] and class probabilities [N, 1000] of [-1, 1] images."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  x = np.asarray(images, np.float32)
  if x.ndim != 4 or x.shape[-1] not in (1, 3) or len(x) == 0:
    raise DataError(f'InceptionV3 scores take images [N, H, W, 1 or 3], got {x.shape}')
  model = _inception_model(weights, size)

  def pools_and_probs(b):
    b = tf.image.resize(b, [size, size], method='bilinear')
    if b.shape[-1] == 1:
      b = tf.repeat(b, 3, axis=-1)
    # preprocess_input maps [0, 255] to [-1, 1]; the images are [-1, 1], so go to [0, 255].
    b = keras.applications.inception_v3.preprocess_input(
        (tf.clip_by_value(b, -1.0, 1.0) + 1.0) * 127.5)
    return tuple(np.asarray(out, np.float32) for out in model.predict_on_batch(b))
  return batches.apply(pools_and_probs, x, batch_size=batch_size)


def inception_scores(samples, reference, weights='imagenet', size=299, batch_size=50) -> dict:
  """Inception FD of samples vs reference and the samples' Inception Score."""
  s_pool, s_probs = inception_features(samples, weights, size, batch_size)
  r_pool, _ = inception_features(reference, weights, size, batch_size)
  is_mean, is_std = inception_score(s_probs)
  if weights is None:
    note = 'random weights (a code-path check; the numbers mean nothing)'
  elif weights == 'imagenet':
    note = f'ImageNet ({imagenet_weights_path()})'
  else:
    note = str(weights)
  return {'inception_fd': fd(s_pool, r_pool), 'inception_score': is_mean,
          'inception_score_std': is_std, 'num_samples': len(s_pool),
          'num_reference': len(r_pool), 'image_size': size,
          'weights': f'Keras InceptionV3, {note}'}
