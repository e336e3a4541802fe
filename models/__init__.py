"""Keras nets for each image size, and the registry every trainer builds them from.

`build(name, image_shape, **kw)` fails with the list of known names.
"""
from models import deformable
from models import descriptor
from models import encoder
from models import generator
from models import latent_prior
from models import multiview

# The one place nets are registered: name → builder(image_shape, **kw).
REGISTRY = {
    'descriptor/28': descriptor.descriptor_28,
    'descriptor/32': descriptor.descriptor_32,
    'descriptor/64': descriptor.descriptor_64,
    'descriptor/texture': descriptor.texture_descriptor,
    'generator/28': generator.generator_28,
    'generator/32': generator.generator_32,
    'generator/64': generator.generator_64,
    'deformable': deformable.deformable_generator,
    'encoder/28': encoder.encoder_28,
    'encoder/32': encoder.encoder_32,
    'encoder/64': encoder.encoder_64,
    'views': multiview.view_table,
    'prior': latent_prior.latent_prior,
}


def names():
  return sorted(REGISTRY)


def build(name, image_shape, **kw):
  """The net `name` for images of `image_shape`; ConfigError (one line) for an unknown name
  or settings the net cannot take (a widths list of the wrong length, too small images)."""
  from core.errors import ConfigError  # pylint: disable=g-import-not-at-top
  if name not in REGISTRY:
    role, _, size = name.partition('/')
    sizes = sorted(int(n.split('/')[1]) for n in REGISTRY
                   if n.startswith(role + '/') and n.split('/')[1].isdigit())
    if size.isdigit() and sizes:
      raise ConfigError(f'there is no {role} net for {size}x{size} images (sizes: '
                        f'{", ".join(map(str, sizes))}); use --set data.image_size=N with one '
                        f'of them')
    raise ConfigError(f'unknown model {name!r}; known: {", ".join(names())}')
  try:
    return REGISTRY[name](tuple(image_shape), **kw)
  except ValueError as e:
    settings = ', '.join(f'{k}={v}' for k, v in kw.items())
    raise ConfigError(f'{name} cannot be built for images of {tuple(image_shape)} with '
                      f'{settings}: {str(e).splitlines()[0]}') from None
