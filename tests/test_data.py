"""Data sources, their bad inputs, the training pipeline, and inference in batches."""
import gzip
import json
import os
import struct
import threading
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf

from core import batches
from core import data
from core.errors import DataError
from tests import helpers


def write_idx(path, array):
  header = bytes([0, 0, 0x08, array.ndim]) + struct.pack('>' + 'I' * array.ndim, *array.shape)
  with gzip.open(path, 'wb') as f:
    f.write(header + array.astype(np.uint8).tobytes())


def make_idx_dir(folder, n_train=30, n_test=10, size=28):
  rng = np.random.default_rng(0)
  os.makedirs(folder, exist_ok=True)
  for split, n in (('train', n_train), ('test', n_test)):
    img, lab = data.IDX_FILES[split]
    write_idx(os.path.join(folder, img), rng.integers(0, 256, (n, size, size)))
    write_idx(os.path.join(folder, lab), rng.integers(0, 10, (n,)))
  return folder


def write_png(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tf.io.write_file(path, tf.io.encode_png(array))


def write_jpg(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tf.io.write_file(path, tf.io.encode_jpeg(array))


def forge_png(path, width, height):
  """A valid 2×2 PNG at `path` whose IHDR (its CRC fixed) claims width × height."""
  raw = bytearray(tf.io.encode_png(np.zeros((2, 2, 1), np.uint8)).numpy())
  assert raw[12:16] == b'IHDR'
  raw[16:24] = struct.pack('>II', width, height)
  raw[29:33] = struct.pack('>I', zlib.crc32(bytes(raw[12:29])))
  with open(path, 'wb') as f:
    f.write(raw)


def forge_jpg(path, width, height, comment=0):
  """A valid 8×8 JPEG at `path` whose frame header claims width × height, with a comment
  segment of `comment` bytes before it when comment > 0."""
  raw = bytearray(tf.io.encode_jpeg(np.zeros((8, 8, 3), np.uint8)).numpy())
  sof = raw.index(b'\xff\xc0')
  raw[sof + 5:sof + 9] = struct.pack('>HH', height, width)
  if comment:
    raw[2:2] = b'\xff\xfe' + struct.pack('>H', comment + 2) + b'x' * comment
  with open(path, 'wb') as f:
    f.write(raw)


def within(seconds, fn, *args, fifos=(), **kw):
  """fn(*args, **kw) run in a daemon thread: the test fails, rather than hangs, when the call
  has not returned after `seconds` (then a reader blocked on one of `fifos` is let go)."""
  out = {}

  def call():
    try:
      out['value'] = fn(*args, **kw)
    except BaseException as e:  # pylint: disable=broad-except
      out['error'] = e

  thread = threading.Thread(target=call, daemon=True)
  thread.start()
  thread.join(seconds)
  if thread.is_alive():
    for fifo in fifos:  # a writer that opens and closes: the blocked open sees end of file
      try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
      except OSError:
        pass
    pytest.fail(f'{fn.__name__} still running after {seconds} s')
  if 'error' in out:
    raise out['error']
  return out['value']


def hostile_files(folder):
  """In `folder`: a FIFO, links to /dev/zero and /dev/urandom, a link loop, a folder named
  like an image (walked, not a file) and PNG/JPEG headers that claim 10^10 and 3.6·10^9
  pixels. Returns the FIFOs and the number of files among them that are to be skipped."""
  os.makedirs(folder, exist_ok=True)
  fifo = os.path.join(folder, 'fifo.png')
  os.mkfifo(fifo)
  os.symlink('/dev/zero', os.path.join(folder, 'zero.png'))
  os.symlink('/dev/urandom', os.path.join(folder, 'urandom.jpg'))
  loop = os.path.join(folder, 'loop.png')
  os.symlink(loop, loop)
  os.mkdir(os.path.join(folder, 'folder.png'))
  forge_png(os.path.join(folder, 'huge.png'), 100000, 100000)
  forge_jpg(os.path.join(folder, 'huge.jpg'), 60000, 60000)
  return [fifo], 6


@pytest.fixture
def no_default_fashion(monkeypatch, tmp_path):
  """No Debian copy, no Keras cache, an empty TFDS default dir."""
  monkeypatch.setattr(data, 'DEBIAN_FASHION_MNIST', str(tmp_path / 'no-debian'))
  monkeypatch.setattr(data, 'KERAS_FASHION_MNIST', str(tmp_path / 'no-keras'))
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path / 'no-tfds'))


