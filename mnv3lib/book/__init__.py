"""The book's own material, apart from the reusable library: its training runs (:mod:`.runs`), their
saved results and checkpoints (:mod:`.artifacts`), the articles' published figures (:mod:`.published`)
and the model zoo (:mod:`.zoo`). Nothing outside this package imports it.

``python -m mnv3lib.book classification`` (``detection``, ``segmentation``) re-creates the saved results,
``python -m mnv3lib.book latency`` the timing record.
"""

from .artifacts import (
    load_book_classifier,
    load_book_detector,
    load_book_quantizable_classifier,
    load_book_segmenter,
    load_classification_results,
    load_detection_results,
    load_segmentation_results,
)
from .runs import (
    BOOK_DATA,
    BOOK_DETECTORS,
    BOOK_SCENES,
    BOOK_SEGMENTATION_SCENES,
    BOOK_SEGMENTERS,
    LOW_RES_SEGMENTATION_SIZE,
    EPS_STUDY_SEEDS,
    OPTIMIZER_RUNS,
    QAT_SCHEDULE,
    RECIPE_ROWS,
    book_splits,
    eps_study_summary,
)

__all__ = [
    "BOOK_DATA",
    "BOOK_DETECTORS",
    "BOOK_SCENES",
    "BOOK_SEGMENTATION_SCENES",
    "BOOK_SEGMENTERS",
    "LOW_RES_SEGMENTATION_SIZE",
    "EPS_STUDY_SEEDS",
    "OPTIMIZER_RUNS",
    "QAT_SCHEDULE",
    "RECIPE_ROWS",
    "book_splits",
    "eps_study_summary",
    "load_book_classifier",
    "load_book_detector",
    "load_book_quantizable_classifier",
    "load_book_segmenter",
    "load_classification_results",
    "load_detection_results",
    "load_segmentation_results",
]
