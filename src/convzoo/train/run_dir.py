"""The output folder of a run: a fresh auto-numbered one, or a user's folder that is checked first.

Nothing already written is ever overwritten: a folder that holds a run (its ``config.json``) or
anything else is refused with a message that says how to continue it or where to write instead.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from convzoo.errors import ConvzooError


def _slug(text: str) -> str:
    base = os.path.basename(os.path.normpath(str(text))) or str(text)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-") or "data"


def prepare_run_dir(
    out: str | os.PathLike[str] | None,
    *,
    model: str,
    data: str,
    root: str | os.PathLike[str] = "runs",
    resume_command: str = "convzoo train --resume",
) -> Path:
    """Create and return the run folder.

    ``out`` None: ``ROOT/MODEL-DATA-N`` with the first free N (so the same command run twice
    gives two runs). ``out`` given: created if missing; refused if it already holds files.
    """
    if out is None:
        base = Path(root) / f"{_slug(model)}-{_slug(data)}"
        base.parent.mkdir(parents=True, exist_ok=True)
        n = 1
        while True:
            path = base.with_name(f"{base.name}-{n}")
            try:
                path.mkdir()  # atomic: two runs started together never share a folder
                return path
            except FileExistsError:
                n += 1
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConvzooError(f"--out {str(path)!r} is a file, not a folder; choose another --out")
    if path.is_dir() and any(path.iterdir()):
        cfg_path = path / "config.json"
        if cfg_path.is_file():
            try:
                cfg: dict[str, Any] = json.loads(cfg_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                cfg = {}
            same = cfg.get("model") == model and str(cfg.get("data")) == str(data)
            what = f"a run of {cfg.get('model', '?')} on {cfg.get('data', '?')}"
            raise ConvzooError(
                f"--out {path} already holds {what}"
                + ("" if same else f", a different run from {model} on {data}")
                + f"; nothing was written. Continue it with `{resume_command} {path}`, or "
                "choose another --out (or leave --out out for a fresh runs/ folder)"
            )
        raise ConvzooError(
            f"--out {path} is not empty and holds no run; nothing was written. Choose an empty "
            "or new folder"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path
