"""Result store: atomic writes, full provenance, resumable sweeps."""
import pandas as pd
import pytest

from falign.store import ResultStore, provenance, spec_key


def test_key_ignores_order_and_distinguishes_specs():
    assert spec_key({"a": 1, "b": [1, 2]}) == spec_key({"b": [1, 2], "a": 1})
    assert spec_key({"a": 1}) != spec_key({"a": 2})


def test_save_load_with_provenance(tmp_path):
    store = ResultStore(tmp_path, "exp")
    spec = {"rule": "fa", "width": 15, "lr": 0.05}
    df = pd.DataFrame({"epoch": [0, 5], "train_loss": [2.3, 1.123456789012]})
    assert not store.has(spec)
    store.save(spec, df, provenance("cpu", 1.5))
    assert store.has(spec)
    record, loaded = store.load(spec)
    assert record["spec"] == spec
    prov = record["provenance"]
    assert {"code", "libraries", "device", "wall_time_s", "finished_utc"} <= set(prov)
    assert prov["libraries"]["torch"] and prov["wall_time_s"] == 1.5
    assert loaded.train_loss.tolist() == pytest.approx([2.3, 1.123456789012], rel=1e-7)
    table = store.table(rule="fa")
    assert len(table) == 2 and set(table.width) == {15}
    assert store.table(rule="bp").empty


def test_interrupted_write_leaves_no_run(tmp_path, monkeypatch):
    import falign.store as store_module
    store = ResultStore(tmp_path, "exp")
    spec = {"rule": "bp"}

    def crash(*args, **kwargs):                               # dies before the final rename
        raise RuntimeError("interrupted")

    monkeypatch.setattr(store_module.os, "replace", crash)
    with pytest.raises(RuntimeError, match="interrupted"):
        store.save(spec, pd.DataFrame({"epoch": [0]}), {"wall_time_s": 0})
    monkeypatch.undo()
    assert not store.has(spec)
    assert list(store.folder.iterdir()) == []                 # the temporary folder is gone


def test_each_run_records_its_own_peak_memory_not_the_process_high_water_mark(tmp_path):
    """A process's peak RSS only grows; the sweep resets it before each group, so a small run
    trained after a large one records a small peak."""
    import types

    import numpy as np

    from falign.store import memory_summary
    from falign.sweep import RunResult, run_sweep

    sizes = {0: 400, 1: 1}          # MiB touched by each run

    def train_group(specs, ctx):
        out = []
        for spec in specs:
            block = np.ones(sizes[spec["run"]] * 2**20 // 8)      # touch every page
            out.append(RunResult(pd.DataFrame({"epoch": [1], "loss": [float(block[0])]})))
            del block
        return out

    family = types.ModuleType("memory_family")
    family.NAME, family.CELL = "memory", ("run",)
    family.run_specs = lambda n: [{"experiment": "memory", "run": k} for k in range(n)]
    family.group_key = lambda spec: spec["run"]
    family.train_group = train_group
    store = ResultStore(tmp_path, "memory")
    run_sweep(family, 2, store, progress=False)
    memory = {r["spec"]["run"]: r["provenance"]["memory"] for r in store.records()}
    assert memory[0]["scope"] == memory[1]["scope"] == "run"
    assert memory[0]["peak_rss_mib"] > memory[1]["peak_rss_mib"] + 300
    assert "peak_gpu_mib" not in memory[0]                         # no GPU here
    assert memory_summary({"memory": memory[0]}).endswith("MiB RSS (run)")
    assert memory_summary({"wall_time_s": 1.0}) == "not recorded"  # runs stored before


def test_a_stack_records_one_shared_peak_labelled_as_the_stacks(tmp_path):
    from falign.store import peak_memory, reset_peak_memory
    assert reset_peak_memory("cpu") is True                        # Linux: VmHWM resets
    entry = peak_memory("cpu", 4, was_reset=True)
    assert entry["scope"] == "stack of 4 runs" and entry["peak_rss_mib"] > 0
    assert peak_memory("cpu", 1, was_reset=False)["scope"].startswith("process (peak not")


def test_fields_added_later_leave_stored_keys_alone_until_they_differ():
    from falign.store import spec_key, without_added_defaults
    old = {"experiment": "x", "lr": 0.1, "width": 15}
    added = {"schedule": "fixed", "optimizer": "sgd"}
    as_before = without_added_defaults({**old, "schedule": "fixed", "optimizer": "sgd"}, added)
    assert spec_key(as_before) == spec_key(old)
    changed = without_added_defaults({**old, "schedule": "plateau", "optimizer": "sgd"}, added)
    assert changed == {**old, "schedule": "plateau"} and spec_key(changed) != spec_key(old)
