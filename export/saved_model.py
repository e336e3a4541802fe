"""A run's generator (and, where the algorithm has them, encoder and descriptor) as a
SavedModel in TF Serving's layout: EXPORT_DIR/NAME/VERSION/ with metadata.json beside
saved_model.pb.

Signatures (d = latent size, H×W×C the image shape; images are float32 in [-1, 1] and uint8
= round((x + 1) · 127.5)):
  serving_default  z float32 [batch, d]                  → images [batch, H, W, C] float32,
                                                           images_uint8 uint8
  sample           n int32 [], seed int64 []             → z, images, images_uint8; the same
                                                           (n, seed) always gives the same images
                                                           (latent_ebm: z from the learned prior
                                                           by its Langevin chain, in the graph)
  encode           images float32 [batch, H, W, C]       → mean, logvar [batch, d]
                   (triangle, vae: the encoder ρ_φ(h|X) = N(mean, diag exp(logvar)))
  reconstruct      images float32 [batch, H, W, C]       → images, images_uint8 = g(mean(X))
                   (triangle, vae)
  energy           images float32 [batch, H, W, C]       → score f(X; θ) [batch], energy
                   (coopnets, triangle)                    E(X) = ||X||²/(2s²) − f(X) [batch]
                                                           (s = langevin.ref_sigma; no
                                                           reference term when s = 0)
  render           h1 float32 [batch, d], view int32 [batch]
                   (multiview)                           → images, images_uint8 of
                                                           g((h1, h2_view)); a view outside
                                                           0..V-1 fails with InvalidArgument
A multi-view run's z is its identity latent h1 (d = model.latent_dim): serving_default and
sample render the standard view (metadata.json: views, standard_view).

TF Serving warm-up: assets.extra/tf_serving_warmup_requests, a TFRecord of PredictionLog
protos, one PredictRequest per signature (WARMUP_BATCH rows, built from its input specs), so
a server runs each signature once before it answers (the protos come from
tensorflow-serving-api, installed without its dependencies: its wheel asks for the full
`tensorflow` wheel beside our tensorflow-cpu; without it the SavedModel has no warm-up file
and the export's line says so). Before a version is published, the SavedModel is loaded
back (tf.saved_model.load) and its serving_default compared with the Keras generator on
CHECK_LATENTS latents: a difference over SAVED_MODEL_LIMIT stops the export.

--formats=keras (export_keras): EXPORT_DIR/keras/NAME/VERSION/ROLE.keras of every net the
SavedModel carries that bare Keras can load (keras.saving.load_model, no project code, safe
mode): Lambda layers whose function is Keras ops are inlined as those ops; a net with a
custom layer or a Lambda that calls project code is left out, named in the export's output
and in metadata.json (the deformable generator: models/deformable.warp; the multi-view
views table: models/multiview.ViewTable, whose rows are built into one generator file per
view instead, as in the TFLite export).
"""
import os

import keras
import numpy as np
import tensorflow as tf

from core.errors import ConfigError
from export import common
from models import multiview as multiview_nets

WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')
WARMUP_BATCH = 2
CHECK_LATENTS = common.CHECK_LATENTS
SAVED_MODEL_LIMIT = 1e-4
SERVING_API = 'tensorflow-serving-api==2.21.0'  # pip install --no-deps (see above)


def _pixels(x):
  x = tf.clip_by_value(tf.cast(x, tf.float32), -1.0, 1.0)
  return {'images': x, 'images_uint8': tf.cast(tf.round((x + 1.0) * 127.5), tf.uint8)}


