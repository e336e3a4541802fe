"""A run's generator as .tflite files for on-device sampling (LiteRT).

    EXPORT_DIR/tflite/NAME/VERSION/generator_QUANT.tflite   one file per quantisation
    EXPORT_DIR/tflite/NAME/VERSION/metadata.json

Every model has one signature, `serving_default`: input `z` float32 [batch, d] (z ~ N(0, I),
drawn by the app: TFLite has no stateless RNG op; a latent-EBM run's z comes from its
learned prior: the export writes prior_latents.npy, PRIOR_DRAWS draws of it, beside the
files), output `images` float32 [batch, H, W, C]
in [-1, 1] (the names metadata.json's inputs and outputs give; a signature runner reads them
by name); batch is dynamic (resize the input tensor). Quantisations:
  float32   the weights as trained
  float16   weights stored as float16, computed in float32 (half the size)
  dynamic   dynamic-range: int8 weights, float activations (a quarter of the size)
  int8      full integer: int8 weights and activations, calibrated on N(0, I) latents (a
            latent EBM's on its prior's draws); input and output stay float32 (the converter
            adds the (de)quantisation)

A multi-view run (z = h1, its identity latent) writes one model per view, keeping the one-
input contract: generator_QUANT.tflite renders the standard view, generator_QUANT_VIEW.tflite
view VIEW (metadata.json: view_files); each is the generator with that view's h2 built in.

Converted with TFLiteConverter.from_keras_model: the concrete-function and SavedModel routes
can leave the weights out of a Keras 3 model and output NaN. The generator is wrapped in a
Keras model whose Input is named `z` and whose output is the dict {'images': ...}: the
converter names a signature's inputs after the Keras Inputs and its outputs after the keys
of a dict output (a plain tensor output, even of a layer named `images`, becomes
`output_0`). Every file is run under LiteRT on CHECK_LATENTS latents before it is written and
compared with TensorFlow: a non-finite output (or a float32 file off by more than
FLOAT32_LIMIT, the dropped-weights trap) stops the export; the largest difference goes into
metadata.json (max_abs_diff_to_tf) and the export's line.
"""
import io

import keras
import numpy as np
import tensorflow as tf

from core.errors import ConfigError
from export import common
from export import litert
from models import multiview as multiview_nets

QUANTIZATIONS = common.QUANTIZATIONS
CALIBRATION_LATENTS = 256
SIGNATURE = 'serving_default'
INPUT, OUTPUT = 'z', 'images'
CHECK_LATENTS = common.CHECK_LATENTS
FLOAT32_LIMIT = 1e-3  # the float32 file is TensorFlow's arithmetic: more means lost weights


def check_quantizations(names):
  unknown = [q for q in names if q not in QUANTIZATIONS]
  if unknown or not names:
    raise ConfigError(f'unknown quantisation {", ".join(unknown) or "(none given)"}; known: '
                      f'{", ".join(QUANTIZATIONS)}')


def convert(generator, quantization: str, seed: int = 0, batch: int = 0,
            calibration=None) -> bytes:
  """The generator z → images in [-1, 1] as a TFLite flatbuffer; its batch dimension is
  dynamic, or fixed at `batch` (runtimes that cannot resize inputs: LiteRT.js). calibration:
  the int8 file's calibration latents [N, d] (default CALIBRATION_LATENTS draws of N(0, I)
  from `seed`): the latents the file will be fed."""
  check_quantizations([quantization])
  d = int(generator.input_shape[-1])
  # The signature's names: the Input's name (z) and the output dict's key (images).
  z = keras.Input(batch_shape=(batch or None, d), name=INPUT)
  named = keras.Model(z, {OUTPUT: generator(z)},
                      name=f'{generator.name}_batch{batch}' if batch else generator.name)
  # from_keras_model bakes the weights in. (from_concrete_functions on a Keras 3 model leaves
  # READ_VARIABLE ops without their variables: NaN output in float32, a failed int8 calibration.)
  converter = tf.lite.TFLiteConverter.from_keras_model(named)
  if quantization != 'float32':
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if quantization == 'float16':
    converter.target_spec.supported_types = [tf.float16]
  elif quantization == 'int8':
    latents = np.asarray(calibration, np.float32) if calibration is not None else (
        np.random.default_rng(seed).standard_normal((CALIBRATION_LATENTS, d)).astype(np.float32))
    step = batch or 1
    converter.representative_dataset = lambda: ([latents[i:i + step]]
                                                 for i in range(0, len(latents), step))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  try:
    flatbuffer = converter.convert()
  except Exception as e:  # the converter raises many types; all mean "cannot convert"
    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    raise ConfigError(f'the {quantization} TFLite conversion of this generator failed ({first}); '
                      f'export the other quantisations (--quantize=...)') from None
  names = litert.signature_names(flatbuffer)
  if names != {SIGNATURE: {'inputs': [INPUT], 'outputs': [OUTPUT]}}:
    raise ConfigError(f'the {quantization} TFLite conversion named its signature {names}, not '
                      f'{SIGNATURE} (z) → (images); this TensorFlow\'s converter names them '
                      f'differently: export the SavedModel (--formats=saved_model)')
  return flatbuffer


def max_diff_to_tf(flatbuffer: bytes, generator, seed: int = 0, latents=None) -> float:
  """The largest |TFLite − TensorFlow| of the images of CHECK_LATENTS latents N(0, I), or of
  `latents` (run through the file's `serving_default` signature by name, under LiteRT); inf
  if the file outputs a non-finite value."""
  d = int(generator.input_shape[-1])
  z = np.asarray(latents, np.float32)[:CHECK_LATENTS] if latents is not None else (
      np.random.default_rng(seed).standard_normal((CHECK_LATENTS, d)).astype(np.float32))
  got = litert.run_signature(flatbuffer, z)
  want = np.asarray(generator(z, training=False), np.float32)
  if got.shape != want.shape or not np.all(np.isfinite(got)):
    return float('inf')
  return float(np.abs(got - want).max())


