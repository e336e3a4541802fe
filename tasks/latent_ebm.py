"""The task of a latent-EBM run: `reconstruct` test images by posterior inference (the run has
no encoder; trainers/latent_ebm.test_reconstruction), by ABP's protocol by default so that
it compares with a generator (ABP) run's at the same latent size."""
from evaluation import reports
from trainers import latent_ebm
from trainers import run as run_lib


def reconstruct(run, num_images: int = 1000, steps: int = 300, seed: int = 0,
                log=print) -> dict:
  """tools/evaluate --task=reconstruct on a latent-EBM run: mean |X − g(z⁺)| of the first
  num_images test images, z⁺ the posterior mode by `steps` noiseless steps from z = 0 (ABP's
  reconstruct, tasks/generator.py: the same protocol at the same latent size), or with
  steps = 0 by the training's posterior chain; WORKDIR/reconstruct.json."""
  run = run_lib.opened(run)
  built = run.nets(('generator', 'prior'))
  out = latent_ebm.test_reconstruction(run.cfg, built['generator'], built['prior'],
                                       num_images, seed, steps)
  return reports.write_report(run.workdir, 'reconstruct', out, log)
