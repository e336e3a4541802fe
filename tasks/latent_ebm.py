"""The task of a latent-EBM run: `reconstruct` test images by posterior Langevin (the run
has no encoder), the measure its final evaluation reports
(trainers/latent_ebm.test_reconstruction), comparable with a generator (ABP) run's."""
from evaluation import reports
from trainers import latent_ebm
from trainers import run as run_lib


def reconstruct(run, num_images: int = 1000, seed: int = 0, log=print) -> dict:
  """tools/evaluate --task=reconstruct on a latent-EBM run: mean |X − g(z⁺)| of the first
  num_images test images, z⁺ by the posterior's chain; WORKDIR/reconstruct.json."""
  run = run_lib.opened(run)
  built = run.nets(('generator', 'prior'))
  out = latent_ebm.test_reconstruction(run.cfg, built['generator'], built['prior'],
                                       num_images, seed)
  return reports.write_report(run.workdir, 'reconstruct', out, log)
