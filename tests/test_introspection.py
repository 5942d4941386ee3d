"""The block table, MAC counts and latency helpers agree with torch and TorchVision."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mnv3lib.analysis.benchmark import compare_latency, measure_latency, num_threads
from mnv3lib.analysis.introspection import block_table, count_macs, count_parameters, summarize
from mnv3lib.models import mobilenet_v3, mobilenet_v3_large
from mnv3lib.book.published import torchvision_meta


@pytest.mark.parametrize("arch", ["mobilenet_v3_large", "mobilenet_v3_small"])
def test_totals_match_torchvision_metadata(arch: str) -> None:
    table = block_table(arch)
    meta = torchvision_meta(arch)
    assert table["params"].sum() == meta["num_params"]
    assert round(table["MACs"].sum() / 1e9, 3) == meta["macs_g"]


@pytest.mark.parametrize(("arch", "config", "size"), [("large", {}, 224), ("small", {"dilated": True}, 320), ("large", {"width_mult": 0.75, "reduced_tail": True}, 160)])
def test_macs_match_torch_flop_counter(arch: str, config: dict, size: int) -> None:
    model = mobilenet_v3(arch, **config).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    assert count_macs(model, size) * 2 == counter.get_total_flops()


def test_block_table_rows() -> None:
    table = block_table("mobilenet_v3_large")
    assert list(table["layer"][:2]) == ["stem", "bneck"] and list(table["layer"][-3:]) == ["last conv", "avgpool", "classifier"]
    first, fourth = table.loc[1], table.loc[4]
    assert (first["in"], first["expanded"], first["out"], first["SE"], first["output"]) == (16, 16, 16, 0, "112×112")
    assert (fourth["kernel"], fourth["stride"], fourth["SE"], fourth["activation"], fourth["output"]) == (5, 2, 24, "relu", "28×28")
    assert table.loc[16, "out"] == 960 and table.loc[16, "output"] == "7×7"
    assert list(table["stage"].drop_duplicates()) == [0, 1, 2, 3, 4]
    dilated = block_table("mobilenet_v3_large", dilated=True, input_size=(224, 320))
    assert dilated.loc[16, "output"] == "14×20" and list(dilated["dilation"][13:16]) == [2, 2, 2]


def test_summary_and_parameter_counts() -> None:
    model = mobilenet_v3_large()
    assert count_parameters(model) == 5_483_032
    for p in model.features.parameters():
        p.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == sum(p.numel() for p in model.classifier.parameters())
    summary = summarize("small", input_size=256, dilated=True)
    assert summary.output_stride == 16 and summary.feature_size == (16, 16)
    assert "output stride 16" in str(summary)


def test_latency_helpers_report_their_conditions() -> None:
    model = mobilenet_v3("small", width_mult=0.5)
    model.train()
    latency = measure_latency(model, (1, 3, 64, 64), repeats=5, warmup=1, threads=1)
    assert latency.threads == 1 and latency.repeats == 5 and latency.input_shape == (1, 3, 64, 64)
    assert 0 < latency.q1_ms <= latency.median_ms <= latency.q3_ms
    assert model.training  # the mode is restored
    before = torch.get_num_threads()
    results = compare_latency({"a": model, "b": mobilenet_v3("small", width_mult=0.35)}, (1, 3, 64, 64), repeats=4, warmup=0)
    assert set(results) == {"a", "b"} and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="at least one model"):
        compare_latency({})
    with pytest.raises(ValueError, match="threads > 0"), num_threads(0):
        pass


def test_latency_of_a_frozen_torchscript_model() -> None:
    model = mobilenet_v3("small", width_mult=0.35).eval()
    images = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        frozen = torch.jit.freeze(torch.jit.trace(model, images, check_trace=False))
    results = compare_latency({"eager": model, "frozen": frozen}, inputs=images, repeats=3, warmup=1)
    assert results["frozen"].median_ms > 0 and results["frozen"].input_shape == (1, 3, 64, 64)


def test_relation_to_puts_measured_ratios_in_words() -> None:
    from mnv3lib.analysis.benchmark import relation_to

    assert relation_to([4.1, 23.9], [4.94, 24.73]) == "close to"
    assert relation_to([2.0, 9.6], [4.94, 24.73]) == "below"
    assert relation_to([22.1, 11.4], [15.3, 8.5]) == "above"
    assert relation_to([2.0, 40.0], [4.94, 24.73]) == "on either side of"
    assert relation_to([2.0], [4.94], close=0.7) == "close to"
    for ours, published, close in (([], [], 0.25), ([1.0], [1.0, 2.0], 0.25), ([0.0], [1.0], 0.25), ([1.0], [1.0], 1.5)):
        with pytest.raises(ValueError):
            relation_to(ours, published, close=close)


def test_held_memory_stops_the_page_faults_that_made_light_models_slow() -> None:
    """LR-ASPP at 520×520 page-faulted thousands of pages per pass in some processes (glibc gave its freed
    activations back to the OS). Measured here over passes 5 to 10: 40,000 to 76,000 faults in each of four
    processes without the hold, 0 to 528 with it."""
    import json
    import subprocess
    import sys

    code = (
        "import json, resource, sys, torch\n"
        "from mnv3lib.analysis.benchmark import hold_freed_memory\n"
        "from mnv3lib.models.segmentation import lraspp_mobilenet_v3_large\n"
        "torch.set_num_threads(2)\n"
        "if not hold_freed_memory():\n"
        "    print('null'); sys.exit()\n"
        "model, x = lraspp_mobilenet_v3_large().eval(), torch.rand(1, 3, 520, 520)\n"
        "faults = []\n"
        "with torch.inference_mode():\n"
        "    for _ in range(10):\n"
        "        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "        model(x)\n"
        "        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
        "print(json.dumps(faults))\n"
    )
    faults = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    if faults is None:
        pytest.skip("the C library is not glibc")
    assert faults[0] > 1000  # the first passes take their memory from the OS
    assert sum(faults[4:]) < 5000, faults  # then the heap has grown to the peak, and keeps it