class Servable:
  """The exported nets and their signatures (built from a run's restored nets)."""

  def __init__(self, nets: dict, meta: dict, ref_sigma: float):
    self.nets = nets
    self.generator = nets['generator']
    self.encoder = nets.get('encoder')
    self.descriptor = nets.get('descriptor')
    self.latent_dim = meta['latent_dim']
    self.image_shape = tuple(meta['image_shape'])
    self.ref_sigma = float(ref_sigma)

  def generate(self, z):
    return _pixels(self.generator(z, training=False))

  def extra(self) -> dict:
    """Signatures beyond the common ones (a subclass's), {name: (function, input spec)}."""
    return {}

  def sample_latents(self, n, seed):
    """The `sample` signature's z: N(0, I), stateless from (seed, 0)."""
    return tf.random.stateless_normal(tf.stack([n, self.latent_dim]),
                                      seed=tf.stack([seed, tf.zeros_like(seed)]))

  def signatures(self) -> dict:
    """{name: (function, input signature)}; serving_default first."""
    d, shape = self.latent_dim, (None,) + self.image_shape
    out = {'serving_default': (self.generate, [tf.TensorSpec([None, d], tf.float32, name='z')])}

    def sample(n, seed):
      z = self.sample_latents(n, seed)
      return {'z': z, **self.generate(z)}

    out['sample'] = (sample, [tf.TensorSpec([], tf.int32, name='n'),
                              tf.TensorSpec([], tf.int64, name='seed')])
    image_spec = [tf.TensorSpec(shape, tf.float32, name='images')]
    if self.encoder is not None:
      def encode(images):
        mean, logvar = self.encoder(images, training=False)
        return {'mean': tf.cast(mean, tf.float32), 'logvar': tf.cast(logvar, tf.float32)}

      out['encode'] = (encode, image_spec)
      out['reconstruct'] = (lambda images: self.generate(encode(images)['mean']), image_spec)
    if self.descriptor is not None:
      def energy(images):
        f = tf.cast(self.descriptor(images, training=False), tf.float32)
        e = -f
        if self.ref_sigma > 0:
          flat = tf.reshape(images, [tf.shape(images)[0], -1])
          e += tf.reduce_sum(tf.square(flat), 1) / (2.0 * self.ref_sigma**2)
        return {'score': f, 'energy': e}

      out['energy'] = (energy, image_spec)
    out.update(self.extra())
    return out

  def write(self, path: str):
    """The SavedModel, through Keras's ExportArchive: it tracks the nets' variables so that
    TF1-style loaders (TF Serving, saved_model_cli run) restore them too; a tf.Module holding
    the Keras models saves a graph whose variables such loaders cannot find."""
    archive = keras.export.ExportArchive()
    for net in self.nets.values():
      archive.track(net)
    for name, (fn, spec) in self.signatures().items():
      archive.add_endpoint(name, fn, input_signature=spec)
    archive.write_out(path, verbose=False)


class MultiviewServable(Servable):
  """The multi-view generator g((h1, h2)): z = h1 renders the standard view; `render` takes
  the view index."""

  def __init__(self, nets: dict, meta: dict, ref_sigma: float):
    super().__init__(nets, meta, ref_sigma)
    self.views = nets['views']
    self.num_views = len(meta['views'])

  def render(self, h1, view):
    view = tf.cast(view, tf.int32)
    check = tf.debugging.assert_less(
        view, self.num_views, message=f'view index out of range: views are 0..'
                                      f'{self.num_views - 1} (metadata.json lists them)')
    with tf.control_dependencies([check, tf.debugging.assert_non_negative(
        view, message='view index out of range: views are non-negative')]):
      h2 = tf.cast(self.views(view, training=False), tf.float32)
    return _pixels(self.generator(tf.concat([h1, h2], 1), training=False))

  def generate(self, z):
    return self.render(z, tf.zeros([tf.shape(z)[0]], tf.int32))

  def extra(self):
    return {'render': (self.render, [tf.TensorSpec([None, self.latent_dim], tf.float32,
                                                   name='h1'),
                                     tf.TensorSpec([None], tf.int32, name='view')])}


