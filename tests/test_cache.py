"""The weights cache against hostile URLs (issue 10 section 1), served by a real HTTP server on
127.0.0.1: a URL never decides where a byte is written, two URLs never share an entry, a killed
download leaves nothing that lasts, and torchvision's cache is shared."""

from __future__ import annotations

import dataclasses
import hashlib
import io as stdlib_io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convzoo import create_model
from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.io import cache
from convzoo.weights import get_weight_entry


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONVZOO_OFFLINE", raising=False)  # the server is local


def _state_bytes(num_classes: int = 10, seed: int = 0) -> bytes:
    torch.manual_seed(seed)
    buf = stdlib_io.BytesIO()
    torch.save(create_model("lenet5", num_classes=num_classes).state_dict(), buf)
    return buf.getvalue()


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


HOSTILE_PATHS = [
    "/..%2F..%2F..%2Fescaped.pth",
    "/x/..%2F..%2Fescaped.safetensors",
    "/%2Ftmp%2Fescaped-abs.pth",
    "/..%5C..%5Cescaped-backslash.pth",
    "/evil%00.pth",
    "/.hidden.pth",
    "/..",
    "/dir/",
    "/%2E%2E",
    "/" + "a" * 400 + ".pth",
    "/caf%C3%A9%E2%80%AE.pth",  # non-ASCII and a right-to-left override
    "/w.pth?name=../../escaped.pth",
]


@pytest.mark.slow
@pytest.mark.parametrize("url_path", HOSTILE_PATHS)
def test_hostile_url_is_written_only_inside_the_cache(tmp_path, hostile_server, url_path):
    body = _state_bytes()
    hostile_server.default = body
    before = _all_files(tmp_path)
    url = hostile_server.url(url_path)
    got = cache.cached_download(url, None, progress=False)
    assert hostile_server.requests  # it was really downloaded
    home = (tmp_path / "home" / "weights").resolve()
    assert got.parent == home and got.read_bytes() == body
    assert cache.is_plain_file_name(got.name) and got.name.startswith(cache.url_cache_name(url))
    assert _all_files(tmp_path) - before == {got}  # nothing anywhere else, no temp file
    assert not Path("/tmp/escaped-abs.pth").exists()


def test_site_packages_pth_is_never_planted(tmp_path, hostile_server, monkeypatch):
    """The attack of the issue: an encoded absolute path into site-packages, through the CLI."""
    site = tmp_path / "site-packages"
    site.mkdir()
    hostile_server.default = b"import os; os.system('touch pwned')\n"
    encoded = str(site / "evil.pth").replace("/", "%2F")
    code = main(["predict", "lenet5", "--weights", hostile_server.url("/" + encoded), __file__])
    assert code == 2  # the file is not a state dict: one line, no traceback
    assert not (site / "evil.pth").exists() and list(site.iterdir()) == []


def test_two_urls_with_one_file_name_keep_two_entries(hostile_server):
    a, b = _state_bytes(seed=1), _state_bytes(seed=2)
    hostile_server.routes = {"/one/lenet.pth": a, "/two/lenet.pth": b}
    ma = create_model("lenet5", weights=hostile_server.url("/one/lenet.pth"))
    mb = create_model("lenet5", weights=hostile_server.url("/two/lenet.pth"))
    wa = torch.load(stdlib_io.BytesIO(a), weights_only=True)
    wb = torch.load(stdlib_io.BytesIO(b), weights_only=True)
    key = next(iter(wa))
    assert not torch.equal(wa[key], wb[key])
    assert torch.equal(ma.state_dict()[key], wa[key])
    assert torch.equal(mb.state_dict()[key], wb[key])
    assert len(list(cache.weights_dir().iterdir())) == 2


def test_hash_prefix_in_the_name_is_checked(hostile_server):
    body = _state_bytes()
    good = hashlib.sha256(body).hexdigest()[:8]
    wrong = "0" * 8 if not good.startswith("0") else "1" * 8
    hostile_server.default = body
    assert cache.cached_download(hostile_server.url(f"/lenet-{good}.pth"), good, progress=False)
    with pytest.raises(ConvzooError, match="does not match"):
        create_model("lenet5", weights=hostile_server.url(f"/lenet-{wrong}.pth"))
    names = [p.name for p in cache.weights_dir().iterdir()]
    assert len(names) == 1 and good in names[0]  # nothing kept of the mismatch


