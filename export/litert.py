"""Running an exported .tflite generator under LiteRT (ai_edge_litert), without TensorFlow."""
import numpy as np

from core.errors import ConfigError


def interpreter(path: str):
  """A LiteRT interpreter of the .tflite file at `path` (ConfigError if it is not one)."""
  from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  try:
    return litert.Interpreter(model_path=path)
  except (ValueError, RuntimeError) as e:
    raise ConfigError(f'{path} is not a valid .tflite model ({e})') from None


def latent_dim(interp) -> int:
  return int(interp.get_input_details()[0]['shape'][-1])


def run(interp, z: np.ndarray) -> np.ndarray:
  """Images [batch, H, W, C] in [-1, 1] of latents z [batch, d] (any batch size)."""
  inp = interp.get_input_details()[0]
  if list(inp['shape']) != list(z.shape) or not getattr(interp, '_twonets_allocated', False):
    interp.resize_tensor_input(inp['index'], list(z.shape), strict=True)
    interp.allocate_tensors()
    interp._twonets_allocated = True  # pylint: disable=protected-access
  interp.set_tensor(inp['index'], np.asarray(z, np.float32))
  interp.invoke()
  return interp.get_tensor(interp.get_output_details()[0]['index'])
