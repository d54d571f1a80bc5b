"""Where a network looks: Grad-CAM, Grad-CAM++, saliency and integrated gradients.

Built on Captum (PyTorch's own attribution library): ``LayerGradCam``, ``Saliency`` and
``IntegratedGradients`` are its, and it needs nothing beyond torch. We chose it over
pytorch-grad-cam (which pulls in OpenCV and has no integrated gradients) and torchcam (CAM
methods only, no saliency or integrated gradients): one library covers three of the four
methods with one API. Captum has no Grad-CAM++, so :func:`gradcam_plus_plus` computes it here
from the layer's activations and gradients (Chattopadhay et al., WACV 2018, eq. 19: the
closed form for an exponential of the class score), in a dozen lines.

Every method returns one heatmap an image, ``N x H x W`` at the input's size, scaled to
[0, 1] per image (0 where the map is flat).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convzoo.errors import ConvzooError
from convzoo.inspect import summarize
from convzoo.outputs import main_logits

METHODS = ("gradcam", "gradcam++", "saliency", "integrated-gradients")
LAYER_METHODS = ("gradcam", "gradcam++")


class ExplainError(ConvzooError):
    """A layer or a class that the network does not have, or an unknown method."""


def default_layer(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """The last conv whose output still has a spatial extent (H or W above 1), traced on the
    meta device: LeNet-5's C3 (10x10; its C5 is 1x1), VGG-16's last 3x3 conv (14x14), ResNet's
    last conv of layer4 (7x7)."""
    table = summarize(model, input_shape[1:])
    names = dict(model.named_modules())
    convs = [
        r
        for r in table.rows
        if r.kind == "conv"
        and len(r.output_shape) == 4
        and max(r.output_shape[2:]) > 1
        and r.name in names
        and not r.shortcut
    ]
    if not convs:
        raise ExplainError(
            f"{table.model_name} has no conv layer with a spatial output; give --layer"
        )
    return convs[-1].name


def _layer(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        convs = [n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]
        raise ExplainError(
            f"the network has no layer {name!r}; its conv layers are: {', '.join(convs[-8:])}"
            + (" (the last 8)" if len(convs) > 8 else "")
        ) from None


def _scale01(maps: Tensor) -> Tensor:
    flat = maps.flatten(1)
    lo = flat.min(1, keepdim=True).values
    hi = flat.max(1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > 0, (flat - lo) / span.clamp_min(1e-12), torch.zeros_like(flat))
    return out.view_as(maps).clamp(0, 1)


def _upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    if maps.dim() == 3:
        maps = maps.unsqueeze(1)
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)[:, 0]


def gradcam_plus_plus(
    forward: Callable[[Tensor], Tensor], layer: nn.Module, x: Tensor, target: Tensor
) -> Tensor:
    """Grad-CAM++ (Chattopadhay et al. 2018): the activations weighted by the positive
    gradients, each position weighted by ``alpha = g^2 / (2 g^2 + sum(A) g^3)``."""
    store: dict[str, Tensor] = {}

    def keep(module: nn.Module, args: Any, out: Tensor) -> None:
        store["a"] = out

    handle = layer.register_forward_hook(keep)
    try:
        scores = forward(x).gather(1, target[:, None]).sum()
        grads = torch.autograd.grad(scores, store["a"])[0]
    finally:
        handle.remove()
    a = store["a"].detach()
    g2, g3 = grads.pow(2), grads.pow(3)
    denom = 2 * g2 + a.sum(dim=(2, 3), keepdim=True) * g3
    alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
    weights = (alpha * F.relu(grads)).sum(dim=(2, 3), keepdim=True)
    return F.relu((weights * a).sum(1))


def attribute(
    model: nn.Module,
    x: Tensor,
    method: str = "gradcam",
    *,
    layer: str | None = None,
    target: int | Tensor | None = None,
    baseline: Tensor | float = 0.0,
    steps: int = 32,
) -> Tensor:
    """Heatmaps ``N x H x W`` in [0, 1] for a batch ``x`` (already transformed).

    ``target``: a class index (or one per image); by default the predicted class.
    ``layer``: the conv layer of the CAM methods (default :func:`default_layer`).
    ``baseline``: the image integrated gradients start from (a value, e.g. the normalised
    black, or a tensor)."""
    from captum.attr import IntegratedGradients, LayerGradCam, Saliency  # ~1 s import

    if method not in METHODS:
        raise ExplainError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    model.eval()

    def forward(inp: Tensor) -> Tensor:
        return main_logits(model(inp))

    with torch.no_grad():
        predicted = forward(x).argmax(1)
    if target is None:
        tgt = predicted
    else:
        tgt = torch.as_tensor(target, device=x.device).long().expand(x.shape[0]).clone()
        classes = forward(x[:1]).shape[1]
        if int(tgt.max()) >= classes or int(tgt.min()) < 0:
            raise ExplainError(f"--class {target} is not one of the network's {classes} classes")
    size = (x.shape[2], x.shape[3])
    inp = x.detach().clone().requires_grad_(True)
    if method in LAYER_METHODS:
        name = layer or default_layer(model, tuple(x.shape))
        module = _layer(model, name)
        if method == "gradcam":
            maps = LayerGradCam(forward, module).attribute(inp, target=tgt, relu_attributions=True)
        else:
            maps = gradcam_plus_plus(forward, module, inp, tgt)
        maps = _upsample(maps.detach(), size)
    elif method == "saliency":
        maps = Saliency(forward).attribute(inp, target=tgt, abs=True).amax(1)
    else:
        base = baseline if isinstance(baseline, Tensor) else torch.full_like(x, float(baseline))
        maps = (
            IntegratedGradients(forward)
            .attribute(inp, baselines=base, target=tgt, n_steps=steps)
            .abs()
            .sum(1)
        )
    return _scale01(maps.detach().float())
