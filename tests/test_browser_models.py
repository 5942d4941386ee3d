"""The in-browser explorers' Python side: the exported files compute what PyTorch computes (run by
ONNX Runtime in Python), the int8 file is QDQ with the same outputs, the page's preprocessing numbers
are the book's transform, the runtime version is pinned once, and bad input is named.

The same files in headless Chromium: ``tests/test_browser_models_in_browser.py`` (make test-browser).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from mnv3lib.data.transforms import classification_eval_transform
from mnv3lib.models import mobilenet_v3_small
from mnv3lib.models.segmentation import lraspp_mobilenet_v3_large
from mnv3lib.viz.browser_explorers import (
    CDN_RUNTIME_URL,
    ONNXRUNTIME_WEB_VERSION,
    RUNTIME_FILES,
    install_runtime,
    quantized_drawing_explorer,
    scene_painting_explorer,
    shape_drawing_explorer,
)
from mnv3lib.viz.browser_models import (
    BrowserModel,
    ExplainedMobileNetV3,
    Preprocessing,
    export_browser_classifier,
    export_browser_segmenter,
    layer_summary,
    most_varied_channels,
    quantize_browser_model,
    run_browser_model,
)

ROOT = Path(__file__).resolve().parent.parent
CLASSES = [f"class {i}" for i in range(5)]
SHAPES = Preprocessing("classification", 64, 56)


def _classifier() -> torch.nn.Module:
    """A random MobileNetV3-Small whose weights are float16 numbers, as the book's checkpoints store them."""
    torch.manual_seed(0)
    model = mobilenet_v3_small(num_classes=len(CLASSES)).eval()
    for module in model.modules():  # BatchNorm statistics other than 0 and 1, so that folding them matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.half().float()


def _images(count: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (count, 3, 64, 64), dtype=torch.uint8, generator=generator)
    return torch.cat([SHAPES(image) for image in pixels])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, BrowserModel, BrowserModel]:
    folder = tmp_path_factory.mktemp("browser-models")
    model = _classifier()
    float_file = export_browser_classifier(model, folder / "small.onnx", classes=CLASSES, preprocessing=SHAPES, example_images=_images(8))
    int8_file = quantize_browser_model(float_file, folder / "small_int8.onnx", _images(8, seed=1))
    return model, float_file, int8_file


def test_the_explained_model_is_the_model() -> None:
    model = _classifier()
    explained = ExplainedMobileNetV3(model, most_varied_channels(model, _images(4), 3)).eval()
    images = _images(2, seed=3)
    with torch.no_grad():
        outputs = explained(images)
        assert torch.equal(outputs[0], model(images))
    se_blocks = [i for i, layer in enumerate(layer_summary(model)) if layer["se"]]
    assert len(outputs) == 1 + len(model.features) + len(se_blocks)
    gates = outputs[1 + len(model.features) :]
    assert all(0 <= float(g.min()) and float(g.max()) <= 1 for g in gates)  # hard-sigmoid gates
    assert outputs[1].shape == (2, 3, 28, 28)  # the stem's map, 3 channels


def test_layer_summary_reads_like_table_2() -> None:
    layers = layer_summary(mobilenet_v3_small())
    assert [layer["kind"] for layer in layers] == ["stem", *["block"] * 11, "last"]
    assert [layer["activation"] for layer in layers[1:12]] == ["relu"] * 3 + ["hardswish"] * 8
    assert [layer["se"] for layer in layers[1:12]] == [True, False, False] + [True] * 8
    assert [layer["stride"] for layer in layers] == [2, 4, 8, 8, 16, 16, 16, 16, 16, 32, 32, 32, 32]


def test_the_float_file_computes_what_pytorch_computes(exported) -> None:
    model, float_file, _ = exported
    explained = ExplainedMobileNetV3(model, [m["channels"] for m in float_file.manifest["outputs"]["maps"]]).eval()
    for image in _images(3, seed=2):
        with torch.no_grad():
            reference = explained(image[None])
        outputs = run_browser_model(float_file, image[None])
        assert list(outputs) == float_file.output_names
        for name, value in zip(float_file.output_names, reference):
            np.testing.assert_allclose(outputs[name], value.numpy(), rtol=0, atol=1e-4, err_msg=name)
        assert outputs["logits"].argmax() == int(reference[0].argmax())


def test_the_float_file_stores_float16_weights(exported) -> None:
    """Every weight of a float16 checkpoint is stored as float16 (half the download), cast back on load."""
    import onnx

    graph = onnx.load(exported[1].path).graph
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    large = [t for t in graph.initializer if t.data_type in floats and np.prod(t.dims) > 1]
    assert large and all(t.data_type == onnx.TensorProto.FLOAT16 for t in large)
    assert sum(node.op_type == "Cast" for node in graph.node) == len(large)
    assert any(node.op_type == "BatchNormalization" for node in graph.node)  # not folded into float32 weights


