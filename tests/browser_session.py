"""Running the app for a real browser: a Streamlit server on a free port, and Chromium.

Used by test_browser.py and bench/bench_app.py. Chromium is the system's
(/usr/bin/chromium, `apt-get install chromium`); Playwright only drives it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def why_no_browser() -> str | None:
    """None when the browser test can run, else the reason it cannot."""
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} is missing (install it with `apt-get install chromium`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -r requirements.txt)"
    return None


class Server(str):
    """The app's URL, with the last lines the server printed (``tail()``) for failure messages."""

    lines: deque

    def tail(self, n: int = 40) -> str:
        return "".join(list(self.lines)[-n:])


def _drain(stream, lines: deque, ready: threading.Event) -> None:
    """Read the server's output as it comes, so a full pipe never blocks the server."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        lines.append(line)
        if "ready in" in line or "warming up failed" in line:
            ready.set()
    ready.set()  # the server exited


@contextmanager
def streamlit_server(env: dict, timeout: float = 90.0, ready: bool = False, module: str = "app.serve"):
    """The app (``python -m app.serve``, as ``bash run.sh app`` starts it) on a free localhost
    port; yields its URL (a ``Server``) once it answers, and with ``ready`` only once
    ``app.serve`` has also said its warm-up (torch, the model, the page data) is done.
    ``module``: another launcher of ``app.serve`` (tests/serve_test_weights.py). The server's
    output is read all along (the last lines kept), since a pipe nobody reads stalls it."""
    port = free_port()
    cmd = [sys.executable, "-m", module,  # app.serve: what `bash run.sh app` runs
           "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=lambda: os.nice(10))
    url = Server(f"http://127.0.0.1:{port}")
    url.lines, warm = deque(maxlen=400), threading.Event()
    reader = threading.Thread(target=_drain, args=(proc.stdout, url.lines, warm), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                reader.join(5)
                raise RuntimeError(f"streamlit exited: {url.tail()[-2000:]}")
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.2)
        if ready and not warm.wait(max(0.0, deadline - time.monotonic())):
            raise TimeoutError("the app's warm-up did not finish in time")
        if ready and proc.poll() is not None:
            raise RuntimeError(f"streamlit exited during its warm-up: {url.tail()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def chromium():
    """A headless Chromium browser (Playwright sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def explained(page, url: Server, what: str):
    """Fail with what the page showed and what the server printed last, when ``what`` (a
    wait or a check on ``page``) does not come true."""
    try:
        yield
    except Exception as e:
        try:
            body = page.locator("[data-testid='stMain']").first.inner_text(timeout=5_000)
        except Exception as unreadable:
            body = f"(unreadable: {unreadable})"
        raise AssertionError(f"{what}: {type(e).__name__}: {str(e)[:500]}\n--- the page shows:\n"
                             f"{body[-3000:]}\n--- the server printed last:\n{url.tail()}") from e


def upload(page, path, timeout_ms: float = 60_000) -> None:
    """Put a file into the page's st.file_uploader."""
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path),
                                                                                     timeout=timeout_ms)


def settle(page, timeout_ms=90_000):
    """Wait until the script run that the last action started has finished."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=timeout_ms)


def sidebar_links(page) -> dict:
    """The sidebar's page links by title."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    return {links.nth(i).inner_text().strip().splitlines()[-1]: links.nth(i) for i in range(links.count())}


TOP5_ROW = ".top5 .top5-row"  # app.charts.top5's bars


def wait_for_top5(page, timeout_ms: float = 240_000) -> int:
    """Wait until the top-5 bars are drawn (``TOP5``); returns the number of bars."""
    TOP5(page, timeout_ms)
    return page.locator(TOP5_ROW).count()


# What each page's first result looks like: bench/bench_pages.py times it, and
# test_browser.py checks every page shows it on a fresh machine.
TIMEOUT_MS = 600_000
CHART = '[data-testid="stPlotlyChart"]'
VEGA = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'  # drawn, not a placeholder
IMAGE = '[data-testid="stImage"] img'
UPLOADER = '[data-testid="stFileUploader"]'

