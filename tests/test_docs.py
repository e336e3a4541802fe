"""Every relative link and image in README.md and docs/*.md resolves: its file exists relative
to the page that links it, and a `#anchor` (also a bare one, in the same page) names a heading
of the target page as GitHub makes anchors. No TensorFlow."""
import collections
import glob
import os
import re
import unicodedata

# Under Bazel this file is a symlink into the checkout: realpath finds the real tree (as
# tests/test_layering.py; tests/helpers.ROOT is the runfiles tree there).
ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))

# ](target) or ](target "title"): inline links and images. Reference-style links are not used.
LINK = re.compile(r'\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
FENCE = re.compile(r'^(```|~~~)')
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')


def pages():
  return [os.path.join(ROOT, 'README.md')] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))


def prose(text):
  """The page's lines outside fenced and indented code blocks, with inline code blanked
  (a `](x)` inside code is not a link), as (line number, line)."""
  out, fenced, previous_blank = [], False, True
  for n, line in enumerate(text.split('\n'), 1):
    if FENCE.match(line.lstrip()):
      fenced = not fenced
      continue
    indented = line.startswith('    ') and previous_blank
    previous_blank = not line.strip() or (indented and previous_blank)
    if fenced or indented:
      continue
    out.append((n, re.sub(r'`[^`]*`', '``', line)))
  return out


def slug(heading):
  """GitHub's anchor of a heading: the text as rendered (inline code and emphasis marks and
  link targets dropped), lower-cased; letters, digits, marks, '_', '-' and spaces kept,
  every other character dropped; each space becomes '-'."""
  text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading)
  text = text.replace('`', '').lower()
  kept = ''.join(c for c in text if c in ' -_' or unicodedata.category(c)[0] in 'LMN')
  return kept.replace(' ', '-')


def anchors(path):
  """The anchors of a Markdown page's headings; a repeated one gets -1, -2, ... as on GitHub."""
  seen, out = collections.Counter(), set()
  with open(path, encoding='utf-8') as f:
    text = f.read()
  fenced = False
  for line in text.split('\n'):
    if FENCE.match(line.lstrip()):
      fenced = not fenced
      continue
    m = None if fenced else HEADING.match(line)
    if m:
      base = slug(m.group(2))
      out.add(base if not seen[base] else f'{base}-{seen[base]}')
      seen[base] += 1
  return out


def broken_links(page):
  """(line, target, why) for every relative link of `page` that does not resolve."""
  with open(page, encoding='utf-8') as f:
    text = f.read()
  bad = []
  for n, line in prose(text):
    for target in LINK.findall(line):
      if re.match(r'[a-z][a-z0-9+.-]*:', target, re.I):
        continue  # http(s):, mailto: and other schemes; a bare #anchor is checked in the page
      path, _, anchor = target.partition('#')
      full = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
      if not os.path.exists(full):
        bad.append((n, target, 'no such file'))
      elif anchor and full.endswith('.md') and anchor not in anchors(full):
        bad.append((n, target, f'no heading with anchor #{anchor} in {os.path.relpath(full, ROOT)}'))
  return bad


def test_every_relative_link_resolves():
  assert os.path.isfile(os.path.join(ROOT, 'README.md')), f'{ROOT} is not the checkout'
  found = {os.path.relpath(p, ROOT): broken_links(p) for p in pages()}
  bad = {page: links for page, links in found.items() if links}
  assert not bad, f'links that do not resolve: {bad}'


def test_the_check_sees_links_anchors_and_code(tmp_path):
  (tmp_path / 'docs').mkdir()
  (tmp_path / 'docs' / 'a.md').write_text(
      '# Top\n\n## The triangle\'s step (`make train`)\n\n## Top\n')
  page = tmp_path / 'README.md'
  page.write_text('\n'.join([
      '# Read me',
      'See [a](docs/a.md), [b](docs/a.md#the-triangles-step-make-train), [c](docs/a.md#top-1),',
      '[web](https://example.com/x), [here](#read-me), ![img](docs/missing.png), [x](#x).',
      '[d](docs/a.md#nowhere) and `[not a link](nowhere.md)`.',
      '',
      '    [indented code](nowhere.md)',
      '',
      '```',
      '[fenced code](nowhere.md)',
      '```',
  ]))
  assert [(n, t) for n, t, _ in broken_links(str(page))] == [
      (3, 'docs/missing.png'), (3, '#x'), (4, 'docs/a.md#nowhere')]
  assert slug('§1 The descriptor (Xie, "A Theory", ICML 2016)') == '1-the-descriptor-xie-a-theory-icml-2016'
  assert slug('anchors: weights 7928 (fd)') == 'anchors-weights-7928-fd'
  assert slug('On the AVX512-BF16 machine') == 'on-the-avx512-bf16-machine'
