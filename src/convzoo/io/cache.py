"""The weights cache: where a downloaded file goes is computed, never taken from its URL.

Two kinds of file live in the cache, and each has one rule for its name:

* **files of our own weights table** (torchvision's ImageNet files, entries of
  ``convzoo/data/weights.json``) keep the name the table gives them (torch hub's
  ``resnet18-f37072fd.pth``), so that they are shared with torchvision: without
  ``CONVZOO_HOME`` they live in ``torch.hub.get_dir()/checkpoints``, where torchvision users
  already have them; a file found there is used after its hash check and never downloaded
  again. Those names are ours; they are still checked to be plain file names.
* **files of a user's URL** are named ``<first 16 hex digits of SHA-256(URL)>-<basename>``,
  the basename reduced to letters, digits, ``.``, ``_`` and ``-``: a URL's path (``..%2F``,
  an encoded absolute path, a NUL, a leading dot) never decides where a byte is written, and
  two URLs that end in the same file name never share an entry.

Every destination is resolved and checked to lie inside its cache folder before anything is
written. ``CONVZOO_HOME`` overrides both places: everything then goes to
``$CONVZOO_HOME/weights`` (and torch hub's folder is not consulted).

The download itself is :func:`torch.hub.download_url_to_file` (temporary ``.partial`` file in
the same folder, SHA-256 prefix checked before the rename, the umask's mode); around it we add
what it lacks: an ``flock`` on the cache folder, so that a ``.partial`` found under the lock
was left by a download that died and is removed; an offline switch (``CONVZOO_OFFLINE``); and
messages that say what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import torch.hub

from convzoo.errors import ConvzooError

CHUNK = 1 << 20
# torchvision (and torch.hub) name their files ``<name>-<first hex digits of sha256>.<ext>``.
HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
URL_DIGEST_CHARS = 16
MAX_BASENAME = 80


class CacheError(ConvzooError):
    """A weights file could not be fetched or verified; the message says what to do."""


# ------------------------------------------------------------------------------ where


def convzoo_home() -> Path:
    """The folder of convzoo's own caches: ``$CONVZOO_HOME``, else ``$XDG_CACHE_HOME/convzoo``
    (``~/.cache/convzoo``)."""
    env = os.environ.get("CONVZOO_HOME")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "convzoo"


def weights_dir() -> Path:
    """Where files of a user's URL are cached: ``convzoo_home() / "weights"``."""
    return convzoo_home() / "weights"


def table_dir() -> Path:
    """Where files of our weights table are cached: torch hub's ``checkpoints`` folder (shared
    with torchvision), or ``$CONVZOO_HOME/weights`` when ``CONVZOO_HOME`` is set."""
    if os.environ.get("CONVZOO_HOME"):
        return weights_dir()
    return Path(torch.hub.get_dir()).expanduser() / "checkpoints"


def offline() -> bool:
    """True when ``CONVZOO_OFFLINE`` is set to a true value: no network access is tried
    (``file://`` URLs still work)."""
    return os.environ.get("CONVZOO_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def is_plain_file_name(name: str) -> bool:
    """Whether ``name`` can be used as given: no separator, no NUL, not ``.``/``..``, no
    leading dot (a hidden file, or our temporary files), no control character."""
    return (
        bool(name)
        and len(name) <= 255
        and not name.startswith(".")
        and not any(c in name for c in "/\\\0")
        and name.isprintable()
    )


def url_basename(url: str) -> str:
    """The last segment of a URL's path, percent-decoded, reduced to safe characters (never
    empty, never starting with a dot). Only a label: it never chooses the folder."""
    path = urllib.parse.urlsplit(url).path
    last = urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])
    last = last.replace("\\", "/").rsplit("/", 1)[-1]  # an encoded separator ends the path too
    safe = _UNSAFE_CHARS.sub("_", last).lstrip(".")[-MAX_BASENAME:]
    return safe or "weights"


def url_cache_name(url: str) -> str:
    """``<16 hex digits of SHA-256(url)>-<safe basename>``: computed from the whole URL."""
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{digest[:URL_DIGEST_CHARS]}-{url_basename(url)}"


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refused unless ``name`` is a plain file name and the resolved path
    lies inside the resolved folder (a symlinked cache folder is followed, a name is not)."""
    if not is_plain_file_name(name):
        raise ConvzooError(f"refused: {name!r} is not a plain file name for the weights cache")
    base = folder.expanduser().resolve()
    dest = (base / name).resolve()
    if dest.parent != base:
        raise ConvzooError(f"refused: {name!r} resolves outside the weights cache {base}")
    return dest


def url_cache_path(url: str) -> Path:
    """Where the file of a user's URL is cached (it may not be there yet)."""
    return inside(weights_dir(), url_cache_name(url))


