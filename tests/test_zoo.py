"""The zoo table counts parameters and multiply-adds of the book's models, as the chapters and TorchVision do."""

from __future__ import annotations

import pytest
import torch

from mnv3lib.analysis.introspection import count_macs, forward_macs
from mnv3lib.models import mobilenet_v3_small
from mnv3lib.book.zoo import zoo_entries, zoo_table


def test_forward_macs_agree_with_the_classifier_count_and_grow_with_rows() -> None:
    model = mobilenet_v3_small()
    assert forward_macs(model, torch.zeros(1, 3, 224, 224)) == count_macs(model, 224) == 56_510_400
    linear = torch.nn.Linear(10, 4)
    assert forward_macs(linear, torch.zeros(7, 10)) == 7 * 10 * 4  # one row per region, as in a detector's head


def test_zoo_table_rows() -> None:
    entries = zoo_entries()
    assert {"MobileNetV3-Large", "LR-ASPP MobileNetV3-Large", "Faster R-CNN MobileNetV3-Large FPN", "DeepLabV3 ResNet-50"} <= set(entries)
    chosen = {name: entries[name] for name in ("MobileNetV3-Large", "MobileNetV3-Large int8", "LR-ASPP MobileNetV3-Large")}
    chosen["LR-ASPP MobileNetV3-Large"] = type(chosen["LR-ASPP MobileNetV3-Large"])(**{**vars(chosen["LR-ASPP MobileNetV3-Large"]), "ours": None, "image_size": (64, 64)})
    table = zoo_table(chosen, repeats=1, warmup=0)
    assert table.loc["MobileNetV3-Large", "parameters (M)"] == pytest.approx(5.483032)
    assert table.loc["MobileNetV3-Large", "multiply-adds (G)"] == pytest.approx(table.loc["MobileNetV3-Large", "TorchVision: multiply-adds (G)"], abs=5e-4)
    assert table.loc["MobileNetV3-Large int8", "multiply-adds (G)"] == table.loc["MobileNetV3-Large", "multiply-adds (G)"]
    assert table.loc["LR-ASPP MobileNetV3-Large", "parameters (M)"] == pytest.approx(3.221538)
    assert (table["CPU latency (ms)"] > 0).all() and table.loc["LR-ASPP MobileNetV3-Large", "ours, on the book's data"] == "—"
    assert "TorchVision" in table.loc["MobileNetV3-Large", "published"]


def test_the_zoos_book_detectors_are_the_trained_ones() -> None:
    """Built from the configs they were trained with: SSDlite keeps the shapes backbone's full tail."""
    from mnv3lib.analysis.introspection import count_parameters
    from mnv3lib.book.artifacts import load_book_detector

    entries = zoo_entries()
    for entry, name in (("book SSDlite320", "ssdlite"), ("book Faster R-CNN 320", "fasterrcnn_320"), ("book keypoint R-CNN, 256 px", "main")):
        trained, _ = load_book_detector(name)
        assert count_parameters(entries[entry].build()) == count_parameters(trained), entry
    table = zoo_table({"SSDlite320 MobileNetV3-Large": entries["SSDlite320 MobileNetV3-Large"]}, latency=False)
    row = table.loc["SSDlite320 MobileNetV3-Large"]
    assert row["multiply-adds (G)"] == pytest.approx(row["TorchVision: multiply-adds (G)"], abs=5e-4)  # 0.583
