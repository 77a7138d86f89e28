"""The family interface: a toy family defined here runs through the shared sweep, the store,
the claims that keep workers apart, the pending-runs command and the chapter loader, with no
change to any of them."""
import json
import os
import subprocess
import sys
import types
from dataclasses import dataclass

import pandas as pd
import pytest

from falign import families
from falign.chapters import load_results, status_banner
from falign.runs import pack, pending_table, unpack
from falign.store import ResultStore, spec_key
from falign.sweep import Claims, RunResult, run_sweep


@dataclass(frozen=True)
class ToyProtocol:
    sizes: tuple = (1, 2)
    rules: tuple = ("fa", "bp")
    repeats: int = 2
    scale: float = 1.0


def make_toy_family(calls):
    toy = types.ModuleType("toy_family")
    toy.NAME = "toy"
    toy.CELL = ("size", "rule")
    toy.PROFILES = {"paper": ToyProtocol(), "quick": ToyProtocol(repeats=1),
                    "smoke": ToyProtocol(sizes=(1,), repeats=1)}
    toy.store_name = lambda profile: "toy"
    toy.run_specs = lambda p: [{"experiment": "toy", "size": s, "rule": r, "repeat": k,
                                "scale": p.scale}
                               for k in range(p.repeats) for s in p.sizes for r in p.rules]
    toy.group_key = lambda spec: (spec["size"], spec["repeat"])

    def train_group(specs, ctx):
        calls.append([spec_key(s) for s in specs])
        return [RunResult(pd.DataFrame({"epoch": [0, 1], "rule": s["rule"],
                                        "value": [0.0, s["size"] * s["scale"] + s["repeat"]]}),
                          {"note": "toy"}) for s in specs]

    toy.train_group = train_group
    return families.register(toy)


@pytest.fixture
def toy():
    calls = []
    yield make_toy_family(calls), calls
    families._REGISTERED.pop("toy", None)


def test_toy_family_runs_through_sweep_store_and_loader(toy, tmp_path):
    family, calls = toy
    assert families.get_family("toy") is family
    store = ResultStore(tmp_path, "toy")
    report = run_sweep(family, family.PROFILES["quick"], store, progress=False)
    assert len(report.trained) == 4 and len(calls) == 2          # grouped by (size, repeat)
    assert report.pending == []
    record = store.records()[0]
    assert record["provenance"]["note"] == "toy" and "wall_time_s" in record["provenance"]
    # the paper grid holds the quick runs: shown as 1 of 2 repeats per cell, the rest pending
    sweep = load_results("toy", "paper", tmp_path)
    assert (sweep.stored, sweep.expected, sweep.complete) == (4, 8, False)
    assert sweep.cells.stored.tolist() == [1, 1, 1, 1] and sweep.cells.planned.tolist() == [2] * 4
    assert "falign.runs train toy --profile paper" in sweep.status()
    html = status_banner(sweep).data
    assert "4 of 8 runs" in html and "size = 1: fa 1/2; bp 1/2" in html
    assert "4 of 8 runs stored, 4 pending" in pending_table(family, "paper", tmp_path)
    # resume: only the missing runs are trained; nothing is trained twice
    calls.clear()
    run_sweep(family, family.PROFILES["paper"], store, progress=False)
    assert sum(map(len, calls)) == 4 and load_results("toy", "paper", tmp_path).complete
    with pytest.raises(ValueError, match=r"unknown protocol field\(s\) \['scael'\]"):
        load_results("toy", "paper", tmp_path, overrides={"scael": 2})


def test_runs_claimed_by_a_live_worker_are_skipped_and_stale_claims_taken_over(toy, tmp_path):
    family, calls = toy
    store = ResultStore(tmp_path, "toy")
    protocol = family.PROFILES["smoke"]
    specs = family.run_specs(protocol)
    claims = Claims(store.folder / ".claims")
    assert claims.acquire(spec_key(specs[0]))              # this process holds one claim
    assert not claims.acquire(spec_key(specs[0]))          # and nobody can take it twice
    report = run_sweep(family, protocol, store, progress=False)
    assert report.trained == [spec_key(specs[1])]
    assert report.claimed_elsewhere == [spec_key(specs[0])]
    # a claim left by a process that is gone is stale and taken over
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    path = store.folder / ".claims" / f"{spec_key(specs[0])}.claim"
    path.write_text(json.dumps({"pid": int(dead), "host": os.uname().nodename, "time": 1e12}))
    report = run_sweep(family, protocol, store, progress=False)
    assert report.trained == [spec_key(specs[0])] and not path.exists()


