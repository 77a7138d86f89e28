"""Faults in the result store: writers killed with SIGKILL at random points, damaged files, a
full disk, a read-only folder.  Nothing acknowledged is lost, nothing damaged is read as good,
and each fault names its cause and its fix."""
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

import falign.store as store_module
from falign.runs import verify_results
from falign.store import (ResultStore, StoreIntegrityError, StoreWriteError, run_problems,
                          upgrade_run)

SPECS = [{"experiment": "faults", "run": k} for k in range(120)]


def measurements(spec: dict) -> pd.DataFrame:
    k = spec["run"]
    return pd.DataFrame({"epoch": range(40), "loss": [1.0 / (k + e + 1) for e in range(40)]})


def save_all(store: ResultStore, specs=SPECS) -> None:
    for spec in specs:
        store.save(spec, measurements(spec), {"wall_time_s": 0.0, "device": "cpu"})


def save_forever(store: ResultStore, done_fd: int | None = None) -> None:
    """A writer that never runs out of runs to store, however fast the machine: every kill
    falls inside the sweep (stored runs are skipped, new ones written).  After each save it
    writes a byte to `done_fd`, so the test can wait for one to finish."""
    k = 0
    while True:
        spec = {"experiment": "faults", "run": k}
        if not store.has(spec):
            save_all(store, [spec])
            if done_fd is not None:
                os.write(done_fd, b".")             # a run this writer stored itself
        k += 1


def test_writers_killed_at_random_points_never_leave_a_run_that_reads_as_complete(tmp_path):
    root = tmp_path / "killed"
    rng = random.Random(20261130)
    store = ResultStore(root, "faults")
    kills = 0
    while kills < 60:
        done_read, done_write = os.pipe()
        pid = os.fork()
        if pid == 0:                                      # the writer: saves until killed
            try:
                os.close(done_read)
                save_forever(ResultStore(root, "faults"), done_write)
            finally:
                os._exit(0)
        os.close(done_write)
        if kills % 6 == 0:
            # Every sixth writer lives until it has finished a save: on a loaded machine
            # (fsyncs of seconds) random kills alone could otherwise never let a run finish.
            os.read(done_read, 1)
        time.sleep(rng.uniform(0.005, 0.06))
        os.kill(pid, signal.SIGKILL)
        os.close(done_read)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            kills += 1
        # every run that exists is whole: its record and files match their checksums
        for folder in store._run_folders():
            assert run_problems(folder) == [], folder
    assert kills == 60
    before = len(store.records())
    assert before > 0                                     # the awaited saves finished
    report = verify_results(root, repair=True)
    assert report.damaged == {} and report.runs == before
    assert all(".tmp-" in p.name for p in report.stray)   # only unfinished writes are left over
    specs = [{"experiment": "faults", "run": k} for k in range(before + 5)]
    save_all(store, specs)                                # the resumed sweep
    reference = ResultStore(tmp_path / "uninterrupted", "faults")
    save_all(reference, specs)
    pd.testing.assert_frame_equal(store.table(), reference.table())
    assert verify_results(root).clean


@pytest.fixture
def stored(tmp_path):
    store = ResultStore(tmp_path, "faults")
    for spec in SPECS[:3]:
        store.save(spec, measurements(spec), {"wall_time_s": 1.5, "device": "cpu"})
    return store


def test_a_truncated_file_is_reported_by_name_on_read_and_by_verify(stored, tmp_path):
    path = stored.path(SPECS[1]) / "measurements.csv.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(StoreIntegrityError,
                       match=rf"run {stored.path(SPECS[1]).name} .*measurements.csv.gz does not "
                             r"match its checksum.*verify --repair"):
        stored.load(SPECS[1])
    with pytest.raises(StoreIntegrityError):
        stored.table()                                    # no chapter reads it as good
    report = verify_results(tmp_path)
    assert list(report.damaged) == [stored.path(SPECS[1])] and not report.clean
    pd.testing.assert_frame_equal(stored.load(SPECS[0])[1], measurements(SPECS[0]),
                                  check_dtype=False, rtol=1e-7)   # the others still read


def test_a_flipped_byte_in_the_record_or_the_data_is_caught(stored, tmp_path):
    record = stored.path(SPECS[0]) / "run.json"
    text = record.read_text()
    record.write_text(text.replace('"wall_time_s": 1.5', '"wall_time_s": 7.5'))   # still JSON
    with pytest.raises(StoreIntegrityError, match="run.json was altered"):
        stored.records()
    data = stored.path(SPECS[2]) / "measurements.csv.gz"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    report = verify_results(tmp_path, repair=True)
    assert set(report.damaged) == {stored.path(SPECS[0]), stored.path(SPECS[2])}
    assert not stored.has(SPECS[0]) and not stored.has(SPECS[2]) and stored.has(SPECS[1])
    quarantined = sorted(p.name.split(".")[0] for p in (tmp_path / "_quarantine" / "faults").iterdir())
    assert quarantined == sorted([stored.path(SPECS[0]).name, stored.path(SPECS[2]).name])
    assert verify_results(tmp_path).clean                 # the sweep would retrain those two


