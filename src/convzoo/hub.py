"""The weights cache: where downloaded files live, and a download that never leaves a bad file.

The cache folder is ``$CONVZOO_HOME/weights`` (default ``$XDG_CACHE_HOME/convzoo`` or
``~/.cache/convzoo``). A download goes to a temporary file in that folder, is hashed while it is
written, and is renamed into place with :func:`os.replace` only when the hash matches, the same
discipline as :func:`torch.hub.download_url_to_file`. A failed, truncated or mismatched download
leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from convzoo.errors import ConvzooError

CHUNK = 1 << 20
# torchvision (and torch.hub) name their files ``<name>-<first hex digits of sha256>.<ext>``.
HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")


def convzoo_home() -> Path:
    """The folder that holds convzoo's caches: ``$CONVZOO_HOME`` or the user's cache dir."""
    env = os.environ.get("CONVZOO_HOME")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "convzoo"


def weights_dir() -> Path:
    """Where weight files are cached: ``convzoo_home() / "weights"``."""
    return convzoo_home() / "weights"


def offline() -> bool:
    """True when ``CONVZOO_OFFLINE`` is set to a true value: no network access is tried
    (``file://`` URLs still work)."""
    return os.environ.get("CONVZOO_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_matches(digest: str, expected: str) -> bool:
    """Whether ``digest`` (full hex) matches ``expected``: the full hash or, as torchvision's
    file names give it, a prefix of it (at least 6 hex digits)."""
    expected = expected.lower()
    return len(expected) >= 6 and digest.lower().startswith(expected)


def hash_from_file_name(name: str) -> str | None:
    """The hash prefix a torch.hub-style file name carries (``resnet18-f37072fd.pth``)."""
    m = HASH_IN_NAME.search(name)
    return m.group(1) if m else None


def file_name_of(url: str) -> str:
    """The last path part of a URL, which names the file in the cache."""
    name = urllib.request.url2pathname(url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
    if not name:
        raise ConvzooError(f"cannot tell a file name from the URL {url!r}")
    return name


def _missing_message(file_name: str, url: str, dest: Path, why: str) -> str:
    return (
        f"weights file {file_name!r} is not cached and cannot be downloaded ({why}). "
        f"Download {url} by other means and put it at {dest} (the cache folder is set by "
        f"CONVZOO_HOME), or give the file itself (weights=PATH, --weights PATH)."
    )


def download(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None,
    *,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``; the file appears only if complete and its hash matches.

    ``sha256`` is the full hex digest or a prefix of it (torchvision publishes only the prefix in
    its file names); ``None`` skips the check (only for a user's own URL without a hash).
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    if offline() and not url.startswith("file:"):
        raise ConvzooError(_missing_message(dest.name, url, dest, "CONVZOO_OFFLINE is set"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    tmp = Path(tmp_name)
    out = os.fdopen(fd, "wb")
    try:
        digest = hashlib.sha256()
        written = 0
        request = urllib.request.Request(url, headers={"User-Agent": "convzoo"})
        try:
            response = urllib.request.urlopen(request, timeout=60)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise ConvzooError(_missing_message(dest.name, url, dest, str(reason))) from None
        with response, out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=not progress,
                leave=False,
            ) as bar:
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except OSError as err:
                        raise ConvzooError(
                            f"download of {url} broke off after {written} bytes ({err}); "
                            f"nothing was written to {dest.parent}. Try again."
                        ) from None
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
        if total is not None and written != total:
            raise ConvzooError(
                f"download of {url} is truncated: {written} of {total} bytes; nothing was "
                f"written to {dest.parent}. Try again."
            )
        hexdigest = digest.hexdigest()
        if sha256 is not None and not hash_matches(hexdigest, sha256):
            raise ConvzooError(
                f"{url}: SHA-256 {hexdigest} does not match the expected {sha256} (a truncated, "
                f"corrupted or different file); it was not kept."
            )
        os.replace(tmp, dest)
    finally:
        out.close()
        tmp.unlink(missing_ok=True)
    return dest


def cached_download(
    url: str,
    sha256: str | None,
    file_name: str | None = None,
    *,
    progress: bool = True,
) -> Path:
    """The cached copy of ``url`` (checked against ``sha256``), downloaded first if needed.

    A cached file is re-hashed on every use (well under a second even for VGG-19's 548 MB), so a
    file damaged in the cache is never loaded: it is downloaded again.
    """
    name = file_name or file_name_of(url)
    dest = weights_dir() / name
    if not dest.is_file():
        return download(url, dest, sha256, progress=progress)
    digest = sha256_of(dest) if sha256 is not None else None
    if digest is None or hash_matches(digest, sha256 or ""):
        return dest
    try:  # a damaged or foreign file in the cache: replaced only by a download that matches
        return download(url, dest, sha256, progress=progress)
    except ConvzooError as err:
        raise ConvzooError(
            f"the cached {dest} has SHA-256 {digest}, not the expected {sha256}, so it was not "
            f"used (a damaged, truncated or different file); and a fresh download failed: {err}"
        ) from None