class LatentPriorServable(Servable):
  """A latent-EBM run (trainers/latent_ebm.py): `sample` draws z from the learned prior
  p_α(z) ∝ exp(f_α(z)) N(0, I) by the training's prior chain (langevin.prior_steps steps)
  inside the signature: N(0, I) starts stateless from (seed, 0), the chain's noise from
  (seed, 1 + step); serving_default takes z as given."""

  def __init__(self, nets: dict, meta: dict, ref_sigma: float, langevin):
    super().__init__(nets, meta, ref_sigma)
    self.prior = nets['prior']
    self.langevin = langevin
    from trainers import latent_ebm  # pylint: disable=g-import-not-at-top
    # A tf.function, so that autograph turns the chain's loop into a while_loop in the graph.
    self._chain = tf.function(lambda z0, seed: latent_ebm.sample_prior(
        self.prior, z0, langevin, seed=seed)[0])

  def sample_latents(self, n, seed):
    z0 = super().sample_latents(n, seed)
    return self._chain(z0, tf.stack([seed, tf.ones_like(seed)]))


def signature_docs(module: Servable) -> dict:
  """What metadata.json says of each signature: inputs and outputs with shapes and ranges."""
  d, (h, w, c) = module.latent_dim, module.image_shape
  images = {'images': f'float32 [batch, {h}, {w}, {c}] in [-1, 1]',
            'images_uint8': f'uint8 [batch, {h}, {w}, {c}] in [0, 255]'}
  docs = {'serving_default': {'inputs': {'z': f'float32 [batch, {d}], z ~ N(0, I)'},
                              'outputs': images},
          'sample': {'inputs': {'n': 'int32 [] number of images',
                                'seed': 'int64 [] (same seed, same images)'},
                     'outputs': {'z': f'float32 [n, {d}]', **images}}}
  image_in = {'images': f'float32 [batch, {h}, {w}, {c}] in [-1, 1]'}
  if module.encoder is not None:
    docs['encode'] = {'inputs': image_in, 'outputs': {
        'mean': f'float32 [batch, {d}]', 'logvar': f'float32 [batch, {d}]'}}
    docs['reconstruct'] = {'inputs': image_in, 'outputs': images}
  if module.descriptor is not None:
    docs['energy'] = {'inputs': image_in, 'outputs': {
        'score': 'float32 [batch] f(X)', 'energy': 'float32 [batch] E(X), lower is likelier'}}
  if isinstance(module, LatentPriorServable):
    docs['serving_default']['inputs']['z'] = (f'float32 [batch, {d}], z from the learned '
                                              f'prior (the z that sample returns)')
    docs['sample']['outputs']['z'] = (f'float32 [n, {d}], z ~ p_α(z) ∝ exp(f_α(z)) N(0, I) by '
                                      f'{module.langevin.prior_steps} Langevin steps in the '
                                      f'signature')
  if isinstance(module, MultiviewServable):
    docs['render'] = {'inputs': {'h1': f'float32 [batch, {d}], the identity latent',
                                 'view': f'int32 [batch], 0..{module.num_views - 1}'},
                      'outputs': images}
  return docs


def warmup_inputs(spec, seed: int = 0) -> dict:
  """{input name: numpy array} for one signature's input specs: WARMUP_BATCH rows where the
  batch is free; the scalar `n` (sample's image count) is WARMUP_BATCH, other scalars (seed)
  0; floats are N(0, 1) clipped to [-1, 1] (latents and images alike), integers 0 (a view
  index every multi-view run has)."""
  rng = np.random.default_rng(seed)
  out = {}
  for s in spec:
    shape = [WARMUP_BATCH if n is None else int(n) for n in s.shape]
    dtype = s.dtype.as_numpy_dtype
    if not shape:
      out[s.name] = np.array(WARMUP_BATCH if s.name == 'n' else 0, dtype)
    elif s.dtype.is_floating:
      out[s.name] = np.clip(rng.standard_normal(shape), -1, 1).astype(dtype)
    else:
      out[s.name] = np.zeros(shape, dtype)
  return out


