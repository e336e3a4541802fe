"""Multi-view image sets: every image indexed by an identity i and a view v (`--algo=multiview`).

Sources (`--dataset=`):
  multiview:PATH        a folder per identity under PATH, one image per view, the view named by
                        the file's stem (PATH/anna/front.png, PATH/anna/left.png, ...). The
                        view names are shared across identities; an identity may lack some
                        views (they are left out of its likelihood). A seeded share of the
                        identities (data.test_fraction) is held out.
  fashion_mnist_views   built in: every Fashion-MNIST item as a flat card turned in front of a
                        pinhole camera under five fixed poses (BUILTIN_VIEWS: front, a
                        turn about the vertical axis, a tilt about the horizontal one, two
                        in-plane rotations); the training
                        split's items are the training identities, the test split's 10,000
                        the held-out ones, with the ground truth of every view.

The built-in views. An item is a card in the plane z = 0, centred on the optical axis, seen by
a pinhole camera at distance D = 2 image widths whose focal length is also D (so the front view
is the item itself). A pose turns the card by R = Rz(roll)·Ry(yaw)·Rx(pitch); the card point
(u, v) (pixels from the image centre, x right, y down) then appears at
    (x, y) = D·(p_x, p_y) / p_z,   p = R·(u, v, 0)ᵀ + (0, 0, D)ᵀ,
a homography H = [[D r11, D r12, 0], [D r21, D r22, 0], [r31, r32, D]]. Each view is rendered
from the 28×28 item upsampled ×2 (bicubic), warped by H at 56×56 (bilinear, black outside the
card) and area-averaged back to 28×28; the front view goes through the same resampling.
`known_transform` applies H to the stored 28×28 front view instead (one bilinear warp): the
reference "the geometry is known" row of tools/evaluate --task=rotate.

`data.views` picks and orders the views (default: all, as found; sorted for folders). The first
one is the standard view that test-time inference starts from.
"""
import collections
import dataclasses
import os

import numpy as np

from core import data as data_lib
from core.errors import ConfigError, DataError

# name → (yaw, pitch, roll) in degrees; the first is the standard view.
BUILTIN_VIEWS = {
    'front': (0.0, 0.0, 0.0),
    'yaw-50': (-50.0, 0.0, 0.0),
    'pitch+45': (0.0, 45.0, 0.0),
    'roll-45': (0.0, 0.0, -45.0),
    'roll+90': (0.0, 0.0, 90.0),
}
CAMERA_DISTANCE = 2.0  # image widths
SUPERSAMPLE = 2


@dataclasses.dataclass
class MultiviewSet:
  """images uint8 [I, V, H, W, C] (zeros where a view is missing), present bool [I, V], the
  view names (the first is the standard view), identity names, labels int64 [I] or None."""
  images: np.ndarray
  present: np.ndarray
  views: tuple
  identities: tuple
  labels: np.ndarray | None
  source: str
  skipped: int = 0  # unreadable image files, taken as missing views

  def __len__(self):
    return len(self.images)

  @property
  def num_views(self) -> int:
    return len(self.views)


# ----------------------------------------------------------------------- the built-in set


def homography(view: str, size: int) -> np.ndarray:
  """The 3×3 H of a built-in view in pixel coordinates of a size×size image (card → image)."""
  yaw, pitch, roll = np.radians(BUILTIN_VIEWS[view])
  cy, sy, cp, sp, cr, sr = (np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch),
                            np.cos(roll), np.sin(roll))
  rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
  ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
  rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
  r = rz @ ry @ rx
  d = CAMERA_DISTANCE * size
  h = np.array([[d * r[0, 0], d * r[0, 1], 0], [d * r[1, 0], d * r[1, 1], 0],
                [r[2, 0], r[2, 1], d]])
  c = (size - 1) / 2.0
  shift = np.array([[1, 0, c], [0, 1, c], [0, 0, 1]])
  return shift @ h @ np.linalg.inv(shift)


def _warp(images, view: str, source: str = 'front'):
  """float32 [N, n, n, C] images (tensors) of the built-in view `source` warped into `view`
  (the homography H_view · H_source⁻¹) at their size."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  n = int(images.shape[1])
  h = homography(view, n) @ np.linalg.inv(homography(source, n))
  inverse = np.linalg.inv(h)  # output pixel → input pixel, as TF wants
  inverse = inverse / inverse[2, 2]
  transform = tf.constant(inverse.reshape(-1)[:8][None], tf.float32)
  return tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=tf.repeat(transform, tf.shape(images)[0], 0),
      output_shape=tf.constant([n, n], tf.int32), fill_value=0.0, interpolation='BILINEAR',
      fill_mode='CONSTANT')


def _to_uint8(x):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8).numpy()


def render_views(items: np.ndarray, views, batch: int = 2048) -> np.ndarray:
  """uint8 items [N, H, W, C] → uint8 [N, V, H, W, C] under the built-in `views`
  (supersampled ×2: bicubic up, bilinear warp, area down)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  n, size = len(items), items.shape[1]
  out = np.zeros((n, len(views)) + items.shape[1:], np.uint8)
  big = SUPERSAMPLE * size
  for i in range(0, n, batch):
    x = tf.image.resize(tf.cast(items[i:i + batch], tf.float32), [big, big], 'bicubic')
    x = tf.clip_by_value(x, 0.0, 255.0)
    for v, name in enumerate(views):
      warped = x if BUILTIN_VIEWS[name] == (0.0, 0.0, 0.0) else _warp(x, name)
      out[i:i + batch, v] = _to_uint8(tf.image.resize(warped, [size, size], 'area'))
  return out


