"""Per-layer quantization error, storage and agreement measure what they claim; calibration choices are honoured."""

from __future__ import annotations

import math

import pytest
import torch

from mnv3lib.models import quantization as q
from mnv3lib.analysis.parity import randomize_batchnorm
from mnv3lib.analysis.quantization_error import layer_sqnr, prediction_agreement, quantization_sites, sqnr_db, storage_report


@pytest.fixture(scope="module")
def float_and_int8() -> tuple[q.QuantizableMobileNetV3, torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = randomize_batchnorm(q.mobilenet_v3_small(num_classes=10, width_mult=0.5)).eval()
    images = torch.rand(8, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    return model, q.quantize_ptq(model, [images], backend="x86"), images


def test_sqnr_is_six_db_per_bit_and_rejects_mismatched_shapes() -> None:
    signal = torch.linspace(-1, 1, 100_001)
    for bits in (4, 8):
        step = 2 / (2**bits - 1)
        rounded = torch.round(signal / step) * step
        # uniform signal over the whole grid: SQNR = 20 log10(levels - 1), about 6.02 dB per bit
        assert sqnr_db(signal, rounded) == pytest.approx(20 * math.log10(2**bits - 1), abs=0.05)
    assert sqnr_db(signal, signal) == float("inf")
    with pytest.raises(ValueError, match="same shape"):
        sqnr_db(signal, signal[:10])


def test_sites_follow_the_block_structure() -> None:
    sites = quantization_sites(q.mobilenet_v3_small())
    kinds = [s.kind for s in sites if s.block == 1]  # Small's first block: no expansion, SE, ReLU
    assert kinds == ["depthwise", "se", "project", "block output"]
    assert [s.activation for s in sites if s.block == 4][:2] == ["hardswish", "hardswish"]
    assert sites[0].group == "stem · hardswish" and sites[-1].name == "classifier.3"
    assert sum(s.kind == "se" for s in sites) == 9  # 9 of Small's 11 blocks have SE


def test_layer_sqnr_measures_the_int8_model_against_float(float_and_int8) -> None:
    model, int8, images = float_and_int8
    table = layer_sqnr(model, int8, images)
    assert len(table) == len(quantization_sites(model))
    assert (table["scale"] > 0).all()
    # an output's own rounding never loses more than the whole int8 model does up to there, at the stem
    assert table["activation_sqnr_db"].iloc[0] >= table["sqnr_db"].iloc[0] - 1e-6
    convs = table.dropna(subset=["weight_sqnr_db"])
    assert set(convs["kind"]) == {"stem", "expand", "depthwise", "project", "last conv"}
    assert convs["weight_sqnr_db"].between(30, 60).all()  # 8-bit symmetric weights: ~40-48 dB
    # the float model against itself-as-"int8" is not allowed: the error says to quantize first
    with pytest.raises(TypeError, match="quantize the model first"):
        layer_sqnr(model, model, images)


def test_per_tensor_weights_lose_more_than_per_channel(float_and_int8) -> None:
    model, per_channel, images = float_and_int8
    per_tensor = q.quantize_ptq(model, [images], "x86", q.ptq_qconfig(weight="per_tensor"))
    depthwise = lambda t: t[t["kind"] == "depthwise"]["weight_sqnr_db"].median()  # noqa: E731
    assert depthwise(layer_sqnr(model, per_tensor, images)) < depthwise(layer_sqnr(model, per_channel, images)) - 1


def test_storage_and_agreement(float_and_int8) -> None:
    model, int8, images = float_and_int8
    float_storage, int8_storage = storage_report(model), storage_report(int8)
    assert float_storage.bits_per_weight == 32 and int8_storage.bits_per_weight == 8
    assert float_storage.weight_mb == pytest.approx(4 * int8_storage.weight_mb)
    assert int8_storage.file_mb < float_storage.file_mb / 2
    assert prediction_agreement(model, model, [images]) == 100
    assert 0 <= prediction_agreement(model, int8, [(images, torch.zeros(8))]) <= 100
    with pytest.raises(ValueError, match="no images"):
        prediction_agreement(model, int8, [])


def test_ptq_qconfig_reproduces_torchs_defaults_and_checks_its_arguments() -> None:
    from torch.ao import quantization as tq

    assert repr(q.ptq_qconfig()) == repr(tq.get_default_qconfig("x86"))
    assert repr(q.ptq_qconfig(weight="per_tensor", backend="qnnpack")) == repr(tq.get_default_qconfig("qnnpack"))
    assert q.ptq_qconfig("minmax", reduce_range=False).activation().reduce_range is False
    with pytest.raises(ValueError, match="unknown activation observer 'max'"):
        q.ptq_qconfig("max")
    with pytest.raises(ValueError, match="unknown weight scheme"):
        q.ptq_qconfig(weight="per_row")


def test_trace_and_freeze_keeps_the_outputs(float_and_int8) -> None:
    model, int8, images = float_and_int8
    for original in (model, int8):
        frozen = q.trace_and_freeze(original, images[:1])
        with torch.inference_mode():
            torch.testing.assert_close(frozen(images[:2]), original(images[:2]))


def test_observe_grid_is_the_grid_that_calibration_gives_the_site() -> None:
    """site_activations + observe_grid give each observer's scale and zero point exactly as quantize_ptq,
    calibrated on the same batches, gives the converted model's output at that site."""
    from mnv3lib.analysis.quantization_error import observe_grid, site_activations

    model = randomize_batchnorm(q.mobilenet_v3_small(num_classes=10, width_mult=0.5), seed=3).eval()
    batches = [torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    site = "features.9.block.0"  # an expansion with hard-swish
    activations = site_activations(model, site, [(b, None) for b in batches])
    assert len(activations) == 3 and activations[0].min() >= -0.375 - 1e-6  # hard-swish's floor
    for observer, reduce_range in [(name, True) for name in q.ACTIVATION_OBSERVERS] + [("minmax", False)]:
        grid = observe_grid(activations, observer, reduce_range=reduce_range)
        assert (grid.quant_min, grid.quant_max) == (0, 127 if reduce_range else 255)
        int8 = q.quantize_ptq(model, batches, "x86", q.ptq_qconfig(observer, reduce_range=reduce_range))
        output = {}
        dict(int8.named_modules())[site].register_forward_hook(lambda _m, _i, out: output.setdefault("x", out))
        with torch.no_grad():
            int8(batches[0])
        assert (grid.scale, grid.zero_point) == (output["x"].q_scale(), output["x"].q_zero_point()), observer
        assert grid.low <= float(activations[0].min()) + grid.scale  # a grid covers the observed floor
    with pytest.raises(ValueError, match="name a module"):
        site_activations(model, "features.99", batches)
    with pytest.raises(ValueError, match="activation observer"):
        observe_grid(activations, "percentile")


def test_grid_error_rounds_as_pytorch_and_counts_the_clipped() -> None:
    from mnv3lib.analysis.quantization_error import Int8Grid, grid_error

    grid = Int8Grid(scale=0.25, zero_point=2, quant_min=0, quant_max=15)  # values -0.5 … 3.25
    values = torch.tensor([-1.0, -0.5, 0.125, 0.375, 1.0, 3.25, 3.5, 10.0])
    error = grid_error(values, grid)
    assert error.clipped_share == pytest.approx(3 / 8)  # -1.0, 3.5 and 10.0 lie beyond the end levels
    rounded = torch.tensor([-0.5, -0.5, 0.0, 0.5, 1.0, 3.25, 3.25, 3.25])  # halves round to the even level
    assert error.sqnr_db == pytest.approx(sqnr_db(values, rounded), abs=1e-12)
    assert (grid.low, grid.high) == (-0.5, 3.25)
    with pytest.raises(TypeError, match="Int8Grid"):
        grid_error(values, (0.25, 2))
