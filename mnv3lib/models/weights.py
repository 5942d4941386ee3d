"""TorchVision's published ImageNet weights, loaded through torchvision's own weight enums.

Online, the first call downloads the file into torch.hub's cache (``$TORCH_HOME/hub/checkpoints``),
within a deadline for the whole download (:func:`download_timeout`); later calls, online or not, read
the cached file, with ``weights_only=True`` (:func:`safe_load`). Offline with an empty cache the loader
raises :class:`WeightsUnavailableError`: it never falls back to random weights.

``MNV3LIB_OFFLINE=1`` makes any machine behave as an offline one with an empty cache: TorchVision's
weights are neither read from the cache nor downloaded. The book's chapters are executed and verified
with it (``make execute``, ``pytest --nbval``), so that their stored outputs are what an offline
reader sees, whatever the machine has cached.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torchvision.models import MobileNet_V3_Large_Weights, MobileNet_V3_Small_Weights, WeightsEnum
from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_320_FPN_Weights, FasterRCNN_MobileNet_V3_Large_FPN_Weights, SSDLite320_MobileNet_V3_Large_Weights
from torchvision.models.segmentation import DeepLabV3_MobileNet_V3_Large_Weights, LRASPP_MobileNet_V3_Large_Weights
from tqdm import tqdm

from ..checks import check_flag, check_positive

__all__ = [
    "WeightsUnavailableError", "resolve_weights", "resolve_weights_and_classes", "fetch_state_dict", "load_torchvision_weights", "cached_weights_path",
    "available_weights", "check_no_weights", "safe_load", "download_file", "download_timeout", "offline", "DOWNLOAD_TIMEOUT_S",
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


DOWNLOAD_TIMEOUT_S = 60.0  # the default of download_timeout(): seconds a whole download may take
TIMEOUT_VARIABLE = "MNV3LIB_DOWNLOAD_TIMEOUT"
_CHUNK = 1 << 16


def download_timeout() -> float:
    """Seconds a download may take in all: ``$MNV3LIB_DOWNLOAD_TIMEOUT``, or :data:`DOWNLOAD_TIMEOUT_S`.

    Read when a download starts, not at import: a bad value fails that download with a sentence, and
    never ``import mnv3lib``.

    Raises:
        ValueError: when the variable is not a finite number of seconds > 0 (``abc``, ``inf``, ``0``, ``-1``).
    """
    text = os.environ.get(TIMEOUT_VARIABLE)
    if text is None:
        return DOWNLOAD_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{TIMEOUT_VARIABLE}={text!r} is not a number of seconds: set it to a number > 0 (e.g. 60), or unset it") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{TIMEOUT_VARIABLE}={text!r}: expected a finite number of seconds > 0 (e.g. 60)")
    return value


OFFLINE_VARIABLE = "MNV3LIB_OFFLINE"


def offline() -> bool:
    """Whether ``$MNV3LIB_OFFLINE`` asks to behave as an offline machine with an empty cache.

    Raises:
        ValueError: for a value other than ``1``/``true``/``yes`` or ``0``/``false``/``no``/empty.
    """
    text = os.environ.get(OFFLINE_VARIABLE, "").strip().lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise ValueError(f"{OFFLINE_VARIABLE}={text!r}: expected 1 (behave as offline) or 0, or unset it")


def safe_load(path: str | os.PathLike) -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU, with errors that name the file.

    A ``.pt`` file is a pickle, and unpickling can run any code the file carries. ``weights_only``
    rebuilds tensors, containers and plain values only, and refuses a file that needs anything else
    before running any of it. Everything the library writes (weights, training checkpoints, the
    book's artifacts) is made of such values, so nothing needs to be allowed beyond torch's defaults.

    Raises:
        ValueError: for an empty, truncated or corrupt file, or one holding other objects (the message
            names them and says how to load a file you trust).
    """
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only load failed" not in str(error).lower():
            raise ValueError(_unreadable(path, error)) from error
        try:
            names = ", ".join(torch.serialization.get_unsafe_globals_in_checkpoint(path)) or "unknown"
        except (ValueError, RuntimeError, pickle.UnpicklingError):  # not torch.save's zip format: a bare pickle
            names = "unknown"
        raise ValueError(
            f"{path} holds objects other than tensors and plain values (globals: {names}); loading it could run code, so it is "
            "refused. If you made it yourself and trust it, load it with torch.load(path, weights_only=False) and save its "
            "tensors and plain values again"
        ) from None  # torch's own message suggests weights_only=False without the warning
    except (EOFError, RuntimeError, ValueError) as error:
        raise ValueError(_unreadable(path, error)) from error


def _unreadable(path: Path, error: Exception) -> str:
    return f"{path} is not a readable checkpoint ({path.stat().st_size} bytes: {type(error).__name__}: {error}); it is empty or corrupt"


