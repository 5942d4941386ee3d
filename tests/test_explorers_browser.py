"""The explorers in a real browser (headless Chromium, offline): pages made here from each explorer
function with small data; every control changes what is drawn, nothing leaves loopback, the console
stays clean, and the browser's NMS keeps exactly what ``torchvision.ops.batched_nms`` keeps.

The built book's chapter pages are tested the same way by ``tests/test_book_pages.py``
(``make test-browser``, after ``make book``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from browser_support import (
    chromium_driver,
    console_errors,
    control,
    exercise_every_control,
    outside_loopback,
    requested_urls,
    serve,
    wait_until_ready,
)
from mnv3lib.viz.drawing import filter_predictions
from mnv3lib.viz.widgets import (
    _detections_payload,
    architecture_explorer,
    calibration_explorer,
    detection_explorer,
    front_end_source,
    segmentation_explorer,
)

pytestmark = pytest.mark.browser

CLASSES = ["circle", "square", "person"]


def _scene(generator: torch.Generator, n: int = 40) -> tuple[torch.Tensor, dict, dict]:
    image = torch.rand(3, 64, 64, generator=generator) * 0.3
    xy = torch.rand(n, 2, generator=generator) * 40
    boxes = torch.cat([xy, xy + 6 + torch.rand(n, 2, generator=generator) * 18], 1)
    keypoints = torch.cat([torch.rand(n, 4, 2, generator=generator) * 60, torch.ones(n, 4, 1)], 2)
    labels = torch.randint(1, 4, (n,), generator=generator)
    labels[:3] = torch.tensor([1, 2, 3])  # every class on every image
    prediction = {"boxes": boxes, "scores": torch.rand(n, generator=generator).clamp(0.05, 0.95), "labels": labels, "keypoints": keypoints}
    prediction["scores"][:3] = 0.9
    target = {"boxes": boxes[:3], "labels": labels[:3], "keypoints": keypoints[:3]}
    return image, prediction, target


def _detection_data() -> tuple[list, list, list]:
    generator = torch.Generator().manual_seed(1)
    scenes = [_scene(generator) for _ in range(3)]
    return [s[0] for s in scenes], [s[1] for s in scenes], [s[2] for s in scenes]


def _segmentation_data() -> tuple[list, list, list, list]:
    semantic = torch.zeros(40, 40, dtype=torch.int64)
    semantic[5:15, 5:15], semantic[20:30, 20:35] = 1, 2
    other = torch.zeros_like(semantic)
    other[10:30, 2:12], other[0:8, 25:40] = 2, 1
    instances = [{"masks": torch.stack([m == 1, m == 2]), "labels": torch.tensor([1, 2])} for m in (semantic, other)]
    images = [torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    return images, [semantic, other.flip(0)], [semantic, other], instances


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("explorers")
    images, predictions, targets = _detection_data()
    pages = {
        "detection": detection_explorer(images, predictions, CLASSES, targets=targets, keypoint_label=3, skeleton=[(1, 2), (2, 3), (3, 4)]),
        "segmentation": segmentation_explorer(*_segmentation_data()[:2], ["background", *CLASSES[:2]], targets=_segmentation_data()[2], instances=_segmentation_data()[3]),
        "architecture": architecture_explorer(latency_repeats=0, width_mults=(0.5, 1.0)),
        "calibration": calibration_explorer(
            lambda o, b: {"acc1": 40.0 + b + (o == "minmax"), "agreement": 80.0 + b}, ["histogram", "minmax"], [1, 2, 4], known=None
        ),
    }  # fmt: skip
    for name, explorer in pages.items():
        (folder / f"{name}.html").write_text(explorer.to_html(name))
    twice = pages["calibration"]._repr_html_()
    (folder / "twice.html").write_text(f"<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>{twice}<p>again</p>{twice}</body></html>")
    with serve(folder) as base, chromium_driver() as driver:
        yield base, driver


def _load(site: tuple[str, object], name: str) -> tuple[object, object]:
    base, driver = site
    driver.get("about:blank")
    requested_urls(driver), console_errors(driver)  # forget earlier pages
    driver.get(f"{base}/{name}.html")
    root = wait_until_ready(driver)[0]
    print(f"{name} explorer interactive {root.get_attribute('data-ready-ms')} ms after navigation")
    return driver, root


def _check_page_hygiene(driver: object) -> None:
    urls = requested_urls(driver)
    assert urls and not outside_loopback(urls), f"requests left loopback: {outside_loopback(urls)}"
    errors = console_errors(driver)
    assert not errors, f"console errors: {errors}"


@pytest.mark.parametrize("name", ["detection", "segmentation", "architecture", "calibration"])
def test_every_control_redraws_offline(site: tuple[str, object], name: str) -> None:
    driver, root = _load(site, name)
    changed = exercise_every_control(driver, root)
    expected = {
        "detection": {"image", "min score", "NMS IoU", *CLASSES, "keypoints and skeleton", "ground truth"},
        "segmentation": {"image", "opacity", "circle", "square", "prediction", "ground truth", "instance masks"},
        "architecture": {"arch", "width_mult", "reduced_tail", "dilated"},
        "calibration": {"observer", "batches", "metric"},
    }[name]
    assert set(changed) == expected
    assert all(changed.values()), f"controls that changed nothing: {[k for k, v in changed.items() if not v]}"
    _check_page_hygiene(driver)


def test_detection_keeps_what_filter_predictions_keeps(site: tuple[str, object]) -> None:
    driver, root = _load(site, "detection")
    images, predictions, targets = _detection_data()
    for image in range(len(images)):
        for score in (0.0, 0.35, 0.5, 0.9, 1.0):
            for iou in (0.05, 0.3, 0.5, 1.0):
                driver.execute_script(
                    "const [root, values] = arguments; for (const [name, value] of Object.entries(values)) {"
                    " const input = root.querySelector(`[data-control=\"${name}\"]`); input.value = value; input.dispatchEvent(new Event('input')); }",
                    root,
                    {"image": str(image), "min score": str(score), "NMS IoU": str(iou)},
                )
                kept = filter_predictions(predictions[image], score, iou)
                assert int(root.get_attribute("data-drawn-boxes")) == len(kept["labels"]), (image, score, iou)
    control(root, "ground truth").click()
    assert int(root.get_attribute("data-drawn-truth-boxes")) == len(targets[-1]["labels"])
    control(root, CLASSES[0]).click()
    assert int(root.get_attribute("data-drawn-truth-boxes")) == int((targets[-1]["labels"] != 1).sum())


def test_one_explorer_shown_twice_draws_twice(site: tuple[str, object]) -> None:
    """Re-running a cell, or showing the same explorer in two cells, gives two outputs with the same id."""
    base, driver = site
    driver.get(f"{base}/twice.html")
    first, second = wait_until_ready(driver)
    assert first.get_attribute("id") == second.get_attribute("id") and "observer" in first.text and "observer" in second.text


def test_segmentation_panels_follow_the_toggles(site: tuple[str, object]) -> None:
    driver, root = _load(site, "segmentation")
    assert root.get_attribute("data-panels") == "prediction,ground truth,instances"
    control(root, "instance masks").click()
    control(root, "prediction").click()
    assert root.get_attribute("data-panels") == "ground truth"


def test_architecture_shows_the_precomputed_totals(site: tuple[str, object]) -> None:
    from mnv3lib.viz.widgets import architecture_report

    driver, root = _load(site, "architecture")
    assert "5.483 M" in root.text and "output stride 32" in root.text
    control(root, "dilated").click()
    control(root, "reduced_tail").click()
    report = architecture_report("mobilenet_v3_large", reduced_tail=True, dilated=True)
    assert f"{report.params / 1e6:.3f} M" in root.text and f"{report.macs / 1e9:.3f} G" in root.text and "output stride 16" in root.text


# ---------------------------------------------------------------------------------------------------
# NMS in the browser == torchvision.ops.batched_nms (through mnv3lib.viz.drawing.filter_predictions)
# ---------------------------------------------------------------------------------------------------


def _candidate_sets() -> list[tuple[dict, float, float]]:
    """Random candidates with what breaks NMS ports: equal scores, scores on the threshold, integer
    boxes whose IoU is exactly the threshold, duplicates, empty boxes, one class or many, and sets on
    both sides of torchvision's switch from the coordinate trick to per-class NMS (1000 boxes)."""
    generator = torch.Generator().manual_seed(0)
    cases = []
    for case in range(300):
        n = int(torch.randint(0, 60, (1,), generator=generator))
        if case % 3 == 0:  # integer grid: exact IoU ties
            xy = torch.randint(0, 8, (n, 2), generator=generator).float()
            boxes = torch.cat([xy, xy + torch.randint(0, 5, (n, 2), generator=generator).float()], 1)
        else:
            xy = torch.rand(n, 2, generator=generator) * 200
            boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=generator) * 60], 1)
        if n > 4:
            boxes[1] = boxes[0]  # a duplicate
            boxes[2, 2] = boxes[2, 0]  # an empty box
        if case % 2 == 0:
            scores = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9])[torch.randint(0, 5, (n,), generator=generator)]  # ties
        else:
            scores = torch.rand(n, generator=generator)
        labels = torch.randint(1, 2 if case % 5 == 0 else 4, (n,), generator=generator)
        score = [0.0, 0.3, 0.5, 0.7][case % 4]
        iou = [0.05, 0.3, 0.5, 0.7, 1.0, 0.25, 1 / 3][case % 7]
        cases.append(({"boxes": boxes, "scores": scores, "labels": labels}, score, iou))
    for n in (999, 1000, 1001, 1500):
        xy = torch.rand(n, 2, generator=generator) * 500
        boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=generator) * 80], 1)
        cases.append(({"boxes": boxes, "scores": torch.rand(n, generator=generator), "labels": torch.randint(1, 7, (n,), generator=generator)}, 0.2, 0.5))
    return cases


def test_browser_nms_keeps_the_same_set_as_torchvision(site: tuple[str, object]) -> None:
    _, driver = site
    driver.get("about:blank")
    cases = _candidate_sets()
    payload = [[_detections_payload(found, None, exact=True), score, iou] for found, score, iou in cases]
    kept_in_browser = driver.execute_script(
        front_end_source()
        + "\nreturn JSON.parse(arguments[0]).map(([c, s, iou]) => MNV3Explorers.filterCandidates(MNV3Explorers.asFloat32(c), s, iou));",
        json.dumps(payload),
    )
    mismatches = []
    for (found, score, iou), browser in zip(cases, kept_in_browser):
        indexed = dict(found, index=torch.arange(len(found["scores"])))
        expected = filter_predictions(indexed, score, iou)["index"].tolist()
        if sorted(browser) != sorted(expected):
            mismatches.append((len(found["scores"]), score, iou, sorted(set(browser) ^ set(expected))))
    assert not mismatches, f"{len(mismatches)} of {len(cases)} sets differ: {mismatches[:3]}"
    assert sum(len(k) for k in kept_in_browser) > 1000  # the sets are not trivially empty