def serving_protos():
  """(predict_pb2, prediction_log_pb2) of tensorflow-serving-api, or None when it is not
  installed."""
  try:
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return predict_pb2, prediction_log_pb2


def write_warmup(path: str, module: Servable, model_name: str) -> list:
  """PATH/assets.extra/tf_serving_warmup_requests: one PredictionLog (a PredictRequest of
  warmup_inputs) per signature, as TF Serving reads them at load; the signatures' names, or
  [] when tensorflow-serving-api is not installed (no file)."""
  protos = serving_protos()
  if protos is None:
    return []
  predict_pb2, prediction_log_pb2 = protos
  os.makedirs(os.path.dirname(os.path.join(path, WARMUP_FILE)), exist_ok=True)
  names = []
  with tf.io.TFRecordWriter(os.path.join(path, WARMUP_FILE)) as writer:
    for name, (_, spec) in module.signatures().items():
      request = predict_pb2.PredictRequest()
      request.model_spec.name = model_name
      request.model_spec.signature_name = name
      for key, value in warmup_inputs(spec).items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
      writer.write(prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString())
      names.append(name)
  return names


def latents(n: int, d: int, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def check_saved_model(path: str, module: Servable) -> float:
  """max |serving_default(z) − generator(z)| of the SavedModel at `path`, loaded back, on
  CHECK_LATENTS latents; ConfigError over SAVED_MODEL_LIMIT (or not finite)."""
  z = latents(CHECK_LATENTS, module.latent_dim)
  got = tf.saved_model.load(path).signatures['serving_default'](z=tf.constant(z))['images']
  diff = float(np.abs(got.numpy() - module.generate(tf.constant(z))['images'].numpy()).max())
  if not diff <= SAVED_MODEL_LIMIT:
    raise ConfigError(f'the SavedModel does not reproduce the generator once loaded back (max '
                      f'|diff| {diff:.3g} on {CHECK_LATENTS} latents); no version was written')
  return diff


def servable(cfg, nets, meta) -> Servable:
  if 'prior' in nets:
    return LatentPriorServable(nets, meta, cfg.langevin.ref_sigma, cfg.langevin)
  if 'views' in nets:
    return MultiviewServable(nets, meta, cfg.langevin.ref_sigma)
  return Servable(nets, meta, cfg.langevin.ref_sigma)


def export(run, export_dir: str = '', name: str = '', checkpoint: str = '',
           log=print, version: int = 0) -> str:
  """Writes the run's SavedModel, with TF Serving's warm-up requests, to EXPORT_DIR/NAME/
  VERSION (defaults: WORKDIR/exports, the algorithm's name), checked once loaded back;
  returns the version directory."""
  run = common.exportable_run(run, checkpoint)
  cfg, nets, meta = common.load_run(run)
  module = servable(cfg, nets, meta)
  meta = dict(meta, format='saved_model', signatures=signature_docs(module))
  base = common.bases(run.workdir, cfg.algo, export_dir, name)['saved_model']
  done = {}

  def write(tmp):
    module.write(tmp)
    warmed = write_warmup(tmp, module, os.path.basename(base))
    if warmed:
      meta['warmup_requests'] = {'file': WARMUP_FILE, 'signatures': warmed,
                                 'rows': WARMUP_BATCH}
    done['diff'] = check_saved_model(tmp, module)
    meta['max_abs_diff_to_tf'] = {'serving_default': done['diff']}
    common.write_metadata(tmp, meta)

  path = common.write_versioned(base, write, version)
  warm = (f'{len(meta["warmup_requests"]["signatures"])} warm-up requests'
          if 'warmup_requests' in meta else
          f'no warm-up requests: tensorflow-serving-api is not installed (pip install '
          f'--no-deps {SERVING_API})')
  log(f'wrote {path} (SavedModel, {common.tree_size(path) / 1e6:.2f} MB; signatures: '
      f'{", ".join(meta["signatures"])}; step {meta["training_step"]}; {warm}; max |diff| '
      f'to TF {done["diff"]:.1e} on {CHECK_LATENTS} latents)')
  return path


# ------------------------------------------------------------------ .keras files


def _inline_lambdas(net):
  """`net` with each Lambda layer replaced by the Keras ops its function applies, and each
  project layer that has one by its built-in equivalent (`as_keras_layers`, e.g. the
  generator's NearestUpConv2D), the same layers otherwise, sharing their weights: Keras saves
  ops by name, a Python lambda only as bytecode that bare Keras refuses in safe mode. Raises
  where a Lambda's function is not made of Keras ops (it calls project code or TensorFlow)."""

  def call(layer, *args, **kw):
    if isinstance(layer, keras.layers.Lambda):
      return layer.function(*args, **(layer.arguments or {}))
    if hasattr(layer, 'as_keras_layers'):
      return layer.as_keras_layers(*args, **kw)
    return layer(*args, **kw)

  return keras.models.clone_model(net, clone_function=lambda layer: layer, call_function=call)


def _not_bare_keras(model) -> str:
  """What in `model`'s saved config bare Keras cannot load ('' if nothing): a class from
  outside Keras (a custom layer) or a Lambda layer."""
  found = []

  def walk(o):
    if isinstance(o, dict):
      if 'class_name' in o and (not str(o.get('module') or 'keras').startswith('keras') or
                                o['class_name'] == 'Lambda'):
        found.append(f'{o["class_name"]} ({o.get("module") or "Lambda"})')
      for v in o.values():
        walk(v)
    elif isinstance(o, list):
      for v in o:
        walk(v)

  walk(keras.saving.serialize_keras_object(model))
  return ', '.join(dict.fromkeys(found))


def _with_view_plain(generator, h2, name='generator'):
  """h1 → g((h1, h2)) in built-in layers only (models/multiview.with_view's AppendLatent is a
  custom layer): h2 is the bias of a Dense layer with a zero kernel, concatenated to h1."""
  d2 = len(h2)
  z = keras.Input((int(generator.input_shape[-1]) - d2,), name='z')
  view = keras.layers.Dense(d2, kernel_initializer='zeros', trainable=False, name='view_latent',
                            bias_initializer=keras.initializers.Constant(np.asarray(h2)))(z)
  both = keras.layers.Concatenate(name='h1_h2')([z, view])
  return keras.Model(z, generator(both), name=name)


def keras_models(cfg, nets: dict) -> tuple:
  """({file name: (keras model to save, the TF model it must equal)}, {role: why it is left
  out}) of the nets a SavedModel of this run carries."""
  models, left_out = {}, {}
  nets = dict(nets)
  if 'views' in nets:  # one generator per view, z = h1, as the TFLite files
    h2 = multiview_nets.table_of(nets['views'])
    generator = nets.pop('generator')
    for v, view in enumerate(cfg.data.views):
      plain = _with_view_plain(generator, h2[v])
      problem = _not_bare_keras(plain)
      if problem:  # (built-in layers only: not expected)
        raise ConfigError(f'the {view} view generator has {problem}, which bare Keras cannot '
                          f'load; export --formats=saved_model,tflite')
      models['generator.keras' if v == 0 else f'generator_{view}.keras'] = (
          plain, multiview_nets.with_view(generator, h2[v]))
  for role, net in sorted(nets.items()):
    try:
      plain = _inline_lambdas(net)
      problem = _not_bare_keras(plain)
    except Exception as e:  # pylint: disable=broad-except  (a Lambda of non-Keras code)
      problem = f'a Lambda layer that is not Keras ops ({type(e).__name__})'
    if problem:
      where = {'views': 'its rows are built into generator[_VIEW].keras, and the '
                        'SavedModel\'s render signature takes a view index'}.get(
                            role, 'the SavedModel and the TFLite files carry it')
      left_out[role] = (f'{problem}: bare Keras cannot load it without the project code; '
                        f'{where}')
    else:
      models[f'{role}.keras'] = (plain, net)
  return models, left_out


def sample_inputs(model, seed: int = 0) -> list:
  """CHECK_LATENTS rows for each of `model`'s inputs: N(0, 1) floats, integer zeros."""
  rng = np.random.default_rng(seed)
  out = []
  for t in model.inputs:
    shape = [CHECK_LATENTS] + [int(n) for n in t.shape[1:]]
    out.append(rng.standard_normal(shape).astype(np.float32) if 'float' in str(t.dtype)
               else np.zeros(shape, str(t.dtype)))
  return out


def _outputs(model, x) -> list:
  return [np.asarray(y) for y in tf.nest.flatten(model(x if len(x) > 1 else x[0],
                                                       training=False))]


def keras_check(path: str, reference) -> float:
  """max |output| difference of the .keras file at `path`, loaded back as bare Keras loads
  it (keras.saving.load_model, safe mode, no custom objects), to the TF model `reference`."""
  loaded = keras.saving.load_model(path)
  x = sample_inputs(reference)
  return max(float(np.abs(a - b).max()) for a, b in zip(_outputs(loaded, x),
                                                        _outputs(reference, x)))


def check_keras(cfg, nets: dict):
  """keras_models, or ConfigError when bare Keras can load none of the run's nets."""
  models, left_out = keras_models(cfg, nets)
  if not models:
    raise ConfigError(f'--formats=keras: no net of this {cfg.algo} run loads in bare Keras ('
                      + '; '.join(f'{r}: {why}' for r, why in left_out.items())
                      + '); export --formats=saved_model,tflite')
  return models, left_out


def export_keras(run, export_dir: str = '', name: str = '', checkpoint: str = '',
                 log=print, version: int = 0) -> str:
  """Writes ROLE.keras for each net bare Keras can load, and metadata.json, into
  EXPORT_DIR/keras/NAME/VERSION; each file is loaded back and compared with TensorFlow
  before the version is published. Returns the version directory."""
  run = common.exportable_run(run, checkpoint)
  cfg, nets, meta = common.load_run(run)
  models, left_out = check_keras(cfg, nets)
  base = common.bases(run.workdir, cfg.algo, export_dir, name)['keras']
  diffs = {}
  meta = dict(meta, format='keras', files={f[:-len('.keras')]: f for f in models
                                           if not f.startswith('generator_')},
              left_out=left_out, load='keras.saving.load_model(PATH): no custom objects, no '
                                      'safe_mode=False, no project code')
  if 'views' in nets:
    meta['view_files'] = {view: 'generator.keras' if v == 0 else f'generator_{view}.keras'
                          for v, view in enumerate(cfg.data.views)}

  def write(tmp):
    os.makedirs(tmp)
    for f, (model, reference) in models.items():
      model.save(os.path.join(tmp, f))
      diffs[f] = keras_check(os.path.join(tmp, f), reference)
      if not diffs[f] <= SAVED_MODEL_LIMIT:
        raise ConfigError(f'{f} does not reproduce the {f[:-len(".keras")]} once loaded back '
                          f'(max |diff| {diffs[f]:.3g}); no version was written')
    meta['max_abs_diff_to_tf'] = diffs
    common.write_metadata(tmp, meta)

  path = common.write_versioned(base, write, version)
  for f in models:
    log(f'wrote {path}/{f} ({os.path.getsize(os.path.join(path, f)) / 1e6:.2f} MB; loads in '
        f'bare Keras; max |diff| to TF {diffs[f]:.1e} on {CHECK_LATENTS} inputs)')
  for role, why in left_out.items():
    log(f'left out of {path}: {role}: {why}')
  return path

