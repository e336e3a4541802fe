"""Bottom-up descriptor nets f(X; θ): an image in, one score per image out.

The energy is E(X) = ||X||²/(2s²) − f(X); the nets know nothing of Langevin or losses.
Architectures follow docs/ALGORITHMS.md §1:
* dataset nets: conv 64@5/2 → 128@3/2 → 256@3/1 → dense 100, leaky ReLU 0.2, f = sum of the
  100 outputs (Xie et al., CoopNets code); the 64×64 net has one more stride-2 layer.
* texture net: 100@15×15 stride 3 → 70@9×9 → 30@7×7, ReLU, no normalisation, f = sum of the
  top layer's responses (Xie et al., ICML 2016).
* conditional net: the dataset trunk with K class scores f(X; θ_k) from one dense head, and
  the class biases b_k of Pr(k | X) = softmax_k(f(X; θ_k) + b_k) (Xie et al., ICML 2016,
  "relationship with discriminative net"; trainers/conditional.py).
The score is float32 under any precision policy: the last dense layer and the sum are kept in
float32 because f reaches ~10⁷ with the TF defaults and bfloat16 keeps 8 bits of mantissa.
"""
import keras
import numpy as np
from keras import layers

DOWNSAMPLE = ('stride', 'blur')


@keras.saving.register_keras_serializable(package='twonets')
class Blur(layers.Layer):
  """A fixed binomial low-pass [1, 2, 1]ᵀ[1, 2, 1]/16 per channel, edges mirrored; no weights.

  Put before a stride-2 convolution (Zhang, "Making Convolutional Networks Shift-Invariant
  Again", ICML 2019): the gradient of f with respect to the image passes back through the
  strided convolution's transpose, which leaves a period-2 pattern, and then through this
  filter, whose response is zero at that frequency. A generator or a Langevin chain that
  descends the gradient then meets no checkerboard to copy.
  """

  def build(self, input_shape):
    k = np.outer([1., 2., 1.], [1., 2., 1.]) / 16.
    self.kernel = np.tile(k[:, :, None, None], (1, 1, int(input_shape[-1]), 1))

  def call(self, x):
    x = keras.ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode='symmetric')
    kernel = keras.ops.cast(self.kernel, x.dtype)
    return keras.ops.depthwise_conv(x, kernel, strides=1, padding='valid')


def _score(x, out_units, name, wrap=lambda layer: layer):
  x = layers.Flatten()(x)
  x = wrap(layers.Dense(out_units, dtype='float32', name='score_units'))(x)
  return layers.Lambda(lambda t: keras.ops.sum(t, axis=-1), dtype='float32', name=name)(x)


def dataset_descriptor(image_shape, *, widths=(64, 128, 256), kernels=(5, 3, 3),
                       strides=(2, 2, 1), out_units=100, leak=0.2, spectral_norm=False,
                       downsample='stride', name='descriptor'):
  """conv stack with leaky ReLU, then dense `out_units`; f = sum of the dense outputs.

  downsample='blur' puts a `Blur` before every strided convolution (same weights, same
  shapes: only the function changes).
  spectral_norm=True wraps every layer in Keras's SpectralNormalization (Miyato et al.,
  "Spectral Normalization for Generative Adversarial Networks", ICLR 2018): f becomes
  Lipschitz, so a generator that descends it (the divergence triangle) follows a smooth
  gradient instead of the high-frequency one an unconstrained net offers.
  """
  wrap = layers.SpectralNormalization if spectral_norm else (lambda layer: layer)
  if not (len(widths) == len(kernels) == len(strides)):
    raise ValueError(f'widths, kernels, strides must have one entry per layer: '
                     f'{widths}, {kernels}, {strides}')
  if downsample not in DOWNSAMPLE:
    raise ValueError(f'downsample must be one of {DOWNSAMPLE}, not {downsample!r}')
  inputs = keras.Input(image_shape, name='images')
  x = inputs
  for i, (w, k, s) in enumerate(zip(widths, kernels, strides)):
    if s > 1 and downsample == 'blur':
      x = Blur(name=f'blur{i + 1}')(x)
    x = wrap(layers.Conv2D(w, k, strides=s, padding='same', name=f'conv{i + 1}'))(x)
    x = layers.LeakyReLU(leak, name=f'lrelu{i + 1}')(x)
  return keras.Model(inputs, _score(x, out_units, 'f', wrap), name=name)


def descriptor_28(image_shape=(28, 28, 1), widths=(), out_units=100, spectral_norm=False,
                  downsample='stride'):
  return dataset_descriptor(image_shape, widths=tuple(widths) or (64, 128, 256),
                            out_units=out_units, spectral_norm=spectral_norm,
                            downsample=downsample)


