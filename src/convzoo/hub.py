"""The weights cache, as it was imported before it moved to the ground floor.

Everything lives in :mod:`convzoo.io.cache` (paths computed from the URL, torch hub's shared
cache for our table's files, torch hub's download under a lock); these names stay importable
from here.
"""

from __future__ import annotations

from convzoo.io.cache import (
    CacheError,
    cache_state,
    cached_download,
    convzoo_home,
    download,
    fetch,
    hash_from_file_name,
    hash_matches,
    offline,
    sha256_of,
    table_cache_path,
    table_dir,
    url_basename,
    url_cache_name,
    url_cache_path,
    weights_dir,
)

__all__ = [
    "CacheError",
    "cache_state",
    "cached_download",
    "convzoo_home",
    "download",
    "fetch",
    "hash_from_file_name",
    "hash_matches",
    "offline",
    "sha256_of",
    "table_cache_path",
    "table_dir",
    "url_basename",
    "url_cache_name",
    "url_cache_path",
    "weights_dir",
]
