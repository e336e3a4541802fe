"""Image sources → uint8 arrays in memory → `tf.data` pipelines of float32 images in [-1, 1].

Sources (`--dataset=`):
  fashion_mnist            Debian's `dataset-fashion-mnist` IDX files, the Keras cache, or TFDS
  mnist, cifar10, svhn_cropped, celeb_a
                           TFDS (prepared under `--data_dir` or ~/tensorflow_datasets; TFDS
                           downloads only with `--download`)
  tfds:NAME, or NAME       any TFDS image dataset (e.g. kmnist, tfds:emnist/letters): its
                           image feature and its class label (if any) found from its features;
                           a bare NAME where no other source has it
  folder:PATH              every .png/.jpg/.jpeg below PATH
  npz:PATH                 an array of images in a .npz (key `images`, `x`, `x_train`, ...)
  texture:NAME|PATH        one image: brick, grass or gravel (scikit-image, CC0) or a file
  multiview:PATH, fashion_mnist_views
                           multi-view sets (an identity × view grid of images, for
                           --algo=multiview): located here, read by core/multiview.py

`locate()` answers "is it there, and where" from the file system alone (no TensorFlow, so a
missing dataset is reported in well under a second, never after TFDS's network retries);
`load()` reads it into an `ImageSet`; `pipeline()` makes the training batches.

Folder sources (folder:PATH, and multiview:PATH through `read_files`) decode a file only when
`os.stat` (links followed) says it is a regular file of at most MAX_FILE_BYTES (64 MiB) and
the width × height that its PNG or JPEG header claims, read from its first bytes before any
decoding, is at most MAX_PIXELS (50 megapixels). Anything else is skipped, never opened
when it is not a regular file (a FIFO, a device such as /dev/zero, a folder, a link loop or
a dangling link), and counted with the corrupt files (`ImageSet.skipped`): a hostile file
never blocks the read, fills memory, or ends it.
"""
import dataclasses
import glob
import gzip
import json
import os
import re
import stat
import struct
import sys

import numpy as np

from core.errors import DataError

TFDS_NAMES = ('fashion_mnist', 'mnist', 'cifar10', 'svhn_cropped', 'celeb_a')
TEXTURES = ('brick', 'grass', 'gravel')
# The built-in multi-view set: Fashion-MNIST items under fixed views (core/multiview.py).
MULTIVIEW_BUILTIN = 'fashion_mnist_views'
SOURCES = TFDS_NAMES + ('tfds:NAME', 'folder:PATH', 'npz:PATH',
                        'texture:brick|grass|gravel|PATH', 'multiview:PATH', MULTIVIEW_BUILTIN)
# A TFDS name: a builder, optionally /config (versions are TFDS's newest prepared one).
TFDS_NAME = re.compile(r'[a-z][a-z0-9_]*(/[A-Za-z0-9_.-]+)?')
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg')
# Folder sources skip a file larger than this, or whose header claims more pixels than this,
# before decoding it: 50 megapixels take ~750 MB while decoded and resized (uint8 and float32
# RGB), once per parallel read.
MAX_FILE_BYTES = 64 << 20
MAX_PIXELS = 50_000_000
# A JPEG whose frame header (SOF) does not come within this many segments is skipped.
JPEG_MAX_SEGMENTS = 1024
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'

DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist'
KERAS_FASHION_MNIST = os.path.join('~', '.keras', 'datasets', 'fashion-mnist')
IDX_FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}
# Keys tried, in order, for the image and label arrays of an .npz.
NPZ_IMAGE_KEYS = {'train': ('images', 'x', 'x_train', 'train_images', 'arr_0'),
                  'test': ('x_test', 'test_images', 'images_test')}
NPZ_LABEL_KEYS = {'train': ('labels', 'y', 'y_train', 'train_labels'),
                  'test': ('y_test', 'test_labels', 'labels_test')}


@dataclasses.dataclass
class ImageSet:
  """Images as uint8 [N, H, W, C] at the requested size, labels int64 [N] or None."""
  images: np.ndarray
  labels: np.ndarray | None
  source: str
  skipped: int = 0  # unreadable files passed over (folder sources)

  def __len__(self):
    return len(self.images)


