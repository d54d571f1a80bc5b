import json

import convzoo
from convzoo.cli import main


def test_list_prints_every_model_with_its_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    first_words = {line.split(" ")[0] for line in out.splitlines() if line}
    assert set(convzoo.list_models()) <= first_words
    assert "11,689,512" in out  # resnet18, as torchvision counts it
    assert max(len(line) for line in out.splitlines()) <= 100


def test_list_json_and_pattern(capsys):
    assert main(["list", "resnet*", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == convzoo.list_models("resnet*")
    assert {r["name"]: r["params"] for r in rows}["resnet50"] == 25_557_032


def test_list_unknown_pattern_is_a_one_line_error(capsys):
    assert main(["list", "nothing*"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no model matches" in err
