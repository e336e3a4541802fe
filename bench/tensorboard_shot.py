"""A screenshot of TensorBoard showing a run's scalars (docs/figures/tensorboard.png).

  python bench/tensorboard_shot.py --logdir=runs/main --out=docs/figures/tensorboard.png

Starts `tensorboard --logdir` on a free loopback port, opens its Time Series dashboard in
headless Chromium (bench/browser.py's flags) filtered by --filter, waits for the charts and
saves the window; TensorBoard is stopped after.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import browser  # pylint: disable=wrong-import-position


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def wait_for(url: str, timeout: float = 120):
  began = time.time()
  while time.time() - began < timeout:
    try:
      with urllib.request.urlopen(url, timeout=5):
        return
    except OSError:
      time.sleep(1)
  raise RuntimeError(f'TensorBoard did not answer at {url} within {timeout:.0f} s')


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--logdir', required=True)
  p.add_argument('--out', default='docs/figures/tensorboard.png')
  p.add_argument('--filter', default='energy/|eval/quick|optim/lr_gen|loss/(kl|r1)')
  p.add_argument('--size', default='1400,1000', help='window width,height in pixels')
  p.add_argument('--wait', type=float, default=15.0, help='seconds for the charts to draw')
  args = p.parse_args()
  if not os.path.isdir(args.logdir):
    sys.exit(f'--logdir={args.logdir}: no such folder')
  port = free_port()
  tb = subprocess.Popen([sys.executable, '-m', 'tensorboard.main', f'--logdir={args.logdir}',
                         '--host=127.0.0.1', f'--port={port}', '--reload_interval=0'],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  chromium, chromedriver = browser.find_browser()
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top
  profile = tempfile.mkdtemp(prefix='twonets-chromium-')
  try:
    url = f'http://127.0.0.1:{port}/'
    wait_for(url)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in browser.FLAGS + (f'--user-data-dir={profile}', f'--window-size={args.size}'):
      options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
      from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
      driver.get(f'{url}?darkMode=false#timeseries')
      time.sleep(args.wait)
      # The settings pane (open at first visit) closed; the tags filtered as --filter says.
      for button in driver.find_elements(By.CSS_SELECTOR, 'button[aria-label*="lose"]'):
        if button.is_displayed():
          button.click()
      box = driver.find_element(By.CSS_SELECTOR, 'input[placeholder*="Filter tags"]')
      box.send_keys(args.filter)
      from selenium.webdriver.common.keys import Keys  # pylint: disable=g-import-not-at-top
      box.send_keys(Keys.ESCAPE)  # the suggestions list off the charts
      driver.find_element(By.TAG_NAME, 'body').click()
      time.sleep(args.wait / 2)
      os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
      driver.save_screenshot(args.out)
    finally:
      driver.quit()
  finally:
    tb.terminate()
    tb.wait(timeout=30)
    shutil.rmtree(profile, ignore_errors=True)
  print(f'wrote {args.out} ({os.path.getsize(args.out) // 1024} KB)')


if __name__ == '__main__':
  main()
