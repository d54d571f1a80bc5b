"""The weight path: entries, the hash-checked cache, safe reading, loading with a clear report.

Downloads go through the real code from ``file://`` URLs. No real ImageNet file is fetched
(no network here): torchvision's entries are checked for what they state, and a state dict
placed where the cache expects it is loaded through the same path as a download.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.request
import warnings
from pathlib import Path

import pytest
import torch
import torchvision

import convzoo
from convzoo import create_model
from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.hub import cached_download, hash_matches, sha256_of, url_cache_path, weights_dir
from convzoo.weights import (
    WeightsWarning,
    get_weight_entry,
    load_weights,
    read_checkpoint,
    read_state_dict,
    save_state_dict,
    weight_entries,
)

HAS = set(convzoo.list_models())
needs = lambda *names: pytest.mark.skipif(  # noqa: E731
    not set(names) <= HAS, reason=f"{names} not in the zoo yet"
)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")  # never reach the network from a test


def _lenet_file(tmp_path: Path, name: str = "lenet.pth") -> tuple[Path, str]:
    model = create_model("lenet5", num_classes=10)
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    torch.save(model.state_dict(), path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _cache_files() -> list[str]:
    d = weights_dir()
    return sorted(os.listdir(d)) if d.exists() else []


# ------------------------------------------------------------------------------ download / cache


def test_right_hash_downloads_and_loads(tmp_path):
    path, digest = _lenet_file(tmp_path)
    got = cached_download(path.as_uri(), digest, progress=False)
    assert got.parent == weights_dir() and got.read_bytes() == path.read_bytes()
    model = create_model("lenet5", num_classes=10, weights=path.as_uri())
    ref = read_state_dict(path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, ref[k]), k


def test_wrong_hash_refused_nothing_left(tmp_path):
    path, digest = _lenet_file(tmp_path)
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(ConvzooError, match="does not match"):
        cached_download(path.as_uri(), wrong, progress=False)
    assert _cache_files() == []  # not even a temporary file


def test_truncated_download_refused(tmp_path):
    path, digest = _lenet_file(tmp_path)
    short = tmp_path / "src" / "short.pth"
    short.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ConvzooError, match="does not match"):
        cached_download(short.as_uri(), digest, "lenet.pth", progress=False)
    assert _cache_files() == []


def test_truncated_file_in_cache_not_used(tmp_path):
    """A cached file damaged after download is re-hashed, refused, and a download replaces it."""
    path, digest = _lenet_file(tmp_path)
    dest = url_cache_path(path.as_uri())  # the name computed from the URL
    dest.parent.mkdir(parents=True)
    dest.write_bytes(path.read_bytes()[:100])
    got = cached_download(path.as_uri(), digest, progress=False)
    assert got.read_bytes() == path.read_bytes()
    # Offline (the source gone) a damaged cache is an error naming the file, never loaded.
    dest.write_bytes(path.read_bytes()[:100])
    path.unlink()
    with pytest.raises(ConvzooError, match="not the expected"):
        cached_download(path.as_uri(), digest, progress=False)


def test_second_call_uses_cache_without_reading_url(tmp_path, monkeypatch):
    path, digest = _lenet_file(tmp_path)
    first = cached_download(path.as_uri(), digest, progress=False)

    def no_network(*a, **k):
        raise AssertionError("the URL was read although the file is cached")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert cached_download(path.as_uri(), digest, progress=False) == first
    create_model("lenet5", num_classes=10, weights=path.as_uri())  # the same through the API


def test_offline_uncached_names_file_url_and_place():
    entry = get_weight_entry("resnet18") if "resnet18" in HAS else None
    if entry is None:
        pytest.skip("resnet18 not in the zoo yet")
    with pytest.raises(ConvzooError) as err:
        create_model("resnet18", weights="imagenet")
    msg = str(err.value)
    assert entry.file_name in msg and entry.url in msg and str(entry.cache_path()) in msg
    assert "CONVZOO_HOME" in msg
    assert _cache_files() == []


def test_hash_prefix_rule():
    digest = hashlib.sha256(b"x").hexdigest()
    assert hash_matches(digest, digest) and hash_matches(digest, digest[:8])
    assert not hash_matches(digest, digest[:5])  # too short to mean anything
    assert not hash_matches(digest, "f" * 8 if not digest.startswith("f" * 8) else "0" * 8)


# ------------------------------------------------------------------------------ torchvision entries


@needs("resnet18")
def test_torchvision_entry_resolves():
    from torchvision.models import ResNet18_Weights

    e = get_weight_entry("resnet18", "imagenet")
    tv = ResNet18_Weights.IMAGENET1K_V1
    assert e.url == tv.url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    # torchvision publishes only the hash prefix (in the file name); we say so and check it.
    assert e.sha256 == "f37072fd" and e.sha256_is_prefix
    assert e.num_classes == 1000 and len(e.categories) == 1000
    assert e.categories[0] == "tench" and e.categories[999] == "toilet tissue"
    assert e.transforms["resize_size"] == 256 and e.transforms["crop_size"] == 224
    assert e.transforms["mean"] == pytest.approx([0.485, 0.456, 0.406])
    # The published metrics, as torchvision states them (He et al. report 30.43% top-1 error for
    # the 10-crop ResNet-34 only; torchvision's single-crop ResNet-18 number is its own).
    assert e.metrics["ImageNet-1K"]["acc@1"] == pytest.approx(69.758)
    assert e.metrics["ImageNet-1K"]["acc@5"] == pytest.approx(89.078)


def test_every_twin_has_imagenet_weights():
    for name in convzoo.list_models():
        twin = convzoo.model_card(name).torchvision_twin
        if twin:
            entries = weight_entries(name)
            assert entries and entries[0].name == "imagenet", name
            assert f"/{twin}-" in entries[0].url, (name, entries[0].url)


@needs("resnet18")
def test_placed_state_dict_loads_through_cache_path(monkeypatch):
    """A torchvision state dict placed at the expected cache path loads as a download would.

    What is verified offline: the entry's URL and file name, that the file in the cache is
    found (no network), hash-checked against the entry, read with weights_only, and that it loads
    strictly into our twin so that our network and torchvision's give the same outputs. What is
    not: the real file's hash, since the real file cannot be fetched here; the placed file's
    own prefix stands in for it, and the real prefix refuses the placed file (checked first).
    """
    e = get_weight_entry("resnet18")
    tv = torchvision.models.resnet18().eval()
    e.cache_path().parent.mkdir(parents=True)
    torch.save(tv.state_dict(), e.cache_path())
    with pytest.raises(ConvzooError, match="not the expected f37072fd"):
        create_model("resnet18", weights="imagenet")
    assert e.cache_path().exists()  # a refused cache file is not deleted offline

    placed = dataclasses.replace(e, sha256=sha256_of(e.cache_path())[:8])
    import convzoo.weights as W

    monkeypatch.setattr(W, "get_weight_entry", lambda model, name="imagenet": placed)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: 1 / 0)
    model = create_model("resnet18", weights="imagenet").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), tv(x), rtol=1e-5, atol=1e-5)
    info = model.card.extra["weights"]
    assert info["categories"][0] == "tench" and info["transforms"]["crop_size"] == 224


# ------------------------------------------------------------------------------ formats and safety


def test_malicious_pickle_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "x": Evil()}, bad)
    with pytest.raises(ConvzooError, match="weights_only=True"):
        create_model("lenet5", weights=str(bad))
    assert not marker.exists()


def test_safetensors_and_checkpoint_dicts(tmp_path):
    src = create_model("lenet5", num_classes=10)
    st = save_state_dict(src.state_dict(), tmp_path / "w.safetensors", {"classes": list("abc")})
    state, meta = read_checkpoint(st)
    assert meta["classes"] == ["a", "b", "c"]
    # A training checkpoint keeps the state dict under "model" next to plain values.
    ck = tmp_path / "ck.pt"
    torch.save({"model": src.state_dict(), "epoch": 3, "optimizer": {"state": {}}}, ck)
    for f in (st, ck):
        m = create_model("lenet5", num_classes=10, weights=str(f))
        for k, v in m.state_dict().items():
            assert torch.equal(v, src.state_dict()[k]), (f, k)


def test_unreadable_files(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ConvzooError, match="not a readable safetensors"):
        read_state_dict(junk)
    path, _ = _lenet_file(tmp_path)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ConvzooError, match="truncated or damaged"):
        read_state_dict(cut)
    with pytest.raises(FileNotFoundError):
        create_model("lenet5", weights=str(tmp_path / "nope.pth"))
    with pytest.raises(ConvzooError, match="has no weights named"):
        create_model("lenet5", weights="imagenet")


# ------------------------------------------------------------------------------ fit and mismatch


def test_other_num_classes_loads_all_but_classifier(tmp_path):
    path, _ = _lenet_file(tmp_path)  # 10 classes
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        model = create_model("lenet5", num_classes=3, weights=str(path))
    msgs = [str(x.message) for x in w if issubclass(x.category, WeightsWarning)]
    assert len(msgs) == 1 and "except the classifier" in msgs[0] and "10 classes" in msgs[0]
    ref = read_state_dict(path)
    head = model.classifier_name
    for k, v in model.state_dict().items():
        if k.startswith(head + "."):
            assert v.shape[0] == 3
        else:
            assert torch.equal(v, ref[k]), k


@needs("resnet18", "resnet34")
def test_weights_of_another_network_report_keys_and_shapes(tmp_path):
    r18 = tmp_path / "r18.pth"
    torch.save(create_model("resnet18").state_dict(), r18)
    with pytest.raises(ConvzooError) as err:
        create_model("resnet34", weights=str(r18))
    msg = str(err.value)
    assert "missing keys" in msg and "layer1.2.conv1.weight" in msg
    lenet = tmp_path / "lenet.pth"
    torch.save(create_model("lenet5").state_dict(), lenet)
    with pytest.raises(ConvzooError) as err:
        create_model("resnet18", weights=str(lenet))
    msg = str(err.value)
    assert "missing keys" in msg and "unexpected keys" in msg and "another network" in msg


def test_shape_report_lists_differing_shapes(tmp_path):
    state = create_model("lenet5").state_dict()
    first = next(k for k, v in state.items() if v.dim() == 4)
    state[first] = torch.zeros(state[first].shape[0] + 1, *state[first].shape[1:])
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    model = create_model("lenet5")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConvzooError, match=f"shapes that differ.*{first}"):
        load_weights(model, bad, "lenet5")
    for k, v in model.state_dict().items():  # nothing loaded half-way
        assert torch.equal(v, before[k]), k


# ------------------------------------------------------------------------------ CLI


def test_cli_weights_list_and_download(tmp_path, capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    if "resnet18" in HAS:
        assert "resnet18-f37072fd.pth" in out and "69.76/89.08" in out
        assert main(["weights", "download", "resnet18"]) == 2  # offline: one clear line
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "resnet18-f37072fd.pth" in err
    assert main(["weights", "list", "nosuchnet"]) == 2
    assert "unknown model" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name", [n for n in convzoo.list_models() if convzoo.model_card(n).torchvision_twin]
)
def test_torchvision_state_dict_fits_every_twin(name):
    """torchvision's network (the source of the ImageNet files) has exactly our keys and shapes,
    checked on the meta device through the loader's own report (no weights allocated)."""
    twin = convzoo.model_card(name).torchvision_twin
    kwargs = {"aux_logits": True, "init_weights": False} if twin == "googlenet" else {}
    with torch.device("meta"):
        tv_state = torchvision.models.get_model(twin, **kwargs).state_dict()
        ours = create_model(name)
    from convzoo.weights import load_state_dict_into

    report = load_state_dict_into(ours, tv_state, twin, name)
    assert report.loaded == len(ours.state_dict()) and not report.skipped_classifier
    if twin == "googlenet":
        # torchvision's file keeps the auxiliary heads; a network built without them ignores
        # them (as torchvision does), and the entry asks for transform_input like torchvision.
        with torch.device("meta"):
            plain = create_model(name, aux_logits=False)
        report = load_state_dict_into(plain, tv_state, twin, name)
        assert report.dropped_aux and all(k.startswith("aux") for k in report.dropped_aux)
        assert get_weight_entry(name).model_kwargs == {"transform_input": True}
        assert hasattr(plain, "transform_input")


