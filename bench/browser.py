"""The web page of export/web.py in a real browser: a loopback HTTP server and headless
Chromium driven by Selenium (Debian's chromium and chromium-driver), for the tests, the
latency benchmark and the screenshot in docs/figures.

    with serve(folder) as url, open_page(url + 'index.html?variant=int8') as page:
      out = page.generate(z)                        # the page's output tensor for z
      page.requests()                               # every URL the browser asked for

Nothing here leaves 127.0.0.1: the server binds it, and Chromium runs with background
networking off and a host-resolver rule that fails every other host name.
"""
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import numpy as np

CHROMIUM = ('chromium', 'chromium-browser', 'google-chrome')
CHROMEDRIVER = ('chromedriver',)
FLAGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
         '--no-first-run', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--disable-default-apps', '--disable-extensions',
         '--disable-quic', '--window-size=1200,860',
         '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1')


class BrowserMissing(RuntimeError):
  """No Chromium, ChromeDriver or Selenium here (why: the message)."""


def find_browser():
  """(chromium, chromedriver) paths; BrowserMissing names what to install."""
  chromium = next((p for p in map(shutil.which, CHROMIUM) if p), None)
  driver = next((p for p in map(shutil.which, CHROMEDRIVER) if p), None)
  missing = [n for n, p in (('chromium', chromium), ('chromium-driver', driver)) if not p]
  if missing:
    raise BrowserMissing(f'{" and ".join(missing)} not installed (apt-get install chromium '
                         f'chromium-driver)')
  try:
    import selenium  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    raise BrowserMissing('selenium is not installed (pip install selenium; make setup)') from None
  return chromium, driver


class _Handler(http.server.SimpleHTTPRequestHandler):
  """Static files with the cross-origin-isolation headers (so the threaded LiteRT.js build
  could run too) and no caching; quiet."""
  extensions_map = dict(http.server.SimpleHTTPRequestHandler.extensions_map,
                        **{'.js': 'text/javascript', '.wasm': 'application/wasm',
                           '.tflite': 'application/octet-stream'})

  def end_headers(self):
    self.send_header('Cross-Origin-Opener-Policy', 'same-origin')
    self.send_header('Cross-Origin-Embedder-Policy', 'require-corp')
    self.send_header('Cache-Control', 'no-store')
    super().end_headers()

  def log_message(self, *args):  # pylint: disable=arguments-differ
    pass


