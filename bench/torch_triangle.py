"""The anchor of bench/triangle_step.py: make train's triangle step ported to PyTorch, eager,
channels-last — what a user would write instead of twonets.

  pip install torch --index-url https://download.pytorch.org/whl/cpu   (not a dependency)
  python bench/torch_triangle.py --steps=60 --skip=10

The same nets (configs/triangle.py, models/: descriptor 32/64/128 → 100, generator 128/64
with nearest ×2 then 3×3 convolutions, encoder 64/128), batch 64, the same losses and
updates (trainers/triangle.py): the encoder on X and on g(h), g(z) and g(h) in one batch,
the descriptor on X and g(h) in one batch with the energy penalty 0.01 and R1 (γ = 1) on
every optim.r1_every-th step (4) weighted × 4, the generator's energy weight 25, Adam
(β 0.5, 0.999) with global-norm clipping at 100 and decoupled weight decay 5e-4 on the
generator, the weight average (decay 0.999) after every step. The images are uniform noise
in [-1, 1]: their values do not change the work. Prints one JSON line,
{"seconds_per_step": ...}, timed between --skip and --steps.
"""
import argparse
import json
import math
import os
import time

import torch
from torch import nn
from torch.nn import functional as F

LATENT, SIGMA, BATCH = 100, 0.3, 64


def generator():
  return nn.Sequential(
      nn.Linear(LATENT, 7 * 7 * 128), nn.LeakyReLU(0.2), nn.Unflatten(1, (128, 7, 7)),
      nn.Upsample(scale_factor=2, mode='nearest'), nn.Conv2d(128, 64, 3, padding=1),
      nn.LeakyReLU(0.2),
      nn.Upsample(scale_factor=2, mode='nearest'), nn.Conv2d(64, 1, 3, padding=1), nn.Tanh())


class Encoder(nn.Module):

  def __init__(self):
    super().__init__()
    self.trunk = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                               nn.Conv2d(64, 128, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten())
    self.mean = nn.Linear(7 * 7 * 128, LATENT)
    self.logvar = nn.Linear(7 * 7 * 128, LATENT)

  def forward(self, x):
    t = self.trunk(x)
    return self.mean(t), self.logvar(t)


def descriptor():
  return nn.Sequential(
      nn.Conv2d(1, 32, 5, 2, 2), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 3, 2, 1),
      nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 3, 1, 1), nn.LeakyReLU(0.2), nn.Flatten(),
      nn.Linear(7 * 7 * 128, 100))


def per_example_sum(t):
  return t.flatten(1).sum(1)


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--steps', type=int, default=60)
  p.add_argument('--skip', type=int, default=10)
  p.add_argument('--r1_every', type=int, default=4)
  a = p.parse_args()
  torch.manual_seed(0)
  torch.set_num_threads(os.cpu_count())
  cl = torch.channels_last
  gen, enc, desc = generator().to(memory_format=cl), Encoder().to(memory_format=cl), \
      descriptor().to(memory_format=cl)
  ema = [q.detach().clone() for q in gen.parameters()]
  opts = [(gen, torch.optim.AdamW(gen.parameters(), 1e-3, betas=(0.5, 0.999),
                                  weight_decay=5e-4)),
          (enc, torch.optim.Adam(enc.parameters(), 1e-3, betas=(0.5, 0.999))),
          (desc, torch.optim.Adam(desc.parameters(), 2e-4, betas=(0.5, 0.999)))]
  started = 0.0
  for step in range(a.steps):
    if step == a.skip:
      started = time.perf_counter()
    x = (torch.rand(BATCH, 1, 28, 28) * 2 - 1).contiguous(memory_format=cl)
    h, eps = torch.randn(BATCH, LATENT), torch.randn(BATCH, LATENT)
    mean, logvar = enc(x)
    z = mean + torch.exp(0.5 * logvar) * eps
    x_rec, x_gen = gen(torch.cat([z, h])).split(BATCH)
    recon = per_example_sum((x - x_rec).square()).mean() / (2 * SIGMA**2)
    kl = (0.5 * (mean.square() + logvar.exp() - 1 - logvar).sum(1)).mean()
    g_mean, g_logvar = enc(x_gen)
    nll = (0.5 * ((h - g_mean).square() * torch.exp(-g_logvar) + g_logvar
                  + math.log(2 * math.pi)).sum(1)).mean()
    with_r1 = step % a.r1_every == 0
    x_in = x.detach().requires_grad_(with_r1)
    f = desc(torch.cat([x_in, x_gen]).contiguous(memory_format=cl)).sum(1)
    f_obs, f_gen = f[:BATCH], f[BATCH:]
    loss_d = f_gen.mean() - f_obs.mean() + 0.01 * (f_obs.square().mean() + f_gen.square().mean())
    if with_r1:
      grad, = torch.autograd.grad(f_obs.sum(), x_in, create_graph=True)
      loss_d = loss_d + 0.5 * 1.0 * a.r1_every * per_example_sum(grad.square()).mean()
    loss_g = recon + 0.1 * nll - 25.0 * f_gen.mean()
    loss_e = recon + kl + 0.1 * nll
    grads = [torch.autograd.grad(loss, list(net.parameters()), retain_graph=i < 2)
             for i, (loss, (net, _)) in enumerate(zip((loss_g, loss_e, loss_d), opts))]
    for (net, opt), g in zip(opts, grads):
      for q, gq in zip(net.parameters(), g):
        q.grad = gq
      torch.nn.utils.clip_grad_norm_(net.parameters(), 100.0)
      opt.step()
    with torch.no_grad():
      torch._foreach_lerp_(ema, list(gen.parameters()), 1 - 0.999)  # pylint: disable=protected-access
    float(loss_d.detach())  # the metrics reach the host each step, as twonets' loop reads them
  seconds = (time.perf_counter() - started) / (a.steps - a.skip)
  print(json.dumps({'seconds_per_step': seconds, 'threads': torch.get_num_threads()}))


if __name__ == '__main__':
  main()
