"""The quantizable MobileNetV3 is TorchVision's in float; PTQ and QAT produce int8 models; misuse is reported."""

from __future__ import annotations

import pytest
import torch
import torchvision

from mnv3lib.models import quantization as q
from mnv3lib.models import mobilenet_v3_small as float_small
from mnv3lib.analysis.parity import compare_models, randomize_batchnorm


def test_float_large_equals_torchvisions_quantizable_model() -> None:
    reference = randomize_batchnorm(torchvision.models.quantization.mobilenet_v3_large())
    ours = q.mobilenet_v3_large()
    report = compare_models(ours, reference, torch.rand(2, 3, 96, 96))
    assert report.identical, str(report)
    assert report.entries == 312


def test_float_state_dict_is_the_float_models() -> None:
    plain = float_small()
    quantizable = q.mobilenet_v3_small()
    quantizable.load_state_dict(plain.state_dict(), strict=True)
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(quantizable.eval()(images), plain.eval()(images), rtol=0, atol=0)


def test_fusion_matches_torchvision() -> None:
    ours, reference = q.mobilenet_v3_large().eval(), torchvision.models.quantization.mobilenet_v3_large().eval()
    ours.fuse_model(is_qat=False)
    reference.fuse_model(is_qat=False)
    leaves = lambda m: [type(x).__name__ for x in m.modules() if not list(x.children())]  # noqa: E731
    assert leaves(ours) == leaves(reference)  # same fused layers (ConvBnReLU2d, ConvReLU2d, Hardswish...), in order
    fused = {type(x).__name__ for x in ours.modules()}
    assert {"ConvReLU2d", "Identity", "Hardswish"} <= fused and "BatchNorm2d" not in fused


@pytest.mark.parametrize("backend", ["x86", "qnnpack"])
def test_ptq_produces_an_int8_model_close_to_float(backend: str) -> None:
    model = randomize_batchnorm(q.mobilenet_v3_small(num_classes=10)).eval()
    generator = torch.Generator().manual_seed(0)
    calibration = [(torch.rand(4, 3, 64, 64, generator=generator), torch.zeros(4)) for _ in range(3)]
    int8 = q.quantize_ptq(model, calibration, backend=backend)
    assert any("Quantized" in type(m).__name__ or type(m).__module__.startswith("torch.ao.nn.quantized") for m in int8.modules())
    assert int8.features[0][0].weight().dtype == torch.qint8
    images = calibration[0][0]
    with torch.inference_mode():
        float_out, int8_out = model(images), int8(images)
    assert int8_out.shape == (4, 10) and torch.isfinite(int8_out).all()
    assert torch.nn.functional.cosine_similarity(float_out.flatten(), int8_out.flatten(), dim=0) > 0.9


def test_qat_prepare_train_step_and_convert() -> None:
    model = q.mobilenet_v3_small(num_classes=10, width_mult=0.5)
    qat = q.prepare_qat(model, backend="x86")
    assert qat.training and model.quant is not qat.quant
    loss = torch.nn.functional.cross_entropy(qat(torch.rand(4, 3, 64, 64)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    int8 = q.convert(qat)
    with torch.inference_mode():
        assert int8(torch.rand(1, 3, 64, 64)).shape == (1, 10)
    assert q.mobilenet_v3_large(quantize=True, num_classes=5)(torch.rand(1, 3, 64, 64)).shape == (1, 5)


def test_misuse_gets_clear_errors() -> None:
    model = q.mobilenet_v3_small(width_mult=0.5)
    with pytest.raises(ValueError, match="convert\\(\\) needs a model returned by prepare_qat"):
        q.convert(model)
    with pytest.raises(ValueError, match="calibration_data yielded no batch"):
        q.quantize_ptq(model, [], backend="x86")
    with pytest.raises(ValueError, match="unknown quantization backend 'tpu'"):
        q.quantize_ptq(model, [torch.rand(1, 3, 64, 64)], backend="tpu")
    with pytest.raises(ValueError, match="unknown quantization backend 'arm'"):
        q.prepare_qat(model, backend="arm")
    with pytest.raises(TypeError, match="expected a QuantizableMobileNetV3"):
        q.quantize_ptq(float_small(), [torch.rand(1, 3, 64, 64)])


def test_qat_fine_tuning_follows_torchvisions_schedule_and_resumes_exactly(tmp_path) -> None:
    from mnv3lib.data import ShapesDataset
    from mnv3lib.engine.quantization import fit_qat
    from mnv3lib.engine.classification import ClassificationConfig

    data = ShapesDataset("train", size=32, image_size=32), ShapesDataset("val", size=16, image_size=32)
    config = ClassificationConfig(model="mobilenet_v3_small", width_mult=0.25, epochs=3, batch_size=16, opt="sgd", lr=0.001,
                                  weight_decay=1e-5, train_crop_size=28, val_resize_size=32, val_crop_size=28, train_min_scale=0.35)  # fmt: skip
    torch.manual_seed(0)
    float_model = q.mobilenet_v3_small(num_classes=10, width_mult=0.25)
    straight, int8 = fit_qat(float_model, config, *data, observer_epochs=1, batch_norm_epochs=2, output_dir=tmp_path / "a")
    assert len(straight.history) == 3 and int8.features[0][0].weight().dtype == torch.qint8
    fake_quants = [m for m in straight.model.modules() if isinstance(m, torch.ao.quantization.FakeQuantize)]
    assert fake_quants and all(m.observer_enabled.item() == 0 for m in fake_quants)  # observers frozen after epoch 1
    frozen = [m.freeze_bn for m in straight.model.modules() if hasattr(m, "freeze_bn")]
    assert frozen and all(frozen)  # BatchNorm statistics frozen after epoch 2
    schedule = {"observer_epochs": 1, "batch_norm_epochs": 2}
    fit_qat(float_model, config, *data, **schedule, output_dir=tmp_path / "b", stop_after_epoch=2)
    resumed, _ = fit_qat(float_model, config, *data, **schedule, output_dir=tmp_path / "b", resume=tmp_path / "b" / "checkpoint.pt")
    assert all(torch.equal(a, b) for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()))
    assert [e.val_acc1 for e in straight.history] == [e.val_acc1 for e in resumed.history]


def test_quantized_engine_is_restored() -> None:
    from mnv3lib.models.quantization import quantized_engine

    before = torch.backends.quantized.engine
    with quantized_engine("qnnpack"):
        assert torch.backends.quantized.engine == "qnnpack"
    assert torch.backends.quantized.engine == before
    with pytest.raises(ValueError, match="quantization backend"):
        with quantized_engine("tpu"):
            pass


def test_eager_int8_notices_silenced_hides_exactly_the_named_notices() -> None:
    import warnings

    from mnv3lib.models.quantization import EAGER_INT8_NOTICES, eager_int8_notices_silenced

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with eager_int8_notices_silenced():
            for message, category in EAGER_INT8_NOTICES:
                warnings.warn(message + " (as torch says it)", category)
            warnings.warn("torch.ao.quantization is deprecated", FutureWarning)  # another category
            warnings.warn("an unrelated notice", UserWarning)
    assert [str(w.message) for w in caught] == ["torch.ao.quantization is deprecated", "an unrelated notice"]
