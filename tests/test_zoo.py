"""The zoo table counts parameters and multiply-adds of the book's models, as the chapters and TorchVision do."""

from __future__ import annotations

import json

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


def test_the_shipped_timing_record_covers_every_timed_model() -> None:
    """Chapters 4 and 6 and the zoo print this one record: it must hold every entry they take, sanely."""
    from mnv3lib.book.zoo import load_latency_record, timing_entries

    record = load_latency_record()
    assert set(record.median_ms) == set(timing_entries()) == set(record.q1_ms) == set(record.q3_ms)
    for name, median in record.median_ms.items():
        assert 0 < record.q1_ms[name] <= median <= record.q3_ms[name], name
    assert record.memory_held and record.repeats >= 5 and record.command == "python -m mnv3lib.book latency"
    assert {"torch", "threads", "processor"} <= set(record.machine) and str(record).startswith("the book's timing record")
    # the three heads at 320 px do less work than at 520 px, so a sane record times them faster
    for head in ("LR-ASPP", "DeepLabV3", "FCN"):
        assert record.median_ms[f"{head} MobileNetV3-Large, at 320 px"] < record.median_ms[f"{head} MobileNetV3-Large"]


def test_zoo_table_takes_its_latency_from_a_record_or_says_what_is_missing(tmp_path) -> None:
    from mnv3lib.book.zoo import load_latency_record, record_latency

    small = {"MobileNetV3-Small": zoo_entries()["MobileNetV3-Small"]}
    written = record_latency(tmp_path, entries=small, repeats=2, warmup=0)
    assert not list(tmp_path.glob("*.partial")) and [p.name for p in tmp_path.iterdir()] == ["latency_results.json"]
    record = load_latency_record(tmp_path / "latency_results.json")
    assert record == written and record.repeats == 2 and record.median_ms["MobileNetV3-Small"] > 0
    table = zoo_table(small, latency=record)
    assert table.loc["MobileNetV3-Small", "CPU latency (ms)"] == record.median_ms["MobileNetV3-Small"]
    with pytest.raises(ValueError, match="no MobileNetV3-Large: run `python -m mnv3lib.book latency`"):
        zoo_table({"MobileNetV3-Large": zoo_entries()["MobileNetV3-Large"]}, latency=record)
    with pytest.raises(ValueError, match="True, False or a LatencyRecord"):
        zoo_table(small, latency="recorded")
    for counts in ({"repeats": 0}, {"warmup": -1}, {"repeats": 2.5}):
        with pytest.raises((ValueError, TypeError), match="repeats|warmup"):
            zoo_table(small, **counts)
        with pytest.raises((ValueError, TypeError), match="repeats|warmup"):
            record_latency(tmp_path, entries=small, **counts)
    with pytest.raises(FileNotFoundError, match="no folder"):
        record_latency(tmp_path / "missing", entries=small)
    with pytest.raises(FileNotFoundError, match="run `python -m mnv3lib.book latency` first"):
        load_latency_record(tmp_path / "none.json")
    (tmp_path / "other.json").write_text('{"runs": {}}')
    with pytest.raises(ValueError, match="is not a timing record"):
        load_latency_record(tmp_path / "other.json")
    (tmp_path / "cut.json").write_text('{"median_ms": {')
    with pytest.raises(ValueError, match="not valid JSON.*again"):
        load_latency_record(tmp_path / "cut.json")
    fields = json.loads((tmp_path / "latency_results.json").read_text())
    for key, value in (("median_ms", {"MobileNetV3-Small": -1.0}), ("machine", {"torch": "2.14.1"})):
        (tmp_path / "edited.json").write_text(json.dumps(fields | {key: value}))
        with pytest.raises(ValueError, match="again"):
            load_latency_record(tmp_path / "edited.json")
    with pytest.raises(ValueError, match="at least one zoo entry"):
        zoo_table({}, latency=False)


def test_the_latency_command_refuses_bad_repeats_before_timing(capsys) -> None:
    from mnv3lib.book.__main__ import main

    with pytest.raises(SystemExit):
        main(["latency", "--repeats", "0"])
    assert "argument --repeats: expected an int >= 1, got 0" in capsys.readouterr().err
