"""Self-checks for the book's exercises: ``check("anatomy-1", answer)`` says whether an answer is right,
and why, without giving the answer away.

Every exercise with a definite answer has an id (the chapter's topic and its number in the chapter's
Exercises section, e.g. ``"ssdlite-2"``) and a form of answer, which :data:`EXERCISES` lists and the
exercise's text shows. The expected answer is computed from the library when the check first runs (a
block table, an optimizer's steps, PyTorch's observers, TorchVision's default boxes and matcher, the
book's trained models), never typed in here, and kept for the session. A wrong answer gets a hint per
part; no message ever contains the expected values.

Exercises without a definite answer (timings on your machine, training runs, design questions) are open:
they have no check, and their worked solution discusses them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch.utils.data import DataLoader
from torchvision import ops
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator

from ..analysis.introspection import block_table, count_parameters, summarize
from ..analysis.quantization_error import grid_error, observe_grid, site_activations
from ..data.transforms import classification_eval_transform
from ..engine.classification import ClassificationConfig, lr_factor
from ..data import TransformedDataset
from ..engine.metrics import ConfusionMatrix
from ..engine.optim import RMSpropTF, steady_state_steps
from ..engine.segmentation import segmentation_transforms
from ..models import mobilenet_v3_config, mobilenet_v3_large
from ..models.quantization import ACTIVATION_OBSERVERS
from ..models.ssdlite import default_boxes, match_default_boxes, ssdlite320_mobilenet_v3_large
from .artifacts import load_book_quantizable_classifier, load_book_segmenter
from .runs import book_splits

__all__ = ["Verdict", "Exercise", "EXERCISES", "check"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``right``, and a ``message`` that says why (truthy when right)."""

    exercise: str
    right: bool
    message: str

    def __bool__(self) -> bool:
        return self.right

    def __repr__(self) -> str:
        return f"{'✓ Right' if self.right else '✗ Not yet'} ({self.exercise}): {self.message}"


@dataclass(frozen=True)
class Exercise:
    """A self-checked exercise.

    Attributes:
        id: ``"<topic>-<number>"``, the number in its chapter's Exercises section.
        chapter: The chapter's notebook name.
        form: What ``answer`` looks like, e.g. ``'{"blocks": [...], "share": 0.25}'``.
        solve: Computes the expected answer from the library (a dict of parts).
        judge: ``judge(parts, expected)`` returns one line per wrong part ([] when all are right).
        why: Why the right answer is right (shown with it; it names no expected value).
        shorthand: Turns a shorter form of answer into the full one (e.g. a pair into a dict), if any.
    """

    id: str
    chapter: str
    form: str
    solve: Callable[[], dict[str, Any]]
    judge: Callable[[dict[str, Any], dict[str, Any]], list[str]]
    why: str
    shorthand: Callable[[object], object] | None = None


# ---------------------------------------------------------------------------------------------------
# Reading and judging answers
# ---------------------------------------------------------------------------------------------------


def _parts(exercise: Exercise, answer: object, names: tuple[str, ...]) -> dict[str, Any]:
    """The answer as a dict with exactly ``names`` (a lone value stands for a one-part answer)."""
    if len(names) == 1 and not isinstance(answer, Mapping):
        return {names[0]: answer}
    if not isinstance(answer, Mapping) or set(answer) != set(names):
        got = sorted(answer) if isinstance(answer, Mapping) else type(answer).__name__
        raise ValueError(f"expected the answer to {exercise.id} as {exercise.form}, got {got}")
    return dict(answer)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"expected {what} to be a finite number, got {value!r}")
    return float(value)


def _integers(value: object, what: str) -> set[int]:
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise TypeError(f"expected {what} to be a list of integers, got {value!r}")
    items = list(items)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        raise TypeError(f"expected {what} to be a list of integers, got {value!r}")
    return set(items)


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"expected {what} to be a name (a string), got {value!r}")
    return value.strip().lower().replace(" ", "_").replace("-", "_").rsplit(".", 1)[-1]


