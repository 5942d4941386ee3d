"""The workbook's self-checks: each accepts its worked solution's answer (computed here as the solution
computes it), rejects a plausible wrong one with a hint, and no message gives the expected answer away.

Two checks read the book's trained models on their full data (the last conv's activations on Chapter 3's
1,024 calibration images; LR-ASPP on the 200 validation scenes); here they run on fewer images, and the
chapters' strict nbval run proves them on the full data (the solution cell's stored output says "✓ Right").
"""

from __future__ import annotations

import itertools
import re

import pytest
import torch
from torch.utils.data import DataLoader
from torchvision import ops

from mnv3lib.analysis.introspection import block_table, summarize
from mnv3lib.book import exercises
from mnv3lib.book.exercises import EXERCISES, Verdict, check


def _solution_answers() -> dict[str, object]:
    """What each worked solution computes, the way its chapter's solution cell computes it."""
    table = block_table("mobilenet_v3_large")
    bneck = table[table["layer"] == "bneck"]
    share = lambda t: t.loc[t["layer"] == "classifier", "params"].sum() / t["params"].sum()  # noqa: E731
    plain, dilated = table, block_table("mobilenet_v3_large", dilated=True)
    changed = plain.index[plain["MACs"] != dilated["MACs"]].tolist()
    answers: dict[str, object] = {
        "anatomy-1": {"blocks": bneck.index[bneck["params"] == bneck["params"].max()].tolist(), "share": share(table),
                      "share_10_classes": share(block_table("mobilenet_v3_large", num_classes=10))},
        "anatomy-2": {"blocks": _blocks_raised_by_the_10_percent_rule(),
                      "ratio": summarize("mobilenet_v3_large", width_mult=0.35).params / (table["params"].sum() * 0.35**2)},
        "anatomy-4": {"rows": changed, "factor": dilated.loc[16, "MACs"] / plain.loc[16, "MACs"]},
        "training-1": _warm_up_steps(),
        "training-3": _share_below_one_percent(),
        "training-6": _default_over_ported(),
        "detection-3": _continuous_roi_op(),
        "ssdlite-1": _count_default_boxes([[2, 3]] * 6, size=512),
        "ssdlite-2": _count_default_boxes([[2]] * 6),
        "ssdlite-3": _largest_box_matches(),
    }  # fmt: skip
    return answers


def _blocks_raised_by_the_10_percent_rule() -> list[int]:
    """Blocks where a built width (in, expanded, out, SE bottleneck) exceeds the nearest multiple of 8 of its exact value."""
    from mnv3lib.models import mobilenet_v3_config, mobilenet_v3_large

    full, _ = mobilenet_v3_config("mobilenet_v3_large")
    model = mobilenet_v3_large(width_mult=0.35)
    nearest = lambda v: max(8, 8 * round(v / 8 + 1e-9))  # noqa: E731 - none of Large's widths × 0.35 sits on a half
    raised = []
    for i, c in enumerate(full, start=1):
        b = model.features[i]
        widths = [(c.in_channels * 0.35, b.config.in_channels), (c.expanded_channels * 0.35, b.config.expanded_channels),
                  (c.out_channels * 0.35, b.config.out_channels)]  # fmt: skip
        if b.config.use_se:
            widths.append((b.config.expanded_channels / 4, b.block[-2].fc1.out_channels))
        if any(built > nearest(exact) for exact, built in widths):
            raised.append(i)
    return raised


def _warm_up_steps() -> int:
    from mnv3lib.engine.optim import RMSpropTF

    weight = torch.zeros(1, requires_grad=True)  # float32, as a chapter's weights
    optimizer = RMSpropTF([weight], lr=0.1, alpha=0.9, eps=1e-3)
    updates = []
    for _ in range(300):
        before = weight.detach().clone()
        weight.grad = torch.full((1,), 1e-4)
        optimizer.step()
        updates.append((weight.detach() - before).abs().item())
    return sum(u < 0.9 * updates[-1] for u in updates)


def _share_below_one_percent() -> float:
    from mnv3lib.engine.classification import ClassificationConfig, lr_factor

    recipe = ClassificationConfig(epochs=600, lr_step_size=2, lr_gamma=0.973)
    return sum(lr_factor(recipe, e) < 0.01 for e in range(600)) / 600


def _default_over_ported() -> float:
    from mnv3lib.engine.optim import steady_state_steps

    g = torch.tensor([1e-4], dtype=torch.float64)
    return float(steady_state_steps(torch.optim.RMSprop, g, lr=0.004, eps=1e-8) / steady_state_steps(torch.optim.RMSprop, g, lr=0.004, eps=0.0316))


def _continuous_roi_op() -> str:
    feature = torch.arange(16.0).reshape(1, 1, 4, 4)
    outputs = {"roi_pool": [], "roi_align": []}
    for step in range(5):  # 0 to 1 pixel in quarters
        region = torch.tensor([[0, 0.5 + step / 4, 0.5, 2.5 + step / 4, 2.5]])
        outputs["roi_pool"].append(ops.roi_pool(feature, region, output_size=2)[0, 0])
        outputs["roi_align"].append(ops.roi_align(feature, region, output_size=2, sampling_ratio=2, aligned=True)[0, 0])
    stalls = {name: sum(torch.equal(a, b) for a, b in zip(seq, seq[1:])) for name, seq in outputs.items()}
    return min(stalls, key=stalls.get)  # the one that moves at every step


