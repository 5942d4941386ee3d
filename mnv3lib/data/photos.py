"""Real photographs that ship inside scikit-image's wheel, as uint8 tensors, with their source and licence.

Every other image in the book is drawn procedurally. These are the few real photographs a reader has
offline as soon as the library is installed: scikit-image puts them in its wheel (``skimage/data/``),
so they are read from there and never downloaded (scikit-image's ``pooch`` fetcher is not involved).
The chapters run TorchVision's pretrained models on them when those weights can be had.

Only photographs whose licence scikit-image states as public domain, CC0 or free of known copyright
restrictions are listed. The credits are scikit-image's docstring notes (``skimage.data.<function>``),
word for word; scikit-image 0.25.2 (Colab's) and 0.26.0 ship the same files with the same notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch
from PIL import Image

from ..checks import check_choice

__all__ = ["Photograph", "PHOTOGRAPHS", "load_photograph", "load_photographs", "photograph_credits"]


@dataclass(frozen=True)
class Photograph:
    """One of scikit-image's shipped photographs.

    Attributes:
        file: The file in ``skimage/data/``.
        function: The ``skimage.data`` function that returns the same pixels (as a NumPy array).
        subject: What the photograph shows, in a few words.
        source: Where scikit-image says it comes from, in its docstring's words.
        licence: Its licence, in the docstring's words.
        grayscale: A one-channel photograph; :func:`load_photograph` repeats it over three channels.
    """

    file: str
    function: str
    subject: str
    source: str
    licence: str
    grayscale: bool = False

    def credit(self) -> str:
        """One line: subject, source and licence, for a figure's caption."""
        return f"{self.subject} ({self.source}): {self.licence}"


PHOTOGRAPHS: dict[str, Photograph] = {
    "astronaut": Photograph(
        "astronaut.png", "astronaut", "the astronaut Eileen Collins",
        "downloaded from the NASA Great Images database, https://flic.kr/p/r9qvLn",
        "No known copyright restrictions, released into the public domain.",
    ),
    "coffee": Photograph(
        "coffee.png", "coffee", "a coffee cup", "courtesy of Pikolo Espresso Bar",
        "No copyright restrictions. CC0 by the photographer (Rachel Michetti).",
    ),
    "chelsea": Photograph(
        "chelsea.png", "chelsea", "Chelsea the cat", "scikit-image's sample data",
        "No copyright restrictions. CC0 by the photographer (Stefan van der Walt).",
    ),
    "rocket": Photograph(
        "rocket.jpg", "rocket", "the launch of DSCOVR on a Falcon 9",
        "SpaceX Photos, https://www.flickr.com/photos/spacexphotos/16511594820/",
        "The image was captured by SpaceX and released in the public domain "
        "(http://arstechnica.com/tech-policy/2015/03/elon-musk-puts-spacex-photos-into-the-public-domain/).",
    ),
    "camera": Photograph(
        "camera.png", "camera", "a photographer at his camera, in gray levels", "scikit-image's sample data",
        "No copyright restrictions. CC0 by the photographer (Lav Varshney).", grayscale=True,
    ),
    "clock": Photograph(
        "clock_motion.png", "clock", "a wall clock, blurred by the camera's motion", "scikit-image's sample data",
        "Released into the public domain by the photographer (Stefan van der Walt).", grayscale=True,
    ),
}  # fmt: skip


def load_photograph(name: str) -> torch.Tensor:
    """One of :data:`PHOTOGRAPHS`, read from scikit-image's installed files.

    Args:
        name: A key of :data:`PHOTOGRAPHS`, e.g. ``"astronaut"``.

    Returns:
        A uint8 tensor ``(3, H, W)``, the layout TorchVision's models and ``weights.transforms()``
        take (gray-level photographs repeated over the three channels).

    Raises:
        ValueError: for an unknown name.
        FileNotFoundError: when the installed scikit-image lacks the file.
    """
    check_choice(name, "photograph", tuple(PHOTOGRAPHS))
    photograph = PHOTOGRAPHS[name]
    path = resources.files("skimage") / "data" / photograph.file
    if not path.is_file():
        raise FileNotFoundError(f"scikit-image does not ship {photograph.file} in {path.parent}: install scikit-image>=0.25.2")
    with path.open("rb") as file, Image.open(file) as image:
        pixels = np.asarray(image.convert("RGB"))  # (H, W, 3); a gray level becomes three equal channels
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()  # (3, H, W)


def load_photographs(names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """Several photographs by name (default: all of :data:`PHOTOGRAPHS`, in its order), as :func:`load_photograph` returns them."""
    if isinstance(names, str):
        raise TypeError(f"expected a sequence of photograph names, got the string {names!r}: use [{names!r}]")
    return {name: load_photograph(name) for name in (PHOTOGRAPHS if names is None else names)}


def photograph_credits(names: Sequence[str] | None = None) -> str:
    """The credit lines of ``names`` (default: all), one per photograph, for the text under a figure."""
    if isinstance(names, str):
        raise TypeError(f"expected a sequence of photograph names, got the string {names!r}: use [{names!r}]")
    chosen = list(PHOTOGRAPHS if names is None else names)
    for name in chosen:
        check_choice(name, "photograph", tuple(PHOTOGRAPHS))
    return "\n".join(f"{name}: {PHOTOGRAPHS[name].credit()}" for name in chosen)
