"""Take the README screenshots from a running Regulars (e.g. `PORT=8765 make demo`).

    .venv/bin/python scripts/screenshots.py --base-url http://127.0.0.1:8765

Logs in through the real form as a demo user and saves docs/screenshots/*.png.
Uses Debian's Chromium (Playwright cannot download browsers here).
"""

import argparse
import os
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
    parser.add_argument("--username", default="olga")
    parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "regulars-demo"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=args.base_url, viewport={"width": 1280, "height": 800})
        page.goto("/accounts/login/")
        page.screenshot(path=str(args.out / "login.png"))
        page.fill("input[name=username]", args.username)
        page.fill("input[name=password]", args.password)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=nav]")
        page.screenshot(path=str(args.out / "today.png"))
        page.goto("/customers/")
        page.wait_for_selector("table")
        page.screenshot(path=str(args.out / "customers.png"))
        browser.close()
    for name in ("login", "today", "customers"):
        print(args.out / f"{name}.png")


if __name__ == "__main__":
    main()