@dataclasses.dataclass
class Location:
  kind: str  # idx | tfds | tfds_download | folder | npz | texture | multiview | multiview_builtin
  path: str  # directory, file, or texture name
  name: str = ''  # TFDS name


def parse(spec: str):
  """'folder:/x' → ('folder', '/x'); 'cifar10' and 'tfds:cifar10' → ('tfds', 'cifar10'); any
  other bare name → ('tfds_name', name): a TFDS dataset if one of that name is prepared or
  --download is given (locate)."""
  if spec in TFDS_NAMES:
    return 'tfds', spec
  if spec == MULTIVIEW_BUILTIN:
    return 'multiview_builtin', 'fashion_mnist'
  kind, sep, arg = spec.partition(':')
  if sep and kind in ('folder', 'npz', 'texture', 'multiview') and arg:
    return kind, os.path.expanduser(arg)
  if sep and kind == 'tfds' and TFDS_NAME.fullmatch(arg):
    return 'tfds', arg
  if not sep and TFDS_NAME.fullmatch(spec):
    return 'tfds_name', spec
  raise DataError(f'unknown dataset {spec!r}; known: {", ".join(SOURCES)}')


def tfds_default_dir() -> str:
  return os.environ.get('TFDS_DATA_DIR') or os.path.join(
      os.path.expanduser('~'), 'tensorflow_datasets')


def _prepared_tfds_dir(name: str, data_dir: str):
  """The newest prepared version folder of TFDS dataset `name` under data_dir, or None."""
  hits = glob.glob(os.path.join(data_dir, name, '*', 'dataset_info.json'))
  hits += glob.glob(os.path.join(data_dir, name, '*', '*', 'dataset_info.json'))
  if not hits:
    return None
  return os.path.dirname(sorted(hits)[-1])


def _idx_dir(candidates):
  for d in candidates:
    d = os.path.expanduser(d)
    if all(os.path.isfile(os.path.join(d, f)) for f in IDX_FILES['train'] + IDX_FILES['test']):
      return d
  return None


def how_to_get(name: str, data_dir: str) -> str:
  ways = []
  if name == 'fashion_mnist':
    ways.append('install Debian\'s copy: sudo apt-get install dataset-fashion-mnist '
                '(or `make data`)')
    ways.append(f'put the four *-ubyte.gz IDX files in {KERAS_FASHION_MNIST}')
  ways.append(f'let TFDS fetch it: add --download (stored under {data_dir or tfds_default_dir()})')
  ways.append('point --data_dir at a folder where TFDS already prepared it')
  return '; or '.join(ways)


def is_multiview(spec: str) -> bool:
  """Whether `spec` names a multi-view source (an identity × view grid, core/multiview.py)."""
  try:
    return parse(spec)[0] in ('multiview', 'multiview_builtin')
  except DataError:
    return False


def _tfds_location(name: str, data_dir: str, download: bool):
  """TFDS dataset `name` prepared under data_dir (else the TFDS default folder); else, with
  `download`, where TFDS is to fetch it; else None."""
  where = data_dir or tfds_default_dir()
  found = _prepared_tfds_dir(name, where)
  if found:
    return Location('tfds', found, name)
  return Location('tfds_download', where, name) if download else None


