"""Our MobileNetV3 detectors are TorchVision's, drop-in; the FPN sees what the chapter says; bad input is reported."""

from __future__ import annotations

import inspect

import pytest
import torch
import torchvision

from mnv3lib.models import detection
from mnv3lib.models import mobilenet_v3_large
from mnv3lib.analysis.parity import randomize_batchnorm


@pytest.mark.parametrize(
    "ours, theirs, size",
    [
        (detection.fasterrcnn_mobilenet_v3_large_fpn, torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn, (3, 240, 320)),
        (detection.fasterrcnn_mobilenet_v3_large_320_fpn, torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn, (3, 300, 400)),
    ],
)
def test_faster_rcnn_builders_equal_torchvisions(ours, theirs, size) -> None:
    reference = randomize_batchnorm(theirs(weights=None, weights_backbone=None, box_score_thresh=0.0))
    model = ours(box_score_thresh=0.0)
    assert list(model.state_dict()) == list(reference.state_dict())
    assert sum(p.numel() for p in model.parameters()) == 19_410_754  # 19,386,354 + BatchNorm's affine weights (FrozenBN: buffers)
    model.load_state_dict(reference.state_dict())
    images = [torch.rand(size, generator=torch.Generator().manual_seed(1))]
    with torch.no_grad():
        mine, expected = model.eval()(images), reference.eval()(images)
    assert len(mine[0]["boxes"]) > 0
    for key in ("boxes", "scores", "labels"):
        assert torch.equal(mine[0][key], expected[0][key]), key
    assert model.transform.min_size == reference.transform.min_size
    assert model.rpn._post_nms_top_n == reference.rpn._post_nms_top_n


def test_fpn_inputs_are_blocks_13_and_16_both_at_stride_32() -> None:
    fpn = detection.mobilenet_backbone_with_fpn(mobilenet_v3_large(), trainable_layers=6)
    assert fpn.body.return_layers == {"13": "0", "16": "1"}
    with torch.no_grad():
        features = fpn(torch.rand(1, 3, 224, 224))
    assert {name: tuple(f.shape) for name, f in features.items()} == {"0": (1, 256, 7, 7), "1": (1, 256, 7, 7), "pool": (1, 256, 4, 4)}
    strided = detection.mobilenet_backbone_with_fpn(mobilenet_v3_large(), returned_layers=[3, 4, 5], trainable_layers=2)
    with torch.no_grad():
        assert [f.shape[-1] for f in strided(torch.rand(1, 3, 224, 224)).values()] == [14, 7, 7, 4]
    frozen = [name for name, p in strided.body.named_parameters() if not p.requires_grad]
    assert frozen and all(int(name.split(".")[0]) < 13 for name in frozen)  # stages before the last two are frozen
    with pytest.raises(ValueError, match="trainable_layers"):
        detection.mobilenet_backbone_with_fpn(mobilenet_v3_large(), trainable_layers=7)
    with pytest.raises(ValueError, match="returned_layers"):
        detection.mobilenet_backbone_with_fpn(mobilenet_v3_large(), returned_layers=[6])
    narrow = detection.mobilenet_backbone_with_fpn(mobilenet_v3_large(), trainable_layers=6, out_channels=128)
    with torch.no_grad():
        assert narrow.out_channels == 128 and {f.shape[1] for f in narrow(torch.rand(1, 3, 224, 224)).values()} == {128}
    with pytest.raises(ValueError, match="out_channels"):
        detection.mobilenet_backbone_with_fpn(mobilenet_v3_large(), out_channels=0)


def test_keypoint_rcnn_light_head_trains_a_step() -> None:
    model = detection.keypointrcnn_mobilenet_v3_large_fpn(num_keypoints=9, light_head=True, min_size=128, max_size=128)
    assert sum(p.numel() for p in model.roi_heads.keypoint_head.parameters()) == 258_304
    targets = [{"boxes": torch.tensor([[10.0, 20.0, 60.0, 100.0]]), "labels": torch.tensor([1]),
                "keypoints": torch.cat([torch.rand(1, 9, 2) * 40 + 15, torch.full((1, 9, 1), 2.0)], dim=2)}]  # fmt: skip
    losses = model.train()([torch.rand(3, 128, 128)], targets)
    assert {"loss_keypoint", "loss_classifier"} <= set(losses) and all(torch.isfinite(v) for v in losses.values())