def _count_default_boxes(aspect_ratios: list[list[int]], size: int = 320) -> int:
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.image_list import ImageList

    from mnv3lib.models.ssdlite import ssdlite320_mobilenet_v3_large

    model = ssdlite320_mobilenet_v3_large(num_classes=7).eval()
    generator = DefaultBoxGenerator(aspect_ratios, min_ratio=0.2, max_ratio=0.95)
    with torch.no_grad():
        maps = list(model.backbone(torch.zeros(1, 3, size, size)).values())
    return len(generator(ImageList(torch.zeros(1, 3, size, size), [(size, size)]), maps)[0])


def _largest_box_matches() -> dict[str, object]:
    from mnv3lib.book import book_splits
    from mnv3lib.models.ssdlite import default_boxes, match_default_boxes, ssdlite320_mobilenet_v3_large

    model = ssdlite320_mobilenet_v3_large(num_classes=7).eval()
    image, target = book_splits("scenes", val_size=1)[1][0]
    boxes = target["boxes"]
    largest = int(ops.box_area(boxes).argmax())
    matches = match_default_boxes(model, boxes, tuple(image.shape[1:])).matches
    levels = default_boxes(model)
    level_of = torch.cat([torch.full((lv["boxes"][..., 0].numel(),), k) for k, lv in enumerate(levels)])
    matched = torch.nonzero(matches == largest).flatten()
    return {"matched": len(matched), "maps": sorted(set(level_of[matched].tolist()))}


WRONG = {  # plausible mistakes
    "anatomy-1": lambda a: {**a, "blocks": a["blocks"][:1]},  # missed the tie
    "anatomy-2": lambda a: {**a, "blocks": [1]},  # the minimum of 8 channels, not the 10 % rule
    "anatomy-4": lambda a: {**a, "rows": a["rows"][:-1]},  # forgot the last conv
    "training-1": lambda a: 10,  # the momentum's ramp, not the mean square's
    "training-3": lambda a: 1 - a,  # the share above 1 %
    "training-6": lambda a: 30.0,  # the literal copy's factor, another comparison
    "detection-3": lambda a: "roi_pool",
    "ssdlite-1": lambda a: 3234,  # SSDlite320's count: the grids do not follow the input
    "ssdlite-2": lambda a: a + 539 * 2,  # still counting ratio 3
    "ssdlite-3": lambda a: {"matched": a["matched"] - 1, "maps": a["maps"][:1]},
}


def _leaks(message: str, expected: dict) -> list[str]:
    """Representations of the expected values found in ``message``."""
    found = []
    for value in expected.values():
        if isinstance(value, set):
            items = sorted(value)
            forms = [", ".join(map(str, items)), " and ".join(map(str, items)), str(items), str(set(items))]
            forms += [str(v) for v in items if v >= 10]
        elif isinstance(value, str):
            forms = [value, value.replace("_", " ")]
        elif isinstance(value, int):
            forms = [str(value), f"{value:,}"] if value >= 10 else []
        else:
            forms = [f"{value:.{d}f}" for d in (1, 2, 3)] + [f"{100 * value:.{d}f}" for d in (0, 1, 2)] if value < 1 else [f"{value:.1f}", f"{value:.2f}"] + ([f"{value:.0f}"] if value >= 10 else [])
        found += [form for form in forms if re.search(rf"(?<![\d.]){re.escape(form)}(?![\d])", message)]
    return found


@pytest.fixture(scope="module")
def answers() -> dict[str, object]:
    return _solution_answers()


@pytest.mark.parametrize("exercise", list(WRONG))
def test_the_worked_solution_is_right_and_a_plausible_mistake_is_not(exercise: str, answers: dict) -> None:
    right = check(exercise, answers[exercise])
    assert isinstance(right, Verdict) and right and repr(right).startswith(f"✓ Right ({exercise}): ")
    wrong = check(exercise, WRONG[exercise](answers[exercise]))
    assert not wrong and repr(wrong).startswith(f"✗ Not yet ({exercise}): ") and len(wrong.message) > 30
    expected = exercises._expected(exercise)
    for verdict in (right, wrong):
        assert not _leaks(verdict.message, expected), (verdict, _leaks(verdict.message, expected))


def test_the_expected_answers_are_the_librarys_and_the_papers() -> None:
    """Derived from the library by the checks, and held here against what the chapters and papers state."""
    assert exercises._expected("ssdlite-1")["boxes"] == (32**2 + 16**2 + 8**2 + 4**2 + 2**2 + 1) * 6  # strides 16 … 512 at 512 px
    assert exercises._expected("ssdlite-2")["boxes"] == (20**2 + 10**2 + 5**2 + 3**2 + 2**2 + 1) * 4  # 4 of the 3,234's 6 per cell
    assert exercises._expected("anatomy-4")["factor"] == 4.0  # twice the rows and the columns
    assert exercises._expected("training-3")["share"] == pytest.approx(1 - 338 / 600)  # 0.973 ** 169 < 0.01 from epoch 338


