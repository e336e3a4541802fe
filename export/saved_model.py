"""A run's generator (and, where the algorithm has them, encoder and descriptor) as a
SavedModel in TF Serving's layout: EXPORT_DIR/NAME/VERSION/ with metadata.json beside
saved_model.pb.

Signatures (d = latent size, H×W×C the image shape; images are float32 in [-1, 1] and uint8
= round((x + 1) · 127.5)):
  serving_default  z float32 [batch, d]                  → images [batch, H, W, C] float32,
                                                           images_uint8 uint8
  sample           n int32 [], seed int64 []             → z, images, images_uint8; the same
                                                           (n, seed) always gives the same images
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
"""
import os

import tensorflow as tf

from export import common


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

  def signatures(self) -> dict:
    """{name: (function, input signature)}; serving_default first."""
    d, shape = self.latent_dim, (None,) + self.image_shape
    out = {'serving_default': (self.generate, [tf.TensorSpec([None, d], tf.float32, name='z')])}

    def sample(n, seed):
      z = tf.random.stateless_normal(tf.stack([n, d]), seed=tf.stack([seed, tf.zeros_like(seed)]))
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
    import keras  # pylint: disable=g-import-not-at-top
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
  if isinstance(module, MultiviewServable):
    docs['render'] = {'inputs': {'h1': f'float32 [batch, {d}], the identity latent',
                                 'view': f'int32 [batch], 0..{module.num_views - 1}'},
                      'outputs': images}
  return docs


def export(workdir: str, export_dir: str = '', name: str = '', checkpoint: str = '',
           log=print, version: int = 0) -> str:
  """Writes the run's SavedModel to EXPORT_DIR/NAME/VERSION (defaults: WORKDIR/exports, the
  algorithm's name); returns the version directory."""
  cfg, nets, meta = common.load_run(workdir, checkpoint)
  if 'views' in nets:
    module = MultiviewServable(nets, meta, cfg.langevin.ref_sigma)
  else:
    module = Servable(nets, meta, cfg.langevin.ref_sigma)
  meta = dict(meta, format='saved_model', signatures=signature_docs(module))
  base = common.bases(workdir, cfg.algo, export_dir, name)['saved_model']

  def write(tmp):
    module.write(tmp)
    common.write_metadata(tmp, meta)

  path = common.write_versioned(base, write, version)
  log(f'wrote SavedModel {path} (signatures: {", ".join(meta["signatures"])}; step '
      f'{meta["training_step"]})')
  return path