def test_bad_detection_input_gets_clear_errors() -> None:
    model = detection.fasterrcnn_mobilenet_v3_large_320_fpn(num_classes=3).train()
    image = torch.rand(3, 64, 64)
    good = {"boxes": torch.tensor([[1.0, 2.0, 30.0, 40.0]]), "labels": torch.tensor([1])}
    with pytest.raises(ValueError, match=r"box 0 is \[30.0, 2.0, 1.0, 40.0\]: expected x1 < x2"):
        model([image], [{**good, "boxes": torch.tensor([[30.0, 2.0, 1.0, 40.0]])}])
    with pytest.raises(TypeError, match="float tensor with values in \\[0, 1\\], got torch.uint8"):
        model([(image * 255).to(torch.uint8)], [good])
    with pytest.raises(ValueError, match="values in \\[0, 1\\], got \\[.*\\]: scale it"):
        model([image * 255], [good])
    with pytest.raises(ValueError, match="missing 'labels'"):
        model([image], [{"boxes": good["boxes"]}])
    with pytest.raises(TypeError, match="list of \\(3, H, W\\) tensors"):
        model(image[None])
    keypoints = detection.keypointrcnn_mobilenet_v3_large_fpn(num_keypoints=9, light_head=True).train()
    with pytest.raises(ValueError, match="keypoints of shape \\(1, 9, 3\\)"):
        keypoints([image], [{**good, "keypoints": torch.rand(1, 9, 2)}])
    with pytest.raises(ValueError, match="missing 'keypoints'"):
        keypoints([image], [good])
    with pytest.raises(ValueError, match="have 91 classes"):
        detection.fasterrcnn_mobilenet_v3_large_fpn(weights="COCO_V1", num_classes=3)
    with pytest.raises(ValueError, match="unknown weights 'IMAGENET'"):
        detection.fasterrcnn_mobilenet_v3_large_fpn(weights="IMAGENET")


def test_parameter_breakdown_and_rpn_settings() -> None:
    from mnv3lib.analysis.benchmark import compare_latency

    model = detection.fasterrcnn_mobilenet_v3_large_320_fpn()
    parts = detection.parameter_breakdown(model)
    assert parts["fpn"] == 1_467_392 and parts["rpn"] == 609_355 and parts["roi_heads"] == 14_362_055
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total") == 19_410_754
    detection.set_rpn_test_top_n(model, 50, 20)
    assert model.rpn.pre_nms_top_n() == 2000 and model.rpn.post_nms_top_n() == 2000  # training mode: unchanged
    model.eval()
    assert model.rpn.pre_nms_top_n() == 50 and model.rpn.post_nms_top_n() == 20
    with pytest.raises(ValueError, match="post_nms_top_n"):
        detection.set_rpn_test_top_n(model, 50, 0)
    timing = compare_latency({"320": model}, inputs=[torch.rand(3, 64, 64)], repeats=2, warmup=0)
    assert timing["320"].input_shape == (1, 3, 64, 64)


def test_trainable_layers_apply_to_pretrained_backbones_only() -> None:
    with pytest.warns(UserWarning, match="only applies to pretrained backbones"):
        model = detection.fasterrcnn_mobilenet_v3_large_320_fpn(trainable_backbone_layers=2)
    assert all(p.requires_grad for p in model.backbone.parameters())