# ------------------------------------------------------------------------------ shipped entry


def test_shipped_lenet5_digits_entry_offline():
    """The LeNet-5 digits weights inside the package: full SHA-256, no network, and the network
    they give reads the 1,797 scikit-learn digits (its training and validation images) at >= 98%
    (the entry states 99.44% on the held-out 20%), with an input pipeline written here."""
    from sklearn.datasets import load_digits

    e = get_weight_entry("lenet5", "digits")
    assert not e.sha256_is_prefix and len(e.sha256) == 64
    assert sha256_of(e.cache_path()) == e.sha256
    model = create_model("lenet5", num_classes=10, weights="digits").eval()
    d = load_digits()
    x = torch.from_numpy(d.images).float().unsqueeze(1) / 16.0
    x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", antialias=True)
    x = (x - e.transforms["mean"][0]) / e.transforms["std"][0]
    with torch.no_grad():
        acc = (model(x).argmax(1).numpy() == d.target).mean()
    assert acc >= 0.98, acc
    assert _cache_files() == []  # nothing downloaded, nothing cached


def test_shipped_entry_damaged_is_refused(monkeypatch):
    import convzoo.weights as W

    e = get_weight_entry("lenet5", "digits")
    bad = dataclasses.replace(e, sha256="0" * 64)
    monkeypatch.setattr(W, "get_weight_entry", lambda model, name="imagenet": bad)
    with pytest.raises(ConvzooError, match="damaged: reinstall"):
        create_model("lenet5", num_classes=10, weights="digits")


