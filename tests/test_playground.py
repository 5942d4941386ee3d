"""The playground's callbacks, without a browser: set the widgets' values as a reader would, and check
the picture drawn (the PNG in the Image widget) and the status line."""

from __future__ import annotations

import datetime
import io

import ipywidgets
import numpy as np
import pytest
import torch
from PIL import Image

from mnv3lib.analysis.predict import detect, segment_scores, segmentation_preprocess
from mnv3lib.book.playground import ONLINE_NOTE, book_models, book_playground
from mnv3lib.data.photos import load_photographs
from mnv3lib.models.weights import WeightsUnavailableError
from mnv3lib.viz.drawing import draw_detections, draw_semantic, filter_predictions
from mnv3lib.viz.playground import MAX_UPLOAD_SIDE, Playground, PlaygroundModel, torchvision_models, uploaded_files

BOOK_DETECTOR = "the book's keypoint R-CNN (mini-COCO, 256 px)"
BOOK_SSDLITE = "the book's SSDlite320 (mini-COCO)"
BOOK_SEGMENTER = "the book's LR-ASPP (mini-COCO)"


def shown(playground: Playground) -> torch.Tensor:
    """The picture the playground shows, as a uint8 ``(3, H, W)`` tensor."""
    with Image.open(io.BytesIO(playground.image.value)) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


def expected_detections(entry: PlaygroundModel, model: torch.nn.Module, picture: torch.Tensor, threshold: float, size: int) -> torch.Tensor:
    found = filter_predictions(detect(model, [picture], size=size)[0], threshold)
    width = max(2, round(max(picture.shape[-2:]) / 300))
    return draw_detections(picture, found, entry.classes, keypoint_label=entry.keypoint_label, skeleton=entry.skeleton, width=width)


def upload(playground: Playground, name: str, content: bytes) -> None:
    """What the browser does when the reader picks a file: in ipywidgets 8 it sets the value (a tuple of
    dicts); in 7 (Colab's) it sets ``metadata`` and ``data`` and bumps a counter, and the widget then
    sets its read-only value (a dict of file name → dict)."""
    if int(ipywidgets.__version__.split(".")[0]) >= 8:
        item = {"name": name, "type": "image/png", "size": len(content), "content": memoryview(content), "last_modified": datetime.datetime.now()}
        playground.upload.value = (item,)
    else:
        playground.upload.metadata = [{"name": name, "type": "image/png", "size": len(content), "lastModified": 0}]
        playground.upload.data = [content]
        playground.upload._counter += 1


def counting(entry: PlaygroundModel, calls: list[tuple[int, int]]) -> PlaygroundModel:
    """The same entry, whose model records the size of every batch it sees."""

    def load() -> torch.nn.Module:
        model = entry.load()
        model.backbone.register_forward_pre_hook(lambda module, args: calls.append(tuple(args[0].shape[-2:])))
        return model

    return PlaygroundModel(load, entry.task, entry.classes, entry.size, entry.mean, entry.std, entry.keypoint_label, entry.skeleton)


@pytest.fixture(scope="module")
def photos() -> dict[str, torch.Tensor]:
    return load_photographs(["astronaut", "coffee"])


def test_every_control_redraws_and_the_model_runs_only_when_it_must(photos) -> None:
    calls: list[tuple[int, int]] = []
    book = book_models("detection")
    playground = Playground({BOOK_DETECTOR: counting(book[BOOK_DETECTOR], calls), BOOK_SSDLITE: book[BOOK_SSDLITE]}, photos)
    entry, model = book[BOOK_DETECTOR], book[BOOK_DETECTOR].load()  # the same weights, for the expected pictures
    assert playground.size.value == 256 and calls == [(256, 256)]
    assert torch.equal(shown(playground), expected_detections(entry, model, photos["astronaut"], 0.5, 256))
    assert playground.status.value.startswith(f"{BOOK_DETECTOR}: ") and "ms at input size 256" in playground.status.value

    playground.threshold.value = 0.3  # filters the kept output: no new call
    assert len(calls) == 1 and torch.equal(shown(playground), expected_detections(entry, model, photos["astronaut"], 0.3, 256))
    assert "at score ≥ 0.30" in playground.status.value

    playground.picture.value = "coffee"
    playground.size.value = 128
    assert calls[1:] == [(192, 256), (96, 128)]  # 400×600 capped at 256 (128) on its longer side, padded to a multiple of 32
    assert torch.equal(shown(playground), expected_detections(entry, model, photos["coffee"], 0.3, 128))
    playground.size.value = 256  # kept: no new call
    assert len(calls) == 3

    playground.model.value = BOOK_SSDLITE
    assert playground.size.value == 320 and "ms at input size 320" in playground.status.value
    assert playground.status.value.startswith(f"{BOOK_SSDLITE}: ")
    assert "Playground: it runs the models in a live Python kernel" in repr(playground)