def test_the_int8_file_is_qdq_with_the_same_outputs(exported) -> None:
    import onnx

    _, float_file, int8_file = exported
    ops = {node.op_type for node in onnx.load(int8_file.path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert int8_file.manifest["precision"] == "int8" and int8_file.manifest["quantization"]["calibration_images"] == 8
    assert int8_file.output_names == float_file.output_names
    image = _images(1, seed=5)
    float_out, int8_out = run_browser_model(float_file, image), run_browser_model(int8_file, image)
    assert {k: v.shape for k, v in int8_out.items()} == {k: v.shape for k, v in float_out.items()}
    assert not np.array_equal(int8_out["logits"], float_out["logits"])  # it is quantized


def test_the_manifest_tells_the_page_what_it_needs(exported) -> None:
    model, float_file, _ = exported
    manifest = json.loads(float_file.path.with_suffix(".json").read_text())
    assert manifest == float_file.manifest == BrowserModel.load(float_file.path).manifest
    assert manifest["bytes"] == float_file.path.stat().st_size
    assert manifest["classes"] == CLASSES and manifest["layers"] == layer_summary(model)
    assert manifest["preprocessing"] == {"task": "classification", "resize_size": 64, "crop_size": 56,
                                         "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}  # fmt: skip
    assert [m["size"] for m in manifest["outputs"]["maps"]][:2] == [[28, 28], [14, 14]]


def test_the_segmenter_file_computes_what_pytorch_computes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = lraspp_mobilenet_v3_large(num_classes=3).eval()
    preprocessing = Preprocessing("segmentation", 64, 64)
    exported = export_browser_segmenter(model, tmp_path / "lraspp.onnx", classes=["background", "a", "b"], preprocessing=preprocessing)
    image = preprocessing(torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        reference = model(image)["out"].numpy()
    logits = run_browser_model(exported, image)["logits"]
    np.testing.assert_allclose(logits, reference, rtol=0, atol=1e-4)
    assert (logits.argmax(1) == reference.argmax(1)).all()


def test_preprocessing_is_the_books_evaluation_transform() -> None:
    pixels = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(SHAPES(pixels)[0], classification_eval_transform(64, 56)(pixels))
    scaled = Preprocessing("segmentation", 64, 64)(pixels)[0]
    assert torch.equal(scaled, pixels.float().mul_(1 / 255))


def test_the_runtime_is_pinned_once() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert package["dependencies"] == {"onnxruntime-web": ONNXRUNTIME_WEB_VERSION}
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == ONNXRUNTIME_WEB_VERSION
    assert ONNXRUNTIME_WEB_VERSION in CDN_RUNTIME_URL


def test_install_runtime_copies_the_files_of_the_pinned_version(tmp_path: Path) -> None:
    package = tmp_path / "node_modules" / "onnxruntime-web"
    (package / "dist").mkdir(parents=True)
    for name in RUNTIME_FILES:
        (package / "dist" / name).write_text(name)
    (package / "package.json").write_text(json.dumps({"version": ONNXRUNTIME_WEB_VERSION}))
    copied = install_runtime(tmp_path / "node_modules", tmp_path / "ort")
    assert sorted(p.name for p in copied) == sorted(RUNTIME_FILES) and (tmp_path / "ort" / RUNTIME_FILES[0]).read_text() == RUNTIME_FILES[0]
    (package / "package.json").write_text(json.dumps({"version": "1.0.0"}))
    with pytest.raises(ValueError, match=f"expected onnxruntime-web {ONNXRUNTIME_WEB_VERSION}.*found 1.0.0"):
        install_runtime(tmp_path / "node_modules", tmp_path / "ort")


def _starts() -> dict[str, torch.Tensor]:
    return {"noise": torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)}


def test_the_explorers_load_nothing_from_elsewhere_by_default() -> None:
    """The output holds the front-end and its data; the runtime's URL comes from the page, never a CDN."""
    model = _classifier()
    explorers = [
        shape_drawing_explorer(model, CLASSES, model_file="a.onnx", starts=_starts(), preprocessing=SHAPES),
        quantized_drawing_explorer(model, CLASSES, float_file="a.onnx", int8_file="b.onnx", starts=_starts(), preprocessing=SHAPES),
        scene_painting_explorer(["background", "a"], model_file="c.onnx", scenes={"s": torch.zeros(3, 32, 32, dtype=torch.uint8)},
                                stamps={"a": torch.ones(8, 8)}, preprocessing=Preprocessing("segmentation", 32, 32)),  # fmt: skip
    ]
    for explorer, kind in zip(explorers, ("draw", "compare", "scene")):
        html = explorer._repr_html_()
        assert explorer.kind == kind and "MNV3BrowserModels.mount" in html and 'class="mnv3-browser-model"' in html
        assert "http://" not in html and "https://" not in html and explorer.data["runtime"]["url"] is None
    assert explorers[1].data["models"] == [{"label": "float32", "file": "a.onnx"}, {"label": "int8", "file": "b.onnx"}]


# (id, call, exception type, message fragment)
BAD_INPUT_ROWS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("preprocessing task", lambda: Preprocessing("detection", 64, 56), ValueError, "task 'classification' or 'segmentation'"),
    ("crop larger than resize", lambda: Preprocessing("classification", 56, 64), ValueError, "crop_size <= resize_size"),
    ("pixels as float", lambda: SHAPES(torch.zeros(3, 64, 64)), TypeError, "uint8 image tensor"),
    ("pixels of another size", lambda: SHAPES(torch.zeros(3, 56, 56, dtype=torch.uint8)), ValueError, r"shape \(3, 64, 64\)"),
    ("export a segmenter as a classifier", lambda: export_browser_classifier(lraspp_mobilenet_v3_large(num_classes=2), "x.onnx", classes=CLASSES,
        preprocessing=SHAPES, example_images=_images(1)), TypeError, "expected a MobileNetV3 classifier"),  # fmt: skip
    ("too few class names", lambda: export_browser_classifier(_classifier(), "x.onnx", classes=CLASSES[:2], preprocessing=SHAPES,
        example_images=_images(1)), ValueError, "expected 5 class names"),  # fmt: skip
    ("example images at the pad's size", lambda: export_browser_classifier(_classifier(), "x.onnx", classes=CLASSES, preprocessing=SHAPES,
        example_images=torch.zeros(1, 3, 64, 64)), ValueError, "56×56"),  # fmt: skip
    ("segmenter with shape preprocessing", lambda: export_browser_segmenter(_classifier(), "x.onnx", classes=CLASSES, preprocessing=SHAPES),
        ValueError, "segmentation preprocessing"),  # fmt: skip
    ("export in training mode", lambda: export_browser_classifier(_classifier().train(), "x.onnx", classes=CLASSES, preprocessing=SHAPES,
        example_images=_images(1)), ValueError, r"in eval mode .*call model.eval\(\) first"),  # fmt: skip
    ("channels out of range", lambda: ExplainedMobileNetV3(_classifier(), [[99]] * 13), ValueError, r"channels\[0\] to be indices in 0..15"),
    ("file in a folder", lambda: shape_drawing_explorer(_classifier(), CLASSES, model_file="models/a.onnx", starts=_starts(),
        preprocessing=SHAPES), ValueError, "name of an exported .onnx file"),  # fmt: skip
    ("start of another size", lambda: shape_drawing_explorer(_classifier(), CLASSES, model_file="a.onnx",
        starts={"small": torch.zeros(3, 56, 56, dtype=torch.uint8)}, preprocessing=SHAPES), ValueError, r"starts\['small'\] to be a \(3, 64, 64\) uint8"),  # fmt: skip
    ("assets URL without a slash", lambda: shape_drawing_explorer(_classifier(), CLASSES, model_file="a.onnx", starts=_starts(),
        preprocessing=SHAPES, assets_url="static"), ValueError, "folder URL ending in '/'"),  # fmt: skip
    ("classes of another model", lambda: quantized_drawing_explorer(_classifier(), CLASSES[:3], float_file="a.onnx", int8_file="b.onnx",
        starts=_starts(), preprocessing=SHAPES), ValueError, "expected 5 class names"),  # fmt: skip
    ("stamp as an image", lambda: scene_painting_explorer(["background", "a"], model_file="c.onnx", scenes={"s": torch.zeros(3, 32, 32, dtype=torch.uint8)},
        stamps={"a": torch.ones(3, 8, 8)}, preprocessing=Preprocessing("segmentation", 32, 32)), ValueError, "square float mask"),  # fmt: skip
    ("runtime missing", lambda: install_runtime("/nonexistent", "/tmp/ort"), FileNotFoundError, "run `npm ci`"),
    ("manifest missing", lambda: BrowserModel.load("/nonexistent/a.onnx"), FileNotFoundError, "its manifest a.json"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), [row[1:] for row in BAD_INPUT_ROWS], ids=[row[0] for row in BAD_INPUT_ROWS])
def test_bad_input_is_named(call, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        call()
