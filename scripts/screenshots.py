"""Take the README screenshots from a running Regulars (e.g. `PORT=8765 make demo`).

    .venv/bin/python scripts/screenshots.py --base-url http://127.0.0.1:8765

Logs in through the real form as demo users and saves docs/screenshots/*.png: the owner's Today and
customers, a manager's dashboard, a staff member's My notes and the first page of their task sheet
(the PDF as printed, through pdftoppm).
Uses Debian's Chromium (Playwright cannot download browsers here).
"""

import argparse
import os
import shutil
import subprocess  # nosec B404 - pdftoppm, fixed arguments
import tempfile
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
        page.context.clear_cookies()
        _login(page, "dilnoza", args.password)
        page.goto("/dashboard/")
        page.wait_for_selector("canvas")
        page.wait_for_timeout(1000)  # charts animate in
        page.screenshot(path=str(args.out / "dashboard.png"), full_page=True)
        page.context.clear_cookies()
        _login(page, "anna", args.password)
        page.goto("/notes/")
        page.screenshot(path=str(args.out / "my-notes.png"))
        pdf = page.request.get("/notes/print/")
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "sheet.pdf").write_bytes(pdf.body())
            subprocess.run(
                ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", "sheet.pdf", "sheet"],
                cwd=tmp,
                check=True,
            )
            shutil.copy(Path(tmp) / "sheet.png", args.out / "task-sheet.png")
        browser.close()
    for name in ("login", "today", "customers", "dashboard", "my-notes", "task-sheet"):
        print(args.out / f"{name}.png")


def _login(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=nav]")


if __name__ == "__main__":
    main()
