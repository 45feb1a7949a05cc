"""The dashboard server is a good citizen (issue 16, item 8): a real Voila subprocess on 127.0.0.1 with a free port
requires its token, refuses a forged Host header, culls idle kernels and writes figures under the run folder,
never into the committed figures/. No browser: plain HTTP requests."""

import asyncio
import hashlib
import http.client
import importlib.util
import json
import os
import re
import time
import uuid
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


def _get(port: int, path: str, host: str | None = None) -> tuple[int, str | None, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        r = conn.getresponse()
        return r.status, r.getheader("Location"), r.read().decode(errors="replace")
    finally:
        conn.close()


def _message(msg_type: str, content: dict) -> str:
    header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": "test", "username": "test",
              "version": "5.3", "date": ""}
    return json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                       "channel": "shell", "buffers": []})


async def _kernel_replies(url: str, seconds: float = 6) -> list[str]:
    """Send an execute_request then a kernel_info_request on the kernel's websocket; the reply types seen."""
    from tornado.websocket import websocket_connect

    ws = await websocket_connect(url)
    ws.write_message(_message("execute_request", {"code": "1 + 1", "silent": False, "store_history": False,
                                                  "user_expressions": {}, "allow_stdin": False}))
    ws.write_message(_message("kernel_info_request", {}))
    seen, end = [], time.time() + seconds
    while time.time() < end and "kernel_info_reply" not in seen:
        try:
            raw = await asyncio.wait_for(ws.read_message(), 1)
        except TimeoutError:
            continue
        if raw is None:
            break
        if isinstance(raw, str):
            seen.append(json.loads(raw)["msg_type"])
    ws.close()
    return seen


def test_voila_command_binds_loopback_with_token_culling_and_host_check():
    cmd = dashboard.voila_command(8866, Path("nb.ipynb"), token="abc123", cull_idle_s=5, cull_interval_s=2)
    assert "--Voila.ip=127.0.0.1" in cmd and "--Voila.token=abc123" in cmd
    assert "--MappingKernelManager.cull_idle_timeout=5" in cmd and "--MappingKernelManager.cull_interval=2" in cmd
    assert "run_voila" in cmd[2]  # the launcher that turns jupyter_server's Host check on
    tokens = {next(a for a in dashboard.voila_command(8866, Path("nb.ipynb")) if a.startswith("--Voila.token=")) for _ in "ab"}
    assert len(tokens) == 2  # a fresh random token when none is given
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
        status, location, _ = _get(port, "/")  # no token: sent to the login page, no kernel started
        assert status in (302, 403), status
        assert status == 403 or location.startswith("/login")
        assert _get(port, "/?token=wrong")[0] in (302, 403)
        assert _get(port, f"/?token={token}", host="evil.example.com")[0] == 403  # forged Host (DNS rebinding)
        assert _get(port, f"/?token={token}", host="evil.example.com:80")[0] == 403
        assert _kernels(proc.pid) == []
        status, _, page = _get(port, f"/?token={token}")  # the visit runs the notebook in a kernel
        assert status == 200
        assert len(_kernels(proc.pid)) == 1
        kernel_ids = set(re.findall(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", page))
        assert len(kernel_ids) == 1, kernel_ids
        channels = f"ws://127.0.0.1:{port}/api/kernels/{kernel_ids.pop()}/channels"
        from tornado.httpclient import HTTPClientError
        from tornado.websocket import WebSocketError

        with pytest.raises((HTTPClientError, WebSocketError)):  # the kernel's websocket needs the token too
            asyncio.run(_kernel_replies(channels))
        seen = asyncio.run(_kernel_replies(f"{channels}?token={token}"))
        assert "kernel_info_reply" in seen  # the websocket works (widgets talk through it) ...
        assert "execute_reply" not in seen and "execute_result" not in seen  # ... but execute requests are dropped
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


@needs_voila
def test_avfh_dashboard_prints_its_token_on_start(tmp_path):
    import signal
    import subprocess
    import sys

    port = dashboard.free_port()
    env = {**os.environ, "PYTHONPATH": str(dashboard.repo_root())}
    proc = subprocess.Popen([sys.executable, "-m", "avfh_core.cli", "dashboard", f"--port={port}",
                             f"--run-dir={tmp_path}"], cwd=dashboard.repo_root(), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("avfh dashboard:"):
                break
        printed = lines[-1] if lines else ""
        assert re.search(rf"http://127\.0\.0\.1:{port}/\?token=[0-9a-f]{{32,}}", printed), lines
        assert str(tmp_path.resolve() / "figures" / "dashboard") in printed
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert code == 0
