"""The diagnose report and the atlas page opened in a real headless browser (Debian's
chromium): they load with no console message or script error; the report's table sorts on a
click and its screenshot is not blank.

Skipped where chromium is absent, unless SMCLAB_REQUIRE_BROWSER=1 (CI sets it and installs
chromium), then it fails."""

import os
import re
import shutil
import subprocess

import pytest
from test_diagnose import HOST, granularity_curve

import smclab.suites.diagnose as dg
from smclab.report.html import render

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture
def browser(tmp_path):
    """Run chromium on a page with a fresh profile: (stdout, stderr)."""
    if CHROMIUM is None:
        reason = "no chromium (apt-get install chromium; CI installs it)"
        if os.environ.get("SMCLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SMCLAB_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)

    def run(page, *args: str) -> tuple[str, str]:
        profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
        p = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, p.stderr[-2000:]
        return p.stdout, p.stderr

    return run


def report(tmp_path, script: str = ""):
    """A report on synthetic granularity data (one probe, its findings, a plot), with
    ``script`` run after the page's own."""
    probe = dg.Probe("granularity", "Granularity", ())
    d = dg.Diagnosis(
        HOST, "run1", True, [dg.ProbeResult(probe, granularity_curve(64), "s")], [], 1.0
    )
    d.findings = dg.find(d.probes, HOST)
    page = render(d)
    if script:
        page = page.replace("</body>", f"<script>{script}</script></body>")
    path = tmp_path / "report.html"
    path.write_text(page)
    return path


def test_the_report_loads_without_console_messages(tmp_path, browser):
    dom, log = browser(report(tmp_path), "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert not [line for line in log.splitlines() if ":CONSOLE" in line], log
    assert 'class="sortable" data-ready="1"' in dom  # the page's script ran
    assert dom.count("<svg") == 1 and "Granularity" in dom


def test_clicking_a_column_sorts_the_raw_table(tmp_path, browser):
    click = """
    const t = document.querySelector("table.sortable");
    const th = t.tHead.rows[0].cells[3];  // ticks/it
    const col = () => Array.from(t.tBodies[0].rows, r => r.cells[3].textContent).join(" ");
    th.click(); document.body.dataset.up = col();
    th.click(); document.body.dataset.down = col();
    """
    dom, _ = browser(report(tmp_path, click), "--dump-dom")
    up = [float(x) for x in re.search(r'data-up="([^"]*)"', dom)[1].split()]
    down = [float(x) for x in re.search(r'data-down="([^"]*)"', dom)[1].split()]
    assert len(up) >= 5 and up == sorted(up) and down == sorted(up, reverse=True)


def test_the_screenshot_is_not_blank(tmp_path, browser):
    import matplotlib.image

    shot = tmp_path / "shot.png"
    browser(report(tmp_path), f"--screenshot={shot}", "--window-size=1000,1400")
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1400, 1000)
    assert pixels[..., :3].std() > 0.05  # text and a plot, not one colour
    colours = {tuple(px) for px in pixels[::20, ::20, :3].reshape(-1, 3).round(2).tolist()}
    assert len(colours) > 5


def test_the_atlas_page_loads_without_console_messages(tmp_path, browser):
    """The atlas of the recorded hosts that ship with smclab (no store of this machine)."""
    from conftest import run_cli

    page = tmp_path / "atlas.html"
    p = run_cli("atlas", "--html", str(page))  # the XDG data dir of the tests is empty
    assert p.returncode == 0, p.stderr
    dom, log = browser(page, "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert not [line for line in log.splitlines() if ":CONSOLE" in line], log
    assert '<html lang="en">' in dom and dom.count("<svg") >= 1
