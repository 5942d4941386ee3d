"""The book's long runs are well defined, and their saved results and checkpoint load and agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnv3lib.book_runs import ARTIFACTS, OPTIMIZER_RUNS, RECIPE_ROWS, RUNS, load_book_classifier, load_chapter2_results
from mnv3lib.training import ClassificationConfig


def test_every_row_and_curve_names_a_run() -> None:
    assert {row.run for row in RECIPE_ROWS} | set(OPTIMIZER_RUNS) <= set(RUNS)
    assert [RUNS[name].opt for name in OPTIMIZER_RUNS] == ["rmsprop", "rmsprop", "rmsproptf"]
    assert RUNS["augment"].average_last == 3 and RUNS["augment_regularised"].label_smoothing == 0.1


def test_missing_artifacts_say_which_command_makes_them(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="python -m mnv3lib.train book-chapter2"):
        load_chapter2_results(tmp_path / "nothing.json")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_book_classifier(tmp_path / "nothing.pt")


@pytest.mark.skipif(not (ARTIFACTS / "chapter2_results.json").is_file(), reason="run `python -m mnv3lib.train book-chapter2`")
def test_saved_results_match_the_current_definitions() -> None:
    results = load_chapter2_results()
    for name, config in RUNS.items():
        saved = ClassificationConfig.from_dict(results["runs"][name]["config"])
        assert saved == config, f"{name} was saved with another config: re-run the command"
    model, config, classes = load_book_classifier()
    assert config == RUNS[results["checkpoint_run"]] and len(classes) == 10
    assert (ARTIFACTS / "shapes_mobilenet_v3_small.pt").stat().st_size < 10e6
