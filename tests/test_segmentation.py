"""Our segmentation models are TorchVision's (LR-ASPP, DeepLabV3) and the article's FCN; misuse is reported."""

from __future__ import annotations

import pytest
import torch
import torchvision

from mnv3lib.models import segmentation
from mnv3lib.analysis.parity import randomize_batchnorm


@pytest.mark.parametrize(
    "ours, theirs, kwargs, params",
    [
        (segmentation.lraspp_mobilenet_v3_large, torchvision.models.segmentation.lraspp_mobilenet_v3_large, {}, 3_221_538),
        (segmentation.deeplabv3_mobilenet_v3_large, torchvision.models.segmentation.deeplabv3_mobilenet_v3_large, {"aux_loss": True}, 11_029_328),
        (segmentation.deeplabv3_mobilenet_v3_large, torchvision.models.segmentation.deeplabv3_mobilenet_v3_large, {}, 11_025_477),
    ],
)
def test_builders_equal_torchvisions(ours, theirs, kwargs, params) -> None:
    reference = randomize_batchnorm(theirs(weights=None, weights_backbone=None, num_classes=21, **kwargs))
    model = ours(num_classes=21, **kwargs)
    assert sum(p.numel() for p in model.parameters()) == params
    images = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    assert list(model.state_dict()) == list(reference.state_dict())
    model.load_state_dict(reference.state_dict())
    with torch.no_grad():
        mine, expected = model.eval()(images), reference.eval()(images)
    assert list(mine) == list(expected) and mine["out"].shape == (2, 21, 96, 128)
    for key in mine:
        assert torch.equal(mine[key], expected[key]), key


def test_lraspp_uses_stride_8_and_16_features_and_fcn_matches_the_article() -> None:
    model = segmentation.lraspp_mobilenet_v3_large(num_classes=6).eval()
    with torch.no_grad():
        features = model.backbone(torch.rand(1, 3, 128, 128))
    assert {k: tuple(v.shape) for k, v in features.items()} == {"low": (1, 40, 16, 16), "high": (1, 960, 8, 8)}
    fcn = segmentation.fcn_mobilenet_v3_large(aux_loss=True)
    assert sum(p.numel() for p in fcn.parameters()) == 5_054_944
    with torch.no_grad():
        out = fcn.eval()(torch.rand(1, 3, 64, 64))
    assert set(out) == {"out", "aux"} and out["aux"].shape == (1, 21, 64, 64)


def test_undilated_backbone_puts_the_high_features_at_stride_32() -> None:
    model = segmentation.lraspp_mobilenet_v3_large(num_classes=6, dilated=False).eval()
    with torch.no_grad():
        features = model.backbone(torch.rand(1, 3, 128, 128))
        out = model(torch.rand(1, 3, 128, 128))["out"]
    assert {k: tuple(v.shape) for k, v in features.items()} == {"low": (1, 40, 16, 16), "high": (1, 960, 4, 4)}
    assert out.shape == (1, 6, 128, 128)
    dilated = segmentation.deeplabv3_mobilenet_v3_large(num_classes=6)
    undilated = segmentation.deeplabv3_mobilenet_v3_large(num_classes=6, dilated=False)
    assert list(dilated.state_dict()) == list(undilated.state_dict())  # same weights, different strides


def test_misuse_gets_clear_errors() -> None:
    with pytest.raises(ValueError, match="LR-ASPP is trained without an auxiliary loss"):
        segmentation.lraspp_mobilenet_v3_large(aux_loss=True)
    with pytest.raises(ValueError, match="expected images to be a batch of shape"):
        segmentation.lraspp_mobilenet_v3_large()(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match="have 21 classes"):
        segmentation.deeplabv3_mobilenet_v3_large(weights="DEFAULT", num_classes=5)
    with pytest.raises(ValueError, match="dilated backbone"):
        segmentation.deeplabv3_mobilenet_v3_large(weights="DEFAULT", dilated=False)
    for builder in (segmentation.deeplabv3_mobilenet_v3_large, segmentation.fcn_mobilenet_v3_large):
        with pytest.raises(ValueError, match="expected images to be a batch of shape"):
            builder(num_classes=3)(torch.rand(3, 64, 64))
        with pytest.raises(TypeError, match="floating-point tensor"):
            builder(num_classes=3)(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_low_resolution_inference_resizes_in_and_out() -> None:
    model = segmentation.lraspp_mobilenet_v3_large(num_classes=4).eval()
    images = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = segmentation.LowResolution(model, 64)(images)["out"]
        small = model(torch.nn.functional.interpolate(images, size=(64, 64), mode="bilinear", antialias=True))["out"]
    assert out.shape == (2, 4, 96, 96)
    torch.testing.assert_close(out, torch.nn.functional.interpolate(small, size=(96, 96), mode="bilinear"))
    with pytest.raises(ValueError, match="positive int size"):
        segmentation.LowResolution(model, 0)
