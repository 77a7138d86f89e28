"""Result store: every finished run is kept with its full specification and provenance.

Layout: <root>/<experiment>/<key>/run.json and measurements.csv.gz, where key is a hash of the
canonical JSON of the run's specification.  A run is written to a temporary folder, flushed to
disk (fsync) and renamed into place, and the parent folder is flushed after the rename, so a
folder that exists is complete, even after a power cut; an interrupted sweep resumes by skipping
the keys already stored.

Integrity: run.json holds the SHA-256 of every other file of the run ("checksums") and of its
own content ("record_sha256", over the canonical JSON of the record without that field).
Reading a run checks both; a mismatch raises StoreIntegrityError naming the run, the file and
the fix (`python -m falign.runs verify --repair` moves it aside; the next sweep retrains it).
Runs written before checksums existed are read as they are and upgraded, never retrained, by
`python -m falign.runs verify --upgrade`.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

FLOAT_FORMAT = "%.8g"


class StoreIntegrityError(RuntimeError):
    """A stored run whose files do not match their checksums (or cannot be parsed)."""


class StoreWriteError(RuntimeError):
    """A run that could not be written (disk full, read-only folder): nothing partial is left,
    and the runs stored before it are untouched."""


RUN_FILES = ("run.json", "measurements.csv.gz")
QUARANTINE = "_quarantine"          # <results>/_quarantine/<experiment>/<key>: damaged runs


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def record_sha256(record: dict) -> str:
    """SHA-256 of a run record's canonical JSON, leaving out the field that holds it."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_folder(path: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def spec_key(spec: dict) -> str:
    """A stable 16-hex-digit key of a run specification (order of keys does not matter)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def without_added_defaults(spec: dict, added: dict) -> dict:
    """`spec` without the protocol fields added after runs were stored, where they hold the
    value that reproduces those runs.

    A run's key hashes every field of its spec, so a new field would give every stored run a new
    key and orphan it.  A family lists each later field with its "as before" value in `added`
    ({field: value}); the field enters the spec (and the key) only when it differs, so the runs
    stored before it keep their keys and a new reading gets keys of its own."""
    return {k: v for k, v in spec.items() if not (k in added and v == added[k])}


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    """Git commit of the working tree (with a dirty flag) and a hash of falign's sources.

    Read once per process, on first use: a long sweep records the code it started with even
    if the sources are edited while it runs."""
    src = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        h.update(str(path.relative_to(src)).encode() + path.read_bytes())
    info = {"falign_source_sha256": h.hexdigest()[:16]}
    try:
        top = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", str(src)], cwd=src,
                               capture_output=True, text=True, check=True).stdout.strip()
        info.update(git_commit=top, git_dirty=bool(dirty))
    except (OSError, subprocess.CalledProcessError):
        info.update(git_commit=None, git_dirty=None)
    return info


def library_versions() -> dict:
    import numpy
    import torch
    versions = {"python": sys.version.split()[0], "torch": torch.__version__,
                "numpy": numpy.__version__, "pandas": pd.__version__}
    try:
        import torchvision
        versions["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    from . import __version__
    versions["falign"] = __version__
    return versions


def device_description(device: str) -> str:
    import torch
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {name} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def provenance(device: str, wall_time_s: float, memory: dict | None = None) -> dict:
    prov = {"code": code_version(), "libraries": library_versions(),
            "device": device_description(device), "wall_time_s": round(wall_time_s, 3),
            "finished_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if memory is not None:
        prov["memory"] = memory
    return prov


_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_peak_memory(device: str = "cpu") -> bool:
    """Start a fresh peak-memory window for the runs about to be trained.

    A process's peak resident set size (VmHWM) only grows, so without a reset a run's record
    would carry the peak of every run the process trained before it.  On Linux, writing "5" to
    /proc/self/clear_refs resets VmHWM to the current RSS (proc(5)); CUDA's allocator peak is
    reset by torch.  Returns whether the CPU peak could be reset (False elsewhere: the record
    then says the peak is the process's, not the run's)."""
    import torch
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(torch.device(device))
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mib() -> float | None:
    """The process's peak resident set size in MiB: VmHWM where /proc exists, else getrusage."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024          # kB
    except OSError:
        pass
    try:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    except (ImportError, OSError):
        return None