def test_inference_settings_apply_inside_the_block_and_are_restored() -> None:
    from mnv3lib.models.detection import configure_inference, fasterrcnn_mobilenet_v3_large_320_fpn, inference_settings, ssdlite320_mobilenet_v3_large

    model = fasterrcnn_mobilenet_v3_large_320_fpn()
    before = (model.transform.min_size, model.roi_heads.score_thresh, model.rpn._pre_nms_top_n["testing"])
    with inference_settings(model, min_size=128, max_size=128, score_thresh=0.0, rpn_pre_nms_top_n=10):
        assert (model.transform.min_size, model.transform.max_size, model.roi_heads.score_thresh) == ((128,), 128, 0.0)
        assert model.rpn._pre_nms_top_n["testing"] == 10
    assert (model.transform.min_size, model.roi_heads.score_thresh, model.rpn._pre_nms_top_n["testing"]) == before
    with pytest.raises(RuntimeError):
        with inference_settings(model, nms_thresh=1.0):
            raise RuntimeError("inside")
    assert model.roi_heads.nms_thresh == 0.5  # restored after the error
    for bad, message in (({"score_thresh": 1.5}, r"score_thresh in \[0.0, 1.0\]"), ({"min_size": 0}, "min_size > 0"), ({"size": 3}, "unknown inference setting")):
        with pytest.raises(ValueError, match=message):
            configure_inference(model, **bad)
    assert model.transform.min_size == before[0]  # nothing was set by a refused call
    with pytest.raises(TypeError, match="Faster R-CNN, Keypoint R-CNN or SSD"):
        configure_inference(torch.nn.Linear(2, 2), score_thresh=0.1)
    ssd = ssdlite320_mobilenet_v3_large(num_classes=3)
    with inference_settings(ssd, score_thresh=0.0, nms_thresh=1.0, detections_per_img=7):
        assert (ssd.score_thresh, ssd.nms_thresh, ssd.detections_per_img) == (0.0, 1.0, 7)
    assert (ssd.score_thresh, ssd.nms_thresh, ssd.detections_per_img) == (0.001, 0.55, 300)
    with pytest.raises(ValueError, match="unknown inference setting 'min_size' for MobileNetSSD"):
        configure_inference(ssd, min_size=320)


def _keywords(function, *set_by_the_builder: str) -> set[str]:
    parameters = inspect.signature(function).parameters.values()
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self", *set_by_the_builder}


def test_the_builders_take_exactly_torchvisions_keywords() -> None:
    """The option tables list every keyword TorchVision's detectors use, no more: a TorchVision upgrade
    that adds one fails here, rather than have the builders refuse a valid call."""
    from torchvision.models.detection import FasterRCNN, KeypointRCNN
    from torchvision.models.detection.ssd import SSD
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    from mnv3lib.models.detection_options import KEYPOINT_RCNN_OPTIONS, RCNN_OPTIONS, SSD_OPTIONS

    assert "_skip_resize" in inspect.getsource(GeneralizedRCNNTransform.__init__)  # read from its **kwargs
    transform = _keywords(GeneralizedRCNNTransform.__init__, "min_size", "max_size", "image_mean", "image_std") | {"_skip_resize"}
    assert set(RCNN_OPTIONS) == _keywords(FasterRCNN.__init__, "backbone", "num_classes", "rpn_anchor_generator") | transform
    assert set(KEYPOINT_RCNN_OPTIONS) == _keywords(KeypointRCNN.__init__, "backbone", "num_classes", "rpn_anchor_generator", "num_keypoints") | transform
    assert set(SSD_OPTIONS) == _keywords(SSD.__init__, "backbone", "anchor_generator", "size", "num_classes", "head") | {"_skip_resize"}


def test_every_torchvision_default_passes_the_checks() -> None:
    """Each builder accepts every keyword at TorchVision's own default value, all at once."""
    from torchvision.models.detection import FasterRCNN, KeypointRCNN
    from torchvision.models.detection.ssd import SSD

    from mnv3lib.models.detection_options import KEYPOINT_RCNN_OPTIONS, RCNN_OPTIONS, SSD_OPTIONS

    transform = {"size_divisible": 32, "fixed_size": None, "_skip_resize": False}
    for builder, reference, options in (
        (detection.fasterrcnn_mobilenet_v3_large_fpn, FasterRCNN, RCNN_OPTIONS),
        (detection.keypointrcnn_mobilenet_v3_large_fpn, KeypointRCNN, KEYPOINT_RCNN_OPTIONS),
        (detection.ssdlite320_mobilenet_v3_large, SSD, SSD_OPTIONS),
    ):
        defaults = {p.name: p.default for p in inspect.signature(reference.__init__).parameters.values() if p.name in options}
        model = builder(**(defaults | {k: v for k, v in transform.items() if k in options and k not in defaults}))
        assert isinstance(model, reference)


def test_trainable_stages_is_torchvisions_rule() -> None:
    """Chapter 4 explains TorchVision's trainable_backbone_layers with the library's public trainable_stages,
    which must agree with TorchVision's private _validate_trainable_layers (compared here, in a test)."""
    import warnings

    from torchvision.models.detection.backbone_utils import _validate_trainable_layers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn that a value is ignored from scratch
        for is_trained in (True, False):
            for value in (None, 0, 3, 6):
                assert detection.trainable_stages(is_trained, value) == _validate_trainable_layers(is_trained, value, 6, 3), (is_trained, value)
