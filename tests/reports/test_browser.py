"""The written report in a real browser: Debian's headless Chromium loads the
page, its DOM holds the key figures, and a screenshot is a real picture.

Skipped (with the reason) only when Chromium is not installed and the run is
not in CI; with ``CI=true`` a missing Chromium fails the test, so CI cannot
pass without looking at the page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nbo_engine.reports import Headline, UpliftTable, WeeklyEvidence, write_figures
from nbo_engine.reports.render import render_html

BROWSERS = ("chromium", "chromium-browser")
WIDTH, HEIGHT = 1280, 1600


def _chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    reason = (
        "Debian's chromium is not installed (apt-get install -y chromium); the "
        "browser check of the weekly report needs it"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true: the check must run in CI")
    pytest.skip(reason)


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    cmd = [
        browser,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
    ]
    got = subprocess.run(cmd, capture_output=True, timeout=180, check=False)
    assert got.returncode == 0, got.stderr.decode(errors="replace")[-2000:]
    return got


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, demo: WeeklyEvidence) -> Path:
    out = tmp_path_factory.mktemp("browser")
    write_figures(demo, out)
    target = out / "report.html"
    target.write_text(render_html(demo), encoding="utf-8")
    return target


def test_the_dom_holds_the_key_figures(
    page: Path, demo: WeeklyEvidence, tmp_path: Path
) -> None:
    browser = _chromium()
    dom = _run(
        browser, tmp_path / "profile", "--dump-dom", page.as_uri()
    ).stdout.decode()
    h = demo.headline
    assert isinstance(h, Headline)
    value = (
        f"{'+' if h.incremental_value >= 0 else '−'}£{abs(h.incremental_value):,.0f}"
    )
    assert f'id="headline-value">{value}</div>' in dom
    assert "Weekly uplift report" in dom
    assert isinstance(demo.uplift, UpliftTable)
    harmful = demo.uplift.harmful[["offer", "segment"]].drop_duplicates()
    assert dom.count('data-harmful="true"') == len(harmful) >= 1
    # the charts are in the DOM as SVG with their text
    assert dom.count("<svg") >= 6
    assert "share of offers accepted" in dom
    assert "Not available this week because" not in dom


def test_a_screenshot_is_a_picture(page: Path, tmp_path: Path) -> None:
    browser = _chromium()
    shot = tmp_path / "report.png"
    _run(browser, tmp_path / "profile", f"--screenshot={shot}", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(shot) as img:
        assert img.size == (WIDTH, HEIGHT)
        pixels = np.asarray(img.convert("RGB"), dtype=np.int16)
    # not blank: text and charts make many colours and dark pixels at the top
    top = pixels[:400]
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
    assert (top.sum(axis=2) < 200).mean() > 0.01
    # the headline's accent bar (#1f4e79) is drawn
    accent = (np.abs(pixels - np.array([0x1F, 0x4E, 0x79])).sum(axis=2) < 30).sum()
    assert accent > 100


def test_without_chromium_ci_fails_and_a_laptop_skips(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no browser on it
    monkeypatch.setenv("CI", "true")
    with pytest.raises(
        pytest.fail.Exception, match="and CI=true: the check must run in CI"
    ):
        _chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        _chromium()
