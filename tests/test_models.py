"""mnv3lib's MobileNetV3 is TorchVision's MobileNetV3: same keys, same shapes, same outputs."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision
from torch import nn

from mnv3lib.models import (
    InvertedResidual,
    InvertedResidualConfig,
    SqueezeExcitation,
    make_divisible,
    mobilenet_v3,
    mobilenet_v3_config,
    mobilenet_v3_large,
    mobilenet_v3_small,
)
from mnv3lib.analysis.parity import compare_models, randomize_batchnorm

TORCHVISION_BUILDERS = {
    "mobilenet_v3_large": torchvision.models.mobilenet_v3_large,
    "mobilenet_v3_small": torchvision.models.mobilenet_v3_small,
}
GRID = list(itertools.product(TORCHVISION_BUILDERS, (0.5, 0.75, 1.0, 1.25), (False, True), (False, True)))


@pytest.mark.parametrize(("arch", "width_mult", "reduced_tail", "dilated"), GRID)
def test_parity_with_torchvision(arch: str, width_mult: float, reduced_tail: bool, dilated: bool) -> None:
    config = {"width_mult": width_mult, "reduced_tail": reduced_tail, "dilated": dilated}
    reference = randomize_batchnorm(TORCHVISION_BUILDERS[arch](**config)).eval()
    ours = mobilenet_v3(arch, **config).eval()

    theirs_shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert list(ours_shapes) == list(theirs_shapes)  # same keys, in the same order
    assert ours_shapes == theirs_shapes

    ours.load_state_dict(reference.state_dict(), strict=True)
    images = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        torch.testing.assert_close(ours(images), reference(images), rtol=0, atol=0)
        torch.testing.assert_close(ours.features(images), reference.features(images), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("builder", "config", "expected"),
    [
        (mobilenet_v3_large, {}, 5_483_032),
        (mobilenet_v3_small, {}, 2_542_856),
        (mobilenet_v3_large, {"reduced_tail": True}, 2_569_352),
        (mobilenet_v3_small, {"reduced_tail": True}, 1_099_672),
        (mobilenet_v3_large, {"width_mult": 0.75}, 3_377_576),
        (mobilenet_v3_small, {"width_mult": 1.25}, 3_644_912),
        (mobilenet_v3_large, {"num_classes": 10}, 4_214_842),
        (mobilenet_v3_small, {"num_classes": 10}, 1_528_106),
    ],
)
def test_parameter_counts(builder, config: dict, expected: int) -> None:
    assert sum(p.numel() for p in builder(**config).parameters()) == expected


def test_init_statistics_match_torchvision() -> None:
    """Same initialisation scheme: equal constants (norms, biases, buffers), same spread elsewhere."""
    ours, reference = mobilenet_v3_large().state_dict(), torchvision.models.mobilenet_v3_large().state_dict()
    for name, a in ours.items():
        b = reference[name]
        if not b.is_floating_point() or b.numel() == 1 or b.std() == 0:
            torch.testing.assert_close(a, b, msg=name)
        elif b.numel() > 1000:
            assert a.std().item() == pytest.approx(b.std().item(), rel=0.1), name


@pytest.mark.parametrize(
    ("value", "expected"), [(12, 16), (18, 24), (22, 24), (30, 32), (36, 40), (60, 64), (3, 8), (10, 16), (20, 24), (27.5, 32)]
)
def test_make_divisible_spot_values(value: float, expected: int) -> None:
    assert make_divisible(value, 8) == expected


def test_make_divisible_never_drops_more_than_ten_percent() -> None:
    for tenths in range(10, 4000):
        value = tenths / 10
        rounded = make_divisible(value)
        assert rounded % 8 == 0 and rounded >= 0.9 * value


def test_block_design_rules() -> None:
    """The article's block rules, checked on every block of both architectures."""
    for arch in TORCHVISION_BUILDERS:
        model = mobilenet_v3(arch)
        blocks = [m for m in model.features if isinstance(m, InvertedResidual)]
        for block in blocks:
            c, units = block.config, list(block.block)
            # expansion skipped exactly when in == expanded
            assert (units[0][0].kernel_size == (1, 1) and units[0][0].groups == 1) == c.has_expansion
            assert c.has_expansion == (c.in_channels != c.expanded_channels)
            # the projection is always there, 1×1 and linear
            project = units[-1]
            assert project[0].kernel_size == (1, 1) and len(project) == 2
            # the activation sits inside the depthwise unit, before SE
            depthwise = units[1] if c.has_expansion else units[0]
            assert depthwise[0].groups == c.expanded_channels
            assert isinstance(depthwise[2], nn.Hardswish if c.activation == "hardswish" else nn.ReLU)
            if c.use_se:
                se = units[units.index(depthwise) + 1]
                assert isinstance(se, SqueezeExcitation) and isinstance(se.scale_activation, nn.Hardsigmoid)
                assert se.fc1.out_channels == make_divisible(c.expanded_channels / 4, 8) == c.squeeze_channels
            # every width is a multiple of 8
            assert c.in_channels % 8 == c.expanded_channels % 8 == c.out_channels % 8 == 0
        # the last conv expands 6×, and dropout comes right before the final Linear
        last = model.features[-1][0]
        assert last.out_channels == 6 * last.in_channels
        assert isinstance(model.classifier[-2], nn.Dropout) and isinstance(model.classifier[-1], nn.Linear)


