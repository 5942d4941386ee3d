"""The explorers' Python side: arguments checked before any work, data computed once and encoded
compactly (images as data URIs, float32 numbers exactly, masks run-length coded), pages within budget.
Their drawing is tested in a browser (tests/test_explorers_browser.py)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from mnv3lib.viz.widgets import (
    PAYLOAD_BUDGET_BYTES,
    Explorer,
    _float32_list,
    architecture_explorer,
    architecture_report,
    calibration_explorer,
    detection_explorer,
    image_data_uri,
    run_length_encode,
    segmentation_explorer,
)

CLASSES = ["circle", "square", "triangle", "star", "heart", "person"]


def test_report_totals_and_output_stride() -> None:
    report = architecture_report("mobilenet_v3_small", dilated=True, input_size=256)
    assert report.params == 2_542_856 and report.output_stride == 16 and report.latency is None
    assert "not measured" in report.summary_html()
    timed = architecture_report("mobilenet_v3_small", width_mult=0.5, input_size=96, latency_repeats=2, threads=1)
    assert timed.latency is not None and timed.latency.threads == 1 and "ms" in timed.summary_html()


def test_for_display_marks_missing_cells() -> None:
    from mnv3lib.viz.display import for_display
    from mnv3lib.analysis.introspection import block_table

    table = block_table("mobilenet_v3_small")
    shown = for_display(table)
    assert shown.loc[shown.index[-1], "kernel"] == "–" and shown.loc[0, "kernel"] == 3
    assert table["kernel"].isna().sum() == 2  # the original is untouched


def test_wrap_lines_fits_printed_reprs_to_the_page() -> None:
    from mnv3lib.viz.display import wrap_lines
    from mnv3lib.models import mobilenet_v3_large

    text = repr(mobilenet_v3_large().features[4].block)
    assert max(map(len, text.splitlines())) > 79  # torch's repr scrolls
    wrapped = wrap_lines(text)
    assert max(map(len, wrapped.splitlines())) <= 79
    assert wrapped.split() == text.split()  # nothing lost, only line breaks
    continued = wrapped.splitlines()[4]  # the BatchNorm line continues under its own indent
    assert continued.startswith(" " * 8 + "track_running_stats") and wrap_lines("short") == "short"
    with pytest.raises(ValueError, match="width"):
        wrap_lines(text, width=5)


def test_glue_records_the_printed_text_verbatim_for_the_book(monkeypatch: pytest.MonkeyPatch) -> None:
    from ast import literal_eval

    import mnv3lib.viz.display as shown

    records = []
    monkeypatch.setattr(shown, "display", lambda data, **kwargs: records.append((data, kwargs)))
    assert shown.glue("ratio", np.float64(1.2), ".2f") == "1.20"
    assert shown.glue("delta", 0.15, "+.2f") == "+0.15"
    # myst-nb's {glue:text} role reads the record with literal_eval: it must give back the text, not 1.2
    assert [literal_eval(data[shown.GLUE_PREFIX + "text/plain"]) for data, _ in records] == ["1.20", "+0.15"]
    assert records[0][1]["metadata"]["scrapbook"]["name"] == "ratio"
    with pytest.raises(ValueError, match="identifier"):
        shown.glue("not a name", 1)


def test_architecture_explorer_precomputes_every_configuration() -> None:
    explorer = architecture_explorer(latency_repeats=0, width_mults=(0.5, 1.0))
    data = explorer.data
    assert explorer.kind == "architecture" and len(data["configs"]) == 2 * 2 * 2 * 2
    large = data["configs"]["mobilenet_v3_large|1.00|0|0"]
    assert large["params"] == 5_483_032 and large["output_stride"] == 32 and large["latency_ms"] is None
    small = data["configs"]["mobilenet_v3_small|0.50|1|1"]
    report = architecture_report("mobilenet_v3_small", width_mult=0.5, reduced_tail=True, dilated=True)
    assert (small["params"], small["macs"], small["output_stride"]) == (report.params, report.macs, report.output_stride)
    assert [row[data["columns"].index("out")] for row in small["rows"]] == report.table["out"].tolist()
    assert None in small["rows"][-1]  # not-applicable cells travel as null
    timed = architecture_explorer(input_size=96, latency_repeats=1, archs=["mobilenet_v3_small"], width_mults=[1.0], threads=1)
    measured = {k for k, c in timed.data["configs"].items() if c["latency_ms"] is not None}
    assert measured == {"mobilenet_v3_small|1.00|0|0"}  # the plain configuration of each arch and width
    assert timed.data["configs"]["mobilenet_v3_small|1.00|0|0"]["latency_ms"] > 0 and "1 threads" in timed.data["latency_note"]


def test_calibration_explorer_records_the_sweep_before_display() -> None:
    calls = []

    def run(observer: str, batches: int) -> dict[str, float]:
        calls.append((observer, batches))
        return {"acc1": 50.0 + batches, "agreement": 90.0}

    known = {("histogram", 1): {"acc1": 12.5, "agreement": 80.0}}
    explorer = calibration_explorer(run, ["histogram", "minmax"], [1, 8], known=known)
    assert calls == [("histogram", 8), ("minmax", 1), ("minmax", 8)]  # the known result is not recomputed
    assert explorer.data["results"]["histogram|1"] == {"acc1": 12.5, "agreement": 80.0}
    assert explorer.data["results"]["minmax|8"]["acc1"] == 58.0 and explorer.data["metrics"] == ["acc1", "agreement"]
    assert known == {("histogram", 1): {"acc1": 12.5, "agreement": 80.0}}  # the caller's dict is untouched
    recorded_only = calibration_explorer(run, ["histogram", "minmax"], [1, 8], known=known, compute_missing=False)
    assert len(calls) == 3 and list(recorded_only.data["results"]) == ["histogram|1"]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda run: calibration_explorer(run, [], [1]), ValueError, "at least one observer"),
        (lambda run: calibration_explorer(run, ["minmax"], [0]), ValueError, "batch count > 0"),
        (lambda run: calibration_explorer(run, ["minmax", "minmax"], [1]), ValueError, "distinct"),
        (lambda run: calibration_explorer("run", ["minmax"], [1]), TypeError, "run to be a function"),
        (lambda run: calibration_explorer(run, ["minmax"], [1], known={"minmax": {}}), TypeError, r"\(observer, batches\) pairs"),
        (lambda run: calibration_explorer(run, ["minmax"], [1], known={("minmax", 1): {"acc1": float("nan")}}), ValueError, "finite numbers"),
    ],
)
def test_calibration_explorer_rejects_bad_input_before_any_run(call, error, match) -> None:
    calls = []
    with pytest.raises(error, match=match):
        call(lambda o, b: calls.append((o, b)) or {"acc1": 1.0})
    assert not calls


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"input_size": 0}, ValueError, "input_size > 0"),
        ({"latency_repeats": -1}, ValueError, "latency_repeats"),
        ({"archs": ["mobilenet_v4"]}, ValueError, "unknown architecture"),
        ({"width_mults": [0.5, 0.75]}, ValueError, "include 1.0"),
        ({"width_mults": [0.0, 1.0]}, ValueError, "width_mult"),
    ],
)
def test_architecture_explorer_rejects_bad_input(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        architecture_explorer(**kwargs)


def _prediction(n: int = 5) -> dict[str, torch.Tensor]:
    xy = torch.rand(n, 2) * 40
    return {"boxes": torch.cat([xy, xy + 10], 1), "scores": torch.rand(n), "labels": torch.randint(1, 7, (n,)), "keypoints": torch.rand(n, 9, 3) * 50}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda a: a.update(images=[]), "as many predictions as images"),
        (lambda a: a.update(images=[torch.zeros(64, 64, 3)]), r"channels look last"),
        (lambda a: a.update(targets=[]), "as many targets as images"),
        (lambda a: a.update(predictions=[{"boxes": torch.zeros(2, 5), "labels": torch.ones(2), "scores": torch.ones(2)}]), r"\(N, 4\)"),
        (lambda a: a.update(predictions=[{"boxes": torch.zeros(2, 4), "labels": torch.tensor([0, 1]), "scores": torch.ones(2)}]), r"labels'\] in 1..6"),
        (lambda a: a.update(predictions=[{"boxes": torch.zeros(2, 4), "labels": torch.tensor([1, 1])}]), "scores"),
        (lambda a: a.update(score_threshold=1.5), "score_threshold"),
        (lambda a: a.update(nms_iou=0.0), "nms_iou"),
        (lambda a: a.update(keypoint_label=9), "keypoint_label"),
        (lambda a: a.update(skeleton=[(1, 10)]), "skeleton"),
        (lambda a: a.update(predictions="SSDlite"), "a list of per-image dicts or a mapping"),
        (lambda a: a.update(predictions={}), "at least one model in predictions, got an empty mapping"),
        (lambda a: a.update(predictions=_prediction()), "one dict of tensors .*wrap one image's prediction in a list"),
        (lambda a: a.update(predictions={1: [_prediction()]}), r"\(the keys of predictions\) to be strings, got 1"),
        (lambda a: a.update(predictions={"SSDlite": [_prediction()], " ": [_prediction()]}), "non-empty, got ' '"),
        (lambda a: a.update(predictions={"SSDlite": _prediction()}), r"\['SSDlite'\] to be a list of per-image dicts"),
        (lambda a: a.update(predictions={"SSDlite": []}), r"\['SSDlite'\] to hold one prediction per image, got 0"),
        (
            lambda a: a.update(predictions={"SSDlite": [_prediction()], "Faster R-CNN": [_prediction()] * 2}),
            r"predictions\['Faster R-CNN'\] to hold one prediction per image, got 2 for 1",
        ),
        (
            lambda a: a.update(predictions={"SSDlite": [_prediction()], "Faster R-CNN": [{"boxes": torch.ones(1, 4)}]}),
            r"expected predictions\['Faster R-CNN'\]\[0\] to be a dict with 'boxes' and 'labels'",
        ),
        (
            lambda a: a.update(predictions={"SSDlite": [dict(_prediction(), labels=torch.tensor([1, 2, 3, 4, 7]))]}),
            r"predictions\['SSDlite'\]\[0\]\['labels'\] in 1..6",
        ),
        (lambda a: a.update(predictions={"SSDlite": [_prediction()]}, skeleton=[(1, 10)]), "skeleton"),
    ],
)
def test_detection_explorer_rejects_bad_input(change, match) -> None:
    arguments = {"images": [torch.zeros(3, 64, 64)], "predictions": [_prediction()], "targets": None, "keypoint_label": 6, "skeleton": [(1, 2)]}
    change(arguments)
    with pytest.raises((TypeError, ValueError), match=match):
        detection_explorer(arguments.pop("images"), arguments.pop("predictions"), CLASSES, **arguments)


def test_detection_explorer_carries_every_model_in_order() -> None:
    """One list of predictions keeps the single-detector payload as it was; a mapping of models carries each
    model's candidates, exactly, under its name, in the mapping's order (the menu's)."""
    from mnv3lib.viz.widgets import _detections_payload

    torch.manual_seed(0)
    images = [torch.zeros(3, 64, 64), torch.ones(3, 64, 64)]
    first, second = [_prediction(4) for _ in images], [_prediction(7) for _ in images]
    targets = [{"boxes": p["boxes"][:2], "labels": p["labels"][:2]} for p in first]
    style = {"targets": targets, "keypoint_label": 6, "skeleton": [(1, 2)], "score_threshold": 0.3, "nms_iou": 0.6}
    single = detection_explorer(images, first, CLASSES, **style).data
    keys = ["kind", "classes", "images", "predictions", "targets", "keypoint_label", "skeleton", "score_threshold"]
    assert list(single) == [*keys, "nms_iou", "scale"]
    assert single["predictions"] == [_detections_payload(p, 6, exact=True) for p in first]
    explorer = detection_explorer(images, {"SSDlite": first, "2": second}, CLASSES, **style)
    data = explorer.data
    assert "predictions" not in data and [m["name"] for m in data["models"]] == ["SSDlite", "2"]
    assert data["models"][0]["predictions"] == single["predictions"]
    assert data["models"][1]["predictions"] == [_detections_payload(p, 6, exact=True) for p in second]
    assert all(len(m["predictions"][i]["labels"]) == n for m, n in zip(data["models"], (4, 7)) for i in range(2))
    assert {k: v for k, v in data.items() if k != "models"} == {k: v for k, v in single.items() if k != "predictions"}
    assert '"models":[{"name":"SSDlite"' in explorer._repr_html_()  # a list, in order: JavaScript would move "2" first
    alone = detection_explorer(images, {"SSDlite": tuple(first)}, CLASSES, **style).data  # a one-model menu is allowed
    assert [m["name"] for m in alone["models"]] == ["SSDlite"]
    assert alone["models"][0]["predictions"] == single["predictions"]


def test_detection_explorer_budget_counts_every_model() -> None:
    images, n = [torch.zeros(3, 64, 64)], 12_000
    boxes = torch.rand(n, 4) * 30 + torch.tensor([0, 0, 32, 32])
    heavy = [{"boxes": boxes, "scores": torch.rand(n), "labels": torch.ones(n, dtype=torch.int64)}]
    one = detection_explorer(images, heavy, CLASSES)
    assert PAYLOAD_BUDGET_BYTES / 5 < one.payload_bytes < PAYLOAD_BUDGET_BYTES / 4  # four fit, five do not
    four = detection_explorer(images, {f"model {i}": heavy for i in range(4)}, CLASSES)
    assert four.payload_bytes < PAYLOAD_BUDGET_BYTES
    with pytest.raises(ValueError, match="pass fewer or smaller images, or fewer models"):
        detection_explorer(images, {f"model {i}": heavy for i in range(5)}, CLASSES)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda a: a.update(predictions=[]), "as many predictions as images"),
        (lambda a: a.update(predictions=[torch.zeros(20, 20, dtype=torch.int64)]), "the image's size"),
        (lambda a: a.update(predictions=[torch.zeros(40, 40)]), "integer class ids"),
        (lambda a: a.update(predictions=[torch.full((40, 40), 7)]), r"class ids in 0..2"),
        (lambda a: a.update(instances=[{"masks": torch.zeros(2, 40, 40), "labels": torch.ones(3)}]), "labels"),
        (lambda a: a.update(alpha=-0.1), "alpha"),
    ],
)
def test_segmentation_explorer_rejects_bad_input(change, match) -> None:
    arguments = {"images": [torch.zeros(3, 40, 40)], "predictions": [torch.zeros(40, 40, dtype=torch.int64)], "instances": None}
    change(arguments)
    with pytest.raises((TypeError, ValueError), match=match):
        segmentation_explorer(arguments.pop("images"), arguments.pop("predictions"), ["background", "circle", "person"], **arguments)


