"""twonets in a notebook: one object for a trained run or an export.

    import twonets
    m = twonets.load('runs/main')            # a run's workdir, or an export; '' the bundled model
    x = m.sample(16, seed=0)                 # [16, 28, 28, 1] float32 in [-1, 1]
    h = m.encode(x)                          # the encoder's mean μ(X): [16, latent_dim]
    y = m.reconstruct(x)                     # g(μ(X))
    u = m.energy(x)                          # the descriptor's U(X) = −f(X), per image
    walk = m.interpolate(0, 1, steps=8)      # g((1 − t)·z_a + t·z_b), z_a, z_b of seeds 0, 1

`load` takes what the tools take: a workdir (its newest intact checkpoint, or `checkpoint`: a
step or a path; the generator is the weight average where the run keeps one, as in tools/sample
and exports), an export (a SavedModel, a TF Serving model folder, a .tflite file, a TFLite or
web export's folder), or nothing for the bundled model of apps/web. A method is there only
where the model has its net: encode and reconstruct need an encoder (triangle, vae,
dual_mcmc), energy a descriptor (descriptor, conditional, multigrid, coopnets, triangle,
dual_mcmc); sample, interpolate and generate a generator (a latent_ebm model's latents come
from its learned prior). An export holds the generator only. Anything else raises
core.errors.ConfigError with one line naming what the model has.

Seeds: a run's latents are numpy's `default_rng(seed)` normals, as tools/sample --workdir draws
them; an export's are export/latents.py's (the web page's and tools/sample --model's), so a
seed gives the same images here as in the tool for the same path. `latents(n, seed)` returns
them and `generate(z)` renders any latents.

Images given to encode, reconstruct and energy: [N, H, W, C] (or [N, H, W] for one channel),
uint8 in 0..255 or float in [-1, 1], of the model's image size.
"""
import os

import numpy as np

from core import cpu
from core.errors import ConfigError

BATCH = 500  # rows per call of a net

__all__ = ['load', 'Model']


def load(path: str = '', checkpoint: str = '') -> 'Model':
  """The model at `path`: a run's workdir, an export, or ('') the bundled model."""
  cpu.tf_environment()  # the tools' TensorFlow settings (oneDNN where it pays), before TF starts
  if not path:
    from export import web  # pylint: disable=g-import-not-at-top  (no TensorFlow)
    path = web.BUNDLED
  if not os.path.exists(path):
    raise ConfigError(f'{path}: no such run or export; pass a workdir (tools/train), an export '
                      f'(tools/export) or nothing for the bundled model')
  from core import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  if os.path.isfile(os.path.join(path, workdir_lib.CONFIG)):
    return _Run(path, checkpoint)
  if checkpoint:
    raise ConfigError(f'{path} is an export, not a run: checkpoint= applies to a workdir')
  return _Export(path)


