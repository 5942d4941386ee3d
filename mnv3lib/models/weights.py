"""TorchVision's published ImageNet weights, loaded through torchvision's own weight enums.

Online, the first call downloads the file into torch.hub's cache (``$TORCH_HOME/hub/checkpoints``);
later calls, online or not, read the cached file. Offline with an empty cache the loader raises
:class:`WeightsUnavailableError`: it never falls back to random weights.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import socket
from collections.abc import Mapping

import torch
from torchvision.models import MobileNet_V3_Large_Weights, MobileNet_V3_Small_Weights, WeightsEnum
from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_320_FPN_Weights, FasterRCNN_MobileNet_V3_Large_FPN_Weights, SSDLite320_MobileNet_V3_Large_Weights
from torchvision.models.segmentation import DeepLabV3_MobileNet_V3_Large_Weights, LRASPP_MobileNet_V3_Large_Weights

__all__ = [
    "WeightsUnavailableError", "resolve_weights", "resolve_weights_and_classes", "fetch_state_dict", "load_torchvision_weights", "cached_weights_path",
    "check_no_weights", "DOWNLOAD_TIMEOUT_S",
]  # fmt: skip

WEIGHT_ENUMS: dict[str, type[WeightsEnum]] = {
    "mobilenet_v3_large": MobileNet_V3_Large_Weights,
    "mobilenet_v3_small": MobileNet_V3_Small_Weights,
    "fasterrcnn_mobilenet_v3_large_fpn": FasterRCNN_MobileNet_V3_Large_FPN_Weights,
    "fasterrcnn_mobilenet_v3_large_320_fpn": FasterRCNN_MobileNet_V3_Large_320_FPN_Weights,
    "ssdlite320_mobilenet_v3_large": SSDLite320_MobileNet_V3_Large_Weights,
    "lraspp_mobilenet_v3_large": LRASPP_MobileNet_V3_Large_Weights,
    "deeplabv3_mobilenet_v3_large": DeepLabV3_MobileNet_V3_Large_Weights,
}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be downloaded (offline?) and are not in torch.hub's cache."""


def resolve_weights(arch: str, weights: object) -> WeightsEnum:
    """Turn ``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"MobileNet_V3_Large_Weights.IMAGENET1K_V1"`` or an
    enum member into the torchvision enum member for ``arch``.

    Raises:
        ValueError: for an unknown weight name.
        TypeError: for a member of another model's enum, or a value of another type.
    """
    enum = WEIGHT_ENUMS[arch]
    if isinstance(weights, enum):
        return weights
    if isinstance(weights, WeightsEnum):
        raise TypeError(f"{weights} are not weights for {arch}: expected a member of {enum.__name__}")
    if not isinstance(weights, str):
        raise TypeError(f"expected weights to be None, a string or a {enum.__name__} member, got {weights!r}")
    name = weights.removeprefix(f"{enum.__name__}.")
    try:
        return enum[name]
    except KeyError:
        options = ", ".join(enum.__members__)  # includes the DEFAULT alias
        raise ValueError(f"unknown weights {weights!r} for {arch}: expected one of {options}") from None


def resolve_weights_and_classes(arch: str, weights: object, num_classes: int | None, default: int, minimum: int = 1) -> tuple[WeightsEnum | None, int]:
    """The enum member for ``weights`` (None if none) and the class count to build: the weights' own when
    given (``num_classes`` must then be None or agree), otherwise ``num_classes``, or ``default``.

    Raises:
        TypeError, ValueError: when ``num_classes`` is not an int >= ``minimum`` (detection and
            segmentation count the background: at least 2), or disagrees with the weights.
    """
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)):
        raise TypeError(f"expected num_classes to be an int >= {minimum}, got {num_classes!r}")
    if num_classes is not None and num_classes < minimum:
        background = " (the background and at least one class)" if minimum == 2 else ""
        raise ValueError(f"expected num_classes >= {minimum}{background}, got {num_classes}")
    if weights is None:
        return None, default if num_classes is None else num_classes
    member = resolve_weights(arch, weights)
    categories = len(member.meta["categories"])
    if num_classes not in (None, categories):
        raise ValueError(f"{member} have {categories} classes, got num_classes={num_classes}: drop num_classes or weights")
    return member, categories


