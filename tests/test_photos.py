"""Real photographs: read from scikit-image's wheel (never downloaded), credited, and run through each
task's helpers (classify, detect, segment) and figures."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mnv3lib.analysis.predict import classify, detect, detection_size_settings, segment, segment_scores, segmentation_preprocess, top_classes
from mnv3lib.data.photos import PHOTOGRAPHS, load_photograph, load_photographs, photograph_credits
from mnv3lib.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn, ssdlite320_mobilenet_v3_large
from mnv3lib.models.segmentation import lraspp_mobilenet_v3_large
from mnv3lib.viz.drawing import PALETTE, class_color, draw_semantic
from mnv3lib.viz.plotting import plot_detections, plot_image_rows, plot_segmentation, plot_top_classes

ROOT = Path(__file__).resolve().parent.parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def test_every_photograph_is_in_the_wheel_and_equals_scikit_image() -> None:
    """The files are in scikit-image's RECORD (installed with the wheel, not fetched by pooch), and the
    tensors have exactly the pixels of the ``skimage.data`` function named beside them."""
    import skimage.data

    shipped = {Path(str(f)).name for f in importlib.metadata.files("scikit-image") if str(f).startswith("skimage/data/")}
    for name, photograph in PHOTOGRAPHS.items():
        assert photograph.file in shipped, f"{photograph.file} is not in scikit-image's wheel"
        image = load_photograph(name)
        expected = getattr(skimage.data, photograph.function)()
        if photograph.grayscale:
            assert expected.ndim == 2
            expected = np.repeat(expected[..., None], 3, axis=2)
        assert image.dtype == torch.uint8 and image.shape == (3, *expected.shape[:2])
        assert np.array_equal(image.permute(1, 2, 0).numpy(), expected), name


def test_credits_quote_scikit_image_and_name_a_free_licence() -> None:
    import skimage.data

    for name, photograph in PHOTOGRAPHS.items():
        docstring = " ".join(getattr(skimage.data, photograph.function).__doc__.split())
        docstring = re.sub(r"\s*<https?://[^>]*>`_*", "", docstring).replace("`", "")  # RST links → their words
        assert re.sub(r"\s*\(https?://[^)]*\)", "", photograph.licence) in docstring, name
        assert re.search(r"public domain|CC0|No known copyright restrictions", photograph.licence), name
    lines = photograph_credits(["coffee", "rocket"]).splitlines()
    assert len(lines) == 2 and lines[0].startswith("coffee: a coffee cup") and "SpaceX" in lines[1]


def test_scikit_image_is_a_declared_dependency() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "scikit-image>=0.25.2" in pyproject["project"]["dependencies"]
    assert "scikit-image>=0.25.2" in (ROOT / "requirements.txt").read_text().split()
    assert "scikit-image==0.25.2" in (ROOT / "constraints-colab.txt").read_text().split()


def test_bad_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown photograph 'lena': expected one of 'astronaut'"):
        load_photograph("lena")
    with pytest.raises(TypeError, match="got the string 'coffee': use \\['coffee'\\]"):
        load_photographs("coffee")
    with pytest.raises(ValueError, match="unknown photograph 'eagle'"):
        photograph_credits(["eagle"])  # scikit-image has it, but only through pooch


@pytest.fixture(scope="module")
def photos() -> dict[str, torch.Tensor]:
    return load_photographs(["coffee", "clock"])


def test_classify_applies_the_transforms_and_ranks(photos) -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(4)).eval()
    seen = []

    def transforms(image: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(image.shape))
        return torch.nn.functional.interpolate(image[None].float() / 255, size=(8, 8))[0]

    probabilities = classify(model, photos.values(), transforms)
    assert seen == [(3, 400, 600), (3, 300, 400)] and probabilities.shape == (2, 4)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(2))
    top = top_classes(probabilities, ["a", "b", "c", "d"], k=3)
    assert [len(row) for row in top] == [3, 3]
    assert [p for _, p in top[0]] == sorted((p for _, p in top[0]), reverse=True)
    assert top[0][0] == ("abcd"[int(probabilities[0].argmax())], pytest.approx(float(probabilities[0].max())))
    with pytest.raises(ValueError, match=r"expected probabilities of shape \(N, 3\)"):
        top_classes(probabilities, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"expected photographs of shape \(3, H, W\), got \(1, 3, 8, 8\) at index 0: pass a list"):
        classify(model, [torch.zeros(1, 3, 8, 8)], transforms)


def test_detect_runs_at_the_size_asked_and_restores_the_model(photos) -> None:
    model = fasterrcnn_mobilenet_v3_large_320_fpn(box_score_thresh=0.0).eval()
    assert detection_size_settings(model, 160) == {"min_size": 160, "max_size": 320}  # the model's 320 / 640
    sizes = []
    hook = model.backbone.register_forward_pre_hook(lambda module, args: sizes.append(tuple(args[0].shape[-2:])))
    found = detect(model, photos.values(), size=160)
    hook.remove()
    assert sizes == [(160, 256)]  # 400×600 becomes 160×240 (300×400: 160×213), padded to a multiple of 32 in one batch
    assert model.transform.min_size == (320,) and model.transform.max_size == 640
    assert len(found) == 2 and all(set(f) == {"boxes", "labels", "scores"} for f in found)
    assert (found[0]["boxes"][:, 2] <= 600).all() and (found[1]["boxes"][:, 3] <= 300).all()  # in each photograph's pixels
    ssd = ssdlite320_mobilenet_v3_large().eval()
    assert detection_size_settings(ssd, 256) == {"size": 256}
    sizes = []
    ssd.backbone.register_forward_pre_hook(lambda module, args: sizes.append(tuple(args[0].shape[-2:])))
    detect(ssd, [photos["coffee"]], size=256)
    assert sizes == [(256, 256)] and ssd.transform.fixed_size == (320, 320)
    with pytest.raises(TypeError, match="expected a Faster R-CNN, Keypoint R-CNN or SSD detector, got Linear"):
        detection_size_settings(torch.nn.Linear(1, 1), 320)


def test_segment_returns_maps_at_the_photographs_size(photos) -> None:
    model = lraspp_mobilenet_v3_large(num_classes=5).eval()
    preprocess = segmentation_preprocess(96, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert preprocess(photos["coffee"]).shape == (3, 96, 144) and preprocess(photos["coffee"]).mean() < 1
    masks = segment(model, photos.values(), preprocess)
    assert [tuple(m.shape) for m in masks] == [(400, 600), (300, 400)] and masks[0].dtype == torch.int64
    classes, confidence = segment_scores(model, photos["clock"], preprocess)
    assert torch.equal(classes, masks[1]) and ((confidence > 0.2 - 1e-6) & (confidence <= 1)).all()  # 5 classes: at least 1/5
    with pytest.raises(ValueError, match="expected both mean and std, or neither"):
        segmentation_preprocess(96, mean=(0.5, 0.5, 0.5))


def test_figures_take_photographs_of_different_sizes(photos) -> None:
    images = list(photos.values())
    top = {"model A": [[("espresso", 0.7), ("cup", 0.2)], [("wall clock", 0.9)]], "model B": [[("cup", 0.5)], [("analog clock", 0.4)]]}
    figure = plot_top_classes(images, top, titles=list(photos))
    assert len(figure.axes) == 2 * 3 and figure.axes[1].get_title() == "model A"
    assert [t.get_text() for t in figure.axes[1].get_yticklabels()] == ["espresso", "cup"]
    with pytest.raises(ValueError, match="expected one list of classes per image from 'model A', got 1 for 2 images"):
        plot_top_classes(images, {"model A": top["model A"][:1]})
    rows = plot_image_rows({"A": images, "B": images[::-1]}, ["coffee", "clock"])
    assert [axis.get_ylabel() for axis in rows.axes] == ["A", "", "B", ""] and rows.axes[1].get_title() == "clock"
    with pytest.raises(ValueError, match=r"expected rows of the same number of images \(at least one\), got \[2, 1\]"):
        plot_image_rows({"A": images, "B": images[:1]})
    boxes = {"boxes": torch.tensor([[10.0, 10.0, 100.0, 80.0]]), "labels": torch.tensor([1]), "scores": torch.tensor([0.9])}
    assert len(plot_detections(images, [boxes, boxes], ["cup"]).axes) == 2
    assert len(plot_segmentation(images, [torch.zeros(400, 600, dtype=torch.int64), torch.ones(300, 400, dtype=torch.int64)]).axes) == 2


def test_every_class_has_a_colour_and_none_is_the_backgrounds() -> None:
    assert [class_color(c) for c in range(1, 10)] == list(PALETTE[1:])  # mini-COCO's colours, as the explorers draw them
    assert class_color(10) == PALETTE[1] and class_color(20) == PALETTE[2] and PALETTE[0] not in {class_color(c) for c in range(1, 91)}
    image = torch.full((3, 4, 4), 200, dtype=torch.uint8)
    painted = draw_semantic(image, torch.full((4, 4), 10), alpha=1.0)  # VOC's "cow"
    assert painted[:, 0, 0].tolist() == [0x1F, 0x77, 0xB4]