def test_an_uploaded_picture_joins_the_menu(photos) -> None:
    playground = Playground({BOOK_SSDLITE: book_models("detection")[BOOK_SSDLITE]}, photos)
    big = torch.randint(0, 256, (3, 1500, 2000), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    Image.fromarray(big.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    content = buffer.getvalue()
    upload(playground, "mine.png", content)
    assert playground.picture.value == "yours: mine.png" and "yours: mine.png" in playground.picture.options
    assert shown(playground).shape == (3, MAX_UPLOAD_SIDE * 3 // 4, MAX_UPLOAD_SIDE)  # shrunk to 1024 on its longest side
    upload(playground, "notes.txt", b"hello")
    assert "notes.txt is not a picture this playground can read" in playground.status.value
    assert playground.picture.value == "yours: mine.png"


def test_both_upload_formats_are_read() -> None:
    version_8 = ({"name": "a.png", "type": "image/png", "size": 3, "content": memoryview(b"abc"), "last_modified": None},)
    version_7 = {"a.png": {"metadata": {"name": "a.png", "type": "image/png", "size": 3, "lastModified": 0}, "content": b"abc"}}
    assert uploaded_files(version_8) == uploaded_files(version_7) == [("a.png", b"abc")]
    assert uploaded_files(()) == uploaded_files({}) == []
    with pytest.raises(TypeError, match="expected a FileUpload value"):
        uploaded_files(b"abc")


def test_segmentation_hides_pixels_below_the_threshold(photos) -> None:
    entry = book_models("segmentation")[BOOK_SEGMENTER]
    playground = Playground({BOOK_SEGMENTER: entry}, photos)
    model, picture = entry.load(), photos["astronaut"]
    classes, confidence = segment_scores(model, picture, segmentation_preprocess(128))
    playground.threshold.value = 0.9
    confident = torch.where(confidence >= 0.9, classes, torch.full_like(classes, 255))
    assert torch.equal(shown(playground), draw_semantic(picture, confident))
    assert playground.status.value.startswith(f"{BOOK_SEGMENTER}: pixels at probability ≥ 0.90: ")


def test_torchvision_models_join_when_their_weights_are_there(fake_torch_home, photos) -> None:
    online = torchvision_models("detection")
    assert list(online) == [
        "TorchVision Faster R-CNN MobileNetV3-Large FPN (COCO)", "TorchVision Faster R-CNN MobileNetV3-Large 320 FPN (COCO)",
        "TorchVision SSDlite320 MobileNetV3-Large (COCO)", "TorchVision Keypoint R-CNN ResNet-50 FPN (COCO)",
    ]  # fmt: skip
    assert online["TorchVision Keypoint R-CNN ResNet-50 FPN (COCO)"].keypoint_label == 1
    assert online["TorchVision Faster R-CNN MobileNetV3-Large 320 FPN (COCO)"].classes[0] == "person"
    segmenters = torchvision_models("segmentation")
    lraspp = segmenters["TorchVision LR-ASPP MobileNetV3-Large (VOC classes)"]
    assert (lraspp.size, lraspp.classes[15], list(lraspp.mean)) == (520, "person", [0.485, 0.456, 0.406])
    playground = book_playground("detection")
    assert list(playground.models)[:4] == list(online) and len(playground.models) == 8
    assert playground.model.value == list(online)[0] and "ms at input size 800" in playground.status.value
    assert ONLINE_NOTE not in str([child.value for child in playground.children if hasattr(child, "value")])
    playground.model.value = "TorchVision SSDlite320 MobileNetV3-Large (COCO)"
    assert "ms at input size 320" in playground.status.value


def test_offline_the_menu_has_the_books_models_and_says_why(empty_torch_home) -> None:
    assert torchvision_models("segmentation") == {}
    playground = book_playground("segmentation")
    assert list(playground.models) == list(book_models("segmentation"))
    assert playground.children[0].value == f"<i>{ONLINE_NOTE}</i>"


def test_a_model_that_cannot_load_says_so_in_one_line(photos) -> None:
    def unavailable() -> torch.nn.Module:
        raise WeightsUnavailableError("no network") from OSError("unreachable")

    playground = Playground({"TorchVision something": PlaygroundModel(unavailable, "detection", ["person"], 320)}, photos)
    assert playground.status.value == (
        "Run this chapter in Colab to see TorchVision something on this picture: TorchVision's pretrained weights cannot be downloaded here."
    )
    assert torch.equal(shown(playground), photos["astronaut"])


def test_bad_entries_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown task 'classification'"):
        PlaygroundModel(lambda: torch.nn.Identity(), "classification", [], 224)
    with pytest.raises(ValueError, match=r"expected size in \[64, 1024\], got 2000"):
        PlaygroundModel(lambda: torch.nn.Identity(), "detection", [], 2000)
    with pytest.raises(TypeError, match="expected a non-empty mapping of names to PlaygroundModel"):
        Playground({})