def _judge_number(given: float, expected: float, *, rel: float = 0.0, abs_: float = 0.0, what: str, hint: str) -> list[str]:
    if abs(given - expected) <= max(rel * abs(expected), abs_):
        return []
    return [f"{what}: too {'high' if given > expected else 'low'}. {hint}"]


def _judge_set(given: set[int], expected: set[int], *, what: str, hint: str) -> list[str]:
    if given == expected:
        return []
    wrong, missing = len(given - expected), len(expected - given)
    counts = ", ".join(text for n, text in ((wrong, f"{wrong} should not be there"), (missing, f"{missing} missing")) if n)
    return [f"{what}: {len(given & expected)} of yours right, {counts}. {hint}"]


def _judge_name(given: str, expected: str, *, what: str, hint: str) -> list[str]:
    return [] if given == expected else [f"{what}: not that one. {hint}"]


# ---------------------------------------------------------------------------------------------------
# Chapter 1: anatomy
# ---------------------------------------------------------------------------------------------------


def _classifier_share(table: Any) -> float:
    return float(table.loc[table["layer"] == "classifier", "params"].sum() / table["params"].sum())


def _solve_anatomy_1() -> dict[str, Any]:
    table = block_table("mobilenet_v3_large")
    blocks = table[table["layer"] == "bneck"]
    heaviest = set(blocks.index[blocks["params"] == blocks["params"].max()].tolist())
    return {"blocks": heaviest, "share": _classifier_share(table), "share_10_classes": _classifier_share(block_table("mobilenet_v3_large", num_classes=10))}


