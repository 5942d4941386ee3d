"""Quantizable MobileNetV3 (eager mode), post-training quantization and quantization-aware training.

The float model is TorchVision's ``models.quantization.mobilenet_v3_large``: the same modules plus
quantization hooks (``QuantStub``/``DeQuantStub``, and ``FloatFunctional`` for the residual add and the
SE multiply, which int8 tensors cannot do with ``+``/``*``). Its state dict is the float model's.

Uses ``torch.ao.quantization``'s eager-mode API, which PyTorch still ships (and which TorchVision's
quantized MobileNetV3 uses); PyTorch now recommends PT2E (``torch.export``-based) quantization for new
code. Chapter 3 ("Quantization: QAT versus PTQ") explains both flows.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.ao import quantization as tq
from torch.ao.nn import quantized as nnq
from torch.ao.nn.quantized import FloatFunctional

from ..checks import check_choice, check_flag, check_image_batch
from ..devices import resolve_device
from .layers import ConvNormActivation, SqueezeExcitation
from .mobilenetv3 import InvertedResidual, InvertedResidualConfig, MobileNetV3, mobilenet_v3_config

__all__ = [
    "BACKENDS",
    "ACTIVATION_OBSERVERS",
    "WEIGHT_SCHEMES",
    "QuantizableSqueezeExcitation",
    "QuantizableInvertedResidual",
    "QuantizableMobileNetV3",
    "as_quantizable",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "quantize_ptq",
    "prepare_qat",
    "convert",
    "ptq_qconfig",
    "trace_and_freeze",
    "quantized_engine",
    "EAGER_INT8_NOTICES",
    "eager_int8_notices_silenced",
]

BACKENDS = ("x86", "qnnpack", "fbgemm", "onednn")
# How PTQ picks each activation's int8 range from the calibration batches
ACTIVATION_OBSERVERS = {
    "histogram": tq.HistogramObserver,  # minimises the rounding + clipping error of a histogram (the default)
    "minmax": tq.MinMaxObserver,  # the smallest and largest values ever seen
    "moving_average": tq.MovingAverageMinMaxObserver,  # a running average of each batch's min and max
}
# One int8 scale per weight tensor, or one per output channel
WEIGHT_SCHEMES = {
    "per_channel": tq.PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric),
    "per_tensor": tq.MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric),
}


class QuantizableSqueezeExcitation(SqueezeExcitation):
    """Squeeze-and-excite whose channel-wise multiply is quantization-aware."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__(
            channels, squeeze_channels, scale_activation=nn.Hardsigmoid
        )
        self.skip_mul = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_mul.mul(self.channel_scale(x), x)

    def fuse_model(self, is_qat: bool) -> None:
        """Fuse ``fc1`` with its ReLU."""
        _fuse(self, ["fc1", "activation"], is_qat)


