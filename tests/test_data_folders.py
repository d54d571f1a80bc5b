"""Image folders under real faults: files that do not decode, links, empty classes, layouts."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import convzoo
from convzoo import data as D
from convzoo.errors import ConvzooError


def image_bytes(fmt: str, seed: int, size: int = 24) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


def truncated_jpeg(seed: int = 100) -> bytes:
    """A real JPEG cut in half: its header opens, its pixels do not decode."""
    data = image_bytes("JPEG", seed, size=64)  # big enough that half of it holds the header
    return data[: len(data) // 2]


def corrupt_png(seed: int = 101) -> bytes:
    """A real PNG whose compressed pixel data (IDAT) is scrambled: header fine, data broken."""
    data = bytearray(image_bytes("PNG", seed, size=64))
    start = data.index(b"IDAT") + 20
    for k in range(start, start + 150):
        data[k] ^= 0xFF
    return bytes(data)


def make_classes(root: Path, classes=("ants", "bees"), n: int = 6) -> Path:
    for c_i, c in enumerate(classes):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / c / f"{i}.png").write_bytes(image_bytes("PNG", 10 * c_i + i))
    return root


def test_damaged_files_are_truly_undecodable():
    # The fixtures are what the issue describes: PIL opens them, then fails to decode.
    for data in (truncated_jpeg(), corrupt_png()):
        with Image.open(io.BytesIO(data)) as im:
            assert im.size == (64, 64)
            with pytest.raises(OSError):
                im.load()


def test_undecodable_file_is_replaced_deterministically_and_logged_once(tmp_path, caplog):
    root = make_classes(tmp_path / "d")
    (root / "ants" / "2b.jpg").write_bytes(truncated_jpeg())
    (root / "bees" / "0b.png").write_bytes(corrupt_png())
    card = convzoo.model_card("lenet5")
    b = D.build_datasets(root, card, val_fraction=0.25, seed=0)
    assert "skipped" not in b.info  # headers are fine: nothing decoded at start-up
    ds = D.FileListDataset(
        [(str(root / "ants" / n), 0) for n in ("1.png", "2b.jpg", "3.png")],
        b.train.transform,
    )
    caplog.set_level(logging.WARNING, logger="convzoo.data.folders")
    torch.manual_seed(5)
    x_bad, y_bad = ds[1]
    state_bad = torch.get_rng_state()
    torch.manual_seed(5)
    x_next, y_next = ds[2]
    # The next readable file of the class stands in, with the same random draws: a resumed
    # run that meets the bad file replays exactly.
    assert torch.equal(x_bad, x_next) and y_bad == y_next == 0
    assert torch.equal(state_bad, torch.get_rng_state())
    assert list(ds.failures) == [str(root / "ants" / "2b.jpg")]
    assert "truncated" in ds.failures[str(root / "ants" / "2b.jpg")]
    ds[1]
    ds[1]
    logged = [r for r in caplog.records if "2b.jpg" in r.getMessage()]
    assert len(logged) == 1 and "cannot be decoded" in logged[0].getMessage()
    # The bundle's own sets: every index gives an image, the bad files are reported.
    for split in (b.train, b.val):
        for i in range(len(split)):
            x, _ = split[i]
            assert x.shape == (1, 32, 32)
    bad = D.decode_failures(b)
    assert set(bad) == {str(root / "ants" / "2b.jpg"), str(root / "bees" / "0b.png")}
    assert "broken data stream" in bad[str(root / "bees" / "0b.png")]


def test_strict_refuses_every_undecodable_file_at_start(tmp_path):
    root = make_classes(tmp_path / "d")
    (root / "ants" / "t.jpg").write_bytes(truncated_jpeg())
    (root / "bees" / "c.png").write_bytes(corrupt_png())
    (root / "bees" / "notes.txt").write_text("not an image")
    with pytest.raises(ConvzooError) as err:
        D.build_datasets(root, convzoo.model_card("lenet5"), strict=True)
    msg = str(err.value)
    assert "3 file(s) are not readable images" in msg
    assert "ants/t.jpg (OSError: image file is truncated" in msg and "bees/c.png" in msg


def test_a_class_whose_every_file_is_damaged(tmp_path):
    root = make_classes(tmp_path / "d", n=3)
    ds = D.FileListDataset([(str(tmp_path / "missing.png"), 0)], lambda im: im)
    with pytest.raises(ConvzooError, match="no image of class 0 can be decoded"):
        ds[0]
    assert len(D.build_datasets(root, convzoo.model_card("lenet5")).train) == 4


@pytest.mark.slow
def test_cli_train_reports_the_damaged_file_and_finishes(tmp_path, caplog):
    from convzoo.cli import main

    caplog.set_level(logging.WARNING, logger="convzoo.data.folders")
    root = make_classes(tmp_path / "d", n=5)
    (root / "ants" / "0.png").write_bytes(corrupt_png())
    out = tmp_path / "run"
    args = ["train", "lenet5", "--data", str(root), "--epochs", "1", "--batch-size", "4"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 1 and "ants/0.png cannot be decoded (OSError: " in logged[0]
    assert (out / "last" / "meta.json").is_file()
    with pytest.raises(ConvzooError, match="ants/0.png"):
        D.build_datasets(root, convzoo.model_card("lenet5"), strict=True)


@pytest.mark.slow
def test_resume_is_bit_exact_over_damaged_files(tmp_path):
    from convzoo.train import Callback, TrainConfig, find_checkpoint, fit

    class CtrlC(Callback):
        def on_step_end(self, trainer, epoch, step, loss):
            if (epoch, step) == (1, 1):
                os.kill(os.getpid(), signal.SIGINT)

    root = make_classes(tmp_path / "d", n=10)
    (root / "ants" / "3.png").write_bytes(corrupt_png())
    (root / "bees" / "5.jpg").write_bytes(truncated_jpeg())
    cfg = TrainConfig(epochs=3, batch_size=4, seed=0, deterministic=True, warmup_epochs=0.5)

    def run(out: Path, **kw):
        torch.manual_seed(0)
        model = convzoo.create_model("lenet5", num_classes=2)
        data = D.build_datasets(root, model.card, seed=0)
        return fit(model, data, None, cfg, out, quiet=True, **kw)

    assert run(tmp_path / "a").status == "finished"
    assert run(tmp_path / "b", callbacks=[CtrlC()]).status == "interrupted"
    assert run(tmp_path / "b", resume=tmp_path / "b").status == "finished"
    wa = find_checkpoint(tmp_path / "a", prefer="last").load_weights()
    wb = find_checkpoint(tmp_path / "b", prefer="last").load_weights()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


# ------------------------------------------------------------------------------------ links


def _real_labels(bundle) -> list[tuple[str, int]]:
    samples = bundle.train.samples + bundle.val.samples
    return [(os.path.realpath(p), label) for p, label in samples]


def test_symlink_loop_counts_each_file_once(tmp_path):
    root = make_classes(tmp_path / "d")
    os.symlink("..", root / "ants" / "up")  # the loop of the issue: 20 files became 820
    os.symlink(".", root / "bees" / "self")
    b = D.build_datasets(root, convzoo.model_card("lenet5"))
    real = _real_labels(b)
    assert len(real) == 12 == len({p for p, _ in real})
    assert "ants/up (a link to a folder that holds the class folders)" in b.info["warning"]
    for path, label in real:
        assert Path(path).parent.name == b.classes[label]


def test_links_never_give_a_class_another_class_files(tmp_path):
    root = make_classes(tmp_path / "d")
    os.symlink(root / "ants" / "0.png", root / "bees" / "stolen.png")
    os.symlink(root / "ants", root / "bees" / "more")
    os.symlink("0.png", root / "ants" / "again.png")  # the same file twice in one class
    os.link(root / "bees" / "1.png", root / "bees" / "hard.png")  # and as a hard link
    outside = make_classes(tmp_path / "elsewhere", classes=("extra",), n=2)
    os.symlink(outside / "extra", root / "bees" / "linked-in")  # a folder outside: welcome
    b = D.build_datasets(root, convzoo.model_card("lenet5"))
    real = _real_labels(b)
    assert len(real) == len({p for p, _ in real}) == 14
    bees = b.classes.index("bees")
    assert (
        sorted(Path(p).parent.name for p, lbl in real if lbl == bees)
        == ["bees"] * 6 + ["extra"] * 2
    )
    assert b.info["ignored"] == 4


def test_a_file_in_val_linked_from_train_counts_once(tmp_path):
    make_classes(tmp_path / "d" / "train")
    make_classes(tmp_path / "d" / "val", n=2)
    os.symlink(
        tmp_path / "d" / "train" / "ants" / "0.png", tmp_path / "d" / "val" / "ants" / "x.png"
    )
    b = D.build_datasets(tmp_path / "d", convzoo.model_card("lenet5"))
    train_real = {os.path.realpath(p) for p, _ in b.train.samples}
    val_real = {os.path.realpath(p) for p, _ in b.val.samples}
    assert not train_real & val_real and b.splits == {"train": 12, "val": 4, "test": None}


def test_two_class_names_for_one_folder_refused(tmp_path):
    root = make_classes(tmp_path / "d")
    os.symlink(root / "ants", root / "cats")
    with pytest.raises(ConvzooError, match="are the same folder"):
        D.build_datasets(root, convzoo.model_card("lenet5"))


def test_dangling_link_and_fifo_are_skipped_without_opening(tmp_path):
    root = make_classes(tmp_path / "d")
    os.symlink(tmp_path / "gone.png", root / "ants" / "dangling.png")
    os.mkfifo(root / "bees" / "pipe.png")  # opening it would block forever
    b = D.build_datasets(root, convzoo.model_card("lenet5"))
    assert b.info["skipped"] == 2 and "ants/dangling.png (not a regular file" in b.info["warning"]


# ------------------------------------------------------------------------ empty class folders


def test_empty_class_folder_refused_by_train_as_by_finetune(tmp_path, capsys):
    from convzoo.cli import main

    root = make_classes(tmp_path / "d")
    (root / "wasps").mkdir()
    (root / "wasps" / "notes.txt").write_text("no images")
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--data", str(root), "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no readable training images: wasps" in err and err.count("\n") == 1
    assert not out.exists()


# ---------------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    "layout, splits, how",
    [
        (("train", "val", "test"), {"train": 12, "val": 4, "test": 6}, "val/ folder"),
        (
            ("train", "test"),
            {"train": 10, "val": 2, "test": 6},
            "seeded 20% split, seed 0 of train/",
        ),
        (("train",), {"train": 10, "val": 2, "test": None}, "seeded 20% split, seed 0 of train/"),
    ],
)
def test_split_folders(tmp_path, layout, splits, how):
    n = {"train": 6, "val": 2, "test": 3}
    for sub in layout:
        make_classes(tmp_path / "d" / sub, n=n[sub])
    b = D.build_datasets(tmp_path / "d", convzoo.model_card("lenet5"))
    assert b.splits == splits and b.val_split == how
    if "test" in layout:
        assert all(Path(p).parts[-3] == "test" for p, _ in b.test.samples)
        assert b.fingerprint["splits"]["test"]["count"] == 6 and b.test_split == "test/ folder"
    parts = {Path(p).parts[-3] for p, _ in b.train.samples + b.val.samples}
    assert parts == ({"train", "val"} if "val" in layout else {"train"})


def test_folder_fingerprint_sees_added_removed_and_changed_files(tmp_path):
    root = make_classes(tmp_path / "d")
    card = convzoo.model_card("lenet5")
    first = D.build_datasets(root, card).fingerprint
    json.dumps(first)  # JSON-able: the run records it
    assert D.build_datasets(root, card).fingerprint == first
    assert D.fingerprint_changes(first, first) == []
    (root / "ants" / "9.png").write_bytes(image_bytes("PNG", 99))
    added = D.build_datasets(root, card).fingerprint
    changes = D.fingerprint_changes(first, added)
    assert changes and all(("then" in c) or ("other files" in c) for c in changes)
    assert sum(s["count"] for s in added["splits"].values()) == 13
    (root / "ants" / "9.png").unlink()
    (root / "bees" / "0.png").write_bytes(image_bytes("PNG", 98, size=30))  # same name, new size
    resized = D.build_datasets(root, card).fingerprint
    assert any("other files, sizes or labels" in c for c in D.fingerprint_changes(first, resized))
    # The folder moved elsewhere is the same data.
    os.rename(root, tmp_path / "moved")
    moved = D.build_datasets(tmp_path / "moved", card).fingerprint
    assert moved["splits"] == resized["splits"]


def test_decompression_bomb_is_skipped_with_its_reason(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    root = make_classes(tmp_path / "d")
    (root / "bees" / "bomb.png").write_bytes(image_bytes("PNG", 7, size=64))
    # 64x64 = 4,096 pixels: over twice this limit, which is when PIL refuses to open a file.
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)
    b = D.build_datasets(root, convzoo.model_card("lenet5"))
    assert b.info["skipped"] == 1 and "bees/bomb.png (DecompressionBombError" in b.info["warning"]
    assert len(b.train) + len(b.val) == 12
