"""`convzoo summary` and `convzoo audit` from the command line."""

from __future__ import annotations

import json

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
