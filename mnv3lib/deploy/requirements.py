"""The packages of the deployment routes beyond torch, as pip requirements for each torch they are tested with."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import torch

__all__ = ["DEPLOY_REQUIREMENTS", "TorchDeprecations", "deploy_requirements", "torch_deprecations"]

# Tested versions for each torch (major.minor). ExecuTorch's and torchao's wheels are built against
# one torch and do not all declare which, so an unpinned install can pick versions built for another
# torch. "2.9" is Colab's torch: `make test-colab` and Chapter 7's Colab cell install this row, and it
# is the deploy extra's lower bounds in pyproject.toml. "2.14" is the book's, as constraints.txt pins
# it (`make test`); tests/test_reader_paths.py checks both rows against those files. The "2.9" row holds
# the lowest versions that work with that torch: with older ones, torch.onnx.export's opset conversion
# fails (onnxscript) or prints a line per export, and ONNX Runtime's quantization pre-processing fails
# on the exported graph.
DEPLOY_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "2.9": ("onnx==1.17.0", "onnxscript==0.7.0", "onnxruntime==1.21.1", "torchao==0.14.0", "executorch==1.0.1"),
    "2.14": ("onnx==1.23.2", "onnxscript==0.7.2", "onnxruntime==1.32.0", "torchao==0.18.0", "executorch==1.5.1"),
}


def deploy_requirements(torch_version: str | None = None) -> list[str]:
    """The pip requirements of the deployment routes (ONNX, ONNX Runtime, torchao, ExecuTorch) for
    a torch version: the versions tested with it, from :data:`DEPLOY_REQUIREMENTS`.

    Args:
        torch_version: A torch version such as ``"2.9.1+cu126"`` (default: the installed torch's).

    Returns:
        Requirement strings for ``pip install``, e.g. ``["onnx==1.17.0", ...]``.

    Raises:
        TypeError: ``torch_version`` is not a string.
        ValueError: no set of versions is tested with that torch's major.minor.
    """
    version = torch.__version__ if torch_version is None else torch_version
    if not isinstance(version, str):
        raise TypeError(f"expected torch_version to be a version string such as '2.9.1', got {type(version).__name__}")
    major_minor = ".".join(version.split("+")[0].split(".")[:2])
    if major_minor not in DEPLOY_REQUIREMENTS:
        raise ValueError(
            f"no tested versions of the deployment packages for torch {version!r}: mnv3lib knows torch "
            f"{' and '.join(DEPLOY_REQUIREMENTS)}. Install the torch of one of them, or versions of "
            "onnx, onnxscript, onnxruntime, torchao and executorch built for your torch (ExecuTorch's "
            "and torchao's release notes name it)"
        )
    return list(DEPLOY_REQUIREMENTS[major_minor])


@dataclass(frozen=True)
class TorchDeprecations:
    """What the installed torch says about the deprecated APIs of the eager int8 route (Chapter 3's).

    Attributes:
        torch_version: The installed torch, without its local suffix (``"2.14.1"``).
        ao_removal: The version that ``torch.ao.quantization``'s deprecation warning names for its removal,
            or None where this torch does not deprecate it.
        jit_freeze_since: The version that ``torch.jit.freeze``'s docstring marks it deprecated since, or None
            where this torch does not.
        warned: The functions that warn (their names as the warnings quote them, e.g. "`torch.jit.trace`")
            when a module is traced and frozen.
    """

    torch_version: str
    ao_removal: str | None
    jit_freeze_since: str | None
    warned: tuple[str, ...]


def torch_deprecations() -> TorchDeprecations:
    """Read the installed torch's deprecations of ``torch.ao.quantization``, ``torch.jit.trace`` and
    ``torch.jit.freeze`` from its own warning texts and docstrings, and by tracing and freezing a linear layer.

    Older torch versions deprecate less (torch 2.9 marks neither function), so each field may be empty.
    """
    from torch.ao.quantization import utils as ao_utils

    removal = re.search(r"removed in (\d+\.\d+)", getattr(ao_utils, "DEPRECATION_WARNING", ""))
    since = re.search(r"deprecated:: ([\d.]+)", torch.jit.freeze.__doc__ or "")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        linear = torch.nn.Linear(2, 2).eval()
        torch.jit.freeze(torch.jit.trace(linear, torch.ones(1, 2)))
    warned = sorted({str(w.message).split()[0] for w in caught if str(w.message).startswith("`torch.jit.")})
    return TorchDeprecations(
        torch_version=torch.__version__.split("+")[0],
        ao_removal=removal[1] if removal else None,
        jit_freeze_since=since[1] if since else None,
        warned=tuple(warned),
    )
