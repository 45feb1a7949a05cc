"""`avfh dashboard`: the panels of notebooks/common/03_dashboard served as a web app by Voila on 127.0.0.1.

Also the helpers the browser test and the README screenshot use: start Voila, wait until it answers, open the page
in headless Debian Chromium through Playwright (never a downloaded browser build), stop the server cleanly.
The run whose sweep results the ablation panels show is passed to the notebook in $AVFH_DASHBOARD_RUN_DIR.

A good citizen on a shared machine: it binds 127.0.0.1 only, requires a token (printed on start, as Jupyter does),
refuses requests whose Host header is not local (a DNS-rebinding page cannot reach it), drops execute requests to
its kernels, culls kernels idle for `CULL_IDLE_S` seconds once their page is closed, and writes its figures under
the run folder ($AVFH_FIGURES), never into the committed figures/.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avfh_core.config import repo_root

DASHBOARD = Path("notebooks/common/03_dashboard.ipynb")
CHROMIUM = "/usr/bin/chromium"
# Flags for Debian's Chromium as root in a container, offline; plus a fresh --user-data-dir.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def dashboard_notebook() -> Path:
    path = repo_root() / DASHBOARD
    if not path.exists():
        raise FileNotFoundError(f"{path}: the dashboard notebook is missing (run `jupytext --sync` on its .py)")
    return path


def find_latest_run(paper: str, runs_dir: str | Path | None = None) -> Path | None:
    """The newest run folder under runs/ holding sidecars of `paper` (None when there is none)."""
    root = Path(runs_dir) if runs_dir else repo_root() / "runs"
    if not root.is_dir():
        return None
    candidates = [d for d in root.iterdir() if d.is_dir() and any((d / paper).glob("*.json"))]
    return max(candidates, key=lambda d: d.stat().st_mtime) if candidates else None


def ablation_inputs(run_dir: str | Path | None, paper: str, table: str):
    """(sidecars of `paper`, {row: output image}, reference image) from a run folder; empty when there is none."""
    from avfh_core.reproduce.report import load_sidecars
    from avfh_core.viz.panels import load_panel_outputs

    if not run_dir:
        return [], {}, None
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: run folder not found")
    sidecars = [s for s in load_sidecars(run_dir) if s["_paper"] == paper]
    saved = sorted((run_dir / paper).glob(f"*.{table}.npz"))
    outputs, reference = load_panel_outputs(saved[0]) if saved else ({}, None)
    return sidecars, outputs, reference


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CULL_IDLE_S = 600  # a kernel whose page is closed is shut down after this many idle seconds
CULL_INTERVAL_S = 60


def run_voila(argv: list[str] | None = None) -> None:
    """Voila's own entry point, with jupyter_server's Host check turned on (standalone Voila hard-codes
    allow_remote_access=True): a request whose Host is not localhost or a loopback address gets 403."""
    from voila.app import Voila

    class LocalVoila(Voila):
        def init_settings(self):
            settings = super().init_settings()
            settings["allow_remote_access"] = False
            settings["local_hostnames"] = ["localhost"]
            return settings

    LocalVoila.launch_instance(argv)


def voila_command(port: int, notebook: Path | None = None, token: str | None = None, cull_idle_s: int = CULL_IDLE_S,
                  cull_interval_s: int = CULL_INTERVAL_S) -> list[str]:
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"--port must be an integer in 1..65535, got {port!r}")
    token = new_token() if token is None else token  # pass it to know it: start() does
    if not token or not token.isalnum():
        raise ValueError(f"token must be a non-empty alphanumeric string, got {token!r}")
    for name, value in (("cull_idle_s", cull_idle_s), ("cull_interval_s", cull_interval_s)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return [sys.executable, "-c", "import sys; from avfh_core.viz.dashboard import run_voila; run_voila(sys.argv[1:])",
            str(notebook or dashboard_notebook()), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
            "--show_tracebacks=True", f"--Voila.token={token}",
            f"--MappingKernelManager.cull_idle_timeout={cull_idle_s}",
            f"--MappingKernelManager.cull_interval={cull_interval_s}",
            "--MappingKernelManager.cull_connected=False"]


def figures_folder(run_dir: str | Path | None) -> Path:
    """Where the dashboard's figures go: <run folder>/figures/dashboard, or runs/interactive/figures/dashboard."""
    base = Path(run_dir).resolve() if run_dir else repo_root() / "runs" / "interactive"
    return base / "figures" / "dashboard"


def new_token() -> str:
    return secrets.token_hex(24)