def descriptor_32(image_shape=(32, 32, 3), widths=(), out_units=100, spectral_norm=False,
                  downsample='stride'):
  return dataset_descriptor(image_shape, widths=tuple(widths) or (64, 128, 256),
                            out_units=out_units, spectral_norm=spectral_norm,
                            downsample=downsample)


def descriptor_64(image_shape=(64, 64, 3), widths=(), out_units=100, spectral_norm=False,
                  downsample='stride'):
  return dataset_descriptor(image_shape, widths=tuple(widths) or (64, 128, 256, 512),
                            kernels=(5, 3, 3, 3), strides=(2, 2, 2, 1), out_units=out_units,
                            spectral_norm=spectral_norm, downsample=downsample)


def texture_descriptor(image_shape, widths=(), out_units=0, leak=0.2):
  """Large-filter texture net; f = sum of the top layer's responses (no dense head).

  Leaky rather than plain ReLU: with ReLU the chains drift to where every top unit is off,
  f(samples) is exactly 0 and gives no gradient (seen at step 120 on brick), and the chains
  are left to the noise. `leak=0` restores the original ReLU.
  """
  del out_units  # the texture score has no dense head
  widths = tuple(widths) or (100, 70, 30)
  if len(widths) != 3:
    raise ValueError(f'the texture net has 3 layers (15x15, 9x9, 7x7), not {len(widths)}')
  if min(image_shape[:2]) < 57:  # 15×15 stride 3 must leave 15 px for the 9×9 and the 7×7
    raise ValueError(f'texture patches must be at least 57 px, not {min(image_shape[:2])}')
  inputs = keras.Input(image_shape, name='images')
  x = inputs
  for i, (w, k, s) in enumerate(zip(widths, (15, 9, 7), (3, 1, 1))):
    x = layers.Conv2D(w, k, strides=s, padding='valid', name=f'conv{i + 1}')(x)
    x = layers.LeakyReLU(leak, name=f'lrelu{i + 1}')(x)
  x = layers.Activation('linear', dtype='float32', name='top')(x)
  f = layers.Lambda(lambda t: keras.ops.sum(t, axis=(1, 2, 3)), dtype='float32', name='f')(x)
  return keras.Model(inputs, f, name='texture_descriptor')


class ClassBias(layers.Layer):
  """logits = f + b: the class biases b_k of Pr(k | X) = softmax_k(f_k(X) + b_k), float32."""

  def __init__(self, num_classes, **kw):
    super().__init__(**kw)
    self.num_classes = num_classes

  def build(self, input_shape):
    del input_shape
    self.bias = self.add_weight(name='bias', shape=(self.num_classes,), initializer='zeros')

  def call(self, f):
    return f + self.bias

  def get_config(self):
    return {**super().get_config(), 'num_classes': self.num_classes}


def conditional_descriptor(image_shape, num_classes, *, widths=(64, 128, 256), kernels=None,
                           strides=None, leak=0.2, name='conditional_descriptor'):
  """The dataset trunk, then K class scores: X → [f [B, K], logits [B, K]], both float32.

  f_k(X) = w_k · h(X) has no constant term: the energy of class k is E_k(X) = ||X||²/(2s²) −
  f_k(X), and a constant would not change its Langevin gradient anyway. The constants of the
  classifier, b_k (= log prior_k − log Z_k in the generative reading), live in `ClassBias`, so
  logits = f + b and Pr(k | X) = softmax(logits). Default kernels and strides are the
  dataset nets' ((5, 3, 3), (2, 2, 1); one more stride-2 layer for a fourth width).
  """
  widths = tuple(widths)
  if kernels is None:
    kernels = (5,) + (3,) * (len(widths) - 1)
  if strides is None:
    strides = (2,) * (len(widths) - 1) + (1,)
  if not (len(widths) == len(kernels) == len(strides)) or num_classes < 2:
    raise ValueError(f'widths, kernels, strides must have one entry per layer and there must '
                     f'be at least 2 classes: {widths}, {kernels}, {strides}, {num_classes}')
  inputs = keras.Input(image_shape, name='images')
  x = inputs
  for i, (w, k, s) in enumerate(zip(widths, kernels, strides)):
    x = layers.Conv2D(w, k, strides=s, padding='same', name=f'conv{i + 1}')(x)
    x = layers.LeakyReLU(leak, name=f'lrelu{i + 1}')(x)
  x = layers.Flatten()(x)
  f = layers.Dense(num_classes, use_bias=False, dtype='float32', name='f')(x)
  logits = ClassBias(num_classes, dtype='float32', name='logits')(f)
  return keras.Model(inputs, [f, logits], name=name)