# ------------------------------------------------------------------ IDX / fashion_mnist


def test_idx_round_trip_and_fashion_mnist_from_keras_cache(no_default_fashion, monkeypatch,
                                                           tmp_path):
  folder = make_idx_dir(str(tmp_path / 'keras'))
  monkeypatch.setattr(data, 'KERAS_FASHION_MNIST', folder)
  assert data.locate('fashion_mnist').kind == 'idx'
  train = data.load('fashion_mnist', 'train', image_size=28, channels=1)
  test = data.load('fashion_mnist', 'test', image_size=28, channels=3)
  assert train.images.shape == (30, 28, 28, 1) and train.images.dtype == np.uint8
  assert test.images.shape == (10, 28, 28, 3)
  assert train.labels.shape == (30,) and train.labels.max() < 10
  raw = data.read_idx(os.path.join(folder, data.IDX_FILES['train'][0]))
  np.testing.assert_array_equal(raw[..., None], train.images)


def test_truncated_and_foreign_idx_files_are_reported(tmp_path):
  path = str(tmp_path / 'x-ubyte.gz')
  write_idx(path, np.zeros((4, 5, 5)))
  with gzip.open(path, 'rb') as f:
    raw = f.read()
  with gzip.open(path, 'wb') as f:
    f.write(raw[:-7])
  with pytest.raises(DataError, match='truncated or corrupt'):
    data.read_idx(path)
  with gzip.open(path, 'wb') as f:
    f.write(b'PK\x03\x04not an idx file')
  with pytest.raises(DataError, match='not an IDX file'):
    data.read_idx(path)


def test_missing_dataset_names_the_ways_to_get_it_at_once(no_default_fashion, tmp_path):
  start = time.time()
  with pytest.raises(DataError) as e:
    data.locate('fashion_mnist')
  assert 'apt-get install dataset-fashion-mnist' in str(e.value)
  assert '--download' in str(e.value) and '--data_dir' in str(e.value)
  with pytest.raises(DataError, match='cifar10 not found'):
    data.locate('cifar10', data_dir=str(tmp_path))
  assert time.time() - start < 1.0
  # With --download the location is TFDS's download, not an error.
  assert data.locate('svhn_cropped', str(tmp_path), download=True).kind == 'tfds_download'


def test_unknown_source_lists_the_known_ones():
  with pytest.raises(DataError, match='known: fashion_mnist, mnist, cifar10'):
    data.locate('imagenet')


# ------------------------------------------------------------------ TFDS


def test_tfds_source_reads_a_prepared_dataset(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  features = tfds.features.FeaturesDict({
      'image': tfds.features.Image(shape=(32, 32, 3)),
      'label': tfds.features.ClassLabel(num_classes=10)})

  def split(n):
    return tf.data.Dataset.from_tensor_slices({
        'image': rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8),
        'label': rng.integers(0, 10, n)})

  tfds.dataset_builders.store_as_tfds_dataset(
      name='cifar10', version='3.0.2', features=features, data_dir=str(tmp_path),
      split_datasets={'train': split(12), 'test': split(5)})
  loc = data.locate('cifar10', str(tmp_path))
  assert loc.kind == 'tfds'
  train = data.load('cifar10', 'train', image_size=32, channels=3, data_dir=str(tmp_path))
  test = data.load('cifar10', 'test', image_size=16, channels=1, data_dir=str(tmp_path))
  assert train.images.shape == (12, 32, 32, 3) and len(train.labels) == 12
  assert test.images.shape == (5, 16, 16, 1)
  capped = data.load('cifar10', 'train', image_size=32, channels=3, data_dir=str(tmp_path),
                     max_examples=4)
  assert len(capped) == 4