def test_numbers_and_masks_travel_exactly() -> None:
    values = torch.rand(50, 4) * 300
    decoded = np.array(json.loads(json.dumps(_float32_list(values))), dtype=np.float64).astype(np.float32)
    assert np.array_equal(decoded, values.numpy())  # Math.fround in the browser gives back these float32s
    mask = torch.zeros(30, 20, dtype=torch.int64)
    mask[3:9, 4:15], mask[20:, :] = 3, 255
    rle = run_length_encode(mask)
    assert sum(rle[1::2]) == mask.numel() and np.array_equal(np.repeat(rle[0::2], rle[1::2]).reshape(30, 20), mask.numpy())
    assert len(rle) < 40 and run_length_encode(torch.zeros(0, 0)) == []
    assert re.match(r"data:image/(png|jpeg);base64,", image_data_uri(torch.rand(3, 8, 8)))


def test_payloads_are_small_for_the_chapters_data() -> None:
    """Chapter 4 shows 12 scenes of 256 px with 50 candidates each, Chapter 5 six 128-px scenes:
    far below the budget that keeps each chapter page under 8 MB."""
    images = [torch.zeros(3, 256, 256) for _ in range(12)]
    for image in images:
        image[:, 50:120, 60:200] = torch.rand(3, 1, 1)
    predictions = [_prediction(50) for _ in images]
    detection = detection_explorer(images, predictions, CLASSES, targets=predictions, keypoint_label=6, skeleton=[(1, 2)])
    assert detection.payload_bytes < 400_000, detection
    assert all(p["keypoints"][i] is None for p in detection.data["predictions"] for i, label in enumerate(p["labels"]) if label != 6)
    masks = [torch.randint(0, 7, (1, 1)).expand(128, 128).clone() for _ in range(6)]
    segmentation = segmentation_explorer([torch.zeros(3, 128, 128)] * 6, masks, ["background", *CLASSES], targets=masks)
    assert segmentation.payload_bytes < 50_000, segmentation
    assert PAYLOAD_BUDGET_BYTES <= 3_000_000


