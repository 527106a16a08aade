"""README's picture of the web demo: start `python -m descgen.app` on a profile whose pipeline has run, open it in
headless Chromium (Debian's chromium + chromium-driver, as tests/test_app.py), describe a title and save the page.

    python docs/screenshot.py --profile cpu --title "Girls Ballet Tutu Neon Blue" --output docs/app.png
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--title", default="Stainless Steel French Press Coffee Maker")
    parser.add_argument("--output", default=str(ROOT / "docs" / "app.png"))
    parser.add_argument("--size", default="1280,1500", help="window width,height in pixels")
    args = parser.parse_args()
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        print("needs chromium and chromedriver: apt-get install chromium chromium-driver", file=sys.stderr)
        return 1
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "descgen.app", "--profile", args.profile, "--port", str(port)],
                              cwd=ROOT)
    driver = None
    try:
        for _ in range(600):  # the model and index load first
            if server.poll() is not None:
                print(f"the app exited with {server.returncode}", file=sys.stderr)
                return 1
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={args.size}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        wait = WebDriverWait(driver, 300)
        driver.get(f"http://127.0.0.1:{port}/")
        box = wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "#title textarea")))
        box.send_keys(args.title)
        driver.find_element(By.ID, "describe").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#answer textarea").get_property("value"))
        wait.until(lambda d: d.find_element(By.ID, "finetuned").text.strip())
        time.sleep(1)  # the last outputs' transitions
        driver.save_screenshot(args.output)
        print(f"wrote {args.output}")
        return 0
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