def locate(spec: str, data_dir: str = '', download: bool = False) -> Location:
  """Finds a source on disk without importing TensorFlow; DataError names the ways to get it."""
  kind, arg = parse(spec)
  if kind == 'multiview_builtin':  # made from Fashion-MNIST's IDX files
    found = _idx_dir([data_dir] if data_dir else [DEBIAN_FASHION_MNIST, KERAS_FASHION_MNIST])
    if not found:
      where = data_dir or f'{DEBIAN_FASHION_MNIST} and {KERAS_FASHION_MNIST}'
      raise DataError(f'{spec} is made from Fashion-MNIST\'s IDX files, not found in {where}. '
                      f'To get them: sudo apt-get install dataset-fashion-mnist (or `make data`), or put the '
                      f'four *-ubyte.gz files in {data_dir or KERAS_FASHION_MNIST}')
    return Location('multiview_builtin', found, arg)
  if kind == 'multiview':
    if not os.path.isdir(arg):
      raise DataError(f'multiview:{arg}: no such folder; pass --dataset=multiview:PATH with a '
                      f'folder per identity holding one image per view (PATH/ID/VIEW.png)')
    return Location('multiview', arg)
  if kind == 'tfds_name':  # a bare name: TFDS's, once prepared or asked for (--download)
    loc = _tfds_location(arg, data_dir, download)
    if loc:
      return loc
    raise DataError(f'unknown dataset {spec!r}; known: {", ".join(SOURCES)}; a TFDS dataset of '
                    f'that name is not prepared under {data_dir or tfds_default_dir()}: add '
                    f'--download to let TFDS fetch it, or point --data_dir at where it is')
  if kind == 'tfds':
    if arg == 'fashion_mnist' and not data_dir:
      found = _idx_dir([DEBIAN_FASHION_MNIST, KERAS_FASHION_MNIST])
      if found:
        return Location('idx', found, arg)
    loc = _tfds_location(arg, data_dir, download)
    if loc:
      return loc
    where = data_dir or tfds_default_dir()
    if arg == 'fashion_mnist' and not data_dir:
      where = f'{DEBIAN_FASHION_MNIST}, {KERAS_FASHION_MNIST} and {where}'
    raise DataError(f'dataset {arg} not found (looked in {where}). To get it: '
                    f'{how_to_get(arg, data_dir)}')
  if kind == 'folder':
    if not os.path.isdir(arg):
      raise DataError(f'folder {arg} does not exist; pass --dataset=folder:PATH with a '
                      f'directory of .png/.jpg images')
    return Location('folder', arg)
  if kind == 'npz':
    if not os.path.isfile(arg):
      raise DataError(f'npz file {arg} does not exist; pass --dataset=npz:PATH to a .npz '
                      f'with an array named "images" of shape [N, H, W] or [N, H, W, C]')
    return Location('npz', arg)
  # texture
  if arg in TEXTURES:
    return Location('texture', arg)
  if not os.path.isfile(arg):
    raise DataError(f'texture {arg!r} is neither one of {", ".join(TEXTURES)} nor an image file')
  return Location('texture', arg)


# ---------------------------------------------------------------------------- readers


def read_idx(path: str) -> np.ndarray:
  """Reads a (gzipped) IDX file of unsigned bytes (the MNIST format) into an array."""
  opener = gzip.open if path.endswith('.gz') else open
  try:
    with opener(path, 'rb') as f:
      raw = f.read()
  except (OSError, EOFError) as e:
    raise DataError(f'{path} could not be read ({e}); reinstall or re-download it') from None
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
    raise DataError(f'{path} is not an IDX file of unsigned bytes (bad magic number)')
  ndim = raw[3]
  header = 4 + 4 * ndim
  shape = struct.unpack('>' + 'I' * ndim, raw[4:header])
  count = int(np.prod(shape))
  if len(raw) - header != count:
    raise DataError(f'{path} is truncated or corrupt: header says {shape} '
                    f'({count} bytes), file has {len(raw) - header}')
  return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def read_idx_split(directory: str, split: str):
  images = read_idx(os.path.join(directory, IDX_FILES[split][0]))
  labels = read_idx(os.path.join(directory, IDX_FILES[split][1])).astype(np.int64)
  if images.ndim != 3 or len(images) != len(labels):
    raise DataError(f'IDX files in {directory} disagree: {images.shape} images, '
                    f'{labels.shape} labels')
  return images[..., None], labels


