"""The HTML report in a real browser: Debian's chromium, headless (issue 12, section 1).

Skipped with a message where chromium is absent (CI installs it with apt). We run as root, so
chromium needs ``--no-sandbox``. Console messages (errors included) are read from chromium's
own log on stderr (``--enable-logging=stderr --v=0``: one ``CONSOLE`` line each); the DOM
after loading from ``--dump-dom``.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from convzoo.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


def _chromium(page: Path, width: int = 1400) -> tuple[str, list[str]]:
    """The DOM after loading ``page`` at ``width`` pixels, and the console lines."""
    assert CHROMIUM is not None
    run = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            f"--window-size={width},1000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return run.stdout, console


class _Groups(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.groups: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "g" and a.get("data-name"):
            self.groups.append((a.get("class") or "", a["data-name"] or ""))


def _groups(dom: str) -> list[tuple[str, str]]:
    p = _Groups()
    p.feed(dom)
    return p.groups


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    return {name: write_report(name, out / f"{name}.html") for name in ("googlenet", "resnet50")}


@pytest.mark.slow
def test_console_errors_are_seen(tmp_path) -> None:
    """The check itself: a page with a script error shows up in the console lines."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>noSuchFunction();</script></body></html>")
    _, console = _chromium(bad)
    assert any("noSuchFunction" in line for line in console)


@pytest.mark.slow
def test_googlenet_report_renders_its_nine_inception_modules(reports) -> None:
    dom, console = _chromium(reports["googlenet"])
    assert console == []
    modules = [n for c, n in _groups(dom) if c.startswith("block inception")]
    assert modules == [
        f"inception{m}" for m in (["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"])
    ]


@pytest.mark.slow
def test_resnet50_report_renders_its_sixteen_bottlenecks(reports) -> None:
    dom, console = _chromium(reports["resnet50"])
    assert console == []
    blocks = [n for c, n in _groups(dom) if "residual" in c and "bottleneck" in c]
    assert len(blocks) == 16
    assert blocks[0] == "layer1.0" and blocks[-1] == "layer4.2"


PROBE = (
    "<script>const d = document.documentElement; document.body.setAttribute("
    "'data-widths', d.scrollWidth + ' ' + d.clientWidth);</script></body>"
)


def _widths(page: str, tmp_path: Path, width: int = 1400) -> tuple[int, int, list[str]]:
    """The page's scroll width and client width at ``width`` pixels, from a probe copy."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE), encoding="utf-8")
    dom, console = _chromium(probe, width=width)
    marker = dom.split('data-widths="', 1)[1].split('"', 1)[0]
    scroll, client = map(int, marker.split())
    return scroll, client, console


@pytest.mark.slow
def test_the_probe_sees_a_page_that_scrolls_sideways(tmp_path) -> None:
    scroll, client, _ = _widths('<html><body><div style="width:3000px">x</div></body>', tmp_path)
    assert scroll > client


@pytest.mark.slow
@pytest.mark.parametrize("name", ["googlenet", "resnet50"])
def test_nothing_scrolls_sideways_at_1400_px(reports, name: str, tmp_path) -> None:
    scroll, client, console = _widths(reports[name].read_text(encoding="utf-8"), tmp_path)
    assert console == []
    assert client > 1000 and scroll <= client, (scroll, client)