def test_pack_and_unpack_move_runs_without_overwriting(toy, tmp_path):
    family, _ = toy
    src = tmp_path / "src"
    run_sweep(family, family.PROFILES["smoke"], ResultStore(src, "toy"), progress=False)
    (src / "_checkpoints" / "toy").mkdir(parents=True)
    (src / "_checkpoints" / "toy" / "abc.pt").write_bytes(b"state")
    archive = tmp_path / "runs.tar.gz"
    assert pack("toy", archive, src) == 3
    dest = tmp_path / "dest"
    assert unpack(archive, dest) == 3
    assert len(ResultStore(dest, "toy").records()) == 2
    assert (dest / "_checkpoints" / "toy" / "abc.pt").read_bytes() == b"state"
    assert unpack(archive, dest) == 0                              # already there: kept
    # a checkpoint too large for a device job's return is left out, runs are not
    (src / "_checkpoints" / "toy" / "big.pt").write_bytes(b"x" * 2**20)
    assert pack("toy", tmp_path / "small.tar.gz", src, max_checkpoint_mb=0.5) == 3
    assert pack("toy", tmp_path / "all.tar.gz", src) == 4


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown experiment family 'lenet'.*lenet_cifar.*noisy_mnist"):
        families.get_family("lenet")


def test_a_terminated_worker_releases_its_claim(toy, tmp_path):
    import signal
    script = tmp_path / "worker.py"
    script.write_text(
        "import sys, time, types, pandas as pd\n"
        "from falign import families, runs\n"
        "from falign.sweep import RunResult\n"
        "toy = types.ModuleType('toy'); toy.NAME = 'slow'; toy.CELL = ('rule',)\n"
        "toy.PROFILES = {'paper': None}; toy.store_name = lambda p: 'slow'\n"
        "toy.run_specs = lambda p: [{'experiment': 'slow', 'rule': 'fa'}]\n"
        "toy.group_key = lambda s: 0\n"
        "def train_group(specs, ctx):\n"
        "    print('training', flush=True); time.sleep(60)\n"
        "toy.train_group = train_group\n"
        "families.register(toy)\n"
        f"runs.main(['train', 'slow', '--results', {str(tmp_path)!r}])\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "training"
    claims = list((tmp_path / "slow" / ".claims").glob("*.claim"))
    assert len(claims) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert not claims[0].exists()


def test_a_sweep_resumes_checkpointed_runs_before_starting_new_ones(toy, tmp_path):
    fam, calls = toy
    store = ResultStore(tmp_path, "toy")
    ckpt = tmp_path / "_checkpoints" / "toy"
    ckpt.mkdir(parents=True)
    specs = fam.run_specs(fam.PROFILES["paper"])
    last = specs[-1]                                  # last in the family's order ...
    (ckpt / f"{spec_key(last)}.pt").write_bytes(b"state")
    (ckpt / f"{spec_key(last)}.json").write_text(json.dumps(
        {"epoch": 3, "epochs": 9, "elapsed_s": 7200.0, "saved_utc": "2026-01-01T00:00:00Z"}))
    listing = pending_table(fam, "paper", tmp_path)
    assert f"resumable {spec_key(last)}" in listing and "epoch 3 of 9, 2.00 h trained" in listing
    run_sweep(fam, fam.PROFILES["paper"], store, progress=False, max_runs=1, checkpoints=ckpt)
    assert spec_key(last) in calls[0]                 # ... but trained first
    assert not (ckpt / f"{spec_key(last)}.pt").exists()
    assert not (ckpt / f"{spec_key(last)}.json").exists()
