"""Every deployment route reproduces the eager model (fp32 closely, int8 approximately), reports its
file size, and refuses bad input before any export or compilation.

The graph routes compile a tiny conv net, not a MobileNetV3, to keep the suite fast: what is tested
is the route, and the chapter runs the real models."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from mnv3lib.deploy import (
    DEPLOY_REQUIREMENTS, INT8_ROUTES, ROUTES, Deployment, build_order, check_outputs, deploy, deploy_requirements, deploy_routes, route_available,
    torch_deprecations,
)
from mnv3lib.models import mobilenet_v3_small
from mnv3lib.models.quantization import mobilenet_v3_small as quantizable_small


class TinyNet(nn.Module):
    """Conv, BatchNorm, hard-swish, SE-like gate, pooling and a linear head: MobileNetV3's operators."""

    def __init__(self, segmentation: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 8, 1), nn.Hardsigmoid())
        self.head = nn.Conv2d(8, 4, 1) if segmentation else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
        self.segmentation = segmentation

    def forward(self, images: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        x = nn.functional.hardswish(self.bn(self.conv(images)))
        x = self.head(x * self.gate(x))
        return {"out": x} if self.segmentation else x


@pytest.fixture
def tiny() -> nn.Module:
    model = TinyNet()
    model.bn.running_mean.uniform_(-0.2, 0.2)
    model.bn.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _needs(route: str) -> None:
    if not route_available(route):
        pytest.skip(f"the packages of route {route!r} are not installed")


EXAMPLE = torch.rand(1, 3, 16, 16)
CALIBRATION = [torch.rand(4, 3, 16, 16)]
VALIDATION = [torch.rand(5, 3, 16, 16), torch.rand(3, 3, 16, 16)]  # 8 images, batch sizes that are not 1


@pytest.mark.parametrize("route", [r for r in ROUTES if r != "eager_int8"])
def test_route_matches_eager(tiny: nn.Module, route: str) -> None:
    _needs(route)
    deployment = deploy(tiny, route, EXAMPLE, CALIBRATION, threads=1)
    gc.collect()  # ExecuTorch's runtime reads the program's bytes in place: they live with the deployment
    check = check_outputs(tiny, deployment, VALIDATION)
    assert check.count == 8
    if route in INT8_ROUTES:
        assert 1e-6 < check.max_abs_diff < 0.1  # rounded, but not far off
    else:
        assert check.max_abs_diff < 1e-5 and check.agreement == 100.0
    assert deployment.file_bytes > 1000 and deployment.label == ROUTES[route]


def test_deploy_routes_exports_once_for_both_onnx_runtime_routes(tiny: nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    _needs("onnx_int8")
    exports = []
    export = torch.onnx.export
    monkeypatch.setattr(torch.onnx, "export", lambda *args, **kwargs: exports.append(1) or export(*args, **kwargs))
    deployments = deploy_routes(tiny, ["onnx_int8", "eager", "onnx"], EXAMPLE, CALIBRATION, threads=1)
    assert list(deployments) == ["onnx_int8", "eager", "onnx"] and len(exports) == 1
    assert all(deployment.route == route for route, deployment in deployments.items())
    assert check_outputs(tiny, deployments["onnx"], VALIDATION).max_abs_diff < 1e-5
    assert 1e-6 < check_outputs(tiny, deployments["onnx_int8"], VALIDATION).max_abs_diff < 0.1
    assert deployments["onnx_int8"].file_bytes < deployments["onnx"].file_bytes


def test_deploy_routes_compiles_after_executorch_resets_dynamo(tiny: nn.Module) -> None:
    """XNNPACK's partitioner resets TorchDynamo, emptying the code of routes compiled before it."""
    _needs("executorch")
    from torch._dynamo.utils import counters

    deployments = deploy_routes(tiny, ["compile", "executorch"], EXAMPLE, threads=1)
    assert list(deployments) == ["compile", "executorch"]
    graphs = counters["stats"]["unique_graphs"]
    deployments["compile"](EXAMPLE)
    assert counters["stats"]["unique_graphs"] == graphs, "the compile route compiled again at its first call"


def test_deploy_routes_compiles_after_the_strict_pt2e_export(tiny: nn.Module) -> None:
    """PT2E's strict export resets TorchDynamo too: 'compile' is built after 'pt2e_int8', or it
    would compile again at its first call, without the freezing it was built with."""
    _needs("pt2e_int8")
    from torch._dynamo.utils import counters

    deployments = deploy_routes(tiny, ["compile", "pt2e_int8"], EXAMPLE, CALIBRATION, threads=1)
    assert list(deployments) == ["compile", "pt2e_int8"]
    graphs = counters["stats"]["unique_graphs"]
    deployments["compile"](EXAMPLE)
    assert counters["stats"]["unique_graphs"] == graphs, "the compile route compiled again at its first call"


def test_deploy_routes_takes_each_known_route_once(tiny: nn.Module) -> None:
    with pytest.raises(ValueError, match="at least one"):
        deploy_routes(tiny, [], EXAMPLE)
    with pytest.raises(ValueError, match="each route once"):
        deploy_routes(tiny, ["eager", "eager"], EXAMPLE)
    with pytest.raises(ValueError, match="unknown deployment route 'tflite'"):
        deploy_routes(tiny, ["eager", "tflite"], EXAMPLE)


def test_executorch_keeps_its_logs_off_stderr(tiny: nn.Module, capfd: pytest.CaptureFixture[str]) -> None:
    """ExecuTorch logs CPU probing and thread-pool resets through Python's stderr and its own: a
    notebook would show them as output."""
    _needs("executorch")
    for threads in (2, 1):  # a change of thread count resets the pool, which logs a line
        deploy(tiny, "executorch", EXAMPLE, threads=threads)
    assert capfd.readouterr().err == ""


def test_deploy_requirements_go_with_the_torch_version() -> None:
    colab = deploy_requirements("2.9.1+cu126")  # a local version, as Colab's torch has
    assert colab == deploy_requirements("2.9.0") == list(DEPLOY_REQUIREMENTS["2.9"])
    assert "executorch==1.0.1" in colab and "torchao==0.14.0" in colab
    assert deploy_requirements("2.14.1") == list(DEPLOY_REQUIREMENTS["2.14"])
    assert [r.split("==")[0] for r in colab] == ["onnx", "onnxscript", "onnxruntime", "torchao", "executorch"]
    with pytest.raises(ValueError, match=r"for torch '2.11.0': mnv3lib knows torch 2.9 and 2.14"):
        deploy_requirements("2.11.0")
    with pytest.raises(TypeError, match="version string"):
        deploy_requirements(2.9)
    installed = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    if installed in DEPLOY_REQUIREMENTS:  # the default is the installed torch's
        assert deploy_requirements() == list(DEPLOY_REQUIREMENTS[installed])


def test_torch_deprecations_are_read_from_the_installed_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch.ao.quantization import utils as ao_utils

    found = torch_deprecations()
    assert found.torch_version == torch.__version__.split("+")[0]
    if found.jit_freeze_since is not None:  # torch >= 2.10 documents it, and both functions warn
        assert {"`torch.jit.trace`", "`torch.jit.freeze`"} <= set(found.warned)
    # what an older torch, which deprecates neither, gives: empty fields, not an error (Colab's torch 2.9)
    monkeypatch.setattr(torch.jit.freeze, "__doc__", "Freeze a ScriptModule.")
    monkeypatch.setattr(ao_utils, "DEPRECATION_WARNING", "", raising=False)
    older = torch_deprecations()
    assert older.jit_freeze_since is None and older.ao_removal is None
    monkeypatch.setattr(torch.jit.freeze, "__doc__", "Freeze.\n\n.. deprecated:: 2.7\n")
    monkeypatch.setattr(ao_utils, "DEPRECATION_WARNING", "torch.ao.quantization will be removed in 2.12.")
    assert (torch_deprecations().jit_freeze_since, torch_deprecations().ao_removal) == ("2.7", "2.12")


def test_eager_int8_takes_a_mobilenet_v3_classifier() -> None:
    model = mobilenet_v3_small(num_classes=4).eval()
    example = torch.rand(1, 3, 32, 32)
    float32 = deploy(model, "eager", example)
    int8 = deploy(model, "eager_int8", example, [torch.rand(2, 3, 32, 32)])
    assert int8.file_bytes < float32.file_bytes / 3  # int8 weights
    check = check_outputs(model, int8, [torch.rand(2, 3, 32, 32)])
    assert check.count == 2 and 0 < check.max_abs_diff < 0.5


def test_segmentation_dicts_are_reduced_to_their_main_output() -> None:
    model = TinyNet(segmentation=True).eval()
    deployment = deploy(model, "eager", EXAMPLE)
    check = check_outputs(model, deployment, VALIDATION)
    assert check.count == 8 * 8 * 8  # one prediction per pixel of the 8×8 maps
    assert check.agreement == 100.0


def test_bad_input_is_refused_before_any_work(tiny: nn.Module) -> None:
    with pytest.raises(ValueError, match="unknown deployment route 'tflite'"):
        deploy(tiny, "tflite", EXAMPLE)
    with pytest.raises(ValueError, match="add a batch dimension"):
        deploy(tiny, "onnx", EXAMPLE[0])
    with pytest.raises(TypeError, match="torch.Tensor"):
        deploy(tiny, "onnx", EXAMPLE.numpy())
    with pytest.raises(TypeError, match="nn.Module"):
        deploy(lambda x: x, "eager", EXAMPLE)
    if route_available("onnx_int8"):  # the route checks its packages first
        with pytest.raises(ValueError, match="pass calibration batches"):
            deploy(tiny, "onnx_int8", EXAMPLE)
    with pytest.raises(ValueError, match="float MobileNetV3 classifier"):
        deploy(tiny, "eager_int8", EXAMPLE, CALIBRATION)
    if route_available("pt2e_int8"):  # the route checks its packages first
        with pytest.raises(ValueError, match="calibration images are"):
            deploy(tiny, "pt2e_int8", EXAMPLE, [torch.rand(2, 3, 8, 8)])
    with pytest.raises(ValueError, match="float32 model"):
        deploy(quantizable_small(quantize=True), "eager", torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="float32 model"):
        deploy(TinyNet().double(), "eager", EXAMPLE)
    if route_available("onnx"):  # the route checks its packages first
        with pytest.raises(TypeError, match="threads"):
            deploy(tiny, "onnx", EXAMPLE, threads=1.5)


def test_a_deployment_takes_only_its_shape(tiny: nn.Module) -> None:
    deployment = deploy(tiny, "eager", EXAMPLE)
    with pytest.raises(ValueError, match=r"exported for input shape \(1, 3, 16, 16\)"):
        deployment(torch.rand(1, 3, 32, 32))
    with pytest.raises(TypeError, match="Deployment"):
        check_outputs(tiny, tiny, VALIDATION)
    with pytest.raises(ValueError, match="no image"):
        check_outputs(tiny, deployment, [])
    assert isinstance(deployment, Deployment)


def test_latency_agreement_plot_draws_every_route() -> None:
    import pandas as pd
    from matplotlib.figure import Figure

    from mnv3lib.viz.deployment import plot_latency_vs_agreement
    from mnv3lib.viz.plotting import new_figure

    table = pd.DataFrame(
        {"latency (ms)": [10.0, 2.0, 1.0], "top-1 agreement (%)": [100.0, 100.0, 97.5], "int8": [False, False, True]},
        index=["eager fp32", "ONNX Runtime fp32", "ONNX Runtime int8"],
    )
    fig = plot_latency_vs_agreement(table)
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].texts] == list(table.index)
    given, (axis,) = new_figure()
    assert plot_latency_vs_agreement(table, ax=axis) is given
    with pytest.raises(ValueError, match="column 'int8'"):
        plot_latency_vs_agreement(table.drop(columns="int8"))


def test_the_deployment_benchmark_builds_and_tables_the_routes_it_is_given() -> None:
    """benchmarks/deployment.py, as Chapter 7's goals are measured: its table keeps the order of the
    routes asked for, whatever order it builds them in."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "deployment.py"
    spec = importlib.util.spec_from_file_location("deployment_benchmark", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    table = benchmark.measure("small", ["eager_int8", "eager"], repeats=1, log=lambda *_: None)
    assert list(table.index) == [("small", ROUTES["eager_int8"]), ("small", ROUTES["eager"])]
    assert table.loc[("small", ROUTES["eager"]), "speed-up"] == 1
    assert table["file (MB)"].iloc[0] < table["file (MB)"].iloc[1]  # int8 weights
