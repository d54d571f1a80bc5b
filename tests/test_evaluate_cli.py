"""`convzoo evaluate`: the files its help names, --split, --top-losses, --last, top-5, titles."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import confusion_matrix

from convzoo.cli import build_parser, main
from convzoo.course import most_confused
from convzoo.course.figures import confusion_figure
from convzoo.data import ArrayDataset, build_datasets, create_dataset, geometry_from_card
from convzoo.train import find_checkpoint
from test_data_folders import make_classes, truncated_jpeg


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A LeNet-5 trained for 3 epochs on the digits (a few seconds)."""
    out = tmp_path_factory.mktemp("evaluate") / "run"
    assert main(["train", "lenet5", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    return out


def plain_predictions(run, which="best"):
    """Logits of the checkpoint on the run's validation split, by a plain loop."""
    ckpt = find_checkpoint(run, prefer=which)
    model = ckpt.build_model("cpu")
    data = build_datasets("digits", model.card, augment=False, val_fraction=0.2, seed=0)
    xs = torch.stack([data.val[i][0] for i in range(len(data.val))])
    ys = torch.tensor([data.val[i][1] for i in range(len(data.val))])
    with torch.no_grad():
        return model(xs), ys


def help_text(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[command].format_help()


@pytest.mark.slow
def test_help_names_the_files_evaluate_writes(digits_run, tmp_path, capsys):
    text = help_text("evaluate")
    named = sorted(set(re.findall(r"STEM[-\w]*\.(?:json|png)", text)))
    assert named == ["STEM-confusion.png", "STEM-top-losses.png", "STEM.json"]
    assert "examples:" in text and "(default 256)" in text
    out = tmp_path / "eval"
    assert main(["evaluate", str(digits_run), "--out", str(out), "--top-losses", "8"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(n.replace("STEM", "eval-digits") for n in named)
    stdout = capsys.readouterr().out
    for name in written:
        assert str(out / name) in stdout  # the "wrote ..." line names every file


def test_report_matches_a_plain_loop_and_names_the_model(digits_run, tmp_path):
    out = tmp_path / "eval"
    assert main(["evaluate", str(digits_run), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "eval-digits.json").read_text())
    logits, y = plain_predictions(digits_run)
    pred = logits.argmax(1)
    assert report["model"] == "lenet5" and report["split"] == "val"
    assert report["checkpoint"].endswith("best")
    assert report["count"] == len(y)
    assert report["top1"] == pytest.approx(int((pred == y).sum()) / len(y), abs=1e-12)
    assert report["loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)
    expected = confusion_matrix(y, pred, labels=range(10))
    assert report["confusion"] == expected.tolist()
    pairs = [
        {"true": str(i), "predicted": str(j), "count": int(expected[i, j])}
        for i in range(10)
        for j in range(10)
        if i != j and expected[i, j]
    ]
    assert sorted(report["most_confused"], key=lambda p: (p["true"], p["predicted"])) == pairs
    counts = [p["count"] for p in report["most_confused"]]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.slow
def test_top_losses_are_the_largest_per_image_losses(digits_run, tmp_path, capsys):
    out = tmp_path / "eval"
    k = 6
    code = main(["evaluate", str(digits_run), "--out", str(out), "--top-losses", str(k)])
    assert code == 0
    report = json.loads((out / "eval-digits.json").read_text())
    logits, y = plain_predictions(digits_run)
    losses = F.cross_entropy(logits, y, reduction="none")
    worst = losses.argsort(descending=True)[:k].tolist()
    assert [t["index"] for t in report["top_losses"]] == worst
    probs = logits.softmax(1)
    for t, i in zip(report["top_losses"], worst, strict=True):
        assert t["loss"] == pytest.approx(float(losses[i]), rel=1e-4)
        assert t["true"] == str(int(y[i])) and t["predicted"] == str(int(logits[i].argmax()))
        assert t["probability"] == pytest.approx(float(probs[i].max()), rel=1e-4)
    with Image.open(out / "eval-digits-top-losses.png") as im:
        assert im.format == "PNG" and im.width > 300 and im.height > 300
    stdout = capsys.readouterr().out
    assert "most confused" in stdout or report["top1"] == 1.0


@pytest.mark.slow
def test_last_evaluates_last_and_never_best(digits_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    assert main(["evaluate", str(run), "--last", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    report = json.loads((tmp_path / "a" / "eval-digits.json").read_text())
    assert report["checkpoint"].endswith("last")
    assert report["epoch"] == 3
    shutil.rmtree(run / "last")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--last", "--out", str(tmp_path / "b")]) == 2
    assert "last" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_split_test_refused_without_a_test_set(digits_run, tmp_path, capsys):
    assert main(["evaluate", str(digits_run), "--split", "test", "--out", str(tmp_path)]) == 2
    assert "no test set" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # argparse refuses it, in one line
        main(["evaluate", str(digits_run), "--top-losses", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "at least 1" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_split_test_reads_the_test_set(tmp_path, monkeypatch):
    from convzoo import data as D
    from test_data import fake_fashion

    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    fake_fashion(tmp_path / "fm", n_train=40, n_test=20)
    run = tmp_path / "run"
    data = ["--data", "fashion-mnist", "--data-dir", str(tmp_path / "fm")]
    assert main(["train", "lenet5", *data, "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    assert main(["evaluate", str(run), "--split", "test", "--quiet"]) == 0
    report = json.loads((run / "eval-fashion-mnist-test.json").read_text())
    assert report["split"] == "test" and report["count"] == 20  # the 20 t10k images
    assert report["confusion"][9][9] + sum(report["confusion"][9][:9]) == 2  # 2 ankle boots


def test_no_top5_for_fewer_than_six_classes(tmp_path, capsys):
    from test_data import make_folder

    folder = make_folder(tmp_path / "pets", n=6)
    run = tmp_path / "run"
    args = ["train", "lenet5", "--data", str(folder), "--epochs", "1", "--batch-size", "4"]
    assert main([*args, "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--quiet"]) == 0
    stdout = capsys.readouterr().out
    assert "top-1" in stdout and "top-5" not in stdout
    report = json.loads((run / "eval-pets.json").read_text())
    assert report["top5"] is None and len(report["confusion"]) == 2
    assert (run / "eval-pets-confusion.png").stat().st_size > 1000


def test_digits_report_prints_top5(digits_run, tmp_path, capsys):
    assert main(["evaluate", str(digits_run), "--out", str(tmp_path), "--quiet"]) == 0
    assert "top-5" in capsys.readouterr().out
    assert json.loads((tmp_path / "eval-digits.json").read_text())["top5"] is not None


def test_two_class_confusion_title_is_not_clipped():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    title = "lenet5 on /home/student/data/cats-and-dogs, val split (seeded 20% split): top-1 97.5%"
    fig = confusion_figure([[39, 1], [1, 39]], ["cat", "dog"], title=title)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ax = fig.axes[0]
    box = ax.title.get_window_extent(canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height
    assert ax.title.get_text().replace("\n", " ") == title  # wrapped, every word kept


def test_most_confused_orders_by_count():
    cm = torch.tensor([[5, 2, 0], [7, 3, 1], [0, 2, 9]])
    assert most_confused(cm, ["a", "b", "c"]) == [
        ("b", "a", 7),
        ("a", "b", 2),
        ("c", "b", 2),
        ("b", "c", 1),
    ]
    assert most_confused(cm, ["a", "b", "c"], min_count=3) == [("b", "a", 7)]


@pytest.mark.slow
def test_an_undecodable_image_is_reported_and_the_rest_evaluated(tmp_path, capsys):
    root = tmp_path / "pets"
    make_classes(root / "train")
    make_classes(root / "val", n=3)
    run = tmp_path / "run"
    args = ["train", "lenet5", "--data", str(root), "--epochs", "1", "--batch-size", "4"]
    assert main([*args, "--out", str(run), "--quiet"]) == 0
    bad = root / "val" / "ants" / "broken.jpg"
    bad.write_bytes(truncated_jpeg())
    capsys.readouterr()
    assert main(["evaluate", str(run), "--quiet", "--out", str(tmp_path / "eval")]) == 0
    err = capsys.readouterr().err
    assert "1 image(s) could not be decoded" in err and str(bad) in err and "truncated" in err
    report = json.loads((tmp_path / "eval" / "eval-pets.json").read_text())
    assert list(report["undecodable"]) == [str(bad)]
    assert report["count"] == 7  # the 6 good images and the stand-in for the broken one


def _digit_files(root, n_val=300):
    """The first ``n_val`` digits as 8-bit PNG files in a val/ folder (``val/CLASS/INDEX.png``)
    beside a small train/ folder; returns the set's arrays."""
    src = create_dataset("digits")
    for part, indices in (("train", range(n_val, n_val + 40)), ("val", range(n_val))):
        for i in indices:
            folder = root / part / src.classes[int(src.train_labels[i])]
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (src.train_images[i].squeeze().numpy() * 255).round().astype("uint8")
            Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return src


def test_a_folder_of_the_sets_own_images_is_fed_as_the_set_was(digits_run, tmp_path):
    """A run trained on a built-in set, evaluated on a folder of that set's images saved as
    files: each file reaches the network as the in-memory image did in training (digits'
    8x8 resized to 32x32 whole), not by the photo recipe (resized by 256/224, centre-cropped)."""
    root = tmp_path / "digits-png"
    src = _digit_files(root)
    card = find_checkpoint(digits_run).build_model("cpu").card
    geometry = geometry_from_card(card)
    in_memory = ArrayDataset(src.train_images[:300], src.train_labels[:300], geometry, fit="resize")
    as_files = build_datasets(root, card, augment=False, image_fit="resize")
    photo = build_datasets(root, card, augment=False)
    for k in range(0, len(as_files.val), 13):
        path, label = as_files.val.samples[k]
        want, want_label = in_memory[int(Path(path).stem)]
        got, got_label = as_files.val[k]
        assert as_files.classes[got_label] == src.classes[want_label]
        # 8-bit files of the set's 17 grey levels: within half a level, normalised by the std
        assert torch.allclose(got, want, atol=0.6 / 255 / card.std[0]), path
        assert not torch.allclose(photo.val[k][0], want, atol=0.1)

    out = tmp_path / "eval"
    args = ["evaluate", str(digits_run), "--out", str(out), "--quiet"]
    assert main([*args, "--data", str(root)]) == 0
    files = json.loads((out / "eval-digits-png.json").read_text())
    fed = torch.stack([in_memory[int(Path(p).stem)][0] for p, _ in as_files.val.samples])
    labels = torch.tensor([lbl for _, lbl in as_files.val.samples])
    model = find_checkpoint(digits_run).build_model("cpu").eval()
    with torch.no_grad():
        in_memory_top1 = (model(fed).argmax(1) == labels).float().mean().item()
    assert files["count"] == 300
    assert abs(files["top1"] - in_memory_top1) <= 1 / 300