def test_quantization_6_ranks_pytorchs_observers(monkeypatch: pytest.MonkeyPatch) -> None:
    """On fewer calibration images: the check's observers are PyTorch's, ranked as the worked solution ranks them."""
    from mnv3lib.analysis.quantization_error import grid_error, observe_grid, site_activations
    from mnv3lib.book import book_splits, load_book_quantizable_classifier
    from mnv3lib.data.transforms import classification_eval_transform
    from mnv3lib.data import TransformedDataset

    monkeypatch.setitem(exercises.CALIBRATION, "batches", 4)
    monkeypatch.setitem(exercises.CALIBRATION, "batch_size", 16)
    exercises._last_conv_activations.cache_clear()
    exercises._expected.cache_clear()
    try:
        model, config, _ = load_book_quantizable_classifier()
        train, _ = book_splits("shapes", train_size=64, val_size=1)
        transform = classification_eval_transform(config.val_resize_size, config.val_crop_size)
        batches = list(itertools.islice(DataLoader(TransformedDataset(train, transform), batch_size=16), 4))
        activations = site_activations(model, "features.12", batches)
        values = torch.cat([a.flatten() for a in activations])
        errors = {o: grid_error(values, observe_grid(activations, o)) for o in ("histogram", "minmax", "moving_average")}
        answer = {"best": max(errors, key=lambda o: errors[o].sqnr_db), "most_clipped": max(errors, key=lambda o: errors[o].clipped_share)}
        assert check("quantization-6", answer)
        assert check("quantization-6", {**answer, "best": "Moving Average" if answer["best"] != "moving_average" else "minmax"}).right is False
        with pytest.raises(ValueError, match="one of histogram, minmax, moving_average"):
            check("quantization-6", {**answer, "best": "percentile"})
    finally:
        exercises._last_conv_activations.cache_clear()
        exercises._expected.cache_clear()


def test_segmentation_4_reads_the_confusion_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the first 24 validation scenes: the check names the pair the worked solution finds in ConfusionMatrix.matrix."""
    from mnv3lib.book import book_splits, load_book_segmenter
    from mnv3lib.engine.metrics import ConfusionMatrix
    from mnv3lib.engine.segmentation import segmentation_transforms

    monkeypatch.setattr(exercises, "book_splits", lambda data, **_: book_splits(data, train_size=1, val_size=24))
    exercises._expected.cache_clear()
    try:
        model, config = load_book_segmenter("lraspp")
        _, val_set = book_splits("semantic_scenes", train_size=1, val_size=24)
        val_set.transforms = segmentation_transforms(config.image_size, train=False)
        matrix = ConfusionMatrix(len(val_set.classes))
        with torch.no_grad():
            for images, masks in DataLoader(val_set, batch_size=8):
                matrix.update(masks, model(images)["out"].argmax(1))
        counts = matrix.matrix.clone()
        counts[0, :] = counts[:, 0] = 0
        counts.fill_diagonal_(0)
        truth, predicted = divmod(int(counts.argmax()), counts.shape[1])
        answer = (val_set.classes[truth], val_set.classes[predicted])
        assert check("segmentation-4", answer) and check("segmentation-4", {"true": answer[0], "predicted": answer[1]})
        assert not check("segmentation-4", answer[::-1])  # read the matrix the wrong way round
    finally:
        exercises._expected.cache_clear()


@pytest.mark.parametrize(
    ("exercise", "answer", "error", "match"),
    [
        ("anatomy-9", 1, ValueError, "unknown exercise 'anatomy-9'"),
        ("anatomy-1", {"blocks": [14]}, ValueError, "expected the answer to anatomy-1 as"),
        ("anatomy-1", [14, 15], ValueError, "expected the answer to anatomy-1 as"),
        ("anatomy-1", {"blocks": "14", "share": 0.4, "share_10_classes": 0.3}, TypeError, "list of integers"),
        ("training-1", 79.5, TypeError, "steps to be an int"),
        ("training-3", 43.7, ValueError, "a fraction"),
        ("training-6", "317", TypeError, "finite number"),
        ("detection-3", "roi_max", ValueError, "'roi_pool' or 'roi_align'"),
        ("ssdlite-1", True, TypeError, "boxes to be an int"),
    ],
)
def test_malformed_answers_are_refused_with_the_form_expected(exercise: str, answer: object, error: type, match: str) -> None:
    with pytest.raises(error, match=re.escape(match) if "'" in match else match):
        check(exercise, answer)


def test_every_self_checked_exercise_is_tested() -> None:
    tested = set(WRONG) | {"quantization-6", "segmentation-4"}
    assert tested == set(EXERCISES)
    assert all(e.id.split("-")[0] in e.chapter for e in EXERCISES.values())