def test_over_budget_data_is_refused_with_advice() -> None:
    noisy = [torch.rand(3, 512, 512) for _ in range(12)]  # noise does not compress
    with pytest.raises(ValueError, match="pass fewer or smaller images"):
        detection_explorer(noisy, [_prediction() for _ in noisy], CLASSES)


def test_the_html_output_is_self_contained() -> None:
    explorer = calibration_explorer(lambda o, b: {"acc1": 1.0}, ["minmax"], [1])
    output = explorer._repr_html_()
    assert output.count("<script>") == 1 and "MNV3Explorers.mount(" in output
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", output) and "import(" not in output
    assert isinstance(explorer, Explorer) and repr(explorer).startswith("Explorer(kind='calibration'")
    evil = calibration_explorer(lambda o, b: {"acc1": 1.0}, ["</script><script>alert(1)</script>"], [1])
    assert evil._repr_html_().count("</script>") == 1  # data cannot close the script


# ---------------------------------------------------------------------------------------------------
# The workbook's explorers: RMSProp's steps, an int8 grid, SSD's default boxes
# ---------------------------------------------------------------------------------------------------


def test_rmsprop_explorer_carries_the_optimizers_steps_for_every_epsilon() -> None:
    from mnv3lib.engine.optim import RMSpropTF, steady_state_steps
    from mnv3lib.viz.widgets import RMSPROP_EPS_VALUES, RMSPROP_LEARNING_RATES, rmsprop_explorer

    explorer = rmsprop_explorer(grad_rms_samples=[1e-4, 0.0, 2e-3])
    data = explorer.data
    assert len(data["curves"]) == len(RMSPROP_EPS_VALUES) == 19 and data["learning_rates"] == list(RMSPROP_LEARNING_RATES)
    assert data["eps_values"][data["default"]["eps"]] == pytest.approx(1e-3) and data["learning_rates"][data["default"]["lr"]] == 0.064
    grads = torch.tensor(data["grad_rms"], dtype=torch.float64)
    assert len(grads) == 57 and grads[0] == pytest.approx(1e-6) and grads[-1] == pytest.approx(10.0)
    for index in (0, 8, 18):
        curves, eps = data["curves"][index], data["eps_values"][index]
        assert curves["tf"] == steady_state_steps(RMSpropTF, grads, lr=1.0, eps=eps).tolist()
        assert curves["ported"] == steady_state_steps(torch.optim.RMSprop, grads, lr=1.0, eps=math.sqrt(eps)).tolist()
        assert curves["ported_eps"] == pytest.approx(math.sqrt(eps))
    assert data["samples"] == [1e-4, 2e-3]  # a zero gradient has no place on a log axis
    assert explorer.payload_bytes < 80_000, explorer


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"eps": 2e-3}, ValueError, "slider's values"),
        ({"lr": -1.0}, ValueError, "lr"),
        ({"grad_range": (1.0, 0.1)}, ValueError, "grad_range"),
        ({"eps_values": [1e-3, 1e-4]}, ValueError, "increasing"),
        ({"grad_rms_samples": [float("nan")]}, ValueError, "grad_rms_samples"),
    ],
)
def test_rmsprop_explorer_rejects_bad_input(kwargs: dict, error: type, match: str) -> None:
    from mnv3lib.viz.widgets import rmsprop_explorer

    with pytest.raises(error, match=match):
        rmsprop_explorer(**kwargs)