def download_file(url: str, destination: str | os.PathLike, *, timeout: float, progress: bool = False) -> None:
    """Download ``url`` to ``destination`` within ``timeout`` seconds in all, as torch.hub would.

    A worker thread reads the response chunk by chunk into a temporary file beside ``destination``;
    this thread waits for it until the deadline only, so a server that trickles a byte now and then
    (every read returning in time) cannot stretch the download past ``timeout``. Each read waits at
    most ``timeout`` too, so an abandoned worker stops soon after and removes its file. The complete
    file is checked against the hash prefix in its name (torch.hub's convention), then renamed into
    place: the cache never holds a torn file.

    Raises:
        TimeoutError: when the download is not complete within ``timeout`` seconds.
        OSError: the network's errors (``URLError``, HTTP errors), and a file whose hash does not match.
    """
    check_positive(timeout, "timeout")
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    os.close(handle)
    cancelled, failure = threading.Event(), []

    def fetch() -> None:
        digest = hashlib.sha256()
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "mnv3lib"})
            opener = urllib.request.build_opener()  # reads the proxy variables now (urlopen keeps those of its first call)
            with opener.open(request, timeout=timeout) as response, open(temporary, "wb") as file:
                if progress:  # announced once the server answers: offline, nothing is printed
                    print(f'Downloading: "{url}" to {destination}', file=sys.stderr)
                size = response.headers.get("Content-Length", "")
                with tqdm(total=int(size) if size.isdigit() else None, unit="B", unit_scale=True, disable=not progress) as bar:
                    while not cancelled.is_set() and (chunk := response.read1(_CHUNK)):  # read1: what one read brings
                        file.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
            expected = torch.hub.HASH_REGEX.search(destination.name)
            if not cancelled.is_set() and expected and not digest.hexdigest().startswith(expected.group(1)):
                raise OSError(f"the file downloaded from {url} has sha256 {digest.hexdigest()[:8]}..., not {expected.group(1)}...: try again")
        except BaseException as error:  # handed to the waiting thread
            failure.append(error)
        finally:
            if cancelled.is_set() or failure:
                Path(temporary).unlink(missing_ok=True)

    worker = threading.Thread(target=fetch, name=f"download {destination.name}", daemon=True)
    worker.start()
    try:
        worker.join(timeout)
    finally:  # also on KeyboardInterrupt: the worker stops at its next read and removes its file
        if worker.is_alive():
            cancelled.set()
    if worker.is_alive():
        raise TimeoutError(f"the download of {url} did not finish within {timeout:g} s")
    if failure:
        raise failure[0]
    os.replace(temporary, destination)


def available_weights(members: Iterable[WeightsEnum], *, timeout: float = 5.0) -> list[WeightsEnum]:
    """The weights of ``members`` that can be loaded now: those in torch.hub's cache, and, while the
    download server answers, those it has.

    One HEAD request per file not cached (no download), each waiting at most ``timeout`` seconds;
    after the first that gets no answer, only cached files count, so an offline machine waits at most
    ``timeout`` seconds once. For menus that offer TorchVision's models only when they can be had.
    None under ``MNV3LIB_OFFLINE=1``.

    Raises:
        ValueError: for a ``timeout`` that is not > 0.
    """
    if not timeout > 0:
        raise ValueError(f"expected timeout > 0 seconds, got {timeout!r}")
    if offline():
        return []
    available, online = [], True
    for member in members:
        if not isinstance(member, WeightsEnum):
            raise TypeError(f"expected TorchVision weights enum members, got {member!r}")
        if os.path.isfile(cached_weights_path(member)):
            available.append(member)
        elif online:
            try:
                with urllib.request.urlopen(urllib.request.Request(member.url, method="HEAD"), timeout=timeout):
                    available.append(member)
            except urllib.error.HTTPError:  # the server answered: it lacks this file
                continue
            except OSError:  # no network, or no answer in time
                online = False
    return available


def fetch_state_dict(member: WeightsEnum, *, progress: bool = True, timeout: float | None = None) -> Mapping[str, torch.Tensor]:
    """The state dict of a torchvision weights enum member: from torch.hub's cache, or downloaded into it.

    Args:
        member: The weights.
        progress: Show the download's progress bar and where the file goes.
        timeout: Seconds the whole download may take (default :func:`download_timeout`).

    Raises:
        WeightsUnavailableError: when the file is neither cached nor downloadable in time, or the
            cached file is corrupt or holds more than tensors (the message names it and says to delete it).
    """
    check_flag(progress, "progress")
    if offline():
        raise WeightsUnavailableError(f"{OFFLINE_VARIABLE} is set: {member} is neither read from the cache nor downloaded (unset it to load it)")
    cached = Path(cached_weights_path(member))
    if not cached.is_file():
        if timeout is None:
            timeout = download_timeout()
        try:
            download_file(member.url, cached, timeout=timeout, progress=progress)
        except OSError as error:  # time-outs, URLError, socket and HTTP errors are all OSErrors
            timed_out = isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError)
            reason = f"not complete within {timeout:g} s" if timed_out else str(error)
            raise WeightsUnavailableError(
                f"could not download {member} from {member.url} ({reason}). This machine looks offline or behind a stalled proxy. "
                f"Run once with a network connection ({TIMEOUT_VARIABLE} sets the time-out in seconds), or copy the file to {cached}; "
                "use weights=None for a randomly initialised model."
            ) from error
    try:
        return safe_load(cached)
    except ValueError as error:
        raise WeightsUnavailableError(f"the cached weights file {cached} is corrupt or unsafe ({error}): delete it and load again") from error


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
