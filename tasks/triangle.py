"""The task of a triangle or VAE run: `reconstruct` test images through the encoder (h =
μ_φ(X)), the same measure the trainer's final evaluation reports
(trainers/triangle.reconstruct_test).
"""
from evaluation import reports
from trainers import run as run_lib
from trainers import triangle as triangle_lib


def reconstruct(run, num_images: int = 1000, log=print) -> dict:
  """tools/evaluate --task=reconstruct on a triangle or VAE run: test reconstructions
  through the encoder (h = μ_φ(X)), WORKDIR/reconstruct.json."""
  run = run_lib.opened(run)
  workdir = run.workdir
  cfg, built = run.cfg, run.nets(('encoder', 'generator'))
  out = triangle_lib.reconstruct_test(cfg, built['encoder'], built['generator'], workdir,
                                      num_images)
  return reports.write_report(workdir, 'reconstruct', out, log)
