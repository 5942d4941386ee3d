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
    choose,
    chromium_driver,
    console_errors,
    control,
    exercise_every_control,
    outside_loopback,
    requested_urls,
    serve,
    wait_until_ready,
)
from mnv3lib.analysis.quantization_error import Int8Grid, grid_error, observe_grid
from mnv3lib.engine.optim import RMSpropTF, steady_state_steps, tf_eps_to_torch
from mnv3lib.models.ssdlite import default_boxes, match_default_boxes, ssdlite320_mobilenet_v3_large
from mnv3lib.viz.drawing import filter_predictions
from mnv3lib.viz.widgets import (
    _detections_payload,
    architecture_explorer,
    calibration_explorer,
    default_box_explorer,
    detection_explorer,
    front_end_source,
    int8_grid_explorer,
    rmsprop_explorer,
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


def _second_model() -> list:
    """Another detector's candidates on the images of :func:`_detection_data` (other boxes, scores and counts)."""
    generator = torch.Generator().manual_seed(2)
    return [_scene(generator, n=25 + 10 * i)[1] for i in range(3)]


MODELS = ("SSDlite", "Faster R-CNN")


def _activations() -> list[torch.Tensor]:
    """Three 'calibration batches' of a hard-swish output with a long positive tail."""
    generator = torch.Generator().manual_seed(3)
    return [torch.nn.functional.hardswish(torch.randn(4000, generator=generator) * 2 + torch.rand(4000, generator=generator) ** 8 * 30) for _ in range(3)]


def _ssd_scene() -> tuple[object, torch.Tensor, dict]:
    torch.manual_seed(0)
    model = ssdlite320_mobilenet_v3_large(num_classes=4).eval()
    image = torch.rand(3, 200, 240, generator=torch.Generator().manual_seed(4))
    target = {"boxes": torch.tensor([[20.0, 30.0, 120.0, 150.0], [150.0, 20.0, 180.0, 60.0], [10.0, 10.0, 230.0, 190.0]]), "labels": torch.tensor([1, 3, 2])}
    return model, image, target


SSD_SHAPES = ["1:1, scale sₖ", "1:1, scale √(sₖ·sₖ₊₁)", "2:1", "1:2", "3:1", "1:3"]


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
        "detection_models": detection_explorer(
            images, dict(zip(MODELS, (predictions, _second_model()))), CLASSES, targets=targets, keypoint_label=3
        ),
        "segmentation": segmentation_explorer(*_segmentation_data()[:2], ["background", *CLASSES[:2]], targets=_segmentation_data()[2], instances=_segmentation_data()[3]),
        "architecture": architecture_explorer(latency_repeats=0, width_mults=(0.5, 1.0)),
        "calibration": calibration_explorer(
            lambda o, b: {"acc1": 40.0 + b + (o == "minmax"), "agreement": 80.0 + b}, ["histogram", "minmax"], [1, 2, 4], known=None
        ),
        "rmsprop": rmsprop_explorer(grad_rms_samples=[1e-5, 3e-4, 2e-3, 0.0]),
        "int8grid": int8_grid_explorer(_activations(), sample_size=5000, title="hard-swish"),
        "defaultboxes": default_box_explorer(*_ssd_scene(), classes=CLASSES),
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


@pytest.mark.parametrize("name", ["detection", "detection_models", "segmentation", "architecture", "calibration", "rmsprop", "int8grid", "defaultboxes"])
def test_every_control_redraws_offline(site: tuple[str, object], name: str) -> None:
    driver, root = _load(site, name)
    changed = exercise_every_control(driver, root)
    detection = {"image", "min score", "NMS IoU", *CLASSES, "keypoints and skeleton", "ground truth"}
    expected = {
        "detection": detection,
        "detection_models": {"model", *detection},
        "segmentation": {"image", "opacity", "circle", "square", "prediction", "ground truth", "instance masks"},
        "architecture": {"arch", "width_mult", "reduced_tail", "dilated"},
        "calibration": {"observer", "batches", "metric"},
        "rmsprop": {"eps (TensorFlow's)", "learning rate"},
        "int8grid": {"observer", "scale", "zero point"},
        "defaultboxes": {"feature map", "cell", "matches of", *SSD_SHAPES},
    }[name]
    assert set(changed) == expected
    assert all(changed.values()), f"controls that changed nothing: {[k for k, v in changed.items() if not v]}"
    _check_page_hygiene(driver)


def _move_sliders(driver: object, root: object, values: dict[str, object]) -> None:
    driver.execute_script(
        "const [root, values] = arguments; for (const [name, value] of Object.entries(values)) {"
        " const input = root.querySelector(`[data-control=\"${name}\"]`);"
        " input.value = value; input.dispatchEvent(new Event('input')); }",
        root,
        {name: str(value) for name, value in values.items()},
    )


def test_detection_keeps_what_filter_predictions_keeps(site: tuple[str, object]) -> None:
    driver, root = _load(site, "detection")
    images, predictions, targets = _detection_data()
    for image in range(len(images)):
        for score in (0.0, 0.35, 0.5, 0.9, 1.0):
            for iou in (0.05, 0.3, 0.5, 1.0):
                _move_sliders(driver, root, {"image": image, "min score": score, "NMS IoU": iou})
                kept = filter_predictions(predictions[image], score, iou)
                assert int(root.get_attribute("data-drawn-boxes")) == len(kept["labels"]), (image, score, iou)
    control(root, "ground truth").click()
    assert int(root.get_attribute("data-drawn-truth-boxes")) == len(targets[-1]["labels"])
    control(root, CLASSES[0]).click()
    assert int(root.get_attribute("data-drawn-truth-boxes")) == int((targets[-1]["labels"] != 1).sum())


def test_detection_switches_to_the_other_models_kept_set(site: tuple[str, object]) -> None:
    """The model menu draws the chosen detector's candidates, filtered as filter_predictions filters them,
    under the sliders and toggles as they are; the panel and the caption name the model shown."""
    driver, root = _load(site, "detection_models")
    by_model = dict(zip(MODELS, (_detection_data()[1], _second_model())))

    def expected(model: str, image: int, score: float, iou: float) -> list[int]:
        found = by_model[model][image]
        indexed = dict(found, index=torch.arange(len(found["scores"])))
        return sorted(filter_predictions(indexed, score, iou)["index"].tolist())

    def view() -> dict:  # what the explorer shows, in one round trip
        return driver.execute_script(
            "const root = arguments[0], at = name => root.getAttribute(name);"
            " return {drawn: at('data-drawn-indices').split(',').filter(i => i).map(Number).sort((a, b) => a - b),"
            " boxes: Number(at('data-drawn-boxes')), model: JSON.parse(at('data-state')).model,"
            " panel: root.querySelector('figcaption').textContent, caption: root.lastElementChild.textContent};",
            root,
        )

    shown = view()
    assert shown["model"] == MODELS[0] and shown["drawn"] == expected(MODELS[0], 0, 0.5, 0.5)  # the initial sliders
    assert shown["panel"] == f"prediction: {MODELS[0]}" and shown["caption"].startswith(f"{MODELS[0]}: ")
    switched = 0
    for image in range(3):
        for score, iou in ((0.0, 1.0), (0.35, 0.3), (0.5, 0.5), (0.9, 0.05)):
            _move_sliders(driver, root, {"image": image, "min score": score, "NMS IoU": iou})
            shown = view()
            assert shown["drawn"] == expected(MODELS[0], image, score, iou), (MODELS[0], image, score, iou)
            for m in (1, 0):  # there and back: the sliders stay where they are
                before = shown["drawn"]
                choose(root, "model", m)
                model, shown = MODELS[m], view()
                setting = (model, image, score, iou)
                assert shown["model"] == model and shown["drawn"] == expected(*setting), setting
                assert shown["boxes"] == len(shown["drawn"]) and shown["panel"] == f"prediction: {model}"
                total = len(by_model[model][image]["scores"])
                assert shown["caption"].startswith(f"{model}: {len(shown['drawn'])} of {total} candidates kept"), shown
                switched += shown["drawn"] != before
    assert switched >= 20  # the two models' kept sets differ, so a switch is seen in what is drawn
    choose(root, "model", 1)
    control(root, CLASSES[0]).click()  # a class toggle applies to the model shown
    assert view()["drawn"] == [i for i in expected(MODELS[1], 2, 0.9, 0.05) if by_model[MODELS[1]][2]["labels"][i] != 1]
    _check_page_hygiene(driver)


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



# ---------------------------------------------------------------------------------------------------
# The three explorers of the workbook: what they draw is what the library computes
# ---------------------------------------------------------------------------------------------------


def _property(driver: object, root: object, name: str) -> object:
    return driver.execute_script(f"return arguments[0].{name};", root)


def test_rmsprop_curves_are_the_optimizers_own_steps(site: tuple[str, object]) -> None:
    """At every slider position tried, each drawn curve is the step that RMSpropTF or torch.optim.RMSprop
    takes at that epsilon and learning rate (not the table at lr=1: a step taken at the chosen rate)."""
    driver, root = _load(site, "rmsprop")
    data = rmsprop_explorer().data
    eps_values, rates = data["eps_values"], data["learning_rates"]
    grads = torch.tensor(data["grad_rms"], dtype=torch.float64)
    for eps_index, lr_index in ((data["default"]["eps"], data["default"]["lr"]), (0, 0), (len(eps_values) - 1, len(rates) - 1), (5, 3), (13, 8)):
        _move_sliders(driver, root, {"eps (TensorFlow's)": eps_index, "learning rate": lr_index})
        shown = _property(driver, root, "mnv3Curves")
        eps, lr = eps_values[eps_index], rates[lr_index]
        assert (shown["eps"], shown["lr"]) == (eps, lr)
        expected = {
            "tf": steady_state_steps(RMSpropTF, grads, lr=lr, eps=eps),
            "literal": steady_state_steps(torch.optim.RMSprop, grads, lr=lr, eps=eps),
            "ported": steady_state_steps(torch.optim.RMSprop, grads, lr=lr, eps=tf_eps_to_torch(eps)),
        }
        for curve, steps in expected.items():
            torch.testing.assert_close(torch.tensor(shown[curve], dtype=torch.float64), steps, rtol=1e-12, atol=0, msg=f"{curve} at eps {eps}, lr {lr}")
    assert "×1.41" in root.text or "×1.4" in root.text  # the largest TF / ported gap is √2 at g = √eps
    _check_page_hygiene(driver)


def test_int8_grid_readouts_equal_pythons(site: tuple[str, object]) -> None:
    """Each observer's grid in the page is PyTorch's, and the page's SQNR and share clipped, at the
    observer's grid and with the sliders moved, are grid_error's on the same values."""
    driver, root = _load(site, "int8grid")
    activations = _activations()
    explorer = int8_grid_explorer(activations, sample_size=5000, title="hard-swish")
    sample = torch.tensor(explorer.data["values"], dtype=torch.float32)
    assert len(sample) == 5000 and explorer.data["total"] == 12000
    for index, observer in enumerate(("histogram", "minmax", "moving_average")):
        choose(root, "observer", index)
        grid = observe_grid(activations, observer)
        shown = _property(driver, root, "mnv3Readout")
        assert (shown["observer"], shown["scale"], shown["zero_point"]) == (observer, grid.scale, grid.zero_point)
        expected = grid_error(sample, grid)
        assert shown["sqnr_db"] == pytest.approx(expected.sqnr_db, rel=1e-12)
        assert shown["clipped_share"] == expected.clipped_share
        assert f"SQNR {expected.sqnr_db:.2f} dB" in root.text
        for step, zero_point in ((-16, grid.zero_point), (20, 60), (-48, 0)):
            _move_sliders(driver, root, {"scale": step, "zero point": zero_point})
            moved = Int8Grid(grid.scale * 2 ** (step / 16), zero_point, grid.quant_min, grid.quant_max)
            shown = _property(driver, root, "mnv3Readout")
            expected = grid_error(sample, moved)
            assert shown["sqnr_db"] == pytest.approx(expected.sqnr_db, rel=1e-12) and shown["clipped_share"] == expected.clipped_share
    _check_page_hygiene(driver)


def test_browser_rounding_is_pytorchs(site: tuple[str, object]) -> None:
    """The page's fake quantization rounds like torch.fake_quantize_per_tensor_affine, halves included."""
    _, driver = site
    driver.get("about:blank")
    generator = torch.Generator().manual_seed(5)
    cases = []
    for case in range(60):
        scale = float(2.0 ** -int(torch.randint(1, 6, (1,), generator=generator))) if case % 3 == 0 else float(torch.rand(1, generator=generator)) * 0.2 + 1e-3
        zero_point = int(torch.randint(0, 128, (1,), generator=generator))
        values = (torch.randn(500, generator=generator) * 4).float()
        if case % 3 == 0:  # exact halves between two levels
            values[:100] = (torch.randint(-200, 200, (100,), generator=generator) + 0.5) * scale
        cases.append((values, Int8Grid(scale, zero_point, 0, 127 if case % 2 else 255)))
    payload = [[v.tolist(), g.scale, g.zero_point, g.quant_min, g.quant_max] for v, g in cases]
    found = driver.execute_script(
        front_end_source() + "\nreturn JSON.parse(arguments[0]).map(([v, s, z, lo, hi]) => MNV3Explorers.gridError(Float32Array.from(v), s, z, lo, hi));",
        json.dumps(payload),
    )
    for (values, grid), browser in zip(cases, found):
        expected = grid_error(values, grid)
        assert browser["sqnr_db"] == pytest.approx(expected.sqnr_db, rel=1e-12) and browser["clipped_share"] == expected.clipped_share, grid


def test_default_boxes_and_matches_are_the_models(site: tuple[str, object]) -> None:
    """The boxes drawn for a cell are DefaultBoxGenerator's for that cell, and the matches shown for a
    ground-truth box are SSDMatcher's; unticking a shape removes its boxes from both."""
    driver, root = _load(site, "defaultboxes")
    model, image, target = _ssd_scene()
    levels = default_boxes(model)
    starts = [0]
    for level in levels:
        starts.append(starts[-1] + level["boxes"][..., 0].numel())
    matches = match_default_boxes(model, target["boxes"], tuple(image.shape[1:])).matches
    data = default_box_explorer(model, image, target, classes=CLASSES).data

    def drawn(name: str) -> list[int]:
        return [int(i) for i in root.get_attribute(name).split(",") if i]

    largest = data["default_truth"]
    assert largest == 2 and drawn("data-matched-boxes") == torch.nonzero(matches == largest).flatten().tolist()
    for level in (0, 2, 5):
        choose(root, "feature map", level)
        rows, cols = levels[level]["grid"]
        for cell in {0, rows * cols // 2, rows * cols - 1}:
            _move_sliders(driver, root, {"cell": cell})
            expected = [starts[level] + cell * 6 + k for k in range(6)]
            assert drawn("data-drawn-boxes") == expected
            shown = torch.tensor(data["levels"][level]["boxes"], dtype=torch.float64).reshape(-1, 6, 4)[cell]
            torch.testing.assert_close(shown, levels[level]["boxes"].reshape(-1, 6, 4)[cell].double(), atol=0.005, rtol=0)
    for j in range(len(target["boxes"])):
        choose(root, "matches of", j + 1)
        assert drawn("data-matched-boxes") == torch.nonzero(matches == j).flatten().tolist()
    control(root, SSD_SHAPES[0]).click()  # no more squares of scale s_k
    assert all((i - starts[5]) % 6 != 0 for i in drawn("data-drawn-boxes"))
    assert drawn("data-matched-boxes") == [i for i in torch.nonzero(matches == j).flatten().tolist() if (i - max(s for s in starts if s <= i)) % 6 != 0]
    _check_page_hygiene(driver)
