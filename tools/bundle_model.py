"""Make a web export's generator the bundled model (apps/web/model): `make bundle-model`.

  tools/export --workdir=runs/bundle --formats=web --quantize=float16 --export_dir=/tmp/e
  python -m tools.bundle_model --export=/tmp/e/web/triangle --command="make bundle-model" \
      --commit=$(git rev-parse HEAD)

The page (apps/web) and tools/sample use the bundled model by default. metadata.json gets a
`made_by` entry: the command and the commit that made it.
"""

from absl import flags

from core.errors import ConfigError
from export import web  # no TensorFlow
from tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string('export', None, 'A web export: EXPORT_DIR/web/NAME (its newest version) '
                    'or EXPORT_DIR/web/NAME/VERSION.')
flags.DEFINE_string('command', None, 'The command that made the run and its export.')
flags.DEFINE_string('commit', None, 'The commit it was made at (git rev-parse HEAD).')
flags.DEFINE_string('dest', '', 'Where the model goes (default apps/web/model).')
flags.mark_flags_as_required(['export', 'command', 'commit'])


def main(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments {" ".join(argv[1:])}')
  web.bundle(FLAGS.export, FLAGS.command, FLAGS.commit, FLAGS.dest)


if __name__ == '__main__':
  cli.start(main)
