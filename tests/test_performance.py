"""The benchmark's arithmetic and storage (falign.performance); no timing is asserted."""
import json

import pytest

from falign import performance
from falign.performance import BASELINE, interleaved


def fake_steps(costs: dict[str, float], drift: list[float], calls: list[str]):
    """Steps that 'take' cost x the current load; the load changes once per round of calls."""
    n = len(costs)

    def make(name):
        def step():
            calls.append(name)
            return costs[name] * drift[min((len(calls) - 1) // n, len(drift) - 1)]
        return step
    return {name: make(name) for name in costs}


def test_paired_ratio_is_immune_to_load_that_drifts_between_rounds():
    calls: list[str] = []
    drift = [1.0, 1.0, 5.0, 1.0, 9.0, 9.0, 9.0]          # 2 warm-up rounds, then 5 rounds
    steps = fake_steps({BASELINE: 1.0, "fa": 1.02, "signfa": 2.0}, drift, calls)
    table = interleaved(steps, rounds=5, warmup=2).set_index("candidate")
    assert table.loc["fa", "ratio"] == pytest.approx(1.02, abs=1e-12)
    assert table.loc["signfa", "ratio"] == pytest.approx(2.0, abs=1e-12)
    assert table.loc[BASELINE, "ratio"] == 1.0
    assert table.loc["fa", "median_ms"] == pytest.approx(1e3 * 1.02 * 9.0)
    assert len(calls) == 3 * (2 + 5)
    assert all(calls.count(name) == 7 for name in steps)


def test_rounds_run_every_candidate_once_in_a_shuffled_order():
    calls: list[str] = []
    steps = fake_steps({BASELINE: 1.0, "a": 1.0, "b": 1.0, "c": 1.0}, [1.0], calls)
    interleaved(steps, rounds=8, warmup=0, seed=3)
    rounds = [tuple(calls[i:i + 4]) for i in range(0, len(calls), 4)]
    assert all(sorted(r) == sorted(steps) for r in rounds)
    assert len(set(rounds)) > 1                               # not one fixed order


def test_bad_benchmark_input_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match="baseline"):
        interleaved({"fa": lambda: 1.0}, rounds=3)
    with pytest.raises(ValueError, match="at least 1"):
        interleaved({BASELINE: lambda: 1.0}, rounds=0)
    with pytest.raises(ValueError, match="choose from"):
        performance.run_benchmark("cpu", ["rules", "speed"], 1)
    with pytest.raises(FileNotFoundError, match="scripts/benchmark.py"):
        performance.load_benchmarks(tmp_path)
    (tmp_path / "old.json").write_text(json.dumps({"schema": 0, "cases": []}))
    with pytest.raises(ValueError, match="re-run scripts/benchmark.py"):
        performance.load_benchmarks(tmp_path)


def test_stored_benchmark_reads_back_row_for_row(tmp_path):
    calls: list[str] = []
    table = interleaved(fake_steps({BASELINE: 0.01, "fa": 0.0103}, [1.0], calls), rounds=3)
    doc = {"schema": performance.SCHEMA, "created_utc": "2026-11-30T00:00:00+00:00",
           "device": "cpu: test", "device_kind": "cpu", "threads": 2, "rounds": 3,
           "sections": ["rules"], "libraries": {"torch": "x"}, "wall_time_s": 1.0,
           "cases": json.loads(table.assign(section="rules", model="m")
                               .to_json(orient="records"))}
    path = performance.save_benchmark(doc, tmp_path / "bench" / "cpu.json")
    assert not list(path.parent.glob(".*"))                  # no temporary file left
    back = performance.load_benchmarks(path.parent).set_index("candidate")
    assert back.loc["fa", "ratio"] == pytest.approx(1.03)
    assert back.loc["fa", "times_ms"] == pytest.approx([10.3] * 3)
    assert set(back.device) == {"cpu: test"}


def test_sweep_wall_times_sum_and_count_stored_runs(tmp_path):
    def run(store, key, device, wall, stacked=None, memory=None):
        prov = {"device": device, "wall_time_s": wall}
        if memory:
            prov["memory"] = {"peak_rss_mib": memory, "scope": "run"}
        if stacked:
            prov["stacked_with"] = stacked
        folder = tmp_path / store / key
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"provenance": prov}))
    run("noisy", "a", "cpu: X", 1800.0, stacked=4)
    run("noisy", "b", "cpu: X", 3600.0, stacked=4)
    run("noisy", "c", "H100", 10.0, memory=812.4)
    run("_checkpoints", "d", "cpu: X", 99.0)                 # not a store
    (tmp_path / "noisy" / ".claims").mkdir()                  # no run.json: skipped
    table = performance.sweep_wall_times(tmp_path).set_index(["store", "device"])
    assert table.loc[("noisy", "cpu: X"), "runs"] == 2
    assert table.loc[("noisy", "cpu: X"), "total_h"] == pytest.approx(1.5)
    assert table.loc[("noisy", "cpu: X"), "stacked_runs"] == 2
    assert table.loc[("noisy", "H100"), "median_run_s"] == 10.0
    assert len(table) == 2
    assert table.loc[("noisy", "H100"), "max_peak_rss_mib"] == "812"
    assert table.loc[("noisy", "cpu: X"), "max_peak_rss_mib"] == "not recorded"
    assert table.loc[("noisy", "cpu: X"), "memory_recorded"] == 0
