"""SSDlite320 MobileNetV3-Large is TorchVision's, key for key and detection for detection."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from mnv3lib.analysis.introspection import count_parameters
from mnv3lib.analysis.parity import compare_models, randomize_batchnorm
from mnv3lib.models.detection import ssdlite320_mobilenet_v3_large


@pytest.mark.parametrize("num_classes, parameters", [(91, 3_440_060), (21, 2_469_860)])
def test_ssdlite_equals_torchvisions(num_classes: int, parameters: int) -> None:
    ours = ssdlite320_mobilenet_v3_large(num_classes=num_classes)
    theirs = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)
    assert count_parameters(ours) == count_parameters(theirs) == parameters
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    assert all(ours_state[key].shape == theirs_state[key].shape for key in ours_state)
    images = [torch.rand(3, 300, 400, generator=torch.Generator().manual_seed(1)), torch.rand(3, 320, 320, generator=torch.Generator().manual_seed(2))]
    ours.load_state_dict(randomize_batchnorm(theirs).state_dict())
    ours.eval(), theirs.eval()
    with torch.no_grad():
        mine, reference = ours(images), theirs(images)
    assert all(len(m["boxes"]) > 0 for m in mine)  # something to compare: random weights still detect at score 0.001
    for m, r in zip(mine, reference):
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(m[key], r[key], rtol=0, atol=0)
    assert "max |difference| of outputs = 0" in str(compare_models(ours, theirs, images))


def test_ssdlite_builds_torchvisions_variant() -> None:
    """From scratch: the reduced tail (the paper's Table 6) and SSD's normal init, as TorchVision's builder."""
    model = ssdlite320_mobilenet_v3_large()
    last_conv = model.backbone.features[1][-1][0]
    assert last_conv.out_channels == 480  # 960 with the full tail
    first_conv = model.backbone.features[0][0][0]
    assert abs(float(first_conv.weight.detach().std()) - 0.03) < 0.005
    assert all(p.requires_grad for p in model.parameters())
    frozen = ssdlite320_mobilenet_v3_large(trainable_backbone_layers=0)
    assert not any(p.requires_grad for p in frozen.backbone.features.parameters())
    with pytest.raises(ValueError, match="trainable_backbone_layers"):
        ssdlite320_mobilenet_v3_large(trainable_backbone_layers=9)
    with pytest.warns(UserWarning, match="fixed at 320"):
        ssdlite320_mobilenet_v3_large(size=(300, 300))
    assert isinstance(model.head.classification_head.module_list[0][0][0], nn.Conv2d)
