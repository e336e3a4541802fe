"""A small conv-net image classifier whose penultimate features score generated samples.

The project's stand-in for the Inception network of the Fréchet distance (Heusel et al.,
"GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NIPS
2017) and of KID (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018) on small data sets:
conv-ReLU-pool twice, a dense ReLU layer `features`, dropout, dense `logits`. Every layer is
float32 whatever the global precision policy, so scores do not depend on it.
"""
import keras
from keras import layers


def classifier(image_shape, num_classes=10, widths=(32, 64), feature_dim=128,
               name='classifier') -> keras.Model:
  """Images float32 [-1, 1] → class logits; the dense layer `features` is the embedding."""
  if len(image_shape) != 3 or min(image_shape) <= 0:
    raise ValueError(f'image_shape must be (height, width, channels), not {image_shape}')
  if not widths:
    raise ValueError('widths must name at least one conv layer width')
  inputs = keras.Input(tuple(image_shape), name='images', dtype='float32')
  x = inputs
  for i, w in enumerate(widths):
    x = layers.Conv2D(w, 3, padding='same', activation='relu', dtype='float32',
                      name=f'conv{i + 1}')(x)
    x = layers.MaxPooling2D(2, dtype='float32', name=f'pool{i + 1}')(x)
  x = layers.Flatten(dtype='float32', name='flatten')(x)
  x = layers.Dense(feature_dim, activation='relu', dtype='float32', name='features')(x)
  x = layers.Dropout(0.3, dtype='float32', name='dropout')(x)
  logits = layers.Dense(num_classes, dtype='float32', name='logits')(x)
  return keras.Model(inputs, logits, name=name)


def feature_extractor(model: keras.Model) -> keras.Model:
  """The same weights, images → the `features` layer's output [N, feature_dim]."""
  return keras.Model(model.inputs, model.get_layer('features').output,
                     name=f'{model.name}_features')