def test_a_full_disk_ends_the_write_with_a_named_error_and_keeps_earlier_runs(stored, tmp_path,
                                                                            monkeypatch):
    def full(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "_fsync_file", full)
    with pytest.raises(StoreWriteError, match=r"No space left on device \(errno 28\); free "
                                              r"space.*runs stored before are intact"):
        stored.save(SPECS[5], measurements(SPECS[5]), {"wall_time_s": 0.0})
    monkeypatch.undo()
    assert not stored.has(SPECS[5])
    assert [p.name for p in stored.folder.iterdir() if p.name.startswith(".")] == []
    assert len(stored.records()) == 3 and verify_results(tmp_path).clean


def test_a_read_only_results_folder_ends_the_sweep_with_a_named_error(tmp_path, monkeypatch):
    import types

    from falign.sweep import RunResult, run_sweep
    family = types.ModuleType("faults_family")
    family.NAME, family.CELL = "faults", ("run",)
    family.run_specs = lambda n: SPECS[:n]
    family.group_key = lambda spec: spec["run"]
    family.train_group = lambda specs, ctx: [RunResult(measurements(s)) for s in specs]
    store = ResultStore(tmp_path, "faults")
    real_mkdtemp, calls = store_module.tempfile.mkdtemp, []

    def mkdtemp(*args, **kwargs):                          # the folder turns read-only
        calls.append(1)
        if len(calls) > 2:
            raise PermissionError(errno.EROFS, "Read-only file system")
        return real_mkdtemp(*args, **kwargs)

    monkeypatch.setattr(store_module.tempfile, "mkdtemp", mkdtemp)
    with pytest.raises(StoreWriteError, match=r"could not store run [0-9a-f]{16} in .*Read-only "
                                              r"file system.*make the folder writable"):
        run_sweep(family, 5, store, progress=False)
    monkeypatch.undo()
    assert [r["spec"]["run"] for r in store.records()] == [0, 1]      # nothing lost
    assert list((store.folder / ".claims").glob("*.claim")) == []     # claims released
    assert verify_results(tmp_path).clean
    report = run_sweep(family, 5, store, progress=False)              # writable again: resumes
    assert len(report.trained) == 3 and len(store.records()) == 5


def test_runs_stored_before_checksums_read_as_they_are_and_upgrade_without_retraining(tmp_path):
    store = ResultStore(tmp_path, "old")
    folder = store.path(SPECS[0])
    folder.mkdir(parents=True)
    measurements(SPECS[0]).to_csv(folder / "measurements.csv.gz", index=False)
    (folder / "run.json").write_text(json.dumps({"key": folder.name, "spec": SPECS[0],
                                                 "provenance": {"wall_time_s": 2.0}}))
    assert store.load(SPECS[0])[0]["provenance"]["wall_time_s"] == 2.0
    report = verify_results(tmp_path)
    assert report.unchecked == [folder] and not report.clean
    data_before = (folder / "measurements.csv.gz").read_bytes()
    report = verify_results(tmp_path, upgrade=True)
    assert report.upgraded == [folder]
    assert (folder / "measurements.csv.gz").read_bytes() == data_before
    assert run_problems(folder) == [] and verify_results(tmp_path).clean
    assert not upgrade_run(folder)                        # only once


def test_verify_exits_non_zero_on_damage_and_names_the_repair(stored, tmp_path):
    (stored.path(SPECS[0]) / "measurements.csv.gz").write_bytes(b"")
    out = subprocess.run([sys.executable, "-m", "falign.runs", "verify", "--results", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "1 damaged" in out.stdout and "--repair moves damaged runs" in out.stdout


def test_verify_retrain_recomputes_stored_runs_and_flags_one_that_does_not(tmp_path):
    """--retrain K on the toy family of the sweep tests: a sound run recomputes; a run whose
    stored numbers were changed (and re-checksummed, so only retraining can tell) is flagged."""
    import types

    from falign import families
    from falign.sweep import RunResult, run_sweep

    def curve(spec, epochs):
        return pd.DataFrame({"epoch": range(epochs + 1),
                             "loss": [1.0 / (spec["run"] + e + 1) for e in range(epochs + 1)]})

    family = types.ModuleType("retrain_toy")
    family.NAME, family.CELL, family.PROFILES = "retrain_toy", ("run",), {"paper": 2}
    family.store_name = lambda profile: "retrain_toy"
    family.run_specs = lambda n: [{"experiment": "retrain_toy", "run": k, "epochs": 5}
                                  for k in range(n)]
    family.group_key = lambda spec: spec["run"]
    family.train_group = lambda specs, ctx: [RunResult(curve(s, s["epochs"])) for s in specs]
    families.register(family)
    try:
        store = ResultStore(tmp_path, "retrain_toy")
        run_sweep(family, 2, store, progress=False)
        report = verify_results(tmp_path, retrain_epochs=3, sample=2)
        assert len(report.retrained) == 2 and report.mismatched == {} and report.clean
        forged = store.path(family.run_specs(2)[1])
        curve({"run": 7}, 5).to_csv(forged / "measurements.csv.gz", index=False)
        rec = json.loads((forged / "run.json").read_text())
        del rec["checksums"], rec["record_sha256"]
        (forged / "run.json").write_text(json.dumps(rec))
        upgrade_run(forged)                               # checksums agree with the forgery
        report = verify_results(tmp_path, retrain_epochs=3, sample=2)
        assert list(report.mismatched) == [forged] and "loss" in report.mismatched[forged]
        assert not report.clean
    finally:
        families._REGISTERED.pop("retrain_toy", None)
