"""Several workers on one result store: processes started by the pending-runs command, and a
submitit job array (local executor), train one sweep together; each run is trained to the end
once, none is lost, and a worker killed mid-run leaves a claim that is taken over."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from falign import cluster
from falign.store import ResultStore
from falign.sweep import Claims

SLOW_FAMILY = textwrap.dedent('''
    """A family whose runs take a moment and write to a log when they start and end."""
    import os, time
    import pandas as pd
    from falign.sweep import RunResult
    from falign.store import spec_key

    NAME = "slowtoy"
    CELL = ("run",)
    PROFILES = {"paper": 8}
    store_name = lambda profile: "slowtoy"
    run_specs = lambda n: [{"experiment": "slowtoy", "run": k} for k in range(n)]
    group_key = lambda spec: spec["run"] // int(os.environ.get("SLOWTOY_GROUP", "1"))

    def _log(line):
        fd = os.open(os.environ["SLOWTOY_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (line + "\\n").encode())
        os.close(fd)

    def train_group(specs, ctx):
        for spec in specs:
            _log(f"start {spec_key(spec)} {os.getpid()}")
        time.sleep(float(os.environ.get("SLOWTOY_SECONDS", "0.6")))
        for spec in specs:
            _log(f"done {spec_key(spec)} {os.getpid()}")
        return [RunResult(pd.DataFrame({"epoch": [0], "value": [float(s["run"])]})) for s in specs]
''')


@pytest.fixture
def slowtoy(tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "slowtoy.py").write_text(SLOW_FAMILY)
    log = tmp_path / "training.log"
    monkeypatch.setenv("FALIGN_FAMILIES", "slowtoy")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(tmp_path / "pkg"), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("SLOWTOY_LOG", str(log))
    monkeypatch.setenv("FALIGN_PROGRESS", "0")
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    return tmp_path / "results", log


def _events(log: Path) -> list[tuple[str, str, int]]:
    if not log.exists():
        return []
    return [(w, k, int(p)) for w, k, p in (line.split() for line in log.read_text().splitlines())]


def _worker(results: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "falign.runs", "train", "slowtoy",
                             "--device", "cpu", "--results", str(results)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_workers_share_one_store_and_a_killed_workers_run_is_taken_over(slowtoy):
    results, log = slowtoy
    workers = [_worker(results) for _ in range(3)]
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:     # a worker in the middle of a run
        events = _events(log)
        done = {k for w, k, _ in events if w == "done"}
        running = [(k, p) for w, k, p in events if w == "start" and k not in done]
        if running:
            victim = running[0]
        time.sleep(0.05)
    assert victim is not None, "no worker started a run within two minutes"
    killed_key, killed_pid = victim
    os.kill(killed_pid, signal.SIGKILL)                        # no chance to release its claim
    for w in workers:
        w.wait(timeout=120)
    # whatever the survivors did not take over, one more worker finishes
    assert subprocess.run([sys.executable, "-m", "falign.runs", "train", "slowtoy", "--device",
                           "cpu", "--results", str(results)], capture_output=True).returncode == 0
    events = _events(log)
    finished = Counter(k for w, k, _ in events if w == "done")
    store = ResultStore(results, "slowtoy")
    assert len(store.records()) == 8 == len(finished)                  # none lost
    assert set(finished.values()) == {1}                               # none trained twice
    assert (killed_key, killed_pid) in [(k, p) for w, k, p in events if w == "start"]
    assert all(p != killed_pid for w, k, p in events if w == "done")   # it died mid-run
    assert len({p for _, _, p in events}) >= 3                         # work was shared
    assert list((results / "slowtoy" / ".claims").glob("*.claim")) == []
    assert [p.name for p in (results / "slowtoy").iterdir() if p.name.startswith(".tmp")] == []


TAKER = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    from falign.sweep import Claims
    folder, keys, out = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
    won = [k for k in keys if Claims(folder).acquire(k)]
    Path(out).write_text(json.dumps(won))
''')


def test_concurrent_takeovers_of_stale_claims_give_each_run_one_owner(tmp_path):
    folder = tmp_path / ".claims"
    folder.mkdir()
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    keys = [f"run{k:03d}" for k in range(60)]
    for key in keys:                                   # every claim left by a dead worker
        (folder / f"{key}.claim").write_text(json.dumps({"pid": dead, "host": os.uname().nodename}))
    script = tmp_path / "taker.py"
    script.write_text(TAKER)
    procs = [subprocess.Popen([sys.executable, str(script), str(folder), ",".join(keys),
                               str(tmp_path / f"won{i}.json")]) for i in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    won = Counter(k for i in range(4) for k in json.loads((tmp_path / f"won{i}.json").read_text()))
    assert sorted(won) == keys and set(won.values()) == {1}


def test_claims_of_other_hosts_expire_by_heartbeat_and_held_claims_are_kept_fresh(tmp_path):
    claims = Claims(tmp_path, heartbeat_s=0.05, stale_s=0.5)
    other = tmp_path / "remote.claim"
    other.write_text(json.dumps({"pid": 1, "host": "another-node"}))
    assert not claims.acquire("remote")                # a live worker elsewhere holds it
    old = time.time() - 10
    os.utime(other, (old, old))                        # ... until its heartbeat stops
    assert claims.acquire("remote")
    os.utime(other, (old, old))
    time.sleep(0.3)                                    # our heartbeat touches what we hold
    assert time.time() - other.stat().st_mtime < 0.5
    assert not Claims(tmp_path, stale_s=0.5).acquire("remote")
    claims.release("remote")
    assert not other.exists()


def test_submitit_local_array_trains_the_missing_runs_once(slowtoy, monkeypatch):
    results, log = slowtoy
    monkeypatch.setenv("SLOWTOY_SECONDS", "0.1")
    monkeypatch.setenv("SLOWTOY_GROUP", "4")           # two array tasks of four runs each
    store = ResultStore(results, "slowtoy")
    assert len(cluster.task_keys(cluster.get_family("slowtoy"), "paper", results)) == 2
    jobs = cluster.submit([("slowtoy", "paper")], results, executor="local",
                          logs=results.parent / "submitit", time_min=10, device="cpu")
    outcomes = [job.result() for job in jobs]
    assert len(jobs) == 2 and sum(len(o["trained"]) for o in outcomes) == 8
    assert len(store.records()) == 8
    assert set(Counter(k for w, k, _ in _events(log) if w == "done").values()) == {1}
    assert cluster.submit([("slowtoy", "paper")], results, executor="local",
                          logs=results.parent / "submitit", time_min=10) == []   # nothing left


def test_submit_rejects_an_unknown_executor_a_short_limit_and_an_unknown_profile(slowtoy):
    results, _ = slowtoy
    with pytest.raises(ValueError, match="unknown executor 'pbs'; use one of local, slurm"):
        cluster.submit([("slowtoy", "paper")], results, executor="pbs")
    with pytest.raises(ValueError, match="time limit of 4 min leaves no time"):
        cluster.submit([("slowtoy", "paper")], results, time_min=4)
    with pytest.raises(ValueError, match="unknown profile 'quick' of slowtoy; profiles: paper"):
        cluster.submit([("slowtoy", "quick")], results, logs=results.parent / "submitit")


def test_an_unimportable_family_module_names_the_fix(monkeypatch):
    from falign import families
    monkeypatch.setenv("FALIGN_FAMILIES", "no_such_family_module")
    with pytest.raises(ValueError, match="cannot be imported.*PYTHONPATH"):
        families.get_family("noisy_mnist")


def test_the_slurm_path_writes_one_array_with_the_asked_resources(slowtoy, monkeypatch, tmp_path):
    """No cluster here: stand-ins for srun and sbatch record what submitit would submit."""
    results, _ = slowtoy
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        f"#!/bin/sh\nfor a in \"$@\"; do last=$a; done\ncp \"$last\" {tmp_path}/submitted.sh\n"
        "echo 'Submitted batch job 4242'\n")
    for tool in ("srun", "sbatch"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    jobs = cluster.submit([("slowtoy", "paper")], results, executor="slurm", partition="gpu",
                          gpus_per_task=1, cpus_per_task=8, time_min=120, max_parallel=3,
                          logs=tmp_path / "submitit")
    assert len(jobs) == 8 and {j.job_id for j in jobs} == {f"4242_{k}" for k in range(8)}
    script = (tmp_path / "submitted.sh").read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --time=120", "#SBATCH --array=0-7%3"):
        assert line in script
    assert ResultStore(results, "slowtoy").records() == []       # nothing ran here
