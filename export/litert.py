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


def generator(path: str):
  """interpreter(path), checked to be a generator as tools/export writes them: one float32
  input of latents [batch, d] and one float32 output of images [batch, H, W, 1 or 3];
  ConfigError naming what differs otherwise."""
  interp = interpreter(path)
  ins, outs = interp.get_input_details(), interp.get_output_details()
  problem = ''
  if len(ins) != 1 or len(outs) != 1:
    problem = f'{len(ins)} input(s) and {len(outs)} output(s), not 1 and 1'
  elif len(ins[0]['shape']) != 2 or ins[0]['dtype'] != np.float32:
    problem = (f'its input is {np.dtype(ins[0]["dtype"]).name} of shape '
               f'{_shape(ins[0])}, not float32 latents [batch, d]')
  elif len(outs[0]['shape']) != 4 or outs[0]['shape'][-1] not in (1, 3) or (
      outs[0]['dtype'] != np.float32):
    problem = (f'its output is {np.dtype(outs[0]["dtype"]).name} of shape '
               f'{_shape(outs[0])}, not float32 images [batch, H, W, 1 or 3]')
  if problem:
    raise ConfigError(f'{path} is not a twonets generator: {problem}; pass a .tflite that '
                      f'tools/export wrote')
  return interp


def _shape(detail) -> list[int]:
  return [int(n) for n in detail.get('shape_signature', detail['shape'])]


def latent_dim(interp) -> int:
  return int(interp.get_input_details()[0]['shape'][-1])


def fixed_batch(interp) -> int:
  """The batch size a model's input is fixed at (web exports: 1), or 0 when it is dynamic."""
  signature = interp.get_input_details()[0].get('shape_signature')
  rows = int(signature[0]) if signature is not None and len(signature) else -1
  return max(rows, 0)


def run(interp, z: np.ndarray) -> np.ndarray:
  """Images [batch, H, W, C] in [-1, 1] of latents z [batch, d] (any batch size; a model
  with a fixed batch runs chunk by chunk, the last one padded)."""
  z = np.asarray(z, np.float32)
  inp = interp.get_input_details()[0]
  fixed = fixed_batch(interp)
  if fixed:
    if not len(z):
      raise ValueError('no latents to run (z has 0 rows)')
    if not getattr(interp, '_twonets_allocated', False):
      interp.allocate_tensors()
      interp._twonets_allocated = True  # pylint: disable=protected-access
    def call(batch):
      interp.set_tensor(inp['index'], batch)
      interp.invoke()
      return interp.get_tensor(interp.get_output_details()[0]['index'])
    return _in_chunks(call, z, fixed)
  if list(inp['shape']) != list(z.shape) or not getattr(interp, '_twonets_allocated', False):
    interp.resize_tensor_input(inp['index'], list(z.shape), strict=True)
    interp.allocate_tensors()
    interp._twonets_allocated = True  # pylint: disable=protected-access
  interp.set_tensor(inp['index'], z)
  interp.invoke()
  return interp.get_tensor(interp.get_output_details()[0]['index'])


SIGNATURE = 'serving_default'  # the one signature tools/export's .tflite files carry


def signature_names(model) -> dict:
  """{signature key: {'inputs': [names], 'outputs': [names]}} of a .tflite flatbuffer (bytes)
  or interpreter, as LiteRT reads them (what a signature runner is called with and returns)."""
  interp = model if hasattr(model, 'get_signature_list') else _from_bytes(model)
  return {key: {'inputs': sorted(v['inputs']), 'outputs': sorted(v['outputs'])}
          for key, v in interp.get_signature_list().items()}


def _from_bytes(flatbuffer: bytes):
  from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  return litert.Interpreter(model_content=flatbuffer)


def run_signature(model, z: np.ndarray, key: str = SIGNATURE, output: str = 'images'):
  """The `output` of signature `key` for latents z, called by name (`runner(z=...)`) as an
  app's signature runner calls it: a flatbuffer (bytes) or an interpreter. A model whose batch
  is fixed (web exports) runs chunk by chunk, the last one padded."""
  interp = model if hasattr(model, 'get_signature_runner') else _from_bytes(model)
  runner = interp.get_signature_runner(key)
  z = np.asarray(z, np.float32)
  (detail,) = runner.get_input_details().values()
  rows = detail.get('shape_signature', detail['shape'])
  fixed = int(rows[0]) if len(rows) and int(rows[0]) > 0 else 0
  if not fixed:
    return runner(z=z)[output]
  return _in_chunks(lambda batch: np.array(runner(z=batch)[output]), z, fixed)


def _in_chunks(call, z: np.ndarray, fixed: int) -> np.ndarray:
  """call(batch) over z in batches of `fixed` rows (a model whose batch is fixed), the last
  one padded with zeros and cut back."""
  out = []
  for i in range(0, len(z), fixed):
    chunk = z[i:i + fixed]
    padded = np.concatenate([chunk, np.zeros((fixed - len(chunk),) + z.shape[1:], z.dtype)])
    out.append(call(padded)[:len(chunk)])
  return np.concatenate(out)