def _judge_anatomy_1(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return (
        _judge_set(_integers(parts["blocks"], "blocks"), expected["blocks"], what="blocks",
                   hint="Keep the rows of block_table whose layer is 'bneck' and compare their 'params'; mind ties.")
        + _judge_number(_number(parts["share"], "share"), expected["share"], abs_=0.005, what="share",
                        hint="Divide the classifier row's parameters by the whole table's (a fraction, not a percentage).")
        + _judge_number(_number(parts["share_10_classes"], "share_10_classes"), expected["share_10_classes"], abs_=0.005,
                        what="share_10_classes", hint="Rebuild the table with num_classes=10: the total changes too.")
    )  # fmt: skip


WIDTH_035 = 0.35


def _nearest_multiple_of_8(value: float) -> int:
    """The nearest multiple of 8 (halves up), at least 8: what rounding alone gives, without the 10 % rule."""
    return max(8, 8 * math.floor(value / 8 + 0.5))


def _solve_anatomy_2() -> dict[str, Any]:
    full, _ = mobilenet_v3_config("mobilenet_v3_large")
    model = mobilenet_v3_large(width_mult=WIDTH_035)
    raised = set()
    for index, config in enumerate(full, start=1):
        block = model.features[index]
        built = block.config
        pairs = [(config.in_channels * WIDTH_035, built.in_channels), (config.expanded_channels * WIDTH_035, built.expanded_channels),
                 (config.out_channels * WIDTH_035, built.out_channels)]  # fmt: skip
        if built.use_se:  # the SE bottleneck is a quarter of the built expansion, rounded the same way
            pairs.append((built.expanded_channels / 4, block.block[-2].fc1.out_channels))
        if any(channels > _nearest_multiple_of_8(exact) for exact, channels in pairs):
            raised.add(index)
    naive = count_parameters(mobilenet_v3_large()) * WIDTH_035**2
    return {"blocks": raised, "ratio": summarize(model).params / naive}


def _judge_anatomy_2(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return (
        _judge_set(_integers(parts["blocks"], "blocks"), expected["blocks"], what="blocks",
                   hint="Compare every built width (in, expanded, out and the SE bottleneck) with the nearest multiple "
                        "of 8 of its exact value; the 10 % rule is where the built width is larger.")
        + _judge_number(_number(parts["ratio"], "ratio"), expected["ratio"], rel=0.01, what="ratio",
                        hint="Divide summarize(...).params at width 0.35 by the parameters at width 1.0 times 0.35².")
    )  # fmt: skip


def _solve_anatomy_4() -> dict[str, Any]:
    plain, dilated = block_table("mobilenet_v3_large"), block_table("mobilenet_v3_large", dilated=True)
    rows = set(plain.index[plain["MACs"] != dilated["MACs"]].tolist())
    last = max(rows)
    return {"rows": rows, "factor": float(dilated.loc[last, "MACs"] / plain.loc[last, "MACs"])}


def _judge_anatomy_4(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return (
        _judge_set(_integers(parts["rows"], "rows"), expected["rows"], what="rows",
                   hint="Subtract the two tables' MACs column and keep the rows where it is not zero.")
        + _judge_number(_number(parts["factor"], "factor"), expected["factor"], abs_=1e-9, what="factor",
                        hint="Compare the output resolutions of those rows: how many more positions does each filter visit?")
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Chapter 2: training
# ---------------------------------------------------------------------------------------------------

WARM_UP = {"grad": 1e-4, "lr": 0.1, "alpha": 0.9, "eps": 1e-3, "steps": 400}


def _solve_training_1() -> dict[str, Any]:
    weight = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = RMSpropTF([weight], lr=WARM_UP["lr"], alpha=WARM_UP["alpha"], eps=WARM_UP["eps"], momentum=0.0)
    updates = []
    for _ in range(WARM_UP["steps"]):
        before = weight.detach().clone()
        weight.grad = torch.full((1,), WARM_UP["grad"], dtype=torch.float64)
        optimizer.step()
        updates.append(float((weight.detach() - before).abs()))
    return {"steps": sum(update < 0.9 * updates[-1] for update in updates)}


def _judge_training_1(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    steps = parts["steps"]
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"expected steps to be an int, got {steps!r}")
    return _judge_number(steps, expected["steps"], abs_=1, what="steps",
                         hint="Without momentum, count the updates smaller than 90 % of the last one of a long run.")  # fmt: skip


RECIPE = ClassificationConfig(epochs=600, lr_scheduler="steplr", lr_step_size=2, lr_gamma=0.973)


def _solve_training_3() -> dict[str, Any]:
    below = sum(lr_factor(RECIPE, epoch) < 0.01 for epoch in range(RECIPE.epochs))
    return {"share": below / RECIPE.epochs}


def _judge_training_3(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    share = _number(parts["share"], "share")
    if share > 1:
        raise ValueError(f"expected share as a fraction between 0 and 1 (0.25 for 25 %), got {share!r}")
    return _judge_number(share, expected["share"], abs_=0.005, what="share",
                         hint="Count the epochs (0 to 599) whose lr_factor is below 0.01 and divide by 600.")  # fmt: skip


def _solve_training_6() -> dict[str, Any]:
    grad = torch.tensor([1e-4], dtype=torch.float64)
    default = steady_state_steps(torch.optim.RMSprop, grad, lr=1.0, eps=1e-8)
    ported = steady_state_steps(torch.optim.RMSprop, grad, lr=1.0, eps=0.0316)
    return {"ratio": float(default / ported)}


def _judge_training_6(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return _judge_number(_number(parts["ratio"], "ratio"), expected["ratio"], rel=0.01, what="ratio",
                         hint="Take both steps with steady_state_steps at g = 1e-4 and divide the default's by the ported one's.")  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Chapter 3: quantization
# ---------------------------------------------------------------------------------------------------

LAST_CONV = "features.12"  # MobileNetV3-Small's last conv, whose hard-swish output the int8 grid explorer shows
CALIBRATION = {"batches": 32, "batch_size": 32}  # the chapter's calibration batches: the first 1,024 training images


@cache
def _last_conv_activations() -> tuple[torch.Tensor, ...]:
    model, config, _ = load_book_quantizable_classifier()
    train_set, _ = book_splits("shapes", train_size=CALIBRATION["batches"] * CALIBRATION["batch_size"], val_size=1)
    transform = classification_eval_transform(config.val_resize_size, config.val_crop_size)
    loader = DataLoader(TransformedDataset(train_set, transform), batch_size=CALIBRATION["batch_size"])
    return tuple(site_activations(model, LAST_CONV, itertools.islice(loader, CALIBRATION["batches"])))


def _solve_quantization_6() -> dict[str, Any]:
    activations = list(_last_conv_activations())
    values = torch.cat([a.flatten() for a in activations])
    errors = {name: grid_error(values, observe_grid(activations, name)) for name in ACTIVATION_OBSERVERS}
    return {
        "best": max(errors, key=lambda name: errors[name].sqnr_db),
        "most_clipped": max(errors, key=lambda name: errors[name].clipped_share),
    }


def _judge_quantization_6(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    names = ", ".join(ACTIVATION_OBSERVERS)
    lines = []
    for part, hint in (("best", "Choose each observer in the explorer and read its SQNR."),
                       ("most_clipped", "Read the share clipped of each observer's grid.")):  # fmt: skip
        given = _name(parts[part], part)
        if given not in ACTIVATION_OBSERVERS:
            raise ValueError(f"expected {part} to be one of {names}, got {parts[part]!r}")
        lines += _judge_name(given, expected[part], what=part, hint=hint)
    return lines


# ---------------------------------------------------------------------------------------------------
# Chapter 4: detection
# ---------------------------------------------------------------------------------------------------

ROI_OPS = {"roi_pool": ops.roi_pool, "roi_align": lambda f, r, output_size: ops.roi_align(f, r, output_size, sampling_ratio=2, aligned=True)}


def _solve_detection_3() -> dict[str, Any]:
    feature = torch.arange(64.0).reshape(1, 1, 8, 8)  # a ramp: one more per pixel to the right
    shifts = torch.arange(0, 2.01, 0.25)
    steady = {}
    for name, op in ROI_OPS.items():
        outputs = torch.stack([op(feature, torch.tensor([[0, 0.5 + s, 0.5, 2.5 + s, 2.5]]), output_size=2)[0, 0] for s in shifts])
        changes = (outputs[1:] - outputs[:-1]).abs().amax(dim=(1, 2))
        steady[name] = bool(changes.min() > 0 and changes.max() <= 2 * changes.min())  # moves at every step, no leaps
    (continuous,) = [name for name, moves in steady.items() if moves]
    return {"op": continuous}


def _judge_detection_3(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    given = _name(parts["op"], "op")
    if given not in ROI_OPS:
        raise ValueError(f"expected op to be 'roi_pool' or 'roi_align', got {parts['op']!r}")
    return _judge_name(given, expected["op"], what="op", hint="Plot both outputs against the shift: which one moves at every step?")


# ---------------------------------------------------------------------------------------------------
# Chapter 5: SSDlite
# ---------------------------------------------------------------------------------------------------


@cache
def _ssdlite() -> torch.nn.Module:
    """SSDlite320 at the book's 7 classes; default boxes and matches depend on its geometry, not its weights."""
    return ssdlite320_mobilenet_v3_large(num_classes=7).eval()


def _box_count(levels: list[dict[str, Any]]) -> int:
    return sum(level["boxes"][..., 0].numel() for level in levels)


SSD512 = (512, 512)


def _solve_ssdlite_1() -> dict[str, Any]:
    model = ssdlite320_mobilenet_v3_large(num_classes=7).eval()
    model.transform.fixed_size = SSD512  # every image resized to 512×512: the maps grow with it
    return {"boxes": _box_count(default_boxes(model))}


def _solve_ssdlite_2() -> dict[str, Any]:
    model = ssdlite320_mobilenet_v3_large(num_classes=7).eval()
    model.anchor_generator = DefaultBoxGenerator([[2] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    return {"boxes": _box_count(default_boxes(model))}


def _judge_box_count(hint: str) -> Callable[[dict[str, Any], dict[str, Any]], list[str]]:
    def judge(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
        boxes = parts["boxes"]
        if isinstance(boxes, bool) or not isinstance(boxes, int):
            raise TypeError(f"expected boxes to be an int, got {boxes!r}")
        return _judge_number(boxes, expected["boxes"], abs_=0, what="boxes", hint=hint)

    return judge


def _solve_ssdlite_3() -> dict[str, Any]:
    _, val_scenes = book_splits("scenes", val_size=1)
    image, target = val_scenes[0]
    boxes = target["boxes"]
    largest = int(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).argmax())
    levels = default_boxes(_ssdlite())
    found = match_default_boxes(_ssdlite(), boxes, tuple(image.shape[1:]))
    matched = torch.nonzero(found.matches == largest).flatten()
    starts = torch.tensor(list(itertools.accumulate(level["boxes"][..., 0].numel() for level in levels)))
    return {"matched": len(matched), "maps": set(torch.searchsorted(starts, matched, right=True).tolist())}


def _judge_ssdlite_3(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    matched = parts["matched"]
    if isinstance(matched, bool) or not isinstance(matched, int):
        raise TypeError(f"expected matched to be an int, got {matched!r}")
    return (
        _judge_number(matched, expected["matched"], abs_=0, what="matched",
                      hint="Count the default boxes whose match is the largest box: IoU ≥ 0.5, plus its single best one.")
        + _judge_set(_integers(parts["maps"], "maps"), expected["maps"], what="maps",
                     hint="Find the feature map of each matched box from the number of boxes on the maps before it.")
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Chapter 6: segmentation
# ---------------------------------------------------------------------------------------------------


def _solve_segmentation_4() -> dict[str, Any]:
    model, config = load_book_segmenter("lraspp")
    _, val_set = book_splits("semantic_scenes")
    val_set.transforms = segmentation_transforms(config.image_size, train=False)
    matrix = ConfusionMatrix(len(val_set.classes))
    with torch.inference_mode():
        for images, masks in DataLoader(val_set, batch_size=16):
            matrix.update(masks, model(images)["out"].argmax(1))
    objects = matrix.matrix[1:, 1:].clone()  # rows: ground truth, columns: prediction; the background left out
    objects.fill_diagonal_(0)
    truth, predicted = divmod(int(objects.argmax()), objects.shape[1])
    return {"true": val_set.classes[truth + 1], "predicted": val_set.classes[predicted + 1]}


def _judge_segmentation_4(parts: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return (
        _judge_name(_name(parts["true"], "true"), expected["true"], what="true",
                    hint="Leave the background's row and column out, zero the diagonal, and find the largest count's row.")
        + _judge_name(_name(parts["predicted"], "predicted"), expected["predicted"], what="predicted",
                      hint="The largest off-diagonal count's column is the class it is painted as.")
    )  # fmt: skip


def _pair(answer: object) -> object:
    """``("heart", "square")`` stands for ``{"true": "heart", "predicted": "square"}``."""
    if isinstance(answer, (tuple, list)) and len(answer) == 2:
        return {"true": answer[0], "predicted": answer[1]}
    return answer


# ---------------------------------------------------------------------------------------------------
# The register
# ---------------------------------------------------------------------------------------------------

EXERCISES: dict[str, Exercise] = {
    exercise.id: exercise
    for exercise in (
        Exercise("anatomy-1", "01_anatomy", '{"blocks": [index, ...], "share": 0.xx, "share_10_classes": 0.xx}',
                 _solve_anatomy_1, _judge_anatomy_1,
                 "The last stage's widest blocks, with squeeze-and-excite on 960 expanded channels, hold the most weights; "
                 "the classifier's two Linear layers hold a large share of the network, and most of it is the 1280 → "
                 "num_classes layer, which shrinks with 10 classes."),
        Exercise("anatomy-2", "01_anatomy", '{"blocks": [index, ...], "ratio": x.xx}', _solve_anatomy_2, _judge_anatomy_2,
                 "Rounding to the nearest multiple of 8 would take a small SE bottleneck down by more than 10 %, so the rule "
                 "rounds it up instead. The naive estimate misses that the classifier's output layer keeps all its classes "
                 "(and every width keeps at least 8 channels), so a narrow model keeps more parameters than width_mult² "
                 "predicts."),
        Exercise("anatomy-4", "01_anatomy", '{"rows": [index, ...], "factor": x}', _solve_anatomy_4, _judge_anatomy_4,
                 "Dilation halves the last stage's output stride, so its layers after the strided depthwise conv, and the "
                 "last conv, run on twice the rows and twice the columns: the same filters visit four times as many positions."),
        Exercise("training-1", "02_training", "steps (an int)", _solve_training_1, _judge_training_1,
                 "TensorFlow's mean square starts at 1, far above g² = 1e-8, and decays by alpha = 0.9 per step; the updates "
                 "are small until it has fallen near g² + eps, which takes dozens of steps. At g = 1 it starts where it ends."),
        Exercise("training-3", "02_training", "share (a fraction)", _solve_training_3, _judge_training_3,
                 "0.973 every 2 epochs falls below 1 % after about 170 decays, well before the 600th epoch: a large part of "
                 "the recipe fine-tunes at a very small learning rate."),
        Exercise("training-6", "02_training", "ratio (a number)", _solve_training_6, _judge_training_6,
                 "With eps = 1e-8 the step is about the full learning rate for any gradient far above 1e-8 (sign-like); "
                 "with the ported 0.0316 a gradient of 1e-4 gets a step g / (g + eps), hundreds of times smaller."),
        Exercise("quantization-6", "03_quantization", '{"best": observer, "most_clipped": observer}', _solve_quantization_6,
                 _judge_quantization_6,
                 "The largest hard-swish outputs are rare but carry much of the signal's energy (Σx²). A grid that clips them "
                 "makes errors as large as the values themselves, which costs more SQNR than the coarser steps of a grid "
                 "wide enough to keep them."),
        Exercise("detection-3", "04_detection", "op ('roi_pool' or 'roi_align')", _solve_detection_3, _judge_detection_3,
                 "Bilinear sampling at exact positions makes the output move with the box at every step; max pooling over "
                 "a box snapped to whole pixels makes it stall, then jump."),
        Exercise("ssdlite-1", "05_ssdlite", "boxes (an int)", _solve_ssdlite_1, _judge_box_count(
                 "A stride-s map of a 512-pixel input has ceil(512 / s) cells per side, six boxes each; "
                 "confirm with default_boxes on a copy whose transform.fixed_size is (512, 512)."),
                 "The grids follow the input size (the finest map gets 32 × 32 cells), while the boxes' scales "
                 "stay fractions of the input: more positions, the same shapes."),
        Exercise("ssdlite-2", "05_ssdlite", "boxes (an int)", _solve_ssdlite_2, _judge_box_count(
                 "With one aspect ratio per map, a cell has the two squares plus 2:1 and 1:2."),
                 "Dropping ratio 3 removes two boxes (3:1 and 1:3) from every cell of every map."),
        Exercise("ssdlite-3", "05_ssdlite", '{"matched": n, "maps": [map, ...]}', _solve_ssdlite_3, _judge_ssdlite_3,
                 "A box's matches are the default boxes of similar size and position: those of the maps whose scale is "
                 "close to the object's size; far smaller or larger boxes never reach IoU 0.5."),
        Exercise("segmentation-4", "06_segmentation", '("true class", "predicted class")', _solve_segmentation_4,
                 _judge_segmentation_4,
                 "Two shapes with similar outlines at 128 pixels are easy to mix up, and a mix-up paints a whole object in "
                 "the wrong class, so one pair of classes holds most of the confusion between objects.", _pair),
    )  # fmt: skip
}


@cache
def _expected(exercise_id: str) -> dict[str, Any]:
    return EXERCISES[exercise_id].solve()


def check(exercise: str, answer: object) -> Verdict:
    """Check an answer to a self-checked exercise (see :data:`EXERCISES` for the ids and the forms of answer).

    Args:
        exercise: The exercise's id, e.g. ``"anatomy-1"``.
        answer: The answer, in the form the exercise asks for (a dict for several parts).

    Returns:
        A :class:`Verdict`, shown as "✓ Right" or "✗ Not yet" with why; it is truthy when right.

    Raises:
        ValueError: For an unknown exercise, or an answer without the parts the exercise asks for.
        TypeError: For a part of the wrong type.
    """
    if exercise not in EXERCISES:
        raise ValueError(f"unknown exercise {exercise!r}: the self-checked ones are {', '.join(EXERCISES)}")
    spec = EXERCISES[exercise]
    expected = _expected(exercise)
    answer = spec.shorthand(answer) if spec.shorthand else answer
    wrong = spec.judge(_parts(spec, answer, tuple(expected)), expected)
    if wrong:
        return Verdict(exercise, False, " ".join(wrong))
    return Verdict(exercise, True, spec.why)