class QuantizableInvertedResidual(InvertedResidual):
    """Inverted residual whose skip connection is a quantization-aware add."""

    def __init__(
        self, config: InvertedResidualConfig, norm_layer: type[nn.Module], stochastic_depth_prob: float = 0.0
    ) -> None:
        super().__init__(config, norm_layer, se_layer=QuantizableSqueezeExcitation, stochastic_depth_prob=stochastic_depth_prob)
        self.skip_add = FloatFunctional()

    def add_residual(self, result: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.skip_add.add(x, result)


def _fuse(module: nn.Module, names: list[str], is_qat: bool) -> None:
    fuse = tq.fuse_modules_qat if is_qat else tq.fuse_modules
    fuse(module, names, inplace=True)


class QuantizableMobileNetV3(MobileNetV3):
    """MobileNetV3 with quantization stubs; see :class:`~mnv3lib.models.MobileNetV3` for the arguments.

    Every ReLU is made out-of-place (as TorchVision does), so observers see each activation once.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, block=QuantizableInvertedResidual, **kwargs)
        self.quant = tq.QuantStub()
        self.dequant = tq.DeQuantStub()
        for parent in self.modules():
            for name, child in parent.named_children():
                if type(child) is nn.ReLU:
                    setattr(parent, name, nn.ReLU(inplace=False))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_image_batch(images)
        x = self.quant(images)
        x = self.forward_head(self.features(x))
        return self.dequant(x)

    def fuse_model(self, is_qat: bool | None = None) -> None:
        """Fuse conv + BatchNorm (+ ReLU) everywhere, and SE's ``fc1`` + ReLU. Hard-swish is not fusable.

        Args:
            is_qat: Fuse for quantization-aware training (keeps BatchNorm trainable); defaults to
                ``self.training``.
        """
        is_qat = self.training if is_qat is None else is_qat
        for module in self.modules():
            if type(module) is ConvNormActivation:
                names = ["0", "1", "2"] if len(module) == 3 and type(module[2]) is nn.ReLU else ["0", "1"]
                _fuse(module, names, is_qat)
            elif type(module) is QuantizableSqueezeExcitation:
                module.fuse_model(is_qat)


def _check_backend(backend: str) -> None:
    check_choice(backend, "quantization backend", BACKENDS)
    if backend not in torch.backends.quantized.supported_engines:
        supported = ", ".join(e for e in torch.backends.quantized.supported_engines if e != "none")
        raise ValueError(f"quantization backend {backend!r} is not available in this torch build: use one of {supported}")


# The warnings that torch repeats on every eager-mode quantization (Chapter 3's appendix on deprecated
# APIs explains each): the start of each message, and its category.
EAGER_INT8_NOTICES: tuple[tuple[str, type[Warning]], ...] = (
    ("torch.ao.quantization is deprecated", DeprecationWarning),  # the eager-mode API itself
    ("Please use quant_min and quant_max", UserWarning),  # the observers' reduce_range
    ("torch.quantize_per_tensor, torch.quantize_per_channel", UserWarning),  # the quantized tensor dtypes
    ("must run observer before calling calculate_qparams", UserWarning),  # a residual add that sees no data
)


@contextmanager
def eager_int8_notices_silenced() -> Iterator[None]:
    """Inside the ``with`` block, silence exactly :data:`EAGER_INT8_NOTICES` (any other warning still shows)."""
    with warnings.catch_warnings():
        for message, category in EAGER_INT8_NOTICES:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


@contextmanager
def quantized_engine(backend: str) -> Iterator[str]:
    """Run int8 models on ``backend`` (``torch.backends.quantized.engine``) inside the ``with`` block,
    then restore the engine that was selected before::

        with quantized_engine("qnnpack"):
            latency = measure_latency(int8_model, example)
    """
    _check_backend(backend)
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = backend
    try:
        yield backend
    finally:
        torch.backends.quantized.engine = previous


def _build(arch: str, *, quantize: bool, backend: str, num_classes: int, width_mult: float, dropout: float) -> QuantizableMobileNetV3:
    check_flag(quantize, "quantize")
    check_choice(backend, "quantization backend", BACKENDS)
    configs, last_channel = mobilenet_v3_config(arch, width_mult=width_mult)
    model = QuantizableMobileNetV3(configs, last_channel, num_classes=num_classes, dropout=dropout)
    if quantize:
        model = convert(prepare_qat(model, backend))
    return model


def mobilenet_v3_large(
    *, quantize: bool = False, backend: str = "x86", num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2
) -> QuantizableMobileNetV3:
    """Quantizable MobileNetV3-Large, equal in float to TorchVision's ``models.quantization.mobilenet_v3_large``.

    Args:
        quantize: Return an int8 model (random weights) instead of the float one.
        backend: ``"x86"`` (servers and desktops) or ``"qnnpack"`` (ARM, mobile); TorchVision's published
            quantized weights were made for ``"qnnpack"``.
        num_classes, width_mult, dropout: As :func:`mnv3lib.models.mobilenet_v3_large`.
    """
    return _build("mobilenet_v3_large", quantize=quantize, backend=backend, num_classes=num_classes, width_mult=width_mult, dropout=dropout)


def mobilenet_v3_small(
    *, quantize: bool = False, backend: str = "x86", num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2
) -> QuantizableMobileNetV3:
    """Quantizable MobileNetV3-Small (TorchVision ships no quantizable Small); arguments as :func:`mobilenet_v3_large`."""
    return _build("mobilenet_v3_small", quantize=quantize, backend=backend, num_classes=num_classes, width_mult=width_mult, dropout=dropout)


def as_quantizable(model: nn.Module) -> QuantizableMobileNetV3:
    """``model`` itself if it is a :class:`QuantizableMobileNetV3`; otherwise a ``TypeError`` that says
    how to get one (the quantization functions, and the analyses of a quantized model, take only it)."""
    if not isinstance(model, QuantizableMobileNetV3):
        raise TypeError(
            f"expected a QuantizableMobileNetV3 (mnv3lib.models.quantization.mobilenet_v3_large/small), got {type(model).__name__}: "
            "build the quantizable model and load the float state dict into it"
        )
    return model


def _batches(calibration_data: Iterable) -> Iterable[torch.Tensor]:
    for item in calibration_data:
        yield item[0] if isinstance(item, (tuple, list)) else item


def _prepared_copy(model: nn.Module, backend: str, qconfig: tq.QConfig | None, *, qat: bool) -> QuantizableMobileNetV3:
    """A fused copy of ``model`` with observers (PTQ) or fake-quantization (QAT) for ``backend``.

    Also selects ``backend`` as torch's quantized engine, which the int8 model will run on.
    """
    _check_backend(backend)
    if any(isinstance(m, (nnq.Conv2d, nnq.Linear, nnq.Quantize)) for m in model.modules()):
        raise TypeError("expected a float model, got one that is already int8 (converted): quantize the float model it came from")
    if any(isinstance(m, (tq.ObserverBase, tq.FakeQuantizeBase)) for m in model.modules()):
        raise TypeError("expected a float model, got one already prepared for quantization (observers or fake-quantization): "
                        "use convert() on it, or start from the float model")  # fmt: skip
    quantizable = copy.deepcopy(as_quantizable(model)).train(qat)
    quantizable.fuse_model(is_qat=qat)
    default = tq.get_default_qat_qconfig if qat else tq.get_default_qconfig
    quantizable.qconfig = qconfig or default(backend)
    torch.backends.quantized.engine = backend
    (tq.prepare_qat if qat else tq.prepare)(quantizable, inplace=True)
    quantizable.quantization_backend = backend
    return quantizable


def quantize_ptq(
    model: nn.Module,
    calibration_data: Iterable,
    backend: str = "x86",
    qconfig: tq.QConfig | None = None,
    *,
    device: str | torch.device = "cpu",
) -> QuantizableMobileNetV3:
    """Post-training static quantization: fuse, observe activations on calibration data, convert to int8.

    Args:
        model: A float :class:`QuantizableMobileNetV3` (left unchanged; a copy is quantized).
        calibration_data: Batches of images, or ``(images, targets)`` pairs, e.g. a DataLoader.
        backend: ``"x86"`` or ``"qnnpack"`` (also ``"fbgemm"``, ``"onednn"``).
        qconfig: Observers to use; defaults to ``torch.ao.quantization.get_default_qconfig(backend)``.
        device: Where the observers see the calibration batches (e.g. ``"cuda"`` for a large set).

    Returns:
        The int8 model, in eval mode, on the CPU (PyTorch's int8 backends run there only).

    Raises:
        ValueError: for an unknown backend, or calibration data with no batch.
    """
    device = resolve_device(device)
    quantizable = _prepared_copy(model, backend, qconfig, qat=False).to(device)
    seen = 0
    with torch.inference_mode():
        for images in _batches(calibration_data):
            quantizable(images.to(device) if isinstance(images, torch.Tensor) else images)  # its forward checks the batch
            seen += 1
    if seen == 0:
        raise ValueError("calibration_data yielded no batch: PTQ needs at least one batch of images to observe")
    return tq.convert(quantizable.cpu(), inplace=True)


def ptq_qconfig(
    activation: str = "histogram", weight: str = "per_channel", *, backend: str = "x86", reduce_range: bool | None = None
) -> tq.QConfig:
    """A post-training quantization config: which observer picks the activation ranges, and the weight scheme.

    ``ptq_qconfig()`` is PyTorch's default for x86 (``get_default_qconfig("x86")``);
    ``ptq_qconfig(weight="per_tensor", backend="qnnpack")`` is its default for qnnpack.

    Args:
        activation: A key of :data:`ACTIVATION_OBSERVERS`.
        weight: ``"per_channel"`` or ``"per_tensor"``.
        backend: The backend the model will run on; sets the default ``reduce_range``.
        reduce_range: Use 7 of the 8 activation bits (x86's default: it keeps 16-bit intermediate sums of
            older x86 int8 instructions from overflowing). Defaults to True for x86/fbgemm, False otherwise.
    """
    check_choice(activation, "activation observer", ACTIVATION_OBSERVERS)
    check_choice(weight, "weight scheme", WEIGHT_SCHEMES)
    check_choice(backend, "quantization backend", BACKENDS)
    if reduce_range is None:
        reduce_range = backend in ("x86", "fbgemm")
    return tq.QConfig(activation=ACTIVATION_OBSERVERS[activation].with_args(reduce_range=reduce_range), weight=WEIGHT_SCHEMES[weight])


def prepare_qat(model: nn.Module, backend: str = "x86", qconfig: tq.QConfig | None = None) -> QuantizableMobileNetV3:
    """Quantization-aware training: fuse (keeping BatchNorm trainable) and insert fake-quantization.

    Returns a new model in training mode; train it as usual, then call :func:`convert`.
    """
    return _prepared_copy(model, backend, qconfig, qat=True)


def convert(model: nn.Module) -> QuantizableMobileNetV3:
    """Turn a model returned by :func:`prepare_qat` into an int8 model (a copy, in eval mode, on the CPU:
    PyTorch's int8 backends run there only)."""
    quantizable = as_quantizable(model)
    backend = getattr(quantizable, "quantization_backend", None)
    if backend is None:
        raise ValueError("convert() needs a model returned by prepare_qat(): this one has no fake-quantization to convert")
    torch.backends.quantized.engine = backend
    return tq.convert(copy.deepcopy(quantizable).eval().cpu(), inplace=True)


def trace_and_freeze(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """Trace ``model`` on ``example`` and freeze it: TorchScript with weights inlined and modules flattened.

    Freezing removes eager mode's per-module Python dispatch, which costs int8 models more than float
    ones (their kernels are faster, so the fixed overhead weighs more). Apply it to *both* models before
    comparing their speed. ``torch.jit.trace``/``torch.jit.freeze`` are deprecated in torch 2.14 in
    favour of ``torch.compile``/``torch.export`` (which do not run eager-mode int8 modules); this
    function silences that deprecation warning, and Chapter 3 states it.
    """
    check_image_batch(example)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # int8 scales become constants, as intended
        with torch.inference_mode():
            return torch.jit.freeze(torch.jit.trace(model.eval(), example))
