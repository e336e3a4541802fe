"""Export a trained run's generator for serving and for devices.

  tools/export --workdir=runs/main                                  # SavedModel + every TFLite
  tools/export --workdir=runs/main --formats=saved_model            # TF Serving only
  tools/export --workdir=runs/main --formats=tflite --quantize=float16,int8
  tools/export --workdir=runs/main --checkpoint=1000 --export_dir=/models --name=garments
  tools/export --workdir=runs/main --formats=web --quantize=float32,int8   # a browser demo
  tools/export --workdir=runs/main --formats=keras                  # .keras files

SavedModel: EXPORT_DIR/NAME/VERSION/ (TF Serving's layout; signatures serving_default, sample,
and encode/reconstruct/energy where the algorithm has them; TF Serving's warm-up requests in
assets.extra/). TFLite: EXPORT_DIR/tflite/NAME/VERSION/generator_QUANT.tflite. Web (not in the
default formats; `make web` first): EXPORT_DIR/web/NAME/VERSION/, the LiteRT.js page with the
generator at batch 1 in model/ (serve that folder with `python3 -m http.server`). Keras (not
in the default formats): EXPORT_DIR/keras/NAME/VERSION/ROLE.keras, the nets bare Keras loads.
VERSION is the next free number, shared by the formats of one export; metadata.json beside
each.

Output: one line per file or folder written (its path, size and largest difference to
TensorFlow where it is checked), and one naming the log: what Keras and the TFLite converter
print (Python and C++ alike) goes to the end of EXPORT_DIR/export.log instead.
Check an export without the training code: tools/sample --model=PATH.
"""
import datetime
import os

from absl import flags

from core.errors import ConfigError
from export import common  # no TensorFlow: flags and the workdir are checked before it starts
from export.common import DEFAULT_FORMATS, FORMATS, QUANTIZATIONS
from tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A trained run (config.json and checkpoints).')
flags.DEFINE_list('formats', list(DEFAULT_FORMATS), f'Formats: {", ".join(FORMATS)} '
                  f'(default {",".join(DEFAULT_FORMATS)}).')
flags.DEFINE_list('quantize', list(QUANTIZATIONS),
                  f'TFLite quantisations: {", ".join(QUANTIZATIONS)}.')
flags.DEFINE_string('export_dir', '', 'Where exports go (default WORKDIR/exports).')
flags.DEFINE_string('name', '', 'Model name, the directory under EXPORT_DIR (default: the '
                    'algorithm).')
flags.DEFINE_string('checkpoint', '', 'A step number or checkpoint path (default: latest).')
flags.mark_flag_as_required('workdir')


def main(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}')
  unknown = [f for f in FLAGS.formats if f not in FORMATS]
  if unknown or not FLAGS.formats:
    raise ConfigError(f'unknown format {", ".join(unknown) or "(none given)"}; known: '
                      f'{", ".join(FORMATS)}')
  bad = [q for q in FLAGS.quantize if q not in QUANTIZATIONS]
  if bad or (not FLAGS.quantize and {'tflite', 'web'} & set(FLAGS.formats)):
    raise ConfigError(f'unknown quantisation {", ".join(bad) or "(none given)"}; known: '
                      f'{", ".join(QUANTIZATIONS)}')
  # Opened once (trainers/run.py), before TensorFlow starts: a missing run fails at once.
  run = common.exportable_run(FLAGS.workdir, FLAGS.checkpoint)
  if 'web' in FLAGS.formats:
    from export import web  # pylint: disable=g-import-not-at-top  (no TensorFlow)
    web.app_dir()  # the page and its runtime are installed (make web)
  from core import runtime  # pylint: disable=g-import-not-at-top  (starts TensorFlow)
  runtime.configure()
  # One checkpoint for every format: resolved once, here (a live run may save a newer one
  # meanwhile), and restored once, by the first format that needs the nets (the run keeps
  # them).
  run.resolve()
  bases = common.bases(FLAGS.workdir, run.algo, FLAGS.export_dir, FLAGS.name)
  root = os.path.dirname(bases['saved_model'])  # EXPORT_DIR
  with common.export_lock(root):
    # One version number for the SavedModel and the TFLite files of this export.
    version = common.next_version(*bases.values())
    log_path = os.path.join(root, common.LOG_NAME)
    when = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')
    name = os.path.basename(bases['saved_model'])
    with common.chatter_to(log_path, f'=== {when}: tools/export --workdir={FLAGS.workdir} '
                           f'--formats={",".join(FLAGS.formats)}: {name} version {version} '
                           f'===') as say:
      kw = dict(export_dir=FLAGS.export_dir, name=FLAGS.name, version=version, log=say)
      if 'keras' in FLAGS.formats:  # before any format is written: can bare Keras load any net?
        from export import saved_model  # pylint: disable=g-import-not-at-top
        run_cfg, run_nets, _ = common.load_run(run)
        saved_model.check_keras(run_cfg, run_nets)
      if 'saved_model' in FLAGS.formats:
        from export import saved_model  # pylint: disable=g-import-not-at-top
        saved_model.export(run, **kw)
      if 'tflite' in FLAGS.formats:
        from export import tflite  # pylint: disable=g-import-not-at-top
        tflite.export(run, FLAGS.quantize, **kw)
      if 'web' in FLAGS.formats:
        web.export(run, FLAGS.quantize, **kw)
      if 'keras' in FLAGS.formats:
        saved_model.export_keras(run, **kw)
      say(f'Keras and converter messages: {log_path}')


if __name__ == '__main__':
  cli.start(main)
