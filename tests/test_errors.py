"""Bad input gets a clear error at the public boundary, naming the value and what was expected."""

from __future__ import annotations

import pytest
import torch

from mnv3lib.analysis.introspection import block_table, count_macs
from mnv3lib.models import MobileNetV3, mobilenet_v3, mobilenet_v3_config, mobilenet_v3_large, mobilenet_v3_small


@pytest.mark.parametrize("width_mult", [0, -0.5])
def test_width_mult_must_be_positive(width_mult: float) -> None:
    with pytest.raises(ValueError, match=rf"width_mult > 0, got {width_mult}"):
        mobilenet_v3_large(width_mult=width_mult)


def test_width_mult_must_be_a_number() -> None:
    with pytest.raises(TypeError, match="width_mult.*'wide'"):
        mobilenet_v3_small(width_mult="wide")  # type: ignore[arg-type]


@pytest.mark.parametrize("num_classes", [0, -3])
def test_num_classes_must_be_at_least_one(num_classes: int) -> None:
    with pytest.raises(ValueError, match=rf"num_classes > 0, got {num_classes}"):
        mobilenet_v3_large(num_classes=num_classes)


def test_num_classes_must_be_an_int() -> None:
    with pytest.raises(TypeError, match=r"num_classes to be an int > 0, got 10.0"):
        mobilenet_v3_small(num_classes=10.0)  # type: ignore[arg-type]


def test_unknown_architecture() -> None:
    with pytest.raises(ValueError, match=r"unknown architecture 'mobilenet_v3_medium': expected one of 'mobilenet_v3_large', 'mobilenet_v3_small'"):
        mobilenet_v3("medium")
    with pytest.raises(ValueError, match="unknown architecture"):
        mobilenet_v3_config("resnet50")


def test_three_dimensional_input_asks_for_a_batch_dimension() -> None:
    model = mobilenet_v3_small().eval()
    with pytest.raises(ValueError, match=r"expected images to be a batch of shape \(N, 3, H, W\), got \(3, 224, 224\): add a batch dimension"):
        model(torch.rand(3, 224, 224))


def test_wrong_channel_count_is_named() -> None:
    model = mobilenet_v3_small().eval()
    with pytest.raises(ValueError, match=r"got \(1, 1, 64, 64\) with 1 channels"):
        model(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"channels look last, use images.permute\(0, 3, 1, 2\)"):
        model(torch.rand(1, 64, 64, 3))


def test_non_tensor_and_integer_images() -> None:
    model = mobilenet_v3_small().eval()
    with pytest.raises(TypeError, match="expected images to be a torch.Tensor.*got list"):
        model([[0.0]])
    with pytest.raises(TypeError, match="floating-point tensor, got dtype torch.uint8"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_empty_or_wrong_block_configs() -> None:
    with pytest.raises(TypeError, match="non-empty sequence of InvertedResidualConfig"):
        MobileNetV3([], last_channel=1280)
    with pytest.raises(TypeError, match="non-empty sequence of InvertedResidualConfig"):
        MobileNetV3([(16, 3, 16, 16)], last_channel=1280)  # type: ignore[list-item]


def test_dropout_range() -> None:
    with pytest.raises(ValueError, match="dropout < 1, got 1.5"):
        mobilenet_v3_large(dropout=1.5)


def test_introspection_arguments() -> None:
    with pytest.raises(TypeError, match="input_size"):
        block_table("large", input_size="224")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_size > 0, got -1"):
        count_macs("small", input_size=-1)
    with pytest.raises(TypeError, match=r"config \['width_mult'\] only applies"):
        block_table(mobilenet_v3_small(), width_mult=0.5)


def test_checks_stay_out_of_the_way_of_tracing() -> None:
    """torch.fx tracing (used by FX quantization) sees no Python-level shape checks."""
    model = mobilenet_v3_small().eval()
    traced = torch.fx.symbolic_trace(model)
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(traced(images), model(images))