class Model:
  """What every loaded model offers; the subclasses add the nets they have."""
  path: str
  kind: str  # 'run', 'saved_model' or 'tflite'
  algo: str  # the algorithm that trained it
  latent_dim: int = 0  # 0: no generator
  image_shape: tuple = ()

  def __repr__(self):
    shape = '×'.join(str(s) for s in self.image_shape)
    return f'<twonets {self.algo} {self.kind} {self.path} ({shape} images)>'

  # ---------------------------------------------------------------- a generator's methods

  def latents(self, n: int, seed: int = 0) -> np.ndarray:
    """n latents of the generator's prior drawn with `seed`: [n, latent_dim] float32; z ~ N(0, I),
    or for a latent_ebm model its learned prior p_α(z) ∝ exp(f_α(z)) N(0, I) (the prior's
    Langevin chain; an exported .tflite: rows of the export's prior_latents.npy)."""
    raise NotImplementedError

  def generate(self, z) -> np.ndarray:
    """g(z) for latents z [n, latent_dim]: images [n, H, W, C] in [-1, 1]."""
    raise NotImplementedError

  def sample(self, n: int = 16, seed: int = 0) -> np.ndarray:
    """n images g(z), z = latents(n, seed): [n, H, W, C] float32 in [-1, 1]."""
    self._need_generator('sample')
    return self.generate(self.latents(n, seed))

  def interpolate(self, a, b, steps: int = 8) -> np.ndarray:
    """g((1 − t)·z_a + t·z_b) for `steps` values of t from 0 to 1: [steps, H, W, C]. a, b: a
    seed (its first latent, latents(1, seed)[0]) or a latent vector [latent_dim]."""
    self._need_generator('interpolate')
    if steps < 2:
      raise ConfigError(f'interpolate: steps={steps}; give at least 2')
    za, zb = self._latent(a, 'a'), self._latent(b, 'b')
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return self.generate((1 - t) * za + t * zb)

  def _need_generator(self, what):
    """Raises where the model has no generator (an export always has one)."""

  def _latent(self, v, name):
    if isinstance(v, (int, np.integer)):
      return self.latents(1, int(v))[0]
    z = np.asarray(v, np.float32).reshape(-1)
    if z.shape != (self.latent_dim,):
      raise ConfigError(f'interpolate: {name} is a seed (int) or a latent of {self.latent_dim} '
                        f'numbers, got shape {np.shape(v)}')
    return z

  def _z(self, z) -> np.ndarray:
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or z.shape[1] != self.latent_dim:
      raise ConfigError(f'generate: latents are [n, {self.latent_dim}], got shape {z.shape}')
    return z

  # ---------------------------------------------------------------- the other nets

  def encode(self, images) -> np.ndarray:
    """The encoder's mean μ(X) of images: [N, latent_dim]."""
    raise self._missing('encode', 'an encoder (a triangle, vae or dual_mcmc run)')

  def reconstruct(self, images) -> np.ndarray:
    """g(μ(X)): the images through the encoder's mean and the generator, [N, H, W, C]."""
    raise self._missing('reconstruct', 'an encoder and a generator (a triangle, vae or '
                        'dual_mcmc run)')

  def energy(self, images):
    """The descriptor's energy U(X) = −f(X; θ) per image: [N]; a conditional descriptor's
    per class, [N, K]; a multi-grid run's {grid size: [N]} of the images average-pooled to
    each grid."""
    raise self._missing('energy', 'a descriptor (a descriptor, conditional, multigrid, coopnets, '
                        'triangle or dual_mcmc run)')

  def _missing(self, what, needs):
    return ConfigError(f'{what}() needs {needs}; {self.path} is a {self.algo} {self.kind}'
                       + (' (an export holds the generator only: load the run\'s workdir)'
                          if self.kind != 'run' else ''))

  def _images(self, images, what) -> np.ndarray:
    """Images as float32 [N, H, W, C] in [-1, 1] (from uint8 0..255 or float [-1, 1])."""
    x = np.asarray(images)
    h, w, c = self.image_shape
    if x.ndim == 3 and c == 1:
      x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (h, w, c):
      raise ConfigError(f'{what}: images are [N, {h}, {w}, {c}] (or [N, {h}, {w}] for one '
                        f'channel), got shape {x.shape}')
    if x.dtype == np.uint8:
      return x.astype(np.float32) / 127.5 - 1.0
    if not np.issubdtype(x.dtype, np.floating):
      raise ConfigError(f'{what}: images are uint8 (0..255) or float in [-1, 1], got {x.dtype}')
    x = x.astype(np.float32)
    if x.size and (np.nanmin(x) < -1.001 or np.nanmax(x) > 1.001):
      raise ConfigError(f'{what}: float images lie in [-1, 1], got values in '
                        f'[{np.nanmin(x):g}, {np.nanmax(x):g}] (uint8 images are converted)')
    return x