def peak_memory(device: str, runs: int, was_reset: bool) -> dict:
    """The provenance's memory entry for `runs` runs trained together since
    reset_peak_memory: peak resident memory (MiB), its scope (one run, or a stack of runs
    trained in one process step, whose peak is shared), and on a GPU the allocator's peak and
    the CUDA / cuDNN versions."""
    import torch
    rss = _peak_rss_mib()
    scope = "run" if runs == 1 else f"stack of {runs} runs"
    memory = {"peak_rss_mib": None if rss is None else round(rss, 1),
              "scope": scope if was_reset else f"process (peak not resettable here; {scope})"}
    if device.startswith("cuda") and torch.cuda.is_available():
        dev = torch.device(device)
        memory["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
        memory["cuda"] = torch.version.cuda
        memory["cudnn"] = torch.backends.cudnn.version()
    return memory


def memory_summary(prov: dict) -> str:
    """One line for a provenance card: '412 MiB (run)', or 'not recorded' for runs stored
    before memory was measured."""
    memory = prov.get("memory")
    if not memory or memory.get("peak_rss_mib") is None:
        return "not recorded"
    text = f"{memory['peak_rss_mib']:.0f} MiB RSS ({memory['scope']})"
    if memory.get("peak_gpu_mib") is not None:
        text += (f"; GPU {memory['peak_gpu_mib']:.0f} MiB, CUDA {memory.get('cuda')}, "
                 f"cuDNN {memory.get('cudnn')}")
    return text


class ResultStore:
    """Runs of one experiment under <root>/<experiment>/."""

    def __init__(self, root: str | os.PathLike, experiment: str) -> None:
        self.folder = Path(root) / experiment

    def path(self, spec: dict) -> Path:
        return self.folder / spec_key(spec)

    def has(self, spec: dict) -> bool:
        return (self.path(spec) / "run.json").exists()

    def save(self, spec: dict, measurements: pd.DataFrame, prov: dict) -> Path:
        """Write one finished run atomically and durably; an existing run is left untouched.
        A write that fails (disk full, read-only folder) raises StoreWriteError and leaves
        nothing behind."""
        final = self.path(spec)
        if final.exists():
            return final
        tmp = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.folder))
            measurements.to_csv(tmp / "measurements.csv.gz", index=False,
                                float_format=FLOAT_FORMAT,
                                compression={"method": "gzip", "mtime": 0})
            record = {"key": spec_key(spec), "spec": spec, "provenance": prov,
                      "checksums": {"measurements.csv.gz": file_sha256(tmp / "measurements.csv.gz")}}
            record["record_sha256"] = record_sha256(record)
            (tmp / "run.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
            for name in RUN_FILES:
                _fsync_file(tmp / name)
            fsync_folder(tmp)
            os.replace(tmp, final)
            fsync_folder(self.folder)
        except OSError as err:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise StoreWriteError(
                f"could not store run {spec_key(spec)} in {self.folder}: {err.strerror or err} "
                f"(errno {err.errno}); free space or make the folder writable, or point --results "
                "elsewhere, then run the sweep again: the runs stored before are intact") from err
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def save_note(self, name: str, content: dict) -> Path:
        """Write <folder>/<name>.json atomically and durably (records about a sweep that are
        not runs, such as readings whose training diverged); replaces an older note."""
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{name}.json"
        write_durably(final, json.dumps(content, indent=1, sort_keys=True, default=str) + "\n")
        return final

    def note(self, name: str) -> dict:
        path = self.folder / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def load(self, spec: dict) -> tuple[dict, pd.DataFrame]:
        path = self.path(spec)
        if not (path / "run.json").exists():
            raise KeyError(f"no stored run for spec {spec_key(spec)} in {self.folder}")
        return self._read(path)

    @staticmethod
    def _read(path: Path) -> tuple[dict, pd.DataFrame]:
        record = read_record(path)
        return record, pd.read_csv(path / "measurements.csv.gz")

    def _run_folders(self) -> list[Path]:
        if not self.folder.exists():
            return []
        return [p for p in sorted(self.folder.iterdir())
                if not p.name.startswith(".") and (p / "run.json").exists()]

    def records(self) -> list[dict]:
        """Every stored run's record (key, spec, provenance) without its measurements."""
        return [read_record(p, files=False) for p in self._run_folders()]

    def runs(self) -> list[tuple[dict, pd.DataFrame]]:
        """Every stored run (record, measurements), in key order."""
        return [self._read(p) for p in self._run_folders()]

    def table(self, **match) -> pd.DataFrame:
        """All stored measurements whose spec matches `match`, with the spec as columns."""
        frames = []
        for record, df in self.runs():
            spec = record["spec"]
            if all(spec.get(k) == v for k, v in match.items()):
                flat = {k: v for k, v in spec.items() if not isinstance(v, (dict, list))}
                frames.append(df.assign(**flat, run_key=record["key"],
                                        wall_time_s=record["provenance"]["wall_time_s"]))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_durably(final: Path, text: str) -> None:
    """Replace `final` with `text` atomically: a temporary file beside it, flushed, renamed,
    and the folder flushed after the rename."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(final.parent)


def _fix(path: Path) -> str:
    return (f"move it aside with `python -m falign.runs verify --repair --results "
            f"{path.parent.parent}` (it goes to {QUARANTINE}/, never deleted) and run the sweep "
            "again to retrain it")


def run_problems(path: Path, files: bool = True) -> list[str]:
    """What is wrong with the stored run in `path` ([] when it is sound): unreadable or
    altered record, a file missing, changed or unexpected.  Runs written before checksums
    existed report only that (see `upgrade_run`)."""
    try:
        record = json.loads((path / "run.json").read_text())
    except (OSError, ValueError) as err:
        return [f"run.json cannot be read ({err})"]
    if "checksums" not in record:
        return ["no checksums (stored before they existed; `verify --upgrade` adds them)"]
    problems = []
    if record.get("record_sha256") != record_sha256(record):
        problems.append("run.json was altered after it was written (its own checksum differs)")
    if files:
        for name, digest in record["checksums"].items():
            if not (path / name).exists():
                problems.append(f"{name} is missing")
            elif file_sha256(path / name) != digest:
                problems.append(f"{name} does not match its checksum")
        extra = {p.name for p in path.iterdir()} - set(record["checksums"]) - {"run.json"}
        problems += [f"unexpected file {name}" for name in sorted(extra)]
    return problems


def read_record(path: Path, files: bool = True) -> dict:
    """A stored run's record, checked against its checksums (with `files`, its other files
    too); raises StoreIntegrityError naming the run, the file and the fix."""
    problems = [p for p in run_problems(path, files) if not p.startswith("no checksums")]
    if problems:
        raise StoreIntegrityError(f"stored run {path.name} in {path.parent} is damaged: "
                                  f"{'; '.join(problems)}. {_fix(path)}")
    return json.loads((path / "run.json").read_text())


def upgrade_run(path: Path) -> bool:
    """Add checksums to a run stored before they existed (its files as they are now); True
    when the record was upgraded."""
    record = json.loads((path / "run.json").read_text())
    if "checksums" in record:
        return False
    record["checksums"] = {p.name: file_sha256(p) for p in sorted(path.iterdir())
                           if p.name != "run.json"}
    record["record_sha256"] = record_sha256(record)
    write_durably(path / "run.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
    return True