def tfds_keys(features, name: str):
  """(image key, label key or None) of a TFDS dataset's top-level features: its first Image
  feature ('image' if it has one), and its ClassLabel ('label' first); DataError without an
  image."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  items = dict(features.items())
  images = [k for k, f in items.items() if isinstance(f, tfds.features.Image)]
  labels = [k for k, f in items.items() if isinstance(f, tfds.features.ClassLabel)]
  if not images:
    raise DataError(f'TFDS dataset {name} has no image feature (its features: '
                    f'{", ".join(items)}); pass an image dataset')
  pick = lambda keys, first: (first if first in keys else keys[0]) if keys else None
  return pick(images, 'image'), pick(labels, 'label')


def tfds_image_shape(loc: Location):
  """(height, width, channels) of a prepared TFDS dataset's image feature, read from its
  features.json without TensorFlow (the feature tfds_keys picks: 'image' first), or None
  when the folder does not say (not prepared yet, a variable size, no image feature)."""
  if loc.kind != 'tfds':
    return None
  try:
    with open(os.path.join(loc.path, 'features.json')) as f:
      items = json.load(f)['featuresDict']['features']
  except (OSError, ValueError, KeyError, TypeError):
    return None
  images = {k: v for k, v in items.items()
            if isinstance(v, dict) and v.get('pythonClassName', '').endswith('.Image')}
  if not images:
    return None
  key = 'image' if 'image' in images else sorted(images)[0]
  try:
    dims = tuple(int(d) for d in images[key]['image']['shape']['dimensions'])
  except (KeyError, TypeError, ValueError):
    return None
  return dims if len(dims) == 3 and min(dims) > 0 else None


def _read_tfds(loc: Location, split: str, max_examples: int):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tfds_split = f'{split}[:{max_examples}]' if max_examples else split
  if loc.kind == 'tfds_download':
    try:
      builder = tfds.builder(loc.name, data_dir=loc.path)
    except tfds.core.registered.DatasetNotFoundError:
      raise DataError(f'TFDS has no dataset {loc.name!r}; see '
                      f'https://www.tensorflow.org/datasets/catalog for the names') from None
    builder.download_and_prepare()
  else:
    builder = tfds.builder_from_directory(loc.path)
  if builder.info.splits and split not in builder.info.splits:  # (none listed: mock_data)
    raise DataError(f'{loc.name} in {loc.path} has no {split!r} split '
                    f'(it has {", ".join(builder.info.splits)})')
  image_key, label_key = tfds_keys(builder.info.features, loc.name)
  if max_examples and builder.info.splits and (
      builder.info.splits[split].num_examples <= max_examples):
    tfds_split = split  # TFDS refuses a slice longer than the split
  ds = builder.as_dataset(split=tfds_split)
  images, labels = [], []
  for ex in tfds.as_numpy(ds):
    images.append(ex[image_key])
    if label_key:
      labels.append(ex[label_key])
  if not images:
    raise DataError(f'{loc.name} {split} split at {loc.path} is empty')
  shapes = {im.shape for im in images}
  out = images if len(shapes) > 1 else np.stack(images)
  return out, (np.asarray(labels, np.int64) if labels else None)


_NOTED = set()


def note(message: str):
  """One line on stderr about how a source was read, once per process."""
  if message not in _NOTED:
    _NOTED.add(message)
    print(f'note: {message}', file=sys.stderr)


def _read_npz(path: str, split: str):
  """(images, labels) of `split`; (None, None) for a test split the file does not have."""
  try:
    arrays = np.load(path, allow_pickle=False)
    keys = list(arrays.keys())
  except Exception as e:  # zipfile.BadZipFile, ValueError, OSError ...
    raise DataError(f'{path} is not a readable .npz ({type(e).__name__}: {e})') from None

  def pick(candidates):
    for k in candidates:
      if k in keys:
        return k
    return None

  image_key = pick(NPZ_IMAGE_KEYS[split])
  if image_key is None and split == 'train':
    for k in keys:  # the first array that looks like a stack of images
      a = arrays[k]
      if a.ndim in (3, 4) and a.dtype.kind in 'uif' and len(a) > 0:
        image_key = k
        break
  if image_key is None:
    if split == 'test':
      return None, None
    raise DataError(f'{path} has no image array (keys: {", ".join(keys) or "none"}); store '
                    f'one named "images" of shape [N, H, W] or [N, H, W, C]')
  try:
    images = arrays[image_key]
  except ValueError as e:  # an object array (np.load refuses pickles)
    raise DataError(f'{path}[{image_key!r}] cannot be read ({e}); store a numeric array of '
                    f'shape [N, H, W] or [N, H, W, C]') from None
  if not len(images):
    raise DataError(f'{path}[{image_key!r}] holds 0 images; store at least one')
  if image_key not in ('images', 'x_test'):
    note(f'{path}: images read from the array {image_key!r} (keys: {", ".join(keys)}); '
         f'name it "images" to make the choice explicit')
  if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3, 4):
    images = images.transpose(0, 2, 3, 1)  # NCHW → NHWC
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or images.dtype.kind not in 'uif':
    raise DataError(f'{path}[{image_key!r}] has shape {images.shape} and dtype {images.dtype}; '
                    f'expected numeric [N, H, W] or [N, H, W, C] with C in 1, 3, 4')
  label_key = pick(NPZ_LABEL_KEYS[split])
  labels = arrays[label_key].astype(np.int64).reshape(-1) if label_key else None
  if labels is not None and len(labels) != len(images):
    labels = None
  return _to_uint8(images, f'{path}[{image_key!r}]'), labels


def _to_uint8(images: np.ndarray, what: str) -> np.ndarray:
  """uint8 as is; floats in [-1, 1] or [0, 1] or [0, 255] are mapped to 0..255."""
  if images.dtype == np.uint8:
    return images
  x = images.astype(np.float32)
  if not np.all(np.isfinite(x)):
    raise DataError(f'{what} contains NaN or inf')
  lo, hi = float(x.min()), float(x.max())
  if lo >= -1.0001 and hi <= 1.0001 and lo < 0:
    x = (x + 1.0) * 127.5
  elif lo >= 0 and hi <= 1.0001:
    x = x * 255.0
  elif lo < 0 or hi > 255.5:
    raise DataError(f'{what} has values in [{lo:g}, {hi:g}]; expected [0, 255], [0, 1] or [-1, 1]')
  return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _read_texture(loc: Location):
  if loc.path in TEXTURES:
    import skimage.data  # pylint: disable=g-import-not-at-top
    image = getattr(skimage.data, loc.path)()
  else:
    import skimage.io  # pylint: disable=g-import-not-at-top
    try:
      image = skimage.io.imread(loc.path)
    except Exception as e:
      raise DataError(f'texture {loc.path} could not be read as an image ({e})') from None
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  return _to_uint8(image[None], f'texture {loc.path}'), None


def _list_images(folder: str):
  """The sorted paths below `folder` whose names end in IMAGE_EXTENSIONS (folders, and links
  to folders, are walked or passed over, never listed); `read_files` checks what they are."""
  paths = []
  for root, _, files in os.walk(folder):
    paths += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
  return sorted(paths)


# ----------------------------------------------------------------------- resizing


def _channels(images: np.ndarray, channels: int) -> np.ndarray:
  """uint8 [..., C] with C in 1, 3, 4 → [..., channels] (alpha dropped, ITU-R 601 luma)."""
  if images.shape[-1] == 4:
    images = images[..., :3]
  if images.shape[-1] == channels:
    return images
  if channels == 3:
    return np.repeat(images, 3, axis=-1)
  luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
  return np.clip(np.round(luma), 0, 255).astype(np.uint8)[..., None]


def _crop_resize_fn(size: int, channels: int):
  """A TF function: uint8 [H, W, channels] → uint8 [size, size, channels], centre square crop."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def fn(image):
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    side = tf.minimum(h, w)
    image = tf.image.crop_to_bounding_box(image, (h - side) // 2, (w - side) // 2, side, side)
    image = tf.image.resize(image, [size, size], antialias=True)
    image = tf.ensure_shape(image, [size, size, channels])
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), side

  return fn


