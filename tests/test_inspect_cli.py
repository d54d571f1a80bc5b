"""`convzoo summary` and `convzoo audit` from the command line."""

from __future__ import annotations

import json

import pytest

from convzoo.cli import main


def test_summary_json(capsys) -> None:
    assert main(["summary", "resnet18", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["params"] == 11_689_512


def test_summary_lecture_md_to_file(tmp_path, capsys) -> None:
    out = tmp_path / "resnet18.md"
    assert (
        main(["summary", "resnet18", "--convention", "lecture", "--format", "md", "-o", str(out)])
        == 0
    )
    assert "**11,511,784**" in out.read_text()


def test_summary_input_and_columns(capsys) -> None:
    assert (
        main(
            [
                "summary",
                "alexnet_owt",
                "--input",
                "3x224x224",
                "--columns",
                "name,output,params",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "name,output,params"
    assert "features.0,55x55x64,23296" in lines


def test_summary_errors_exit_2(capsys) -> None:
    assert main(["summary", "vgg16", "--columns", "name,bogus"]) == 2
    assert "unknown column 'bogus'" in capsys.readouterr().err
    assert main(["summary", "vgg16", "--input", "3x8x8"]) == 2
    assert "too small" in capsys.readouterr().err


def test_audit_command(capsys) -> None:
    assert main(["audit", "vgg16", "--against", "lecture"]) == 0
    out = capsys.readouterr().out
    assert "conv3064" in out and "65664" in out
    assert main(["audit", "--list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 9
    assert main(["audit", "lenet5", "--against", "lecture"]) == 2


def test_summary_lecture_names_and_one_side_input(capsys) -> None:
    assert main(["summary", "vgg16", "--input", "224", "--lecture-names", "--width", "160"]) == 0
    out = capsys.readouterr().out
    assert "input 3x224x224" in out.splitlines()[0]
    assert "lecture" in out.splitlines()[1] and "conv3-64" in out and "FC-4096" in out
    assert main(["summary", "vgg16", "--input", "224x224"]) == 2
    err = capsys.readouterr().err
    assert "(N, 224, H, W)" not in err and "3x224x224" in err


@pytest.mark.slow
def test_summary_follows_the_terminals_width(tmp_path) -> None:
    """In a real terminal (a pty) of 150 columns the table is wider than 100 columns."""
    import os
    import pty
    import subprocess
    import sys

    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env = {**os.environ, "COLUMNS": "150", "PYTHONPATH": os.path.abspath(src)}
    primary, secondary = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "convzoo", "summary", "resnet18"],
        stdout=secondary,
        stderr=subprocess.PIPE,
        env=env,
        timeout=300,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    assert proc.returncode == 0, proc.stderr
    lines = b"".join(chunks).decode().splitlines()
    widest = max(len(line.rstrip("\r")) for line in lines)
    assert 100 < widest <= 150