class _Run(Model):
  """A trained run, its nets restored once each on first use (trainers/run.TrainedRun)."""
  kind = 'run'

  def __init__(self, path, checkpoint=''):
    from trainers import nets as nets_lib  # pylint: disable=g-import-not-at-top
    from trainers import restore  # pylint: disable=g-import-not-at-top
    from trainers import run as run_lib  # pylint: disable=g-import-not-at-top
    self.path = path
    self.run = run_lib.open_run(path, checkpoint).resolve()  # CheckpointError when none
    self.config = self.run.cfg
    self.algo = self.run.algo
    self.image_shape = tuple(int(s) for s in nets_lib.image_shape(self.config))
    self.has = set(restore.roles(self.config))  # the nets its checkpoint holds
    if 'generator' in self.has and self.algo != 'multiview':
      self.latent_dim = int(self._net('generator').input_shape[-1])

  def _net(self, role):
    return self.run.nets((role,))[role]

  def latents(self, n, seed=0):
    self._need_generator('latents')
    if 'prior' in self.has:  # the latent EBM: its learned prior's chain
      from trainers import latent_ebm  # pylint: disable=g-import-not-at-top
      return latent_ebm.prior_latents(self._net('prior'), self.config.langevin, n, seed)
    return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

  def generate(self, z):
    self._need_generator('generate')
    from core import batches  # pylint: disable=g-import-not-at-top
    g = self._net('generator')
    return batches.apply(lambda zb: g(zb, training=False), self._z(z), batch_size=BATCH)

  def sample(self, n=16, seed=0):
    if self.algo == 'multiview':
      return self._sample_views(n, seed)
    return super().sample(n, seed)

  def _sample_views(self, n, seed):
    """A multi-view run: n identities, each in every view of data.views: [n, V, H, W, C]."""
    from trainers import multiview  # pylint: disable=g-import-not-at-top
    _, g, h2 = multiview.restore(self.run)
    x = multiview.sample_grid(g, h2, n, seed)
    return x.reshape((n, len(h2)) + x.shape[1:])

  def _need_generator(self, what):
    if self.algo == 'multiview':
      raise ConfigError(f'{what}() draws from a single-latent generator; {self.path} is a '
                        f'multiview run: sample(n, seed) gives n identities × its views')
    if 'generator' not in self.has:
      raise self._missing(what, 'a generator (every algorithm but descriptor, conditional and '
                          'multigrid)')

  def encode(self, images):
    if 'encoder' not in self.has:
      return super().encode(images)
    from core import batches  # pylint: disable=g-import-not-at-top
    enc = self._net('encoder')
    x = self._images(images, 'encode')
    return batches.apply(lambda xb: enc(xb, training=False)[0], x, batch_size=BATCH)

  def reconstruct(self, images):
    if not {'encoder', 'generator'} <= self.has:
      return super().reconstruct(images)
    return self.generate(self.encode(images))

  def energy(self, images):
    from core import batches  # pylint: disable=g-import-not-at-top
    if 'descriptors' in self.has:  # multi-grid: one descriptor per grid above 1×1
      from models import multigrid  # pylint: disable=g-import-not-at-top
      x = self._images(images, 'energy')
      return {int(size): batches.apply(
          lambda xb, net=net, size=size: -net(multigrid.downsample(xb, size), training=False),
          x, batch_size=BATCH).astype(np.float32)
              for size, net in self._net('descriptors').items()}
    if 'descriptor' not in self.has:
      return super().energy(images)
    d = self._net('descriptor')
    x = self._images(images, 'energy')
    return batches.apply(lambda xb: -_scores(d(xb, training=False)), x,
                         batch_size=BATCH).astype(np.float32)


def _scores(out):
  """f(X) of a descriptor's output: the conditional one returns [f, logits]."""
  return out[0] if isinstance(out, (list, tuple)) else out


class _Export(Model):
  """An exported generator: a SavedModel (TF Serving's layout too) or a .tflite file."""

  def __init__(self, path):
    import json  # pylint: disable=g-import-not-at-top
    from export import common  # pylint: disable=g-import-not-at-top
    self._generate, self.latent_dim, self.path = common.export_generator(path)
    self.kind = 'tflite' if self.path.endswith('.tflite') else 'saved_model'
    meta = os.path.join(os.path.dirname(self.path) if self.kind == 'tflite' else self.path,
                        'metadata.json')
    self.metadata = {}
    if os.path.isfile(meta):
      with open(meta) as f:
        self.metadata = json.load(f)
    self.algo = self.metadata.get('algorithm', 'exported')
    self.image_shape = tuple(self.generate(self.latents(1, 0)).shape[1:])

  def latents(self, n, seed=0):
    if self.algo == 'latent_ebm':  # z from the learned prior, as the export carries it
      return self._prior_latents(n, seed)
    from export import latents  # pylint: disable=g-import-not-at-top
    return latents.latents(seed, n, self.latent_dim)

  def _prior_latents(self, n, seed):
    """A latent-EBM export's z: the SavedModel's sample signature (the prior's chain in the
    graph), or n rows of the .tflite export's prior_latents.npy picked with `seed`."""
    if self.kind == 'saved_model':
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      sample = self._generate.loaded.signatures['sample']
      return sample(n=tf.constant(n, tf.int32), seed=tf.constant(seed, tf.int64))['z'].numpy()
    bank = np.load(os.path.join(os.path.dirname(self.path),
                                self.metadata['prior_latents']['file']))
    return bank[np.random.default_rng(seed).choice(len(bank), n, replace=n > len(bank))]

  def generate(self, z):
    return np.asarray(self._generate(self._z(z)), np.float32)