def fit(images, size: int, channels: int, what: str) -> np.ndarray:
  """Crops/resizes uint8 images (an array or a list of differently sized ones)."""
  if isinstance(images, np.ndarray):
    images = _channels(images, channels)
    if images.shape[1:3] == (size, size):
      return images
  else:
    images = [_channels(im, channels) for im in images]
  # An array has one size; a list (TFDS sets of mixed sizes) is checked image by image.
  sides = [min(im.shape[0], im.shape[1]) for im in (images[:1] if isinstance(
      images, np.ndarray) else images)]
  if min(sides) < size:
    raise DataError(f'{what}: images of {min(sides)} px are too small for image_size={size}; '
                    f'use --set data.image_size={min(sides)} or larger images')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  fn = _crop_resize_fn(size, channels)
  if isinstance(images, np.ndarray):
    ds = tf.data.Dataset.from_tensor_slices(images)
  else:
    ds = tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec([None, None, None], tf.uint8))
  ds = ds.map(lambda im: fn(im)[0], num_parallel_calls=tf.data.AUTOTUNE).batch(1024)
  return np.concatenate([b.numpy() for b in ds])


def _header_size(f):
  """(width, height) that the header of the PNG or JPEG open in binary file `f` claims, read
  from its first bytes (a JPEG's segments are skipped by seeking, not read); None for any
  other content (GIF, BMP, WebP: decode_image would take them, with no bound from this
  header) or a header that is cut short or names no size."""
  head = f.read(24)
  if head[:8] == PNG_SIGNATURE:
    if len(head) < 24 or head[12:16] != b'IHDR':
      return None
    size = struct.unpack('>II', head[16:24])
  elif head[:3] == b'\xff\xd8\xff':
    size = _jpeg_size(f)
  else:
    return None
  return size if size and min(size) > 0 else None


