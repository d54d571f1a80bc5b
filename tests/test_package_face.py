"""The top package's lazy face (PEP 562): `import convzoo` imports no torch, and every public
name, reached through the package, is the object its own module defines, with the networks and
the weights loader registered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _python(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_convzoo_imports_no_torch_and_dir_lists_the_face():
    out = _python(
        "import sys, json, convzoo\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'dir': dir(convzoo),"
        " 'all': convzoo.__all__, 'version': convzoo.__version__}))"
    )
    assert out["torch"] is False
    assert out["dir"] == sorted(out["all"])
    assert {"create_model", "list_models", "model_card", "register_model", "ConvzooError"} <= set(
        out["all"]
    )
    from convzoo.version import __version__

    assert out["version"] == __version__


def test_every_public_name_is_its_modules_object():
    import convzoo
    import convzoo.errors
    import convzoo.inspect
    import convzoo.optimize
    import convzoo.registry

    homes = {
        "ConvzooError": convzoo.errors,
        "UnknownModelError": convzoo.errors,
        "summarize": convzoo.inspect,
        "optimize": convzoo.optimize,
    }
    for name in convzoo.__all__:
        if name == "__version__":
            continue
        home = homes.get(name, convzoo.registry)
        # getattr on the package goes through its __getattr__ for names not yet cached; for
        # `optimize` the attribute is the submodule once imported, so read it through the hook.
        got = convzoo.__getattr__(name) if name == "optimize" else getattr(convzoo, name)
        assert got is getattr(home, name), name


def test_unknown_name_is_an_attribute_error():
    import convzoo

    with pytest.raises(AttributeError, match="no_such_thing"):
        convzoo.no_such_thing  # noqa: B018


@pytest.mark.slow  # a fresh interpreter that imports torch and torchvision
def test_from_import_registers_every_network_and_the_weights_loader():
    """In a fresh interpreter, the first thing reached is `from convzoo import create_model`:
    the networks are registered (the model files, counted on disk, each register theirs) and
    weights= loads the shipped LeNet-5 digits file, compared tensor by tensor with the file
    read directly by safetensors."""
    out = _python(
        "import json, sys\n"
        "from convzoo import create_model, list_models\n"
        "from safetensors.torch import load_file\n"
        "from importlib import resources\n"
        "m = create_model('lenet5', num_classes=10, weights='digits')\n"
        "ref = load_file(str(resources.files('convzoo.data')"
        " / 'lenet5-digits-2ecedd3d.safetensors'))\n"
        "sd = m.state_dict()\n"
        "same = sorted(ref) == sorted(sd) and all(sd[k].equal(ref[k]) for k in ref)\n"
        "import torch\n"
        "with torch.device('meta'):\n"
        "    families = sorted({type(create_model(n)).__module__ for n in list_models()})\n"
        "print(json.dumps({'same': same, 'n': len(list_models()), 'families': families}))"
    )
    assert out["same"] is True
    model_files = sorted(
        f"convzoo.models.{p.stem}"
        for p in (Path(SRC) / "convzoo" / "models").glob("*.py")
        if not p.name.startswith("_")
    )
    assert out["families"] == model_files
    assert out["n"] >= len(model_files)


@pytest.mark.slow  # a fresh interpreter that imports torch
def test_building_and_tracing_a_network_imports_no_torchvision_and_no_dynamo():
    """torchvision's package imports all its networks and torchvision.ops, which imports
    torch._dynamo (seconds); building a network and its structural table need neither.
    (Unavoidable elsewhere: any torchvision import, e.g. a torchvision weight entry or the data
    layer, and tracing LocalResponseNorm on the meta device, whose meta kernel is a Python
    decomposition behind torch._disable_dynamo.)"""
    out = _python(
        "import json, sys\n"
        "import convzoo.weights\n"
        "from convzoo.registry import create_model\n"
        "from convzoo.inspect import summarize\n"
        "m = create_model('resnet18')\n"
        "built = 'torch._dynamo' in sys.modules\n"
        "t = summarize('resnet18')\n"
        "print(json.dumps({'built': built, 'traced': 'torch._dynamo' in sys.modules,"
        " 'tv': sorted(k for k in sys.modules if k.split('.')[0] == 'torchvision'),"
        " 'params': sum(p.numel() for p in m.parameters()), 'macs': t.totals.macs}))"
    )
    assert out["built"] is False and out["traced"] is False
    assert out["tv"] == []
    # The network and its table are the real ones: torchvision's resnet18 has 11,689,512
    # parameters and its weights' metadata states 1.81 G multiply-adds at 224x224 (counting
    # convs and the linear layer; the table adds batch norm, ReLU and the residual adds).
    assert out["params"] == 11_689_512
    assert abs(out["macs"] / 1e9 - 1.81) < 0.02