def known_transform(images: np.ndarray, view: str, source: str = 'front') -> np.ndarray:
  """uint8 images [N, H, W, C] of the built-in view `source` warped into `view` at their own
  size (one bilinear resampling): what knowing the geometry predicts."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  for name in (view, source):
    if name not in BUILTIN_VIEWS:
      raise DataError(f'{name!r} is not a view of {data_lib.MULTIVIEW_BUILTIN} (its views: '
                      f'{", ".join(BUILTIN_VIEWS)}); the known transform exists only for those')
  return _to_uint8(_warp(tf.cast(images, tf.float32), view, source))


def _read_builtin(loc, split: str, size: int, channels: int, max_examples: int, views):
  items, labels = data_lib.read_idx_split(loc.path, split)
  if max_examples:
    items, labels = items[:max_examples], labels[:max_examples]
  items = data_lib.fit(items, size, channels, data_lib.MULTIVIEW_BUILTIN)
  views = check_views(views, tuple(BUILTIN_VIEWS), data_lib.MULTIVIEW_BUILTIN)
  images = render_views(items, views)
  offset = 0 if split == 'train' else 60000
  return MultiviewSet(images=images, present=np.ones(images.shape[:2], bool), views=views,
                      identities=tuple(f'{split}-{offset + i}' for i in range(len(items))),
                      labels=labels, source=data_lib.MULTIVIEW_BUILTIN)


# ----------------------------------------------------------------------- folders


def scan_folder(path: str):
  """{identity: {view: file}} of a multiview:PATH folder (TensorFlow-free); DataError, one
  line, for a layout it cannot take."""
  spec = f'multiview:{path}'
  try:
    entries = sorted(os.listdir(path))
  except OSError as e:
    raise DataError(f'{spec} cannot be listed ({e})') from None
  loose = [e for e in entries if os.path.isfile(os.path.join(path, e))
           and e.lower().endswith(data_lib.IMAGE_EXTENSIONS)]
  if loose:
    raise DataError(f'{spec}: {loose[0]} lies directly in the folder; put each identity\'s '
                    f'views in a folder of its own ({path}/IDENTITY/VIEW.png)')
  files = {}
  for ident in entries:
    folder = os.path.join(path, ident)
    if ident.startswith('.') or not os.path.isdir(folder):
      continue
    views = {}
    for name in sorted(os.listdir(folder)):
      full = os.path.join(folder, name)
      if os.path.isdir(full):
        raise DataError(f'{spec}: {ident}/{name} is a folder; an identity folder holds one '
                        f'image per view ({ident}/VIEW.png) and nothing nested')
      stem, ext = os.path.splitext(name)
      if ext.lower() not in data_lib.IMAGE_EXTENSIONS:
        continue
      if stem in views:
        raise DataError(f'{spec}: identity {ident} has two images of view {stem!r} '
                        f'({os.path.basename(views[stem])} and {name}); keep one')
      views[stem] = full
    if views:
      files[ident] = views
  if len(files) < 2:
    raise DataError(f'{spec} has {len(files)} identity folder(s) with images; a multi-view set '
                    f'needs at least 2 identities (one folder each, {path}/IDENTITY/VIEW.png), '
                    f'some to learn from and one to hold out')
  seen = collections.Counter(v for views in files.values() for v in views)
  lonely = sorted(v for v, k in seen.items() if k == 1)
  if lonely:
    owner = next(i for i, views in files.items() if lonely[0] in views)
    shared = sorted(v for v, k in seen.items() if k > 1)
    raise DataError(f'{spec}: inconsistent view names: view {lonely[0]!r} appears only in '
                    f'identity {owner} (views shared by several identities: '
                    f'{", ".join(shared) or "none"}); name each view the same in every '
                    f'identity folder, or remove the file')
  return files


def _read_folder(path: str, size: int, channels: int):
  files = scan_folder(path)
  views = tuple(sorted({v for vs in files.values() for v in vs}))
  identities = tuple(files)
  order = [(i, v, files[ident][view]) for i, ident in enumerate(identities)
           for v, view in enumerate(views) if view in files[ident]]
  names, decoded, sides = data_lib.read_files([p for _, _, p in order], size, channels)
  if not names:
    raise DataError(f'multiview:{path}: none of its {len(order)} image files could be read '
                    f'(corrupt, not PNG/JPEG, not regular files, or over the size limits); put '
                    f'readable .png/.jpg/.jpeg images in its identity folders')
  if (sides < size).any():
    example = names[int(np.argmax(sides < size))]
    raise DataError(f'multiview:{path}: {int((sides < size).sum())} images are smaller than '
                    f'{size}x{size} (e.g. {example}, {int(sides.min())} px); use '
                    f'--set data.image_size={int(sides.min())} or larger images')
  where = {p: k for k, p in enumerate(names)}
  images = np.zeros((len(identities), len(views), size, size, channels), np.uint8)
  present = np.zeros((len(identities), len(views)), bool)
  for i, v, p in order:
    if p in where:
      images[i, v], present[i, v] = decoded[where[p]], True
  skipped = len(order) - len(names)
  if skipped:
    data_lib.note(f'multiview:{path}: {skipped} image file(s) could not be read and count as '
                  f'missing views')
  return MultiviewSet(images=images, present=present, views=views, identities=identities,
                      labels=None, source=f'multiview:{path}', skipped=skipped)


# ----------------------------------------------------------------------- loading


def check_views(names, available, source: str) -> tuple:
  """`names` (data.views) checked against the views a source has; () means all of them."""
  names = tuple(names) or tuple(available)
  unknown = [n for n in names if n not in available]
  if unknown or len(set(names)) != len(names):
    what = f'names no view {unknown[0]!r}' if unknown else 'lists a view twice'
    raise DataError(f'data.views={",".join(names)} {what}; {source} has the views '
                    f'{", ".join(available)}')
  if len(names) < 2:
    raise DataError(f'data.views={",".join(names)} keeps one view; a multi-view model needs '
                    f'at least 2 (of {", ".join(available)})')
  return names


def select_views(mv: MultiviewSet, names) -> MultiviewSet:
  """The set with only the views `names`, in that order (the first is the standard view);
  names () keeps them all. DataError names the views the set has."""
  names = check_views(names, mv.views, mv.source)
  pick = [mv.views.index(n) for n in names]
  return dataclasses.replace(mv, images=mv.images[:, pick], present=mv.present[:, pick],
                             views=names)


def view_index(names, view) -> int:
  """The index in `names` (a run's data.views) of a view given by name or index; ConfigError,
  one line, for one the run does not have."""
  names = list(names)
  text = str(view).strip()
  if text in names:
    return names.index(text)
  if text.lstrip('-').isdigit():
    i = int(text)
    if 0 <= i < len(names):
      return i
    raise ConfigError(f'view index {i} is out of range: the run has {len(names)} views, '
                      f'0..{len(names) - 1} ({", ".join(names)})')
  raise ConfigError(f'the run has no view {text!r}; its views: {", ".join(names)} (or an '
                    f'index 0..{len(names) - 1})')


def load(spec: str, split: str = 'train', *, image_size: int, channels: int,
         data_dir: str = '', max_examples: int = 0, test_fraction: float = 0.1,
         seed: int = 0, views=()) -> MultiviewSet:
  """Reads `split` ('train' or 'test') of a multi-view source: its identities × views."""
  if split not in ('train', 'test'):
    raise ValueError(f'split must be train or test, not {split!r}')
  loc = data_lib.locate(spec, data_dir)
  if loc.kind == 'multiview_builtin':  # renders only the views asked for
    return _read_builtin(loc, split, image_size, channels, max_examples, views)
  if loc.kind != 'multiview':
    raise DataError(f'{spec} is not a multi-view source; --algo=multiview reads '
                    f'multiview:PATH (a folder per identity, one image per view) or '
                    f'{data_lib.MULTIVIEW_BUILTIN}')
  mv = select_views(_read_folder(loc.path, image_size, channels), views)
  idx = data_lib.split_holdout(np.arange(len(mv)), None, test_fraction, seed, split)[0]
  if split == 'train' and max_examples:
    idx = idx[:max_examples]
  return dataclasses.replace(mv, images=mv.images[idx], present=mv.present[idx],
                             identities=tuple(mv.identities[i] for i in idx))


def from_config(cfg, split: str = 'train', whole: bool = False,
                limit: int = 0) -> MultiviewSet:
  """`load` with a run config's data section (and its seed); whole: the training split
  without data.max_examples's cap; limit > 0: the built-in set's first `limit` identities of
  the split only (so that a few test identities are not rendered with all 10,000)."""
  d = cfg.data
  cap = d.max_examples if split == 'train' and not whole else 0
  if limit and d.dataset == data_lib.MULTIVIEW_BUILTIN:
    cap = min(cap, limit) if cap else limit
  return load(d.dataset, split, image_size=d.image_size, channels=d.channels,
              data_dir=d.data_dir, max_examples=cap,
              test_fraction=d.test_fraction, seed=cfg.seed, views=tuple(d.views))