def _jpeg_size(f):
  """(width, height) of a JPEG's first frame header (SOF0..SOF15), the one libjpeg decodes;
  None when a scan, the end of the image, or anything but a marker comes before it."""
  f.seek(2)
  for _ in range(JPEG_MAX_SEGMENTS):
    marker = f.read(2)
    if len(marker) < 2 or marker[0] != 0xff:
      return None
    code = marker[1]
    if code == 0xff:  # a fill byte: the marker comes after it
      f.seek(-1, os.SEEK_CUR)
      continue
    if code == 0x01 or 0xd0 <= code <= 0xd7:  # TEM, RSTn: no segment follows
      continue
    if code in (0xd8, 0xd9, 0xda):  # SOI again, EOI, SOS: no frame header first
      return None
    length = f.read(2)
    if len(length) < 2 or struct.unpack('>H', length)[0] < 2:
      return None
    if 0xc0 <= code <= 0xcf and code not in (0xc4, 0xc8, 0xcc):  # not DHT, JPG, DAC
      frame = f.read(5)  # precision, height, width
      if len(frame) < 5:
        return None
      height, width = struct.unpack('>HH', frame[1:])
      return width, height
    f.seek(struct.unpack('>H', length)[0] - 2, os.SEEK_CUR)
  return None


def _readable(path: str) -> bool:
  """True when `path` may be decoded: a regular file (links followed) of at most
  MAX_FILE_BYTES whose PNG/JPEG header claims at most MAX_PIXELS pixels. Never blocks: a
  FIFO, device, folder or link loop is only stat'ed, not opened; any OSError gives False."""
  try:
    if not stat.S_ISREG(os.stat(path).st_mode):
      return False
    # O_NONBLOCK: should the path turn into a FIFO after the stat, the open does not wait.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, 'O_NOCTTY', 0))
    with os.fdopen(fd, 'rb', buffering=4096) as f:
      info = os.fstat(fd)  # the file opened, whatever the path names now
      if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
        return False
      size = _header_size(f)
  except (OSError, ValueError):
    return False
  return size is not None and size[0] * size[1] <= MAX_PIXELS