def table_cache_path(file_name: str) -> Path:
    """Where a file of our weights table is cached, under the table's own name."""
    return inside(table_dir(), file_name)


# ------------------------------------------------------------------------------ hashes


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


def cache_state(path: Path, sha256: str | None) -> str:
    """``"missing"``, ``"cached"`` (present and its hash matches, or no hash to check) or
    ``"damaged"`` (present, another hash)."""
    if not path.is_file():
        return "missing"
    if sha256 is None or hash_matches(sha256_of(path), sha256):
        return "cached"
    return "damaged"


# ------------------------------------------------------------------------------ download


def partial_files(dest: Path) -> list[Path]:
    """The ``.partial`` files torch hub's download leaves for ``dest`` when it is killed."""
    try:
        entries = list(dest.parent.iterdir())
    except OSError:
        return []
    prefix = dest.name + "."
    return [p for p in entries if p.name.startswith(prefix) and p.name.endswith(".partial")]


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the cache folder itself (no lock file is left behind),
    released when the process dies: downloads into one cache run one at a time."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _missing_message(dest: Path, url: str, why: str) -> str:
    return (
        f"weights file {dest.name!r} is not cached and cannot be downloaded ({why}). "
        f"Download {url} by other means and put it at {dest} (the cache folder is set by "
        f"CONVZOO_HOME), or give the file itself (weights=PATH, --weights PATH)."
    )


def download(url: str, dest: Path, sha256: str | None, *, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` (a path this module computed) with torch hub's download;
    the file appears only if complete and its hash (full or prefix) matches."""
    if offline() and not url.startswith("file:"):
        raise CacheError(_missing_message(dest, url, "CONVZOO_OFFLINE is set"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest.parent):
        for stale in partial_files(dest):  # under the lock: its download died
            stale.unlink(missing_ok=True)
        try:
            torch.hub.download_url_to_file(
                url,
                os.fspath(dest),
                hash_prefix=sha256.lower() if sha256 else None,
                progress=progress,
            )
        except RuntimeError as err:
            if "invalid hash value" not in str(err):
                raise
            raise CacheError(
                f"{url}: the SHA-256 does not match the expected {sha256} (a truncated, "
                f"corrupted or different file); it was not kept."
            ) from None
        except urllib.error.HTTPError as err:
            raise CacheError(_missing_message(dest, url, f"HTTP {err.code} {err.reason}")) from None
        except urllib.error.URLError as err:
            raise CacheError(_missing_message(dest, url, str(err.reason))) from None
        except (ConnectionError, TimeoutError, http.client.HTTPException) as err:
            raise CacheError(
                f"download of {url} broke off ({type(err).__name__}: {err}); nothing was kept "
                f"in {dest.parent}. Try again."
            ) from None
        except ValueError as err:  # urllib: "unknown url type"
            raise CacheError(f"cannot download {url!r}: {err}") from None
    return dest


def fetch(url: str, dest: Path, sha256: str | None, *, progress: bool = True) -> Path:
    """The file at ``dest`` (checked against ``sha256``), downloaded from ``url`` first if it is
    missing or damaged.

    A cached file is re-hashed on every use (well under a second even for VGG-19's 548 MB), so
    a file damaged in the cache is never loaded: it is downloaded again, or, if that fails,
    named in the error.
    """
    state = cache_state(dest, sha256)
    if state == "cached":
        return dest
    if state == "missing":
        return download(url, dest, sha256, progress=progress)
    try:  # damaged: replaced only by a download that matches
        return download(url, dest, sha256, progress=progress)
    except CacheError as err:
        raise CacheError(
            f"the cached {dest} has SHA-256 {sha256_of(dest)}, not the expected {sha256}, so "
            f"it was not used (a damaged, truncated or different file); and a fresh download "
            f"failed: {err}"
        ) from None


def cached_download(
    url: str,
    sha256: str | None,
    file_name: str | None = None,
    *,
    progress: bool = True,
) -> Path:
    """The cached copy of ``url``: under ``file_name`` in the table's folder when the caller
    names it (an entry of our table), else under the name computed from the URL."""
    dest = table_cache_path(file_name) if file_name else url_cache_path(url)
    return fetch(url, dest, sha256, progress=progress)
