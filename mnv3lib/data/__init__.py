"""Data for the book: procedural datasets (deterministic by seed: shapes to classify, mini-COCO scenes) and torchvision.transforms.v2 presets."""

from .minicoco import MINICOCO_CLASSES, PERSON_KEYPOINTS, PERSON_SKELETON, MiniCocoScenes, coco_dict, export_coco, person_keypoints_dict, semantic_mask, SemanticScenes
from .shapes import SHAPE_CLASSES, ShapesDataset, render_shape_mask

__all__ = [
    "SHAPE_CLASSES", "ShapesDataset", "render_shape_mask",
    "MINICOCO_CLASSES", "PERSON_KEYPOINTS", "PERSON_SKELETON", "MiniCocoScenes", "coco_dict", "export_coco", "person_keypoints_dict", "semantic_mask", "SemanticScenes",
]  # fmt: skip