def checked(flatbuffer: bytes, generator, quantization: str, name: str,
            latents=None) -> float:
  """max_diff_to_tf of a converted file (on `latents`, the ones it will be fed, when given);
  ConfigError (nothing written) when it outputs a non-finite value or, in float32, differs
  from TensorFlow by more than FLOAT32_LIMIT."""
  diff = max_diff_to_tf(flatbuffer, generator, latents=latents)
  if not np.isfinite(diff) or (quantization == 'float32' and diff > FLOAT32_LIMIT):
    raise ConfigError(f'the {quantization} TFLite file {name} does not reproduce the generator '
                      f'under LiteRT (max |TFLite − TF| = {diff:.3g} on {CHECK_LATENTS} '
                      f'latents); nothing was written: export the other quantisations '
                      f'(--quantize=...) or the SavedModel')
  return diff


def convert_run(run, quantizations=QUANTIZATIONS, checkpoint: str = '', batch: int = 0):
  """(cfg, metadata, {file name: flatbuffer}) of a run's generator in each quantisation (one
  file per view for a multi-view run); the batch dimension dynamic, or fixed at `batch`."""
  quantizations = list(dict.fromkeys(quantizations))
  check_quantizations(quantizations)
  cfg, nets, meta = common.load_run(run, checkpoint)
  h, w, c = meta['image_shape']
  generators = {'': nets['generator']}
  if 'views' in nets:  # one z = h1 model per view; the standard view's file has no suffix
    h2 = multiview_nets.table_of(nets['views'])
    generators = {('' if v == 0 else f'_{name}'): multiview_nets.with_view(nets['generator'], h2[v])
                  for v, name in enumerate(cfg.data.views)}
    meta['view_files'] = {name: {q: f'generator_{q}{"" if v == 0 else "_" + name}.tflite'
                                 for q in quantizations}
                          for v, name in enumerate(cfg.data.views)}
  files, diffs, calibration = {}, {}, None
  if 'prior' in nets:  # a latent EBM: z must come from its prior (metadata's latent_prior)
    from trainers import latent_ebm  # pylint: disable=g-import-not-at-top
    bank = latent_ebm.prior_latents(nets['prior'], cfg.langevin, common.PRIOR_DRAWS, cfg.seed)
    calibration = bank[:CALIBRATION_LATENTS]  # int8 ranges from the latents it will be fed
    buf = io.BytesIO()
    np.save(buf, bank)
    files[common.PRIOR_LATENTS] = buf.getvalue()
    meta['prior_latents'] = {'file': common.PRIOR_LATENTS, 'rows': common.PRIOR_DRAWS,
                             'seed': cfg.seed}
  for suffix, g in generators.items():
    for q in quantizations:
      name = f'generator_{q}{suffix}.tflite'
      files[name] = convert(g, q, cfg.seed, batch, calibration)
      diffs[name] = checked(files[name], g, q, name, calibration)
  rows = str(batch) if batch else 'batch'
  meta = dict(meta, format='tflite', signature=SIGNATURE, files={
      q: f'generator_{q}.tflite' for q in quantizations}, max_abs_diff_to_tf=diffs,
      max_abs_diff_latents=f'{CHECK_LATENTS} latents N(0, I), the TFLite file under LiteRT '
                           f'against the TensorFlow generator',
      inputs={'z': f'float32 [{rows}, {meta["latent_dim"]}], {meta["latent_prior"]}; ' + (
          f'the batch is fixed at {batch}' if batch else 'batch is dynamic')},
      outputs={'images': f'float32 [{rows}, {h}, {w}, {c}] in [-1, 1]'})
  if batch:
    meta['batch'] = batch
  return cfg, meta, files


def sizes(files: dict, meta: dict) -> str:
  """'float32 2.84 MB (max |diff| to TF 1.2e-07), ...' of the standard files (× N views where
  there are several; the largest difference over the views)."""
  views = meta.get('view_files', {})
  out = []
  for q, f in meta['files'].items():
    diffs = [meta.get('max_abs_diff_to_tf', {}).get(v[q]) for v in views.values()] or [
        meta.get('max_abs_diff_to_tf', {}).get(f)]
    diffs = [x for x in diffs if x is not None]
    out.append(f'{q} {len(files[f]) / 1e6:.2f} MB' + (
        f' (max |diff| to TF {max(diffs):.1e})' if diffs else ''))
  return ', '.join(out) + (f' × {len(views)} views' if views else '')


def file_line(path: str, size: int, diff) -> str:
  """The export's line for one file: its path, size and difference to TensorFlow."""
  return (f'wrote {path} ({size / 1e6:.2f} MB' + (
      f'; max |diff| to TF {diff:.1e} on {CHECK_LATENTS} latents' if diff is not None else '')
          + ')')


def export(run, quantizations=QUANTIZATIONS, export_dir: str = '', name: str = '',
           checkpoint: str = '', log=print, version: int = 0) -> str:
  """Writes generator_QUANT.tflite for each quantisation and metadata.json into
  EXPORT_DIR/tflite/NAME/VERSION; returns that directory."""
  run = common.exportable_run(run, checkpoint)
  cfg, meta, files = convert_run(run, quantizations)
  base = common.bases(run.workdir, cfg.algo, export_dir, name)['tflite']
  path = common.write_versioned(base, lambda tmp: common.write_files(tmp, files, meta),
                                version)
  for file_name, data in files.items():  # one line per file
    log(file_line(f'{path}/{file_name}', len(data), meta['max_abs_diff_to_tf'].get(file_name)))
  return path
