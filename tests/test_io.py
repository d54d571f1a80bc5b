"""The one atomic writer: whole or nothing, the umask's mode, no stray temp file."""

from __future__ import annotations

import os
import stat

import pytest

from convzoo import io


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_file_has_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        io.write_text(tmp_path / "a.txt", "x")
        with open(tmp_path / "b.txt", "w") as f:  # what open() gives, the reference
            f.write("x")
    finally:
        os.umask(old)
    got = stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode)
    assert got == stat.S_IMODE(os.stat(tmp_path / "b.txt").st_mode) == 0o666 & ~umask


def test_failure_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "metrics.json"
    io.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), io.atomic_write(target, "w") as f:
        f.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_remove_stale_temps_only_touches_temps(tmp_path):
    (tmp_path / ".w.safetensors.tmp-abc").write_bytes(b"x")
    (tmp_path / ".last.tmp-123").mkdir()
    (tmp_path / ".hidden").write_text("keep")
    (tmp_path / "w.safetensors").write_bytes(b"keep")
    removed = io.remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == [".last.tmp-123", ".w.safetensors.tmp-abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "w.safetensors"]


def test_unwritable_folder_raises_permission_error_and_leaves_nothing(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions; see the CLI tests run with setpriv")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            io.write_text(tmp_path / "x", "y")
    finally:
        tmp_path.chmod(0o700)


def test_the_atomic_writer_is_the_only_one():
    """One mechanism per concern: no module outside ``convzoo/io/`` makes its own temporary
    file and renames it into place (``mkstemp`` leaves 0600 and a temp file on failure;
    :func:`convzoo.io.atomic_write` does neither). Scratch folders that a third-party writer
    fills before the bytes go through the writer (``mkdtemp``, ``TemporaryDirectory``) are not
    writes of our own and are allowed."""
    import re
    from pathlib import Path

    src = Path(io.__file__).resolve().parent.parent
    pattern = re.compile(
        r"\bmkstemp\(|NamedTemporaryFile|\bos\.(replace|rename|renames)\(|shutil\.move\(|"
        r"\.rename\(|\.replace\(\s*(tmp|temp)"
    )
    found = [
        f"{path.relative_to(src)}:{n}: {line.strip()}"
        for path in sorted(src.rglob("*.py"))
        if "io" not in path.relative_to(src).parts[:1]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
    # And the pattern does find the writer's own rename, so it is not blind.
    assert pattern.search((src / "io" / "__init__.py").read_text(encoding="utf-8"))