def read_files(paths, size: int, channels: int):
  """(the paths that decoded, their images uint8 [n, size, size, channels] centre-cropped and
  resized, the side of each one's square crop before resizing); files that are not
  `_readable` or do not decode are left out (the caller counts them)."""
  paths = [p for p in paths if _readable(p)]  # ~30 µs a file, serial (threads were slower)
  if not paths:
    return [], np.zeros((0, size, size, channels), np.uint8), np.zeros((0,), np.int32)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  fn = _crop_resize_fn(size, channels)

  def read(path):
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                               expand_animations=False)
    resized, side = fn(image)
    return path, resized, side

  ds = tf.data.Dataset.from_tensor_slices(paths).map(
      read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.ignore_errors().batch(512)
  names, images, sides = [], [], []
  for p, im, s in ds:
    names += [x.decode() for x in p.numpy()]
    images.append(im.numpy())
    sides.append(s.numpy())
  if not names:
    return [], np.zeros((0, size, size, channels), np.uint8), np.zeros((0,), np.int32)
  return names, np.concatenate(images), np.concatenate(sides)


def _read_folder(folder: str, size: int, channels: int):
  """(images uint8 [n, size, size, channels], how many image files were skipped)."""
  paths = _list_images(folder)
  if not paths:
    raise DataError(f'folder {folder} has no .png/.jpg/.jpeg images')
  names, images, sides = read_files(paths, size, channels)
  skipped = len(paths) - len(names)
  if not names:
    raise DataError(f'folder {folder}: none of its {len(paths)} image files could be read '
                    f'(corrupt, not PNG/JPEG, not regular files, over {MAX_FILE_BYTES >> 20} MiB '
                    f'or over {MAX_PIXELS / 1e6:g} megapixels); put readable .png/.jpg/.jpeg '
                    f'images in it')
  if (sides < size).any():
    bad = int((sides < size).sum())
    example = names[int(np.argmax(sides < size))]
    raise DataError(f'folder {folder}: {bad} of {len(names)} images are smaller than '
                    f'{size}x{size} (e.g. {example}, {int(sides.min())} px); use '
                    f'--set data.image_size={int(sides.min())} or remove them')
  return images, skipped


# ----------------------------------------------------------------------- loading


def split_holdout(images, labels, fraction: float, seed: int, split: str):
  """A seeded held-out share for sources with no test split of their own."""
  n = len(images)
  if n < 2:
    return images, labels  # one image (a texture): train and test are the same
  order = np.random.default_rng(seed).permutation(n)
  n_test = min(n - 1, max(1, int(round(fraction * n))))
  idx = np.sort(order[:n_test] if split == 'test' else order[n_test:])
  return images[idx], (labels[idx] if labels is not None else None)


def load(spec: str, split: str = 'train', *, image_size: int, channels: int,
         data_dir: str = '', download: bool = False, max_examples: int = 0,
         test_fraction: float = 0.1, seed: int = 0) -> ImageSet:
  """Reads `split` ('train' or 'test') of a source as uint8 images of the requested size."""
  if split not in ('train', 'test'):
    raise ValueError(f'split must be train or test, not {split!r}')
  loc = locate(spec, data_dir, download)
  if loc.kind in ('multiview', 'multiview_builtin'):
    raise DataError(f'{spec} is a multi-view source (an identity × view grid); only '
                    f'--algo=multiview reads it')
  skipped = 0
  if loc.kind == 'idx':
    images, labels = read_idx_split(loc.path, split)
  elif loc.kind in ('tfds', 'tfds_download'):
    images, labels = _read_tfds(loc, split, max_examples)
  elif loc.kind == 'npz':
    test_images, test_labels = _read_npz(loc.path, 'test')
    if test_images is not None:  # the file has its own test split
      images, labels = (test_images, test_labels) if split == 'test' else _read_npz(
          loc.path, 'train')
    else:  # hold out a seeded share of the training arrays
      images, labels = _read_npz(loc.path, 'train')
      images, labels = split_holdout(images, labels, test_fraction, seed, split)
  elif loc.kind == 'folder':
    images, skipped = _read_folder(loc.path, image_size, channels)
    labels = None
    images, labels = split_holdout(images, labels, test_fraction, seed, split)
  else:  # texture: a single exemplar, also its own "test" image
    images, labels = _read_texture(loc)
  if max_examples and len(images) > max_examples:
    images = images[:max_examples]
    labels = labels[:max_examples] if labels is not None else None
  if skipped:
    note(f'folder {loc.path}: {skipped} file(s) could not be read as images and were skipped')
  images = fit(images, image_size, channels, spec)
  return ImageSet(images=images, labels=labels, source=spec, skipped=skipped)


def from_config(cfg, split: str = 'train') -> ImageSet:
  """`load` with a run config's data section (and its seed)."""
  d = cfg.data
  return load(d.dataset, split, image_size=d.image_size, channels=d.channels,
              data_dir=d.data_dir, download=d.download,
              max_examples=d.max_examples if split == 'train' else 0,
              test_fraction=d.test_fraction, seed=cfg.seed)


# ----------------------------------------------------------------------- pipelines


def to_float(images):
  """uint8 [0, 255] → float32 [-1, 1] (works on numpy arrays and tensors)."""
  return images.astype(np.float32) / 127.5 - 1.0 if isinstance(images, np.ndarray) else \
      _tf().cast(images, _tf().float32) / 127.5 - 1.0


def to_uint8(images) -> np.ndarray:
  """float [-1, 1] → uint8 [0, 255], clipping what lies outside."""
  x = np.asarray(images, np.float32)
  return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _tf():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf


def pipeline(images: np.ndarray, batch_size: int, *, seed: int, start_step: int = 0,
             shuffle: bool = True, repeat: bool = True, drop_remainder: bool = True,
             with_index: bool = False, labels: np.ndarray | None = None,
             part: tuple[int, int] = (0, 1), per_replica: int = 0):
  """A `tf.data` pipeline of float32 [B, H, W, C] batches in [-1, 1], seeded and prefetched.

  Shuffled endless pipelines visit epoch e in the order stateless_shuffle(range(n), (seed, e)),
  so the batches from `start_step` on are exactly those an uninterrupted run sees from that
  step: a resumed run continues the same data order (nothing but the step is stored).
  with_index: batches are (indices int64 [B], images), for per-example state such as the
  generator's persistent latents. labels: batches are (images, int32 labels [B]).
  part=(i, k): of each global batch of `batch_size`, only the i-th of k equal consecutive
  slices (one input pipeline's, e.g. one worker's: the images are in memory on every worker,
  so sharding the index stream shards the data); per_replica > 0 splits that slice into
  batches of per_replica (one per local replica, in replica order).
  """
  tf = _tf()
  n = len(images)
  if n < batch_size and not repeat:
    drop_remainder = False
  if shuffle and repeat:
    epoch, offset = divmod(int(start_step) * batch_size, n)
    seed_t = tf.constant(int(seed), tf.int64)
    order = tf.data.Dataset.range(epoch, 2**62).flat_map(
        lambda e: tf.data.Dataset.from_tensor_slices(tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([seed_t, e]))))
    order = order.skip(offset)
  else:
    order = tf.data.Dataset.range(n)
    if shuffle:
      order = order.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    if repeat:
      order = order.repeat()
  order = order.batch(batch_size, drop_remainder=drop_remainder)
  index, count = part
  if count > 1 or per_replica:
    if batch_size % count or (per_replica and (batch_size // count) % per_replica):
      raise ValueError(f'a batch of {batch_size} does not split into {count} slices of '
                       f'batches of {per_replica}')
    size = batch_size // count
    if count > 1:
      order = order.map(lambda i: i[index * size:(index + 1) * size])
    if per_replica and per_replica != size:
      order = order.unbatch().batch(per_replica, drop_remainder=True)
  pixels = tf.constant(images)
  tags = None if labels is None else tf.constant(np.asarray(labels).astype(np.int32))

  def gather(i):
    x = to_float(tf.gather(pixels, i))
    if with_index:
      return i, x
    return x if tags is None else (x, tf.gather(tags, i))

  ds = order.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)
