"""The dashboard in a real browser: Voila serves notebooks/common/03_dashboard on 127.0.0.1, headless Debian
Chromium (Playwright, sync API) moves the live panel's alpha slider, the displayed numbers change, the server stops."""

import importlib.util
import time
from pathlib import Path

import pytest

from avfh_core.viz import dashboard

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    if not Path(dashboard.CHROMIUM).exists():
        return f"{dashboard.CHROMIUM} not installed (apt-get install chromium)"
    for mod in ("voila", "playwright"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} not installed (pip install 'avfh[dashboard]')"
    if not (dashboard.repo_root() / dashboard.DASHBOARD).exists():
        return f"{dashboard.DASHBOARD} missing"
    return None


@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_dashboard_slider_changes_the_displayed_result(tmp_path):
    from playwright.sync_api import sync_playwright

    from avfh_core.viz.figures import figures_dir

    port = dashboard.free_port()
    base = f"http://127.0.0.1:{port}/"
    log = tmp_path / "voila.log"
    t0 = time.time()
    proc = dashboard.start(port, log=log, env={"AVFH_RESULTS": str(tmp_path / "side.json"),
                                               "AVFH_FIGURES": str(tmp_path / "figures")})
    url = dashboard.url_with_token(base, proc.token)  # the server requires its token; the page's cookie follows
    try:
        dashboard.wait_ready(base, proc, timeout=60)
        with sync_playwright() as p:
            ctx = dashboard.launch_chromium(p, tmp_path / "profile")
            page = ctx.new_page()
            page.goto(url, wait_until="commit")  # CDN fonts never load offline: do not wait for 'load'
            before = dashboard.wait_for_readout(page, "alpha=1.0", timeout_ms=70000)
            img_before = page.locator(".widget-image").first.get_attribute("src")
            dashboard.move_alpha(page, 5)
            after = dashboard.wait_for_readout(page, "alpha=1.5", timeout_ms=20000)
            assert after != before
            assert page.locator(".widget-image").first.get_attribute("src") != img_before  # the figure changed
            shot = figures_dir() / "common" / "dashboard.png"  # tests write under $AVFH_FIGURES (a tmp dir)
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            ctx.close()
    except Exception:
        print(log.read_text()[-3000:] if log.exists() else "(no voila log)")
        raise
    finally:
        code = dashboard.stop(proc, timeout=10)
    assert proc.poll() is not None and code is not None, "voila still running"
    print(f"browser test: {time.time() - t0:.1f} s")