def test_predict_by_name_with_shipped_weights(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    from convzoo.predict import load_predictor, predict

    d = load_digits()
    paths = []
    for i in range(10):
        arr = (d.images[i] * 255 / 16).round().astype("uint8")
        p = tmp_path / f"{i:02d}-label{d.target[i]}.png"
        Image.fromarray(arr, "L").save(p)
        paths.append(p)
    pred = load_predictor("lenet5")  # its first entry: digits
    results = predict(pred, paths, topk=1)
    right = sum(r["top"][0]["class"] == str(d.target[i]) for i, r in enumerate(results))
    assert right >= 9, [r["top"][0] for r in results]


def test_resnet_v1_refuses_v15_weights():
    """torchvision's ResNet-50 file is v1.5: same shapes as the paper's v1, other strides; the
    entry says so and a v1 network refuses it before reading any file."""
    e = get_weight_entry("resnet50")
    assert e.requires == {"variant": "v1.5"}
    with pytest.raises(ConvzooError, match="variant='v1.5'"), torch.device("meta"):
        create_model("resnet50", variant="v1", weights="imagenet")


@pytest.mark.parametrize("bad", [None, 3, ["resnet18"]])
def test_create_model_with_no_name_is_a_clear_error(bad):
    """Issue 10 section 10: not a TypeError from difflib."""
    with pytest.raises(ConvzooError, match="model name must be a string"):
        create_model(bad)


def test_downloaded_file_has_the_umask_mode(tmp_path):
    path, digest = _lenet_file(tmp_path)
    old = os.umask(0o022)
    try:
        got = cached_download(path.as_uri(), digest, progress=False)
        saved = save_state_dict(read_state_dict(path), tmp_path / "out" / "w.safetensors")
    finally:
        os.umask(old)
    assert got.stat().st_mode & 0o777 == 0o644
    assert saved.stat().st_mode & 0o777 == 0o644
