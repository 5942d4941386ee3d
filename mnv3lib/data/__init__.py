"""Data for the book: procedural datasets (deterministic by seed) and torchvision.transforms.v2 presets."""

from .shapes import SHAPE_CLASSES, ShapesDataset, render_shape_mask

__all__ = ["SHAPE_CLASSES", "ShapesDataset", "render_shape_mask"]