def test_any_tfds_image_dataset_by_name_with_its_own_feature_keys(tmp_path):
  """--dataset=NAME or tfds:NAME: a TFDS dataset that is not one of the five named ones, with
  other feature keys (`img`, `character`; `label` taken first when there is one); a bare name
  that is neither prepared nor asked for (--download) is one line naming both ways."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  features = tfds.features.FeaturesDict({
      'id': tfds.features.Text(),
      'img': tfds.features.Image(shape=(28, 28, 1)),
      'character': tfds.features.ClassLabel(num_classes=49)})

  def split(n):
    return tf.data.Dataset.from_tensor_slices({
        'id': [f'x{i}' for i in range(n)],
        'img': rng.integers(0, 255, (n, 28, 28, 1), dtype=np.uint8),
        'character': rng.integers(0, 49, n)})

  tfds.dataset_builders.store_as_tfds_dataset(
      name='glyphs', version='1.0.0', features=features, data_dir=str(tmp_path),
      split_datasets={'train': split(9), 'test': split(4)})
  for spec in ('glyphs', 'tfds:glyphs'):
    assert data.locate(spec, str(tmp_path)).kind == 'tfds'
    train = data.load(spec, 'train', image_size=28, channels=1, data_dir=str(tmp_path),
                      max_examples=200)  # (more than the split holds: all of it)
    assert train.images.shape == (9, 28, 28, 1) and train.labels.max() < 49
  assert tfds_keys_of(features) == ('img', 'character')
  # A new run trains at the dataset's own size (its features.json), not the 32x32x3 default.
  assert data.tfds_image_shape(data.locate('glyphs', str(tmp_path))) == (28, 28, 1)
  wd = tmp_path / 'run'
  r = helpers.tool('train', f'--workdir={wd}', '--algo=generator', '--smoke', '--steps=2',
                   '--dataset=glyphs', f'--data_dir={tmp_path}')
  assert r.returncode == 0, r.stderr[-2000:]
  assert 'glyphs: its 28x28x1 images (features.json)' in r.stdout
  stored = json.load(open(wd / 'config.json'))['data']
  assert (stored['image_size'], stored['channels']) == (28, 1)
  assert tfds_keys_of(tfds.features.FeaturesDict({
      'image': tfds.features.Image(shape=(8, 8, 3)), 'kind': tfds.features.ClassLabel(
          num_classes=2), 'label': tfds.features.ClassLabel(num_classes=3)})) == (
              'image', 'label')
  with pytest.raises(DataError, match='glyphs2 has no image feature .its features: id, n.'):
    tfds_keys_of(tfds.features.FeaturesDict({'id': tfds.features.Text(),
                                             'n': tfds.features.ClassLabel(num_classes=2)}),
                 'glyphs2')
  with pytest.raises(DataError, match="unknown dataset 'glyphz'.*add --download"):
    data.locate('glyphz', str(tmp_path))
  with pytest.raises(DataError, match='dataset glyphz not found'):
    data.locate('tfds:glyphz', str(tmp_path))
  assert data.locate('glyphz', str(tmp_path), download=True).kind == 'tfds_download'
  import configs  # pylint: disable=g-import-not-at-top
  assert configs.image_defaults('tfds:mnist') == (28, 1)
  assert configs.image_defaults('glyphs') == (32, 3)


def tfds_keys_of(features, name='x'):
  return data.tfds_keys(features, name)


def test_a_tfds_download_reads_the_builders_own_features_offline(tmp_path):
  """--download of a TFDS name none of the five (kmnist), under tfds.testing.mock_data (no
  network): the builder's own features give the image and the label."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  with tfds.testing.mock_data(num_examples=6):
    train = data.load('kmnist', 'train', image_size=28, channels=1, data_dir=str(tmp_path),
                      download=True)
  assert train.images.shape == (6, 28, 28, 1) and train.labels.shape == (6,)
  with pytest.raises(DataError, match="TFDS has no dataset 'no_such_set'"):
    data.load('no_such_set', 'train', image_size=28, channels=1, data_dir=str(tmp_path),
              download=True)


# ------------------------------------------------------------------ folders


