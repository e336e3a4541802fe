"""A run's generator as .tflite files for on-device sampling (LiteRT).

    EXPORT_DIR/tflite/NAME/VERSION/generator_QUANT.tflite   one file per quantisation
    EXPORT_DIR/tflite/NAME/VERSION/metadata.json

Every model takes `z` float32 [batch, d] (z ~ N(0, I), drawn by the app: TFLite has no
stateless RNG op) and returns images float32 [batch, H, W, C] in [-1, 1]; batch is dynamic
(resize the input tensor). Quantisations:
  float32   the weights as trained
  float16   weights stored as float16, computed in float32 (half the size)
  dynamic   dynamic-range: int8 weights, float activations (a quarter of the size)
  int8      full integer: int8 weights and activations, calibrated on N(0, I) latents; input
            and output stay float32 (the converter adds the (de)quantisation)

A multi-view run (z = h1, its identity latent) writes one model per view, keeping the one-
input contract: generator_QUANT.tflite renders the standard view, generator_QUANT_VIEW.tflite
view VIEW (metadata.json: view_files); each is the generator with that view's h2 built in.

Converted with TFLiteConverter.from_keras_model: the concrete-function and SavedModel routes
can leave the weights out of a Keras 3 model and output NaN (tests/test_export.py compares
every file with TensorFlow).
"""
import numpy as np
import tensorflow as tf

from core.errors import ConfigError
from export import common

QUANTIZATIONS = common.QUANTIZATIONS
CALIBRATION_LATENTS = 256


def check_quantizations(names):
  unknown = [q for q in names if q not in QUANTIZATIONS]
  if unknown or not names:
    raise ConfigError(f'unknown quantisation {", ".join(unknown) or "(none given)"}; known: '
                      f'{", ".join(QUANTIZATIONS)}')


def convert(generator, quantization: str, seed: int = 0, batch: int = 0) -> bytes:
  """The generator z → images in [-1, 1] as a TFLite flatbuffer; its batch dimension is
  dynamic, or fixed at `batch` (runtimes that cannot resize inputs: LiteRT.js)."""
  check_quantizations([quantization])
  d = int(generator.input_shape[-1])
  if batch:
    import keras  # pylint: disable=g-import-not-at-top
    z = keras.Input(batch_shape=(batch, d), name='z')
    generator = keras.Model(z, generator(z), name=f'{generator.name}_batch{batch}')
  # from_keras_model bakes the weights in. (from_concrete_functions on a Keras 3 model leaves
  # READ_VARIABLE ops without their variables: NaN output in float32, a failed int8 calibration.)
  converter = tf.lite.TFLiteConverter.from_keras_model(generator)
  if quantization != 'float32':
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if quantization == 'float16':
    converter.target_spec.supported_types = [tf.float16]
  elif quantization == 'int8':
    latents = np.random.default_rng(seed).standard_normal(
        (CALIBRATION_LATENTS, d)).astype(np.float32)
    step = batch or 1
    converter.representative_dataset = lambda: ([latents[i:i + step]]
                                                 for i in range(0, len(latents), step))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  try:
    return converter.convert()
  except Exception as e:  # the converter raises many types; all mean "cannot convert"
    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    raise ConfigError(f'the {quantization} TFLite conversion of this generator failed ({first}); '
                      f'export the other quantisations (--quantize=...)') from None


def convert_run(workdir: str, quantizations=QUANTIZATIONS, checkpoint: str = '',
                batch: int = 0):
  """(cfg, metadata, {file name: flatbuffer}) of a run's generator in each quantisation (one
  file per view for a multi-view run); the batch dimension dynamic, or fixed at `batch`."""
  quantizations = list(dict.fromkeys(quantizations))
  check_quantizations(quantizations)
  cfg, nets, meta = common.load_run(workdir, checkpoint)
  h, w, c = meta['image_shape']
  generators = {'': nets['generator']}
  if 'views' in nets:  # one z = h1 model per view; the standard view's file has no suffix
    from models import multiview as multiview_nets  # pylint: disable=g-import-not-at-top
    h2 = multiview_nets.table_of(nets['views'])
    generators = {('' if v == 0 else f'_{name}'): multiview_nets.with_view(nets['generator'], h2[v])
                  for v, name in enumerate(cfg.data.views)}
    meta['view_files'] = {name: {q: f'generator_{q}{"" if v == 0 else "_" + name}.tflite'
                                 for q in quantizations}
                          for v, name in enumerate(cfg.data.views)}
  files = {f'generator_{q}{suffix}.tflite': convert(g, q, cfg.seed, batch)
           for suffix, g in generators.items() for q in quantizations}
  rows = str(batch) if batch else 'batch'
  meta = dict(meta, format='tflite', files={
      q: f'generator_{q}.tflite' for q in quantizations},
      inputs={'z': f'float32 [{rows}, {meta["latent_dim"]}], z ~ N(0, I); ' + (
          f'the batch is fixed at {batch}' if batch else 'batch is dynamic')},
      outputs={'images': f'float32 [{rows}, {h}, {w}, {c}] in [-1, 1]'})
  if batch:
    meta['batch'] = batch
  return cfg, meta, files


def sizes(files: dict, meta: dict) -> str:
  """'float32 2.84 MB, ...' of the standard files (× N views where there are several)."""
  views = f' × {len(meta["view_files"])} views' if 'view_files' in meta else ''
  return ', '.join(f'{q} {len(files[f]) / 1e6:.2f} MB'
                   for q, f in meta['files'].items()) + views


def export(workdir: str, quantizations=QUANTIZATIONS, export_dir: str = '', name: str = '',
           checkpoint: str = '', log=print, version: int = 0) -> str:
  """Writes generator_QUANT.tflite for each quantisation and metadata.json into
  EXPORT_DIR/tflite/NAME/VERSION; returns that directory."""
  cfg, meta, files = convert_run(workdir, quantizations, checkpoint)
  base = common.bases(workdir, cfg.algo, export_dir, name)['tflite']
  path = common.write_versioned(base, lambda tmp: common.write_files(tmp, files, meta),
                                version)
  log(f'wrote TFLite {path}: {sizes(files, meta)}')
  return path
