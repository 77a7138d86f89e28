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