@contextlib.contextmanager
def serve(directory: str):
  """Serves `directory` on http://127.0.0.1:<free port>/ while the block runs."""
  server = http.server.ThreadingHTTPServer(
      ('127.0.0.1', 0), functools.partial(_Handler, directory=directory))
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f'http://127.0.0.1:{server.server_address[1]}/'
  finally:
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def python_http_server(directory: str, timeout: float = 30):
  """The README's command, `python3 -m http.server` (no extra headers), in a subprocess on
  127.0.0.1 and a free port; yields its URL."""
  proc = subprocess.Popen([sys.executable, '-u', '-m', 'http.server', '0', '--bind', '127.0.0.1',
                           '--directory', directory], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
  try:
    line = ''
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
      line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (http://...) ..."
    finally:
      timer.cancel()
    port = re.search(r'port (\d+)', line)
    if not port:
      raise RuntimeError(f'python -m http.server did not start: {line!r}')
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
    yield f'http://127.0.0.1:{port.group(1)}/'
  finally:
    proc.kill()
    proc.wait()


class Page:
  """The twonets page open in Chromium; its methods call the page's window.twonets hook."""

  def __init__(self, driver, url):
    self.driver, self.url = driver, url

  def call(self, expression: str, *args, timeout: float = 300):
    """Awaits `expression` (JavaScript; `args` are arguments[0..]) in the page."""
    self.driver.set_script_timeout(timeout)
    result = self.driver.execute_async_script(
        'const done = arguments[arguments.length - 1];'
        'const args = Array.from(arguments).slice(0, -1);'
        f'Promise.resolve().then(() => ({expression}))'
        '.then(v => done({value: v}), e => done({error: String(e && e.stack || e)}));', *args)
    if 'error' in result:
      raise RuntimeError(f'the page failed: {result["error"]}')
    return result['value']

  def wait_ready(self, timeout: float = 120) -> dict:
    """The page's info once its first grid is drawn (RuntimeError with its error if not)."""
    return self.call('new Promise((ok, fail) => { const t0 = Date.now(); (function poll() {'
                     ' if (window.twonets && window.twonets.ready) window.twonets.ready.then('
                     'ok, fail); else if (Date.now() - t0 > 60000) fail("window.twonets never '
                     'appeared (app.js or the LiteRT.js runtime did not load)"); else '
                     'setTimeout(poll, 50); })(); })', timeout=timeout)

  def generate(self, z: np.ndarray) -> np.ndarray:
    """The page's output tensor [n, H, W, C] for latents z [n, d]."""
    z = np.asarray(z, np.float32)
    out = self.call('window.twonets.generate(args[0], args[1])', z.ravel().tolist(), len(z))
    return np.asarray(out['data'], np.float32).reshape(out['shape'])

  def latents(self, seed: int, n: int) -> np.ndarray:
    return np.asarray(self.call('window.twonets.latents(args[0], args[1])', seed, n),
                      np.float32).reshape(n, -1)

  def select(self, variant: str, view: str = '') -> dict:
    return self.call('window.twonets.select(args[0], args[1])', variant, view)

  def benchmark(self, n: int = 64, seed: int = 0) -> dict:
    return self.call('window.twonets.benchmark(args[0], args[1])', n, seed)

  def error(self) -> str:
    return self.driver.execute_script('return window.twonets ? window.twonets.error : null')

  def text(self, element_id: str) -> str:
    return self.driver.execute_script(f'return document.getElementById({json.dumps(element_id)})'
                                      f'.textContent')

  def state(self) -> dict:
    """What the page's controls show (window.twonets.state()): the grid's seed, the A/B
    endpoints and the picked sample ({seed, index}), the explorer's offsets, the walk."""
    return self.call('window.twonets.state()')

  def idle(self):
    """Returns once every redraw the page had queued (by a click, a key, a slider) has run."""
    self.call('window.twonets.idle()')

  def canvas(self, element_id: str) -> np.ndarray:
    """The pixels of canvas `element_id` (a CSS selector when it starts with '#' or '.'):
    uint8 [H, W, 4] RGBA."""
    selector = element_id if element_id[0] in '#.' else f'#{element_id}'
    width, height, data = self.driver.execute_script(
        'const c = document.querySelector(arguments[0]);'
        'return [c.width, c.height, Array.from(c.getContext("2d")'
        '.getImageData(0, 0, c.width, c.height).data)];', selector)
    return np.asarray(data, np.uint8).reshape(height, width, 4)

  def click(self, element_id: str):
    """A real mouse click (WebDriver) on the element."""
    self.driver.find_element('id', element_id).click()

  def click_cell(self, element_id: str, index: int, cols: int, rows: int):
    """A real mouse click at the centre of cell `index` (row-major) of a cols × rows grid
    drawn on the element, wherever it is laid out."""
    from selenium.webdriver.common import action_chains  # pylint: disable=g-import-not-at-top
    element = self.driver.find_element('id', element_id)
    self.driver.execute_script('arguments[0].scrollIntoView({block: "center"})', element)
    width, height = element.size['width'], element.size['height']
    row, col = divmod(index, cols)
    dx = (col + 0.5) * width / cols - width / 2  # from the element's centre (Selenium 4)
    dy = (row + 0.5) * height / rows - height / 2
    action_chains.ActionChains(self.driver).move_to_element_with_offset(
        element, round(dx), round(dy)).click().perform()

  def type_into(self, element_id: str, text: str):
    """Clears the input and types `text` with the keyboard (a trailing Keys.ENTER presses
    Enter)."""
    element = self.driver.find_element('id', element_id)
    element.clear()
    element.send_keys(text)

  def set_range(self, selector: str, value: float):
    """Moves the range input at `selector` to `value`, as a drag does: value, then an input
    event."""
    self.driver.execute_script(
        'const s = document.querySelector(arguments[0]); s.value = arguments[1];'
        's.dispatchEvent(new Event("input", {bubbles: true}));', selector, value)

  def download(self, button_id: str) -> tuple:
    """Clicks a download button with the page's downloads intercepted: (file name, the
    PNG's pixels as uint8 [H, W, C])."""
    import base64  # pylint: disable=g-import-not-at-top
    import io  # pylint: disable=g-import-not-at-top
    from PIL import Image  # pylint: disable=g-import-not-at-top
    self.driver.execute_script('window.twonets.interceptDownloads = true;'
                               'window.twonets.lastDownload = null;')
    self.click(button_id)
    self.idle()
    got = self.driver.execute_script('return window.twonets.lastDownload')
    if not got:
      raise RuntimeError(f'#{button_id} gave no download')
    head, data = got['url'].split(',', 1)
    if head != 'data:image/png;base64':
      raise RuntimeError(f'#{button_id} gave {head}, not a PNG data URL')
    return got['name'], np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))

  def console(self) -> list:
    """Every browser console entry so far ({level, message}); get_log empties the browser's
    buffer, so the entries are kept here."""
    self._console = getattr(self, '_console', []) + self.driver.get_log('browser')
    return list(self._console)

  def screenshot(self, path: str):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not self.driver.save_screenshot(path):
      raise RuntimeError(f'Chromium could not write the screenshot {path}')

  def requests(self) -> list:
    """Every URL the page asked for so far (DevTools Network.requestWillBeSent events)."""
    urls = []
    for entry in self.driver.get_log('performance'):
      message = json.loads(entry['message'])['message']
      if message.get('method') == 'Network.requestWillBeSent':
        urls.append(message['params']['request']['url'])
    self._seen = getattr(self, '_seen', []) + urls  # get_log empties the browser's buffer
    return list(self._seen)


@contextlib.contextmanager
def open_page(url: str, timeout: float = 120):
  """Chromium (headless, a fresh profile) showing `url`, as a Page once it is ready."""
  chromium, chromedriver = find_browser()
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top
  profile = tempfile.mkdtemp(prefix='twonets-chromium-')
  options = webdriver.ChromeOptions()
  options.binary_location = chromium
  for flag in FLAGS + (f'--user-data-dir={profile}',):
    options.add_argument(flag)
  options.set_capability('goog:loggingPrefs', {'performance': 'ALL', 'browser': 'ALL'})
  from selenium.common import exceptions  # pylint: disable=g-import-not-at-top
  try:
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
  except exceptions.WebDriverException as e:  # a slow start ("DevToolsActivePort"): once more
    print(f'Chromium did not start ({str(e).strip().splitlines()[0][:200]}); trying again',
          file=sys.stderr)
    shutil.rmtree(profile, ignore_errors=True)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
  try:
    driver.get_log('performance')  # what the start-up tab asked for is not the page's
    driver.get(url)
    page = Page(driver, url)
    page.info = page.wait_ready(timeout)
    yield page
  finally:
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
