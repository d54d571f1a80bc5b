"""ResNet's Table 1 whole: output sizes, building blocks of 18 to 152, and the FLOPs row."""

from __future__ import annotations

import pytest
import torch

from convzoo.errors import ConvzooError
from convzoo.inspect.audit import AuditReport, audit, audit_table
from convzoo.registry import create_model

FLOPS = "GFLOPs (multiply-adds)"
pytestmark = pytest.mark.slow  # traces eight networks, the 152-layer ones included


@pytest.fixture(scope="module")
def rep() -> AuditReport:
    return audit("resnet50", "paper")


def test_every_disagreeing_cell_and_its_cause(rep: AuditReport) -> None:
    got = {(f.row, f.field): (f.cause, bool(f.reproduction)) for f in rep.mismatches}
    assert got == {
        ("resnet34", FLOPS): ("variant", True),  # the 34-layer plain baseline's 3.64 G
        ("resnet50 (v1, the paper's)", FLOPS): ("unexplained", False),  # 3.86 G rounds to 3.9
        ("resnet50", FLOPS): ("unexplained", False),
        ("resnet101", FLOPS): ("variant", True),  # v1.5: 7.80 G; the paper's v1 7.57 G
        ("resnet152", FLOPS): ("variant", True),
    }


def test_34_layers_is_the_plain_baseline_rounded(rep: AuditReport) -> None:
    cell = rep.find("resnet34", FLOPS)
    assert cell.live == "3.66" and "plain baseline" in cell.reproduction
    assert "3.644 G, rounded: 3.6" in cell.reproduction
    # the plain baseline lacks the three projection shortcuts: 1x1 convs of 64->128 at 28x28,
    # 128->256 at 14x14 and 256->512 at 7x7
    projections = 64 * 128 * 28 * 28 + 128 * 256 * 14 * 14 + 256 * 512 * 7 * 7
    assert round((3_663_761_408 - projections) / 1e8) / 10 == 3.6  # 3.644 G rounds to 3.6
    assert round(3_663_761_408 / 1e8) / 10 == 3.7  # the residual network itself would be 3.7


def test_stages_and_blocks_all_agree(rep: AuditReport) -> None:
    stages = [f for f in rep.findings if f.table == "paper_resnet_table1_stages"]
    assert stages and all(f.ok for f in stages)
    assert rep.find("conv4_x (resnet152)", "layers").live == "[1x1 256; 3x3 256; 1x1 1024] x36"
    assert rep.find("conv3_x (resnet34)", "output size").live == "28x28"


def test_the_papers_bottleneck_strides_in_its_first_1x1() -> None:
    """As the authors' released Caffe models do (res3a_branch2a: 1x1, stride 2)."""
    with torch.device("meta"):
        v1 = create_model("resnet50", variant="v1")
    first = v1.layer2[0]
    assert first.conv1.kernel_size == (1, 1) and first.conv1.stride == (2, 2)
    assert first.conv2.stride == (1, 1)


@pytest.mark.parametrize("model", ["resnet18", "resnet152"])
def test_one_column_is_the_whole_tables_cells_of_that_network(rep: AuditReport, model) -> None:
    """The report audits a network's own column only; its cells are the whole table's."""
    own = audit(model, "paper", whole=False)
    assert own.findings == [f for f in rep.findings if model in f.row]
    assert f"agree with {model} (v1" in own.summary[0]


def test_a_column_the_table_lacks_is_one_line() -> None:
    with pytest.raises(ConvzooError, match="no column for 'vgg16'"):
        audit_table("paper_resnet_table1", "vgg16", whole=False)