# Records, in the page, the moment each watched thing first shows (window.__shown[name], ms
# since the epoch), checked at every animation frame. Playwright's own waiting polls at
# growing intervals (up to 500 ms here), so the moment it returns can be that much late.
_WATCH = """(([name, css, n, pattern, visible]) => {
  const re = pattern ? new RegExp(pattern) : null;
  const drawn = (e) => { const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden"; };
  const holds = () => {
    if (!document.body) return false;
    if (re) {
      const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let t = walk.nextNode(); t; t = walk.nextNode()) {
        const e = t.parentElement;
        if (e && re.test(e.textContent.trim()) && drawn(e)) return true;
      }
      return false;
    }
    const found = [...document.querySelectorAll(css)];
    return visible ? found.filter(drawn).length > n : found.length > n;
  };
  window.__shown = window.__shown || {};
  const tick = () => {
    if (holds()) window.__shown[name] = performance.timeOrigin + performance.now();
    else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})"""


class Shown:
    """A page's first result: the ``n``-th drawn element matching CSS ``css`` (any, drawn or
    not, with ``visible=False``), or a drawn element whose text matches ``pattern``, after
    pressing the button ``press`` where the page asks for one. Calling it waits for that
    with Playwright; ``watch``/``seen`` record in the page the moment it first showed, to
    the frame (bench/bench_pages.py)."""

    def __init__(self, css: str = "", n: int = 0, pattern: str = "", visible: bool = True, press: str = ""):
        self.css, self.n, self.pattern, self.visible, self.press = css, n, pattern, visible, press

    def __call__(self, page, timeout_ms: float = TIMEOUT_MS) -> None:
        if self.press:
            page.get_by_role("button", name=self.press).click(timeout=timeout_ms)
        if self.pattern:
            page.get_by_text(re.compile(self.pattern)).first.wait_for(timeout=timeout_ms)
        elif self.visible:
            page.locator(self.css).filter(visible=True).nth(self.n).wait_for(timeout=timeout_ms)
        else:
            page.locator(self.css).nth(self.n).wait_for(state="attached", timeout=timeout_ms)

    def watch(self, context, name: str) -> None:
        """Record, in every page ``context`` opens from now on, when this first shows."""
        args = [name, self.css, self.n, self.pattern, self.visible]
        context.add_init_script(f"{_WATCH}({json.dumps(args)})")

    @staticmethod
    def seen(page, name: str) -> float | None:
        """When the page first showed what ``watch`` named ``name`` (seconds since the epoch,
        as time.time()), or None if it has not."""
        t = page.evaluate(f"(window.__shown || {{}})[{json.dumps(name)}]")
        return None if t is None else t / 1000


TOP5 = Shown(TOP5_ROW, 4, visible=False)  # Predict's five bars, in the page (drawn or not yet)


def nth(selector: str, n: int) -> Shown:
    return Shown(selector, n)


def text(pattern: str) -> Shown:
    return Shown(pattern=pattern)


# page -> (its URL path, needs a picture, what its first result looks like)
PAGES = {
    "Predict": ("", True, TOP5),
    "Architecture": ("architecture", False, nth('[data-testid="stDataFrame"]', 0)),
    "Filters": ("filters", False, nth(IMAGE, 1)),  # both towers' kernels
    "Neighbours": ("neighbours", True, text(r"distance \d")),
    "Deconvnet": ("deconvnet", True, text(r"^projection$")),
    "Feature maps": ("feature_maps", True, nth(CHART, 0)),
    "Occlusion": ("occlusion", True, nth(IMAGE, 3)),  # the picture and three maps over it
    "Invariance": ("invariance", True, nth(VEGA, 2)),
    "Evolution": ("evolution", False, text(r"^epoch \d+: ")),
    "Attribution": ("attribution", True, nth(IMAGE, 5)),  # the input and five methods
    "Feature visualisation": ("featvis", False, Shown(IMAGE, 0, press="Visualise")),  # the optimised picture
    "Filter quality": ("filter_quality", False, nth('[data-testid="stDataFrame"]', 0)),
    "Correspondence": ("correspondence", False, text(r"^Random minus your part")),
    "Layer features": ("layer_features", False, nth(VEGA, 0)),  # the shipped default table
    "Experiments": ("experiments", False, nth(VEGA, 0)),
    "Paper claims": ("claims", False, text(r"^(holds|weaker|opposite|not significant|censored)$")),
}  # not Transfer: it reads a folder of the user's own pictures, which a fresh machine has none of


def fresh_env(home: Path) -> dict:
    """A new user's environment: HOME empty, nothing of ours set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALEXNET_") and k != "TORCH_HOME"}
    return {**env, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
