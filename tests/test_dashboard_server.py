"""The dashboard server is a good citizen (issue 16, item 8): a real Voila subprocess on 127.0.0.1 with a free port
requires its token, refuses a forged Host header, culls idle kernels and writes figures under the run folder,
never into the committed figures/. No browser: plain HTTP requests."""

import hashlib
import http.client
import importlib.util
import os
import time
from pathlib import Path

import pytest

from avfh_core.viz import dashboard

needs_voila = pytest.mark.skipif(importlib.util.find_spec("voila") is None, reason="voila not installed")


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() + f"@{p.stat().st_mtime_ns}"
            for p in sorted(folder.rglob("*")) if p.is_file()} if folder.is_dir() else {}


def _kernels(pid: int) -> list[int]:
    """Kernel processes the server started (children running ipykernel_launcher)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"ipykernel_launcher" in cmd:
            found.append(int(proc.name))
    return found


def _get(port: int, path: str, host: str | None = None) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        r = conn.getresponse()
        r.read()
        return r.status, r.getheader("Location")
    finally:
        conn.close()


def test_voila_command_binds_loopback_with_token_culling_and_host_check():
    cmd = dashboard.voila_command(8866, Path("nb.ipynb"), token="abc123", cull_idle_s=5, cull_interval_s=2)
    assert "--Voila.ip=127.0.0.1" in cmd and "--Voila.token=abc123" in cmd
    assert "--MappingKernelManager.cull_idle_timeout=5" in cmd and "--MappingKernelManager.cull_interval=2" in cmd
    assert "run_voila" in cmd[2]  # the launcher that turns jupyter_server's Host check on
    with pytest.raises(ValueError, match="token"):
        dashboard.voila_command(8866, Path("nb.ipynb"), token="")
    with pytest.raises(ValueError, match="cull_idle_s"):
        dashboard.voila_command(8866, Path("nb.ipynb"), token="abc", cull_idle_s=0)
    with pytest.raises(ValueError, match="--port"):
        dashboard.voila_command(0, Path("nb.ipynb"), token="abc")


def test_figures_folder_is_under_the_run_folder(tmp_path):
    assert dashboard.figures_folder(tmp_path) == tmp_path.resolve() / "figures" / "dashboard"
    assert dashboard.figures_folder(None).is_relative_to(dashboard.repo_root() / "runs")
    assert dashboard.url_with_token("http://127.0.0.1:1/", "t0") == "http://127.0.0.1:1/?token=t0"


@needs_voila
def test_dashboard_server_token_host_culling_and_figures(tmp_path):
    repo_figures = dashboard.repo_root() / "figures"
    before = _snapshot(repo_figures)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    port = dashboard.free_port()
    log = tmp_path / "voila.log"
    env = {"AVFH_RESULTS": str(tmp_path / "side.json")}
    saved = os.environ.pop("AVFH_FIGURES", None)  # start() must choose the folder itself
    try:
        proc = dashboard.start(port, run_dir=run_dir, log=log, env=env, cull_idle_s=2, cull_interval_s=1)
    finally:
        if saved is not None:
            os.environ["AVFH_FIGURES"] = saved
    token = proc.token
    assert len(token) >= 32
    try:
        dashboard.wait_ready(f"http://127.0.0.1:{port}/", proc, timeout=60)
        status, location = _get(port, "/")  # no token: sent to the login page, no kernel started
        assert status in (302, 403), status
        assert status == 403 or location.startswith("/login")
        assert _get(port, "/?token=wrong")[0] in (302, 403)
        assert _get(port, f"/?token={token}", host="evil.example.com")[0] == 403  # forged Host (DNS rebinding)
        assert _get(port, f"/?token={token}", host="evil.example.com:80")[0] == 403
        assert _kernels(proc.pid) == []
        assert _get(port, f"/?token={token}")[0] == 200  # the visit runs the notebook in a kernel
        assert len(_kernels(proc.pid)) == 1
        deadline = time.time() + 30
        while _kernels(proc.pid) and time.time() < deadline:  # idle, no page connected: culled
            time.sleep(0.5)
        assert _kernels(proc.pid) == [], "idle kernel not culled within 30 s"
        assert proc.poll() is None  # the server itself keeps running
    except Exception:
        print(log.read_text()[-3000:] if log.exists() else "(no voila log)")
        raise
    finally:
        dashboard.stop(proc, timeout=10)
    assert _snapshot(repo_figures) == before, "a visit changed the committed figures/"
    assert any((run_dir / "figures" / "dashboard").rglob("*.png")), "no figure written under the run folder"