def test_folder_reads_nested_png_and_jpg_and_skips_corrupt_files(tmp_path):
  rng = np.random.default_rng(1)
  root = tmp_path / 'imgs'
  for i in range(6):
    write_png(str(root / 'a' / f'{i}.png'), rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
  for i in range(3):
    write_jpg(str(root / 'b' / 'c' / f'{i}.JPG'), rng.integers(0, 255, (36, 36, 3),
                                                              dtype=np.uint8))
  write_png(str(root / 'gray.png'), rng.integers(0, 255, (32, 32, 1), dtype=np.uint8))
  write_png(str(root / 'rgba.png'), rng.integers(0, 255, (32, 32, 4), dtype=np.uint8))
  (root / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\nthis is not a png')
  (root / 'empty.jpg').write_bytes(b'')
  (root / 'notes.txt').write_text('ignored')
  train = data.load(f'folder:{root}', 'train', image_size=32, channels=3, test_fraction=0.2)
  test = data.load(f'folder:{root}', 'test', image_size=32, channels=3, test_fraction=0.2)
  assert train.skipped == 2
  assert len(train) + len(test) == 11 and len(test) == 2
  assert train.images.shape[1:] == (32, 32, 3)
  gray = data.load(f'folder:{root}', 'train', image_size=24, channels=1)
  assert gray.images.shape[1:] == (24, 24, 1)


def test_folder_errors(tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(DataError, match='has no .png/.jpg/.jpeg images'):
    data.load(f'folder:{empty}', image_size=32, channels=3)
  bad = tmp_path / 'bad'
  bad.mkdir()
  (bad / 'x.png').write_bytes(b'garbage')
  (bad / 'y.jpg').write_bytes(b'more garbage')
  with pytest.raises(DataError, match='none of its 2 image files could be read'):
    data.load(f'folder:{bad}', image_size=32, channels=3)
  small = tmp_path / 'small'
  write_png(str(small / 'ok.png'), np.zeros((64, 64, 3), np.uint8))
  write_png(str(small / 'tiny.png'), np.zeros((20, 30, 3), np.uint8))
  with pytest.raises(DataError, match=r'1 of 2 images are smaller than 32x32 .*tiny.png'):
    data.load(f'folder:{small}', image_size=32, channels=3)
  with pytest.raises(DataError, match='does not exist'):
    data.load(f'folder:{tmp_path / "nowhere"}', image_size=32, channels=3)


def test_image_headers_give_the_claimed_size_without_decoding(tmp_path):
  write_png(str(tmp_path / 'a.png'), np.zeros((40, 50, 3), np.uint8))
  write_jpg(str(tmp_path / 'b.jpg'), np.zeros((36, 44, 3), np.uint8))
  forge_png(str(tmp_path / 'huge.png'), 100000, 70000)
  forge_jpg(str(tmp_path / 'huge.jpg'), 60000, 50000, comment=20000)  # SOF after 20 KB
  (tmp_path / 'short.png').write_bytes(data.PNG_SIGNATURE + b'\0\0\0\x0dIH')
  (tmp_path / 'x.gif').write_bytes(b'GIF89a\xff\xff\xff\xff' + b'\0' * 20)
  (tmp_path / 'scan.jpg').write_bytes(b'\xff\xd8\xff\xda\x00\x08' + b'\0' * 20)

  def size(name):
    with open(tmp_path / name, 'rb') as f:
      return data._header_size(f)

  assert size('a.png') == (50, 40) and size('b.jpg') == (44, 36)
  assert size('huge.png') == (100000, 70000) and size('huge.jpg') == (60000, 50000)
  assert size('short.png') is None and size('x.gif') is None and size('scan.jpg') is None


def test_a_folder_with_hostile_files_is_read_in_bounded_time_and_skips_them(tmp_path):
  rng = np.random.default_rng(5)
  root = tmp_path / 'imgs'
  for i in range(4):
    write_png(str(root / f'{i}.png'), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
  write_jpg(str(root / 'sub' / 'j.jpg'), rng.integers(0, 255, (36, 36, 3), dtype=np.uint8))
  write_png(str(tmp_path / 'outside.png'), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
  os.symlink(tmp_path / 'outside.png', root / 'link.png')  # a link to a file: read
  os.symlink(tmp_path, root / 'dirlink.png')  # a link to a folder: neither walked nor read
  fifos, bad = hostile_files(str(root / 'sub'))
  start = time.time()
  train = within(60, data.load, f'folder:{root}', 'train', image_size=32, channels=3,
                 test_fraction=0.2, fifos=fifos)
  test = within(60, data.load, f'folder:{root}', 'test', image_size=32, channels=3,
                test_fraction=0.2, fifos=fifos)
  assert time.time() - start < 30
  assert len(train) + len(test) == 6
  assert train.skipped == test.skipped == bad


def test_a_folder_of_only_hostile_files_is_a_one_line_error(tmp_path):
  fifos, bad = hostile_files(str(tmp_path / 'bad'))
  with pytest.raises(DataError) as e:
    within(60, data.load, f'folder:{tmp_path / "bad"}', image_size=32, channels=3, fifos=fifos)
  message = str(e.value)
  assert '\n' not in message
  assert message.startswith(f'folder {tmp_path / "bad"}: none of its {bad} image files could '
                            f'be read')
  assert 'megapixels' in message and 'put readable .png/.jpg/.jpeg images in it' in message


def test_files_over_the_byte_or_pixel_limit_are_skipped_before_decoding(tmp_path, monkeypatch):
  root = tmp_path / 'imgs'
  rng = np.random.default_rng(6)
  write_png(str(root / 'small.png'), np.full((40, 40, 3), 7, np.uint8))
  write_png(str(root / 'wide.png'), np.full((40, 60, 3), 9, np.uint8))
  write_jpg(str(root / 'big.jpg'), np.full((64, 64, 3), 9, np.uint8))  # over in pixels
  heavy = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)  # in pixels, over in bytes
  write_png(str(root / 'heavy.png'), heavy)
  monkeypatch.setattr(data, 'MAX_PIXELS', 40 * 60)  # wide.png is at the limit
  monkeypatch.setattr(data, 'MAX_FILE_BYTES', os.path.getsize(root / 'heavy.png') - 1)
  assert os.path.getsize(root / 'wide.png') < data.MAX_FILE_BYTES
  names, images, _ = data.read_files(data._list_images(str(root)), 32, 3)
  assert [os.path.basename(n) for n in names] == ['small.png', 'wide.png']
  assert images.shape == (2, 32, 32, 3)
  assert data.load(f'folder:{root}', image_size=32, channels=3).skipped == 2


def test_a_multiview_folder_takes_hostile_view_files_as_missing_views(tmp_path):
  from core import multiview  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(7)
  for i in range(3):
    for view in ('back', 'front'):
      write_png(str(tmp_path / f'id{i}' / f'{view}.png'),
                rng.integers(0, 255, (16, 16, 1), dtype=np.uint8))
  os.remove(tmp_path / 'id1' / 'front.png')
  os.mkfifo(tmp_path / 'id1' / 'front.png')
  os.remove(tmp_path / 'id2' / 'back.png')
  os.symlink('/dev/zero', tmp_path / 'id2' / 'back.png')
  present = {}
  for split in ('train', 'test'):  # one identity is held out
    mv = within(60, multiview.load, f'multiview:{tmp_path}', split, image_size=16, channels=1,
                fifos=[str(tmp_path / 'id1' / 'front.png')])
    assert mv.skipped == 2
    present.update(zip(mv.identities, mv.present.tolist()))
  assert present == {'id0': [True, True], 'id1': [True, False], 'id2': [False, True]}
  # Nothing left to read: one line, not a set with no view present.
  for path in ('id0/back.png', 'id1/back.png', 'id0/front.png', 'id2/front.png'):
    os.remove(tmp_path / path)
    os.symlink('/dev/zero', tmp_path / path)
  with pytest.raises(DataError, match=r'multiview:.*: none of its 6 image files could be read'):
    multiview.load(f'multiview:{tmp_path}', 'train', image_size=16, channels=1)


# ------------------------------------------------------------------ npz


def test_npz_layouts_and_value_ranges(tmp_path):
  rng = np.random.default_rng(2)
  u8 = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
  np.savez(tmp_path / 'u8.npz', images=u8, labels=np.arange(20))
  s = data.load(f'npz:{tmp_path / "u8.npz"}', 'train', image_size=28, channels=1,
                test_fraction=0.25)
  t = data.load(f'npz:{tmp_path / "u8.npz"}', 'test', image_size=28, channels=1,
                test_fraction=0.25)
  assert len(s) == 15 and len(t) == 5
  assert not set(s.labels) & set(t.labels)  # the held-out share is disjoint
  signed = u8.astype(np.float32) / 127.5 - 1
  np.savez(tmp_path / 'f.npz', x_train=signed[:, None], x_test=signed[:4, None])  # NCHW
  s = data.load(f'npz:{tmp_path / "f.npz"}', 'train', image_size=28, channels=1)
  t = data.load(f'npz:{tmp_path / "f.npz"}', 'test', image_size=28, channels=1)
  assert len(s) == 20 and len(t) == 4
  np.testing.assert_allclose(s.images[..., 0].astype(int), u8.astype(int), atol=1)


def test_npz_errors(tmp_path):
  np.savez(tmp_path / 'none.npz', labels=np.arange(5), names=np.array(['a', 'b']))
  with pytest.raises(DataError, match='has no image array .*labels, names'):
    data.load(f'npz:{tmp_path / "none.npz"}', image_size=28, channels=1)
  (tmp_path / 'junk.npz').write_bytes(b'not a zip')
  with pytest.raises(DataError, match='not a readable .npz'):
    data.load(f'npz:{tmp_path / "junk.npz"}', image_size=28, channels=1)
  np.savez(tmp_path / 'range.npz', images=np.full((3, 8, 8), 1000.0))
  with pytest.raises(DataError, match=r'values in \[1000, 1000\]'):
    data.load(f'npz:{tmp_path / "range.npz"}', image_size=8, channels=1)
  np.savez(tmp_path / 'small.npz', images=np.zeros((3, 8, 8), np.uint8))
  with pytest.raises(DataError, match='too small for image_size=28'):
    data.load(f'npz:{tmp_path / "small.npz"}', image_size=28, channels=1)


# ------------------------------------------------------------------ textures


@pytest.mark.parametrize('name', data.TEXTURES)
def test_skimage_textures(name):
  s = data.load(f'texture:{name}', image_size=64, channels=1)
  assert s.images.shape == (1, 64, 64, 1) and s.images.std() > 5


def test_texture_from_a_file_and_its_errors(tmp_path):
  write_png(str(tmp_path / 't.png'), np.random.default_rng(3).integers(
      0, 255, (80, 90, 3), dtype=np.uint8))
  s = data.load(f'texture:{tmp_path / "t.png"}', image_size=64, channels=3)
  assert s.images.shape == (1, 64, 64, 3)
  with pytest.raises(DataError, match='too small for image_size=128'):
    data.load(f'texture:{tmp_path / "t.png"}', image_size=128, channels=3)
  with pytest.raises(DataError, match='neither one of brick, grass, gravel'):
    data.locate('texture:marble')


# ------------------------------------------------------------------ pipeline


def test_pipeline_batches_floats_in_range_seeded():
  images = np.random.default_rng(4).integers(0, 256, (50, 8, 8, 1), dtype=np.uint8)
  first = lambda seed: next(iter(data.pipeline(images, 16, seed=seed))).numpy()
  a, b, c = first(0), first(0), first(1)
  assert a.shape == (16, 8, 8, 1) and a.dtype == np.float32
  assert a.min() >= -1 and a.max() <= 1
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  np.testing.assert_allclose(data.to_uint8(data.to_float(images)), images)


def test_pipeline_parts_are_consecutive_slices_of_the_global_batch():
  """Each input pipeline (one per worker) reads its slice of every global batch, split into
  per-replica batches in order: the parts, concatenated, are the one-pipeline batches."""
  images = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1)

  def batches(steps, **kw):
    it = iter(data.pipeline(images, 8, seed=3, start_step=5, with_index=True, **kw))
    return [next(it)[0].numpy() for _ in range(steps)]

  whole = batches(3)
  parts = [batches(6, part=(i, 2), per_replica=2) for i in range(2)]  # 2 replicas a worker
  for s in range(3):
    glued = np.concatenate([parts[0][2 * s], parts[0][2 * s + 1],
                            parts[1][2 * s], parts[1][2 * s + 1]])
    np.testing.assert_array_equal(glued, whole[s])
  assert len(set(np.concatenate(whole).tolist())) == 24  # distinct examples, not one repeated
  with pytest.raises(ValueError, match='does not split'):
    data.pipeline(images, 8, seed=3, part=(0, 3))


def test_batches_apply_joins_what_the_whole_array_gives():
  x, y = np.arange(23.0).reshape(23, 1), np.arange(23)
  seen = []

  def fn(xb, yb):
    seen.append(len(xb))
    return tf.constant(xb * 2), (yb + 1).tolist()  # a tensor and a list: both read back
  doubled, plus_one = batches.apply(fn, x, y, batch_size=10)
  assert seen == [10, 10, 3]
  np.testing.assert_array_equal(doubled, x * 2)
  np.testing.assert_array_equal(plus_one, y + 1)
  np.testing.assert_array_equal(batches.apply(lambda xb: xb[:, 0], x, batch_size=100), y)
  with pytest.raises(ValueError, match='one length'):
    batches.apply(fn, x, y[:5], batch_size=10)