def start(port: int, run_dir: str | Path | None = None, env: Mapping[str, str] | None = None,
          log: str | Path | None = None, notebook: Path | None = None, token: str | None = None,
          cull_idle_s: int = CULL_IDLE_S, cull_interval_s: int = CULL_INTERVAL_S) -> subprocess.Popen:
    """Start Voila in its own process group (so its kernels stop with it); output to `log` or inherited.

    The token (a fresh random one unless given) is on the returned process as `proc.token`; $AVFH_FIGURES defaults
    to `figures_folder(run_dir)` so a visit never rewrites the committed figures/."""
    try:
        import voila  # noqa: F401
    except ImportError as e:
        raise ImportError("the dashboard needs Voila: pip install 'avfh[dashboard]'") from e
    token = token or new_token()
    cmd = voila_command(port, notebook, token, cull_idle_s, cull_interval_s)
    full_env = {**os.environ, "AVFH_FIGURES": str(figures_folder(run_dir)), **(env or {})}
    if run_dir:
        full_env["AVFH_DASHBOARD_RUN_DIR"] = str(Path(run_dir).resolve())
    out = open(log, "w") if log else None  # noqa: SIM115 - closed by the child's exit
    proc = subprocess.Popen(cmd, cwd=repo_root(), env=full_env, stdout=out,
                            stderr=subprocess.STDOUT if out else None, start_new_session=True)
    proc.token = token  # type: ignore[attr-defined]
    return proc


def url_with_token(url: str, token: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}token={token}"


def wait_ready(url: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    """Poll `url` until the server answers, even with a 4xx such as 403 for a missing token (raises with the reason
    when it exits or times out). Poll the bare URL, not the tokened one: a served page starts a kernel."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the dashboard server exited with code {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
            time.sleep(0.3)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise TimeoutError(f"{url}: no answer within {timeout} s")


def stop(proc: subprocess.Popen, timeout: float = 10) -> int:
    """SIGTERM (Voila shuts its kernels down), then SIGKILL the group if anything is left after `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # kernels or helpers that outlived the server
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout)
    return proc.returncode


def launch_chromium(playwright: Any, user_data_dir: str | Path):
    """A headless Debian Chromium through Playwright, with a fresh profile; returns a persistent context."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: apt-get install chromium (never `playwright install`)")
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
        viewport={"width": 1100, "height": 900})


def wait_for_readout(page: Any, contains: str, timeout_ms: float = 60000) -> str:
    """Wait until the first `.avfh-readout` element's text contains `contains`; return its text."""
    page.wait_for_function(
        "s => { const e = document.querySelector('.avfh-readout'); return e && e.innerText.includes(s); }",
        arg=contains, timeout=timeout_ms)
    return page.locator(".avfh-readout").first.inner_text()


def move_alpha(page: Any, steps: int = 5) -> None:
    """Move the live panel's alpha slider by `steps` keyboard steps (noUiSlider handle, ipywidgets 8)."""
    handle = page.locator(".noUi-handle").first
    handle.focus()
    for _ in range(steps):
        handle.press("ArrowRight")


def screenshot(out: str | Path, port: int | None = None, run_dir: str | Path | None = None,
               timeout: float = 120) -> Path:
    """Serve the dashboard, open it in headless Chromium, move alpha once, save a PNG (the README's screenshot)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    port = port or free_port()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc = start(port, run_dir, log=Path(tmp) / "voila.log",
                     env={"AVFH_RESULTS": str(Path(tmp) / "sidecar.json"), "AVFH_FIGURES": str(Path(tmp) / "fig")})
        base = f"http://127.0.0.1:{port}/"
        url = url_with_token(base, proc.token)
        try:
            wait_ready(base, proc, timeout)
            with sync_playwright() as p:
                ctx = launch_chromium(p, Path(tmp) / "profile")
                page = ctx.new_page()
                page.goto(url, wait_until="commit")
                wait_for_readout(page, "alpha=1.0", timeout * 1000)
                move_alpha(page, 5)
                wait_for_readout(page, "alpha=1.5", 30000)
                page.screenshot(path=str(out), full_page=True)
                ctx.close()
        finally:
            stop(proc)
    return out


def serve(port: int = 8866, run_dir: str | Path | None = None, open_browser: bool = False) -> int:
    """Blocking: serve the dashboard until Ctrl-C."""
    if run_dir and not Path(run_dir).is_dir():
        raise FileNotFoundError(f"--run-dir {run_dir}: not a folder")

    def _terminate(signum, _frame):  # SIGTERM (and SIGINT where a shell ignored it): stop the server cleanly
        raise KeyboardInterrupt

    # the handlers go in before the URL is printed: a caller that stops us as soon as it reads the line (as the
    # tests do) must get a clean stop, not a death by the default SIGTERM action
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        proc = start(port, run_dir)
    except KeyboardInterrupt:
        return 0
    base = f"http://127.0.0.1:{port}/"
    url = url_with_token(base, proc.token)
    try:
        print(f"avfh dashboard: {url} (Ctrl-C to stop; figures under {figures_folder(run_dir)})", flush=True)
        if open_browser:
            import webbrowser

            wait_ready(base, proc)
            webbrowser.open(url)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(proc)


if __name__ == "__main__":  # python -m avfh_core.viz.dashboard figures/common/dashboard.png
    print(screenshot(sys.argv[1] if len(sys.argv) > 1 else repo_root() / "figures/common/dashboard.png"))
