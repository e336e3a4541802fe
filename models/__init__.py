"""Keras nets for each image size, and the registry every trainer builds them from.

`build(name, image_shape, **kw)` fails with the list of known names.
"""
from models import deformable
from models import descriptor
from models import encoder
from models import generator

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
}


def names():
  return sorted(REGISTRY)


def build(name, image_shape, **kw):
  if name not in REGISTRY:
    from core.errors import ConfigError  # pylint: disable=g-import-not-at-top
    raise ConfigError(f'unknown model {name!r}; known: {", ".join(names())}')
  return REGISTRY[name](tuple(image_shape), **kw)
