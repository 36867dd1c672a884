"""A static folder served on 127.0.0.1, and a page run in headless Chromium: how the ``web`` export is served
(``edgesuite serve``) and checked (``export/web.py``).

Standard library only at import: ``edgesuite serve`` needs neither TensorFlow nor selenium. The check drives
Debian's ``chromium`` through its ``chromedriver`` with selenium, the driver's path given explicitly (so
Selenium Manager downloads nothing), and Chromium told to resolve no host but 127.0.0.1: the page, the model
and the wasm runtime all come from the local server.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from edgesuite.common.log import say

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--metrics-recording-only",
    "--disable-dev-shm-usage",
    "--window-size=820,760",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
INSTALL_HINT = "apt-get install chromium chromium-driver; pip install selenium"
TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
    ".html": "text/html",
}


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}
    extra: dict[str, bytes] = {}  # in-memory files (the check's inputs), by URL path

    def do_GET(self):  # noqa: N802 (the http.server name)
        body = self.extra.get(self.path.split("?", 1)[0])
        if body is None:
            return super().do_GET()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # a page exported again shows the new model
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 (the http.server signature)
        pass


def make_server(folder: Path, port: int = 0, extra: dict[str, bytes] | None = None) -> http.server.ThreadingHTTPServer:
    """An HTTP server of ``folder`` on 127.0.0.1 (``port`` 0: a free one), plus ``extra`` files from memory."""
    handler = type("Handler", (_Handler,), {"extra": dict(extra or {})})
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler, directory=str(folder)))


@contextlib.contextmanager
def serving(folder: Path, extra: dict[str, bytes] | None = None):
    """The folder served in a background thread while the block runs; yields the base URL."""
    server = make_server(folder, 0, extra)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def find_page(target: Path) -> Path | None:
    """The web page's folder for a run folder (``RUN/export/web``), an export folder (``web/``) or the page itself."""
    for folder in (target, target / "web", target / "export" / "web"):
        if (folder / "index.html").is_file():
            return folder
    return None


def chromium_paths() -> tuple[str, str] | str:
    """(chromium, chromedriver), or why the browser check cannot run here. ``$EDGESUITE_CHROMIUM`` and
    ``$EDGESUITE_CHROMEDRIVER`` override the search."""
    browser = os.environ.get("EDGESUITE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("EDGESUITE_CHROMEDRIVER") or shutil.which("chromedriver")
    if not browser:
        return f"no Chromium found ({INSTALL_HINT})"
    if not driver:
        return f"no chromedriver found beside {browser} ({INSTALL_HINT})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install 'edgesuite[web]')"
    return browser, driver


def chromium_version(browser: str) -> str:
    import subprocess

    try:
        out = subprocess.run([browser, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "Chromium"
    return out.strip().split(" built")[0] or "Chromium"


class BrowserUnavailable(RuntimeError):
    """Chromium or its driver would not start: the check is not run (a machine matter, not the export's)."""


@contextlib.contextmanager
def headless_chromium(paths: tuple[str, str], under: Path | None = None):
    """A selenium driver of a fresh headless Chromium with an empty profile, quit and removed afterwards;
    ``under``: the folder the profile goes in (an export's own, so that no other process sees it in the system
    temp folder), else the system temp folder."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = paths
    profile = tempfile.mkdtemp(
        prefix=".edgesuite-chromium-" if under else "edgesuite-chromium-", dir=str(under) if under else None
    )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    try:
        try:
            driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        except WebDriverException as exc:
            said = str(exc.msg or exc).strip().splitlines()[0][:200]
            raise BrowserUnavailable(f"Chromium did not start ({said})") from None
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def run_page(driver, url: str, timeout: float = 300.0) -> dict:
    """Opens ``url`` and waits for the page's ``window.__results``; raises TimeoutError when it never comes."""
    driver.get(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = driver.execute_script("return window.__results || null")
        if found is not None:
            return found
        time.sleep(0.1)
    status = driver.execute_script("var s = document.getElementById('status'); return s ? s.textContent : ''")
    raise TimeoutError(f"the page gave no results in {timeout:.0f} s (it says: {status or 'nothing'})")


def screenshot(driver) -> bytes:
    """The page as a PNG, the window first sized to the page's height."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight") or 700)
    driver.set_window_size(820, min(max(height + 40, 400), 1600))
    return driver.get_screenshot_as_png()


def serve(target: Path, port: int = 8000, log=say) -> None:
    """``edgesuite serve``: the web page of a run or export folder on http://127.0.0.1:PORT/ until Ctrl-C."""
    from edgesuite.common.errors import UserInputError

    folder = find_page(Path(target))
    if folder is None:
        raise UserInputError(
            f"{target}: no web page there (index.html in it, web/ or export/web/); export one with "
            "edgesuite export RUN --formats web"
        )
    try:
        server = make_server(folder, port)
    except OSError as exc:
        raise UserInputError(
            f"--port {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); pick another port"
        ) from None
    log(f"serving {folder} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