def _hardswish_batches() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.nn.functional.hardswish(torch.randn(2, 8, 16, 16, generator=generator) * 3) for _ in range(3)]


def test_int8_grid_explorer_carries_a_sample_and_the_observers_grids() -> None:
    from mnv3lib.analysis.quantization_error import observe_grid
    from mnv3lib.viz.widgets import int8_grid_explorer

    batches = _hardswish_batches()
    explorer = int8_grid_explorer(batches, sample_size=1000, title="block 9 · hard-swish")
    data = explorer.data
    assert [o["name"] for o in data["observers"]] == ["histogram", "minmax", "moving_average"]
    for entry in data["observers"]:
        grid = observe_grid(batches, entry["name"])
        assert (entry["scale"], entry["zero_point"]) == (grid.scale, grid.zero_point)
    assert (data["quant_min"], data["quant_max"]) == (0, 127) and data["total"] == 3 * 2 * 8 * 16 * 16
    sample = torch.tensor(data["values"])
    everything = torch.cat([b.flatten() for b in batches])
    assert len(sample) == 1000 and torch.isin(sample, everything).all()  # values of the activations, exactly
    assert int8_grid_explorer(batches, sample_size=10**6, reduce_range=False).data["quant_max"] == 255
    assert len(int8_grid_explorer(batches, sample_size=10**6).data["values"]) == len(everything)  # all of them
    assert explorer.payload_bytes < 15_000, explorer


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda f, b: f(b[0]), TypeError, "list of tensors"),
        (lambda f, b: f([]), TypeError, "list of tensors"),
        (lambda f, b: f(b, observers=["percentile"]), ValueError, "activation observer"),
        (lambda f, b: f(b, observers=["minmax", "minmax"]), ValueError, "distinct"),
        (lambda f, b: f(b, sample_size=0), ValueError, "sample_size"),
        (lambda f, b: f([b[0].long()]), TypeError, "float tensors"),
    ],
)
def test_int8_grid_explorer_rejects_bad_input(call, error: type, match: str) -> None:
    from mnv3lib.viz.widgets import int8_grid_explorer

    with pytest.raises(error, match=match):
        call(int8_grid_explorer, _hardswish_batches())


