"""Data: procedural datasets (deterministic by seed: shapes to classify, mini-COCO scenes), COCO and
image folders, their train/validation splits, the ``transforms.v2`` pipelines of every task,
:class:`TransformedDataset` to see a dataset through one, and the real photographs that ship with
scikit-image (:mod:`.photos`)."""

from .minicoco import MINICOCO_CLASSES, PERSON_ID, PERSON_KEYPOINTS, PERSON_SKELETON, MiniCocoScenes, coco_dict, export_coco, person_keypoints_dict, semantic_mask, SemanticScenes
from .photos import PHOTOGRAPHS, load_photograph, load_photographs, photograph_credits
from .shapes import SHAPE_CLASSES, ShapesDataset, render_shape_mask
from .splits import SHAPES_CROP_SIZES, minicoco_splits, shapes_splits, train_val_splits
from .transforms import TransformedDataset, classification_eval_transform, classification_train_transform, detection_collate, detection_transforms, segmentation_transforms

__all__ = [
    "SHAPE_CLASSES", "ShapesDataset", "render_shape_mask",
    "MINICOCO_CLASSES", "PERSON_ID", "PERSON_KEYPOINTS", "PERSON_SKELETON", "MiniCocoScenes", "coco_dict", "export_coco", "person_keypoints_dict", "semantic_mask", "SemanticScenes",
    "PHOTOGRAPHS", "load_photograph", "load_photographs", "photograph_credits",
    "SHAPES_CROP_SIZES", "minicoco_splits", "shapes_splits", "train_val_splits",
    "TransformedDataset", "classification_eval_transform", "classification_train_transform", "detection_collate", "detection_transforms", "segmentation_transforms",
]  # fmt: skip
