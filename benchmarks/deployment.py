"""Chapter 7's goals, measured: every deployment route on MobileNetV3-Large, -Small (224 px) and
LR-ASPP (520 px), batch 1, on this machine's CPU. A benchmark, not a test: it prints the table and
the two goal ratios, and exits non-zero only when asked to (``--strict``) and a goal is missed.

Goals (Large, batch 1):
  1. the best int8 route is at least 3× faster than eager float32;
  2. the best PyTorch-native route (eager, torch.compile, PT2E, ExecuTorch) is within 1.1× of
     ONNX Runtime's latency, or faster.

Timings of one model's routes are interleaved in one run (mnv3lib.analysis.benchmark.compare_latency),
so report the ratios: absolute times depend on the machine and on what else runs on it.

    python benchmarks/deployment.py [--models large small lraspp] [--routes ...] [--repeats 50]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import pandas as pd
import torch

from mnv3lib.analysis.benchmark import compare_latency
from mnv3lib.analysis.parity import randomize_batchnorm
from mnv3lib.deploy import INT8_ROUTES, ROUTES, build_order, check_outputs, deploy, route_available
from mnv3lib.models import mobilenet_v3_large, mobilenet_v3_small
from mnv3lib.models.segmentation import lraspp_mobilenet_v3_large

MODELS = {
    # name: (builder, image size); random weights with realistic BatchNorm statistics
    "large": (lambda: mobilenet_v3_large(), 224),
    "small": (lambda: mobilenet_v3_small(), 224),
    "lraspp": (lambda: lraspp_mobilenet_v3_large(num_classes=21), 520),
}
PYTORCH_NATIVE = ("eager", "eager_int8", "compile", "pt2e_int8", "executorch", "executorch_int8")
ONNX_RUNTIME = ("onnx", "onnx_int8")


def measure(name: str, routes: list[str], repeats: int, log=print) -> pd.DataFrame:
    build, size = MODELS[name]
    torch.manual_seed(0)
    model = randomize_batchnorm(build().eval(), seed=0)
    example = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    calibration = [torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(i + 1)) for i in range(8)]
    deployments, rows = {}, {}
    # in the library's build order (deploy_routes's): a route compiled before an ExecuTorch route or
    # PT2E's strict export would compile again in the warm-up, without freezing
    for route in sorted(routes, key=build_order):
        start = time.perf_counter()
        try:
            built = deploy(model, route, example, calibration)
        except (ValueError, ModuleNotFoundError) as error:  # a route that cannot take this model
            log(f"  {name} · {route}: skipped ({error})")
            continue
        check = check_outputs(model, built, [example])
        deployments[route] = built
        rows[route] = {"file (MB)": built.file_bytes / 1e6, "max |Δ|": check.max_abs_diff}
        log(f"  {name} · {route}: deployed in {time.perf_counter() - start:.0f} s")
    latency = compare_latency(deployments, inputs=example, repeats=repeats, warmup=5)
    table = pd.DataFrame(rows).T.reindex([r for r in routes if r in rows])
    table.insert(0, "latency (ms)", [latency[r].median_ms for r in table.index])
    table.insert(1, "speed-up", table.loc["eager", "latency (ms)"] / table["latency (ms)"])
    table.index = pd.MultiIndex.from_product([[name], [ROUTES[r] for r in table.index]])
    table.attrs["latency"] = {r: latency[r].median_ms for r in deployments}
    return table


def goals(latency: dict[str, float]) -> dict[str, float]:
    """The two goal ratios from one model's median latencies (route → ms)."""
    int8 = [latency[r] for r in INT8_ROUTES if r in latency]
    native = [latency[r] for r in PYTORCH_NATIVE if r in latency]
    onnx = [latency[r] for r in ONNX_RUNTIME if r in latency]
    result = {}
    if int8:
        result["best int8 speed-up over eager fp32 (goal >= 3)"] = latency["eager"] / min(int8)
    if native and onnx:
        result["best PyTorch-native ÷ best ONNX Runtime latency (goal <= 1.1)"] = min(native) / min(onnx)
    if native and "onnx" in latency:
        result["best PyTorch-native ÷ ONNX Runtime fp32 latency"] = min(native) / latency["onnx"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=list(ROUTES))
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    routes = [r for r in args.routes if route_available(r) or print(f"route {r}: packages missing, skipped")]
    tables = [measure(name, routes, args.repeats) for name in args.models]
    with pd.option_context("display.width", 120, "display.float_format", "{:.3g}".format):
        print(f"\nbatch 1, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
        print(pd.concat(tables))
    if "large" not in args.models:
        return 0
    ratios = goals(tables[args.models.index("large")].attrs["latency"])
    print("\nGoals on MobileNetV3-Large:")
    for label, value in ratios.items():
        print(f"  {label}: {value:.2f}")
    missed = [k for k, v in ratios.items() if ("goal >= 3" in k and v < 3) or ("goal <= 1.1" in k and v > 1.1)]
    for label in missed:
        print(f"  MISSED: {label}")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