def test_tail_options_touch_only_the_last_three_blocks() -> None:
    base, _ = mobilenet_v3_config("large")
    reduced, last_reduced = mobilenet_v3_config("large", reduced_tail=True)
    dilated, _ = mobilenet_v3_config("large", dilated=True)
    assert base[:-3] == reduced[:-3] == dilated[:-3]
    assert [c.out_channels for c in reduced[-3:]] == [80, 80, 80] and last_reduced == 640
    assert [c.dilation for c in dilated[-3:]] == [2, 2, 2] and [c.effective_stride for c in dilated[-3:]] == [1, 1, 1]


def test_dilated_output_stride_and_stage_indices() -> None:
    images = torch.rand(1, 3, 224, 224)
    model = mobilenet_v3_large(dilated=True).eval()
    assert model.forward_features(images).shape == (1, 960, 14, 14)
    assert model.stage_indices == [0, 2, 4, 7, 13, 16]
    assert mobilenet_v3_small().stage_indices == [0, 1, 2, 4, 9, 12]
    assert [f["stride"] for f in model.feature_info] == [2, 4, 8, 16, 16, 16]
    assert [f["channels"] for f in mobilenet_v3_large().feature_info] == [16, 24, 40, 80, 160, 960]


def test_stochastic_depth_is_off_by_default_and_only_in_training() -> None:
    assert all(getattr(m, "stochastic_depth_prob", 0.0) == 0.0 for m in mobilenet_v3_large().modules())
    model = mobilenet_v3_small(stochastic_depth_prob=0.5)
    probs = [m.stochastic_depth_prob for m in model.features if isinstance(m, InvertedResidual)]
    assert probs[0] == 0.0 and probs == sorted(probs) and probs[-1] == pytest.approx(0.5 * 10 / 11)
    model.eval()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(images), model(images))  # deterministic in eval mode
    model.train()
    block = model.features[-2]
    x = torch.rand(16, block.config.in_channels, 4, 4)
    with torch.no_grad():
        kept = [(block(x.clone()) - x).abs().flatten(1).sum(1).eq(0) for _ in range(5)]
    assert torch.cat(kept).any()  # some rows had their branch dropped (output == input)


def test_config_is_frozen_and_validated() -> None:
    config = InvertedResidualConfig(16, 3, 64, 24, False, "relu", 2)
    with pytest.raises(AttributeError):
        config.stride = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="stride"):
        InvertedResidualConfig(16, 3, 64, 24, False, "relu", 3)
    with pytest.raises(ValueError, match="activation 'swish'"):
        InvertedResidualConfig(16, 3, 64, 24, False, "swish", 1)  # type: ignore[arg-type]


def test_compare_models_detects_a_difference() -> None:
    """The parity helper used by the chapters must be able to fail."""
    images = torch.rand(1, 3, 64, 64)
    reference = randomize_batchnorm(torchvision.models.mobilenet_v3_small())
    assert compare_models(mobilenet_v3_small(), reference, images).identical
    other = compare_models(mobilenet_v3_small(width_mult=0.75), reference, images)
    assert other.same_keys and not other.same_shapes and not other.identical
    dilated = compare_models(mobilenet_v3_small(dilated=True), reference, images)  # same weights, other network
    assert dilated.same_shapes and dilated.max_abs_diff > 0 and "DIFFERENT" not in str(dilated)


def test_max_abs_difference_handles_detector_and_segmentation_outputs() -> None:
    from mnv3lib.analysis.parity import max_abs_difference

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    assert max_abs_difference([{"boxes": boxes}], [{"boxes": boxes + 0.5}]) == 0.5
    assert max_abs_difference({"out": boxes, "aux": boxes}, {"out": boxes, "aux": boxes}) == 0.0
    assert max_abs_difference([{"boxes": boxes}], [{"boxes": boxes[:0]}]) == float("inf")  # another shape
    assert max_abs_difference({"out": boxes}, {"aux": boxes}) == float("inf")  # other keys
    assert max_abs_difference([{"boxes": boxes[:0]}], [{"boxes": boxes[:0]}]) == 0.0  # no detections on either side
