"""The book's long runs are well defined, and their saved results and checkpoint load and agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnv3lib.book.artifacts import ARTIFACTS, load_book_classifier, load_classification_results
from mnv3lib.book.runs import EPS_STUDY_RUNS, OPTIMIZER_RUNS, RECIPE_ROWS, RUNS
from mnv3lib.engine.classification import ClassificationConfig


def test_every_row_and_curve_names_a_run() -> None:
    assert {row.run for row in RECIPE_ROWS} <= set(RUNS) and set(OPTIMIZER_RUNS) <= set(EPS_STUDY_RUNS)
    assert [EPS_STUDY_RUNS[name].opt for name in OPTIMIZER_RUNS] == ["rmsprop", "rmsprop", "rmsproptf"]


def test_the_eps_study_differs_only_in_optimizer_eps_and_seed() -> None:
    """Like for like: every other setting (schedule, weight decay, data, epochs) is the same."""
    ignored = {"opt", "opt_eps", "seed"}
    settings = [{k: v for k, v in config.to_dict().items() if k not in ignored} for config in EPS_STUDY_RUNS.values()]
    assert all(s == settings[0] for s in settings) and len(EPS_STUDY_RUNS) == 9
    assert len({(c.opt, c.opt_eps, c.seed) for c in EPS_STUDY_RUNS.values()}) == 9


def test_recipe_rows_change_what_the_article_changes() -> None:
    """The article tunes the weight decay together with the augmentation, not with the epsilon."""
    assert RUNS["rmsprop_eps_0.0316"].weight_decay == RUNS["sgd_baseline"].weight_decay == 4e-5
    assert RUNS["augment"].weight_decay == 1e-5
    assert RUNS["augment"].average_last == 3 and RUNS["augment_regularised"].label_smoothing == 0.1


def test_missing_artifacts_say_which_command_makes_them(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="python -m mnv3lib.book classification"):
        load_classification_results(tmp_path / "nothing.json")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_book_classifier(tmp_path / "nothing.pt")


@pytest.mark.skipif(not (ARTIFACTS / "classification_results.json").is_file(), reason="run `python -m mnv3lib.book classification`")
def test_saved_results_match_the_current_definitions() -> None:
    results = load_classification_results()
    for name, config in {**RUNS, **EPS_STUDY_RUNS}.items():
        saved = ClassificationConfig.from_dict(results["runs"][name]["config"])
        assert saved == config, f"{name} was saved with another config: re-run the command"
    model, config, classes = load_book_classifier()
    assert config == RUNS[results["checkpoint_run"]] and len(classes) == 10
    assert (ARTIFACTS / "shapes_mobilenet_v3_small.pt").stat().st_size < 10e6


def test_quantizable_classifier_is_the_book_classifier_and_ptq_experiment_checks_batches() -> None:
    import torch

    from mnv3lib.book.artifacts import load_book_quantizable_classifier
    from mnv3lib.engine.quantization import ptq_experiment, qat_config

    plain, config, _ = load_book_classifier()
    quantizable, same_config, classes = load_book_quantizable_classifier()
    assert same_config == config and len(classes) == 10
    assert {m.momentum for m in quantizable.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {config.bn_momentum}
    images = torch.rand(4, 3, 56, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(quantizable(images), plain(images), rtol=0, atol=0)
    finetune = qat_config(config, 4)
    assert (finetune.opt, finetune.lr, finetune.lr_scheduler, finetune.train_crop_size) == ("sgd", 0.001, "constant", config.train_crop_size)
    batches = [(images, torch.arange(4))]
    metrics = ptq_experiment(quantizable, batches, batches, "moving_average", 1)
    assert set(metrics) == {"acc1", "acc5", "agreement"} and 0 <= metrics["agreement"] <= 100
    with pytest.raises(ValueError, match="expected 1 <= batches <= 1"):
        ptq_experiment(quantizable, batches, batches, "minmax", 2)


def test_book_detector_definition_and_missing_artifacts(tmp_path: Path) -> None:
    from mnv3lib.book.runs import BOOK_DETECTOR
    from mnv3lib.book.artifacts import load_book_detector, load_detection_results
    from mnv3lib.engine.detection import DetectionConfig

    assert DetectionConfig.from_dict(BOOK_DETECTOR.to_dict()) == BOOK_DETECTOR
    assert BOOK_DETECTOR.model == "keypointrcnn_mobilenet_v3_large_fpn" and BOOK_DETECTOR.light_heads
    with pytest.raises(FileNotFoundError, match="python -m mnv3lib.book detection"):
        load_detection_results(tmp_path / "nothing.json")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_book_detector(path=tmp_path / "nothing.pt")
    with pytest.raises(ValueError, match="unknown book detector"):
        load_book_detector("huge")


@pytest.mark.skipif(not (ARTIFACTS / "detection_results.json").is_file(), reason="run `python -m mnv3lib.book detection`")
def test_saved_detectors_match_the_current_definitions() -> None:
    import dataclasses

    from mnv3lib.book.runs import BOOK_BACKBONE, BOOK_DETECTORS
    from mnv3lib.book.artifacts import DETECTOR_FILES, load_book_detector, load_detection_results
    from mnv3lib.engine.detection import DetectionConfig

    results = load_detection_results()
    assert ClassificationConfig.from_dict(results["runs"]["backbone"]["config"]) == BOOK_BACKBONE
    for name, config in BOOK_DETECTORS.items():
        saved = DetectionConfig.from_dict(results["runs"][name]["config"])
        assert dataclasses.replace(saved, backbone_weights=None) == config, f"{name} was saved with another config: re-run the command"
        model, loaded = load_book_detector(name)
        assert loaded == saved and not model.training
        assert (ARTIFACTS / DETECTOR_FILES[name]).stat().st_size < 25e6
    assert (ARTIFACTS / DETECTOR_FILES["ssdlite"]).stat().st_size < 10e6  # the promise for the mobile detector


def test_a_detection_sub_run_keeps_the_other_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m mnv3lib.book detection --runs ssdlite`` trains one run and keeps the others' records."""
    import dataclasses
    import json

    from mnv3lib.book import artifacts, runs
    from mnv3lib.data.splits import minicoco_splits
    from mnv3lib.engine.checkpoint import save_checkpoint
    from mnv3lib.models import mobilenet_v3_large

    save_checkpoint({"model": mobilenet_v3_large(num_classes=10).state_dict()}, tmp_path / "backbone.pt")
    monkeypatch.setattr(runs, "_pretrain_backbone", lambda *a, **k: (tmp_path / "backbone.pt", {"config": {}, "final": {}}))
    monkeypatch.setattr(runs, "book_splits", lambda data: minicoco_splits(8, 4, image_size=64))
    tiny = dataclasses.replace(runs.BOOK_SSDLITE, epochs=1, batch_size=4, warmup_iters=1)
    monkeypatch.setattr(runs, "BOOK_DETECTORS", {"main": runs.BOOK_DETECTOR, "ssdlite": tiny})
    monkeypatch.setattr(runs, "DETECTOR_FILES", {"ssdlite": "ssdlite.pt"})
    out = tmp_path / "out"
    out.mkdir()
    earlier = {"runs": {"main": {"kept": True}, "backbone": {"old": True}}, "machine": {"torch": "earlier"}}
    (out / artifacts.DETECTION_RESULTS).write_text(json.dumps(earlier))
    with pytest.raises(ValueError, match="unknown Chapter 4 runs"):
        runs.run_detection(out, tmp_path / "work", only=["huge"], log=lambda line: None)
    results = runs.run_detection(out, tmp_path / "work", only=["ssdlite"], log=lambda line: None)
    assert list(results["runs"]) == ["main", "ssdlite", "backbone"] and results["runs"]["main"] == {"kept": True}
    assert results["runs"]["ssdlite"]["num_params"] > 3e6 and results["runs"]["ssdlite"]["command"].endswith("detection --runs ssdlite")
    assert results["command"] == "python -m mnv3lib.book detection" and results["machine"] == {"torch": "earlier"}
    assert (out / "ssdlite.pt").is_file() and (tmp_path / "work" / "ssdlite" / "checkpoint.pt").is_file()


@pytest.mark.skipif(not (ARTIFACTS / "segmentation_results.json").is_file(), reason="run `python -m mnv3lib.book segmentation`")
def test_saved_segmenters_match_the_current_definitions() -> None:
    import dataclasses

    from mnv3lib.book.runs import BOOK_SEGMENTERS
    from mnv3lib.book.artifacts import SEGMENTER_FILES, load_book_segmenter, load_segmentation_results
    from mnv3lib.engine.segmentation import SegmentationConfig

    results = load_segmentation_results()
    assert set(results["runs"]) == set(BOOK_SEGMENTERS)
    for name, config in BOOK_SEGMENTERS.items():
        saved = SegmentationConfig.from_dict(results["runs"][name]["config"])
        assert dataclasses.replace(saved, backbone_weights=None) == config, f"{name} was saved with another config: re-run the command"
    for name, file in SEGMENTER_FILES.items():
        model, loaded = load_book_segmenter(name)
        assert loaded.dilated == BOOK_SEGMENTERS[name].dilated and (ARTIFACTS / file).stat().st_size < 25e6
    with pytest.raises(ValueError, match="unknown book segmentation model"):
        load_book_segmenter("deeplabv3")
