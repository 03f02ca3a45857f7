"""Screenshots of the site's pages as a person first sees them, for the README: `meek report` over the shipped record,
each page's default view opened in headless chromium at 1366x900 (a common laptop window), saved small (half size,
256 colours) under plots/site/.

    python bench/screenshots.py                       # results/ -> plots/site/*.png
    python bench/screenshots.py --scale 0.6 --out /tmp/shots

Needs chromium and chromedriver (Debian's chromium and chromium-driver; .ci/run installs them) and selenium (the test
extras).
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
# (file name, page, what its default view opens on): the pages of harness/site/build.py
PAGES = [
    ("leaderboard", "index.html"),
    ("compare", "compare.html"),
    ("buying", "buying.html"),
    ("frontier", "frontier.html"),
    ("device-dgx-spark", "devices/dgx-spark.html"),
]


def browser(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        sys.exit("screenshots: no chromium and chromedriver here (apt install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},{height}"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


def small_png(png: bytes, scale: float) -> bytes:
    """The screenshot at `scale`, in 256 colours: a page of text and tables stays legible at a tenth of the bytes."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results")
    parser.add_argument("--out", type=Path, default=ROOT / "plots" / "site")
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--scale", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        built = subprocess.run(
            [sys.executable, "-m", "harness.cli", "report", "--out", str(site), "--results-dir", str(args.results_dir)],
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            sys.exit(f"screenshots: meek report failed: {built.stderr.strip()}")
        driver = browser(args.width, args.height)
        try:
            args.out.mkdir(parents=True, exist_ok=True)
            for name, page in PAGES:
                if not (site / page).is_file():
                    print(f"{page}: not in this site, skipped")
                    continue
                driver.get((site / page).as_uri())
                time.sleep(1.5)  # the page's script fills its tables and figures from assets/data.js
                path = args.out / f"{name}.png"
                path.write_bytes(small_png(driver.get_screenshot_as_png(), args.scale))
                print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size // 1024} KiB")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