def test_offline_makes_no_request(hostile_server, monkeypatch):
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")
    with pytest.raises(ConvzooError, match="CONVZOO_OFFLINE"):
        create_model("lenet5", weights=hostile_server.url("/w.pth"))
    assert hostile_server.requests == []


_KILLED_DOWNLOAD = """
import sys
from convzoo.io import cache
cache.cached_download(sys.argv[1], None, progress=False)
"""


@pytest.mark.slow
def test_partial_of_a_killed_download_is_removed_by_the_next(tmp_path, hostile_server):
    """A real SIGKILL in the middle of a download leaves torch hub's ``.partial``; the next
    download (under the cache's lock, so the dead one's file is known stale) removes it."""
    body = os.urandom(1 << 20)  # over torch hub's 128 KiB read, so the cut lands in the file
    hostile_server.default = body
    hostile_server.stall_after = 600_000
    url = hostile_server.url("/big.pth")
    dest = cache.url_cache_path(url)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_DOWNLOAD, url], env=env)
    try:
        deadline = time.monotonic() + 120
        while not any(p.stat().st_size for p in cache.partial_files(dest)):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert cache.partial_files(dest) and not dest.exists()
    hostile_server.stall_after = None
    hostile_server.release.set()
    got = cache.cached_download(url, None, progress=False)
    assert got == dest and got.read_bytes() == body
    assert cache.partial_files(dest) == []


def test_unverifiable_truncated_download_is_not_kept(hostile_server):
    """A URL without a hash cannot be verified (torch hub does not compare Content-Length): a
    transfer cut short that does not read as weights is refused in one line and removed from
    the cache, so that the next try downloads it again instead of failing forever."""
    body = _state_bytes()
    hostile_server.routes = {"/w.pth": body[: len(body) // 2]}
    url = hostile_server.url("/w.pth")
    with pytest.raises(ConvzooError, match="removed from the cache"):
        create_model("lenet5", weights=url)
    assert not cache.url_cache_path(url).exists()
    hostile_server.routes = {"/w.pth": body}
    create_model("lenet5", weights=url)
    assert len(hostile_server.requests) == 2


def test_torchvision_cache_is_shared_and_never_downloaded_again(tmp_path, monkeypatch):
    """Without CONVZOO_HOME, our table's files live in torch hub's checkpoints folder under
    torchvision's own names: a file torchvision already downloaded is used after its hash
    check, with no request."""
    import torchvision

    import convzoo.weights as W

    monkeypatch.delenv("CONVZOO_HOME")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")
    e = get_weight_entry("resnet18")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    assert e.cache_path() == (hub / "resnet18-f37072fd.pth").resolve()
    hub.mkdir(parents=True)
    tv = torchvision.models.resnet18()
    torch.save(tv.state_dict(), hub / "resnet18-f37072fd.pth")
    # The placed file is not torchvision's real one: its own prefix stands in for the hash.
    placed = dataclasses.replace(e, sha256=cache.sha256_of(hub / "resnet18-f37072fd.pth")[:8])
    monkeypatch.setattr(W, "get_weight_entry", lambda model, name="imagenet": placed)
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: 1 / 0)
    model = create_model("resnet18", weights="imagenet")
    key = "layer1.0.conv1.weight"
    assert torch.equal(model.state_dict()[key], tv.state_dict()[key])


def test_weights_list_says_cached_only_when_the_hash_matches(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")
    e = get_weight_entry("resnet18")
    assert main(["weights", "list", "resnet18", "--json"]) == 0
    states = {d["name"]: d["cache"] for d in json.loads(capsys.readouterr().out)}
    assert states["imagenet"] == "missing"
    e.cache_path().parent.mkdir(parents=True, exist_ok=True)
    e.cache_path().write_bytes(b"a damaged download")
    assert main(["weights", "list", "resnet18"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " imagenet " in line)
    assert "DAMAGED" in row and "cached" not in row
    assert main(["weights", "list", "lenet5", "--json"]) == 0
    (digits,) = json.loads(capsys.readouterr().out)
    assert digits["cache"] == "cached"  # the shipped file, its full SHA-256 checked
    with pytest.raises(ConvzooError, match="not the expected"):
        create_model("resnet18", weights="imagenet")  # damaged, and offline: refused


def test_table_names_are_checked_too():
    e = get_weight_entry("resnet18")
    bad = dataclasses.replace(e, url="https://example.org/models/..%2Fescape.pth")
    with pytest.raises(ConvzooError, match="bad file name"):
        bad.cache_path()
    with pytest.raises(ConvzooError, match="plain file name"):
        cache.table_cache_path("../x.pth")
