"""The book's classification data: procedurally drawn shapes, deterministic by seed.

Each image shows one large *target* shape (its class) on a textured background, with smaller
distractor shapes of random classes, random colours, rotations, scales, positions and pixel noise.
The label is the largest shape. Distractors, low contrast and look-alike classes (circle / ring /
crescent, pentagon / hexagon) keep the task from being trivially separable, so augmentation, label
smoothing and the optimizer's epsilon make measurable differences. Chapter 2 trains on it.

Image ``i`` of a split is a pure function of ``(seed, split, i)``: the same on every machine, in any order.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from ..checks import check_choice, check_positive

__all__ = ["SHAPE_CLASSES", "ShapesDataset", "render_background", "render_shape_mask", "render_soft_mask"]

SHAPE_CLASSES = (
    "circle", "square", "triangle", "pentagon", "hexagon", "star", "cross", "ring", "crescent", "heart",
)  # fmt: skip
SPLIT_OFFSETS = {"train": 0, "val": 1_000_003, "test": 2_000_003}
SUPERSAMPLE = 2  # shapes are drawn at twice the resolution and averaged down (anti-aliasing)


def _polygon(x: torch.Tensor, y: torch.Tensor, sides: int) -> torch.Tensor:
    """Inside a regular polygon of circumradius 1 (vertex up)."""
    angle = torch.atan2(x, y) % (2 * math.pi / sides) - math.pi / sides
    radius = torch.sqrt(x * x + y * y)
    return radius * torch.cos(angle) <= math.cos(math.pi / sides)


def _star(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    angle = torch.atan2(x, y) % (2 * math.pi / 5) - math.pi / 5  # in [-π/5, π/5)
    edge = 0.45 + 0.55 * (abs(angle) / (math.pi / 5))  # radius: 0.45 between points, 1 at a point
    return torch.sqrt(x * x + y * y) <= edge


def _heart(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x, y = x * 1.25, y * 1.25 + 0.2
    return (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0


SHAPES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "circle": lambda x, y: x * x + y * y <= 1,
    "square": lambda x, y: (x.abs() <= 0.75) & (y.abs() <= 0.75),
    "triangle": lambda x, y: _polygon(x, y, 3),
    "pentagon": lambda x, y: _polygon(x, y, 5),
    "hexagon": lambda x, y: _polygon(x, y, 6),
    "star": _star,
    "cross": lambda x, y: ((x.abs() <= 0.3) & (y.abs() <= 0.95)) | ((y.abs() <= 0.3) & (x.abs() <= 0.95)),
    "ring": lambda x, y: (x * x + y * y <= 1) & (x * x + y * y >= 0.5**2),
    "crescent": lambda x, y: (x * x + y * y <= 1) & ((x - 0.45) ** 2 + (y - 0.2) ** 2 >= 0.8**2),
    "heart": _heart,
}


def render_soft_mask(
    inside: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], size: int, window: tuple[int, int, int, int] | None = None
) -> torch.Tensor:
    """Anti-aliased mask in [0, 1] of the region where ``inside(x, y)`` holds. Shape ``(size, size)``.

    Args:
        inside: Maps pixel coordinates ``x``, ``y`` (tensors) to a bool tensor.
        size: Image side in pixels.
        window: ``(x0, y0, x1, y1)`` pixel bounds outside which the mask is known to be 0; only the
            window is evaluated (the result is the same, faster).
    """
    x0, y0, x1, y1 = window or (0, 0, size, size)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
    mask = torch.zeros(size, size)
    if x1 <= x0 or y1 <= y0:
        return mask
    xs = (torch.arange(x0 * SUPERSAMPLE, x1 * SUPERSAMPLE, dtype=torch.float32) + 0.5) / SUPERSAMPLE
    ys = (torch.arange(y0 * SUPERSAMPLE, y1 * SUPERSAMPLE, dtype=torch.float32) + 0.5) / SUPERSAMPLE
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    mask[y0:y1, x0:x1] = F.avg_pool2d(inside(xx, yy).float()[None, None], SUPERSAMPLE)[0, 0]
    return mask


def render_shape_mask(
    name: str, size: int, center: tuple[float, float], radius: float, angle: float, *, local: bool = False
) -> torch.Tensor:
    """Soft mask in [0, 1] of shape ``name``, anti-aliased. Shape ``(size, size)``.

    Args:
        name: One of :data:`SHAPE_CLASSES`.
        size: Image side in pixels.
        center: ``(x, y)`` in pixels.
        radius: Half the shape's extent in pixels.
        angle: Rotation in radians.
        local: Evaluate only the square around the shape (same result, much faster for small shapes).
    """
    check_choice(name, "shape", SHAPE_CLASSES)
    cos, sin = math.cos(angle), math.sin(angle)

    def inside(xx: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
        dx, dy = (xx - center[0]) / radius, (yy - center[1]) / radius
        x, y = cos * dx + sin * dy, -sin * dx + cos * dy  # rotate into the shape's frame
        return SHAPES[name](x, -y)  # -y: image rows grow downwards

    reach = 1.2 * radius + 1  # every shape fits in a circle of 1.1 radii
    window = (math.floor(center[0] - reach), math.floor(center[1] - reach), math.ceil(center[0] + reach), math.ceil(center[1] + reach))
    return render_soft_mask(inside, size, window if local else None)


def render_background(size: int, generator: torch.Generator) -> torch.Tensor:
    """A random background, drawn from ``generator``: a smooth colour gradient plus low-frequency
    texture, values in [0, 1]. Shape ``(3, size, size)``. The shapes and the mini-COCO scenes are drawn on it."""
    corners = torch.rand(3, 2, 2, generator=generator)
    gradient = F.interpolate(corners[None], size=(size, size), mode="bilinear", align_corners=True)[0]
    texture = F.interpolate(torch.rand(3, 6, 6, generator=generator)[None], size=(size, size), mode="bicubic", align_corners=False)[0]
    return (0.6 * gradient + 0.4 * texture).clamp(0, 1)


def _random_color(generator: torch.Generator) -> torch.Tensor:
    return torch.rand(3, 1, 1, generator=generator)


def _draw_image(index_seed: int, size: int, num_distractors: tuple[int, int]) -> tuple[torch.Tensor, int]:
    generator = torch.Generator().manual_seed(index_seed)
    label = int(torch.randint(len(SHAPE_CLASSES), (1,), generator=generator))
    image = render_background(size, generator)

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand(1, generator=generator))

    low, high = num_distractors
    count = int(torch.randint(low, high + 1, (1,), generator=generator))
    target_radius = uniform(0.24, 0.42) * size
    distractors = [(int(torch.randint(len(SHAPE_CLASSES), (1,), generator=generator)), uniform(0.07, 0.16) * size) for _ in range(count)]
    # distractors first, then the target on top, sometimes partly covered by one more distractor
    order = [*distractors[: count - 1], (label, target_radius), *distractors[count - 1 :]] if count else [(label, target_radius)]
    for shape, radius in order:
        margin = radius * 0.6
        center = (uniform(margin, size - margin), uniform(margin, size - margin))
        mask = render_shape_mask(SHAPE_CLASSES[shape], size, center, radius, uniform(0, 2 * math.pi))
        color = _random_color(generator)
        image = image * (1 - mask) + color * mask
    noise = torch.randn(3, size, size, generator=generator) * uniform(0.0, 0.08)
    return (image + noise).clamp(0, 1), label


class ShapesDataset(Dataset):
    """Procedural 10-class shape classification, held in memory as uint8 images.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; each split has its own images.
        size: Number of images.
        image_size: Side of the square images in pixels.
        seed: Master seed; every image depends only on ``(seed, split, index)``.
        num_distractors: Inclusive range of distractor shapes per image.
        transform: Applied to the ``(3, H, W)`` uint8 image tensor on access.

    Items are ``(image, label)``; ``classes`` names the labels (ImageFolder style).
    """

    classes = list(SHAPE_CLASSES)

    def __init__(
        self,
        split: str = "train",
        size: int = 8000,
        image_size: int = 64,
        seed: int = 0,
        num_distractors: tuple[int, int] = (1, 4),
        transform: Callable | None = None,
    ) -> None:
        check_choice(split, "split", tuple(SPLIT_OFFSETS))
        check_positive(size, "size", integer=True)
        check_positive(image_size, "image_size", integer=True)
        if not (0 <= num_distractors[0] <= num_distractors[1]):
            raise ValueError(f"expected num_distractors as (low, high) with 0 <= low <= high, got {num_distractors!r}")
        self.split, self.seed, self.image_size, self.transform = split, seed, image_size, transform
        base = seed * 10_000_019 + SPLIT_OFFSETS[split]
        images, labels = [], []
        for index in range(size):
            image, label = _draw_image(base + index, image_size, num_distractors)
            images.append((image * 255).round().to(torch.uint8))
            labels.append(label)
        self.images = torch.stack(images)  # (N, 3, H, W) uint8
        self.targets = labels

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]
