"""SSDlite320 MobileNetV3-Large is TorchVision's, key for key and detection for detection."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from mnv3lib.analysis.introspection import count_parameters
from mnv3lib.analysis.parity import compare_models, randomize_batchnorm
from mnv3lib.models import mobilenet_v3_large
from mnv3lib.models.detection import ssdlite320_mobilenet_v3_large
from mnv3lib.models.mobilenetv3 import freeze_early_stages


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
    with pytest.warns(UserWarning, match="only applies to pretrained backbones"):  # TorchVision: all 6 train from scratch
        unfrozen = ssdlite320_mobilenet_v3_large(trainable_backbone_layers=0)
    assert all(p.requires_grad for p in unfrozen.parameters())
    with pytest.raises(ValueError, match="trainable_backbone_layers"):
        ssdlite320_mobilenet_v3_large(trainable_backbone_layers=9)
    with pytest.warns(UserWarning, match="fixed at 320"):
        ssdlite320_mobilenet_v3_large(size=(300, 300))
    assert isinstance(model.head.classification_head.module_list[0][0][0], nn.Conv2d)


def test_width_mult_thins_the_backbone_as_torchvisions_builder() -> None:
    """TorchVision's builder passes ``width_mult`` on to the backbone; the extra blocks and heads keep their widths."""
    ours = ssdlite320_mobilenet_v3_large(width_mult=0.5)
    theirs = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, width_mult=0.5)
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    assert all(ours_state[key].shape == theirs_state[key].shape for key in ours_state)
    assert count_parameters(ours) == count_parameters(theirs) < 3_440_060


def test_a_full_tail_backbone_loads_into_the_split_features() -> None:
    """The book starts SSDlite from its shapes-trained (full-tail) MobileNetV3-Large: every tensor lands
    in its place across the split of block C4, and the split features compute what the classifier's do."""
    classifier = mobilenet_v3_large(num_classes=10).eval()
    randomize_batchnorm(classifier)
    model = ssdlite320_mobilenet_v3_large(num_classes=8, reduced_tail=False).eval()
    features = {k.removeprefix("features."): v for k, v in classifier.state_dict().items() if k.startswith("features.")}
    model.backbone.load_backbone(features)
    x = torch.rand(1, 3, 320, 320, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        maps = model.backbone(x)
        expanded = classifier.features[13].block[0](classifier.features[:13](x))
        torch.testing.assert_close(maps["0"], expanded, rtol=0, atol=0)  # C4: 672 channels at stride 16
        torch.testing.assert_close(maps["1"], classifier.features(x), rtol=0, atol=0)  # C5: 960 at stride 32
    assert [tuple(m.shape[1:]) for m in maps.values()] == [(672, 20, 20), (960, 10, 10), (512, 5, 5), (256, 3, 3), (256, 2, 2), (128, 1, 1)]
    with pytest.raises(ValueError, match="reduced_tail=False"):
        ssdlite320_mobilenet_v3_large(num_classes=8).backbone.load_backbone(features)
    with pytest.raises(TypeError, match="reduced_tail"):
        ssdlite320_mobilenet_v3_large(reduced_tail="no")


@pytest.mark.parametrize("trainable", [0, 1, 2, 6])
def test_freezing_the_split_backbone_matches_freezing_it_whole(trainable: int) -> None:
    whole = mobilenet_v3_large()
    freeze_early_stages(list(whole.features), whole.stage_indices, trainable)
    model = ssdlite320_mobilenet_v3_large(num_classes=8, reduced_tail=False)
    model.backbone.freeze_stages(trainable)
    split = dict(model.backbone.features.named_parameters())
    for name, parameter in whole.features.named_parameters():
        assert split[model.backbone.backbone_key(name)].requires_grad == parameter.requires_grad, name
    assert all(p.requires_grad for p in model.backbone.extra.parameters()) and all(p.requires_grad for p in model.head.parameters())


def test_ssdlite_checks_its_inputs() -> None:
    model = ssdlite320_mobilenet_v3_large(num_classes=8).eval()
    with pytest.raises(ValueError, match="values in \\[0, 1\\]"):
        model([torch.full((3, 32, 32), 255.0)])
    model.train()
    target = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "labels": torch.tensor([8])}
    with pytest.raises(ValueError, match="expected 1 .. 7"):
        model([torch.rand(3, 32, 32)], [target])


def test_default_boxes_are_laid_out_as_the_model_lays_them() -> None:
    """3,234 default boxes on a 320×320 input: 6 per cell on 20×20, 10×10, 5×5, 3×3, 2×2 and 1×1 maps,
    the very ones ``SSD`` matches to the ground truth while training."""
    from mnv3lib.models.ssdlite import default_boxes
    from mnv3lib.viz.plotting import plot_default_boxes

    model = ssdlite320_mobilenet_v3_large(num_classes=8)
    levels = default_boxes(model)
    assert [level["grid"] for level in levels] == [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    assert {level["per_location"] for level in levels} == {6} and model.training  # back in training mode
    flat = torch.cat([level["boxes"].reshape(-1, 4) for level in levels])
    sizes = flat[:, 2:] - flat[:, :2]
    assert flat.shape == (3234, 4) and bool((sizes > 0).all() and (sizes <= 320 + 1e-3).all())  # clipped in size, not position
    model.eval()
    images, _ = model.transform([torch.rand(3, 320, 320)])
    maps = list(model.backbone(images.tensors).values())
    torch.testing.assert_close(model.anchor_generator(images, maps)[0], flat)
    centre = levels[0]["boxes"][10, 10, 0]  # the first box of a cell is the square of the level's scale (0.2 × 320)
    assert centre.tolist() == pytest.approx([136.0, 136.0, 200.0, 200.0], abs=0.5)
    figure = plot_default_boxes(levels, (320, 320), which=[0, 5])
    assert len(figure.axes[0].patches) == 6 + 6 + 1  # two cells' boxes and the input's outline
    with pytest.raises(TypeError, match="expected a torchvision SSD model"):
        default_boxes(mobilenet_v3_large())
