"""The generator table (alternating back-propagation): reconstruction at each latent size
against PCA, and recovery of masked images against interpolation fills."""
import os

from absl import flags

from evaluation import results
from tools.reproduction import runner

FLAGS = flags.FLAGS  # defined by tools/reproduce.py

# Settings of the generator table (Fashion-MNIST, 28×28). Blocks of 9 and 13 pixels cover
# about the same share of a 28×28 image (10%, 22%) as the seed's 20 and 30 of 64×64.
LATENT_SIZES = (10, 20, 40, 100, 200)

MASKS = (('P.5', 'pixels:0.5'), ('P.7', 'pixels:0.7'), ('P.9', 'pixels:0.9'),
         ('block:9', 'block:9'), ('block:13', 'block:13'))


RECOVERY_LATENT = 40


def _train_and_evaluate(workdir, train_flags, eval_flags):
  train = ['tools.train', '--algo=generator', '--dataset=fashion_mnist', '--fresh',
           f'--workdir={workdir}', f'--steps={FLAGS.steps}',
           '--set', f'langevin.steps={FLAGS.infer_steps}', *train_flags]
  c1, s1 = runner.run(train)
  c2, s2 = runner.run(['tools.evaluate', f'--workdir={workdir}',
                       f'--num_images={FLAGS.num_images}', *eval_flags])
  return f'{c1} && {c2}', round(s1 + s2, 1)


def table():
  records = []
  add = results.adder(records)
  for d in LATENT_SIZES:
    wd = os.path.join(FLAGS.runs, f'abp_d{d}')
    command, seconds = _train_and_evaluate(wd, ['--set', f'model.latent_dim={d}'],
                                           ['--task=reconstruct'])
    for method, metrics in runner.load(wd, 'reconstruct.json')['methods'].items():
      add('reconstruction', method.split(' ')[0], f'd={d}', 'recon_mae', metrics['recon_mae'],
          command, seconds)
  for name, spec in MASKS:
    wd = os.path.join(FLAGS.runs, f'abp_{spec.replace(":", "-")}')
    command, seconds = _train_and_evaluate(
        wd, ['--set', f'model.latent_dim={RECOVERY_LATENT}', '--set', f'data.mask={spec}'],
        ['--task=recover', f'--mask={spec}'])
    out = runner.load(wd, f'recover_{spec.replace(":", "-")}.json')
    for method, metrics in out['methods'].items():
      add('recovery', method, name, 'recovery_mae', metrics['recovery_mae'], command, seconds)
  return records