@pytest.fixture(scope="module")
def ssdlite() -> object:
    from mnv3lib.models.ssdlite import ssdlite320_mobilenet_v3_large

    torch.manual_seed(0)
    return ssdlite320_mobilenet_v3_large(num_classes=7).eval()


def test_default_box_explorer_carries_every_default_box_and_the_matchers_matches(ssdlite) -> None:
    from mnv3lib.models.ssdlite import match_default_boxes
    from mnv3lib.viz.widgets import default_box_explorer

    image = torch.rand(3, 256, 256)
    target = {"boxes": torch.tensor([[10.0, 20.0, 90.0, 200.0], [120.0, 120.0, 140.0, 150.0]]), "labels": torch.tensor([6, 1])}
    explorer = default_box_explorer(ssdlite, image, target, classes=CLASSES)
    data = explorer.data
    assert [tuple(level["grid"]) for level in data["levels"]] == [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    assert sum(len(level["boxes"]) // 4 for level in data["levels"]) == 3234
    assert data["levels"][0]["labels"] == ["1:1, scale sₖ", "1:1, scale √(sₖ·sₖ₊₁)", "2:1", "1:2", "3:1", "1:3"]
    matches = match_default_boxes(ssdlite, target["boxes"], (256, 256))
    for j, truth in enumerate(data["truth"]):
        assert truth["matched"] == torch.nonzero(matches.matches == j).flatten().tolist() and truth["matched"]
        assert truth["box"] == pytest.approx((target["boxes"][j] * 1.25).tolist())  # 256 px → SSDlite's 320
    assert [t["label"] for t in data["truth"]] == ["person", "circle"] and data["default_truth"] == 0  # the larger box
    assert explorer.payload_bytes - len(data["image"]) < 100_000, explorer  # 3,234 boxes at 0.01 px, and the matches
    assert default_box_explorer(ssdlite, image).data["truth"] == []


def test_default_box_explorer_rejects_bad_input(ssdlite) -> None:
    from mnv3lib.viz.widgets import default_box_explorer

    with pytest.raises(TypeError, match="SSD model"):
        default_box_explorer(torch.nn.Identity(), torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="channels look last"):
        default_box_explorer(ssdlite, torch.rand(32, 32, 3))
    with pytest.raises(ValueError, match="boxes"):
        default_box_explorer(ssdlite, torch.rand(3, 32, 32), {"boxes": torch.zeros(4), "labels": torch.zeros(1)}, classes=CLASSES)
    with pytest.raises(ValueError, match="expected classes"):
        default_box_explorer(ssdlite, torch.rand(3, 32, 32), {"boxes": torch.zeros(1, 4), "labels": torch.ones(1, dtype=torch.int64)})