def cached_weights_path(weights: WeightsEnum) -> str:
    """Where torch.hub keeps (or would keep) the downloaded file of ``weights``."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


# Seconds a download may wait on the network for each read before it gives up (a stalled proxy would
# otherwise block for ever); MNV3LIB_DOWNLOAD_TIMEOUT overrides it.
DOWNLOAD_TIMEOUT_S = float(os.environ.get("MNV3LIB_DOWNLOAD_TIMEOUT", "60"))


def fetch_state_dict(member: WeightsEnum, *, progress: bool = True, timeout: float | None = None) -> Mapping[str, torch.Tensor]:
    """The state dict of a torchvision weights enum member: from torch.hub's cache, or downloaded.

    Args:
        member: The weights.
        progress: Show the download's progress bar and torch.hub's download line (it names the cache folder).
        timeout: Seconds each network read may wait (default :data:`DOWNLOAD_TIMEOUT_S`).

    Raises:
        WeightsUnavailableError: when the file is neither cached nor downloadable in time, or the
            cached file is corrupt (the message names it and says to delete it).
    """
    timeout = DOWNLOAD_TIMEOUT_S if timeout is None else timeout
    if not timeout > 0:
        raise ValueError(f"expected timeout > 0 seconds, got {timeout!r}")
    cached = cached_weights_path(member)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # urllib, under torch.hub, has no timeout argument of its own
    quiet = contextlib.ExitStack()
    if not progress:  # torch.hub prints "Downloading ... to <cache path>" (to stdout in current torch)
        quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
        quiet.enter_context(contextlib.redirect_stderr(io.StringIO()))
    try:
        with quiet:
            return member.get_state_dict(progress=progress, check_hash=True)
    except OSError as error:  # URLError, socket errors and time-outs, HTTP errors are all OSErrors
        reason = f"no answer within {timeout:g} s" if isinstance(getattr(error, "reason", error), TimeoutError) else str(error)
        raise WeightsUnavailableError(
            f"could not download {member} from {member.url} ({reason}). This machine looks offline or behind a stalled proxy. "
            f"Run once with a network connection (MNV3LIB_DOWNLOAD_TIMEOUT sets the time-out), or copy the file to {cached}; "
            "use weights=None for a randomly initialised model."
        ) from error
    except (RuntimeError, pickle.UnpicklingError, EOFError) as error:
        if not os.path.isfile(cached):
            raise
        raise WeightsUnavailableError(f"the cached weights file {cached} is corrupt ({type(error).__name__}: {error}): delete it and load again") from error
    finally:
        socket.setdefaulttimeout(previous)


def check_no_weights(arch: str, weights: object) -> None:
    """Refuse ``weights`` other than None for a model that TorchVision publishes no weights for, rather
    than return a randomly initialised model that looks trained."""
    if weights is not None:
        raise ValueError(
            f"{arch} has no published weights (TorchVision publishes none for it), got weights={weights!r}: use weights=None and "
            "train it, starting from weights_backbone or a checkpoint of your own"
        )


def load_torchvision_weights(
    arch: str,
    weights: object,
    *,
    progress: bool = True,
    num_classes: int = 1000,
    width_mult: float = 1.0,
    reduced_tail: bool = False,
) -> tuple[Mapping[str, torch.Tensor], int]:
    """Fetch the state dict of TorchVision's weights for ``arch``.

    The published weights exist for the default width and tail only, and have 1000 classes; any other
    request raises ``ValueError`` rather than loading a mismatched file.

    Returns:
        ``(state_dict, num_classes)`` where ``num_classes`` is the weights' class count.

    Raises:
        WeightsUnavailableError: when the file is neither cached nor downloadable.
    """
    member, categories = resolve_weights_and_classes(arch, weights, None if num_classes == 1000 else num_classes, 1000)
    if width_mult != 1.0 or reduced_tail:
        raise ValueError(
            f"{member} exist only for width_mult=1.0 and reduced_tail=False, "
            f"got width_mult={width_mult}, reduced_tail={reduced_tail}"
        )
    state_dict = fetch_state_dict(member, progress=progress)
    return state_dict, categories
