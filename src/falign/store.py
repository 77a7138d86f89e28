"""Result store: every finished run is kept with its full specification and provenance.

Layout: <root>/<experiment>/<key>/run.json and measurements.csv.gz, where key is a hash of the
canonical JSON of the run's specification.  A run is written to a temporary folder and renamed
into place, so a folder that exists is complete; an interrupted sweep resumes by skipping the
keys already stored.
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


def spec_key(spec: dict) -> str:
    """A stable 16-hex-digit key of a run specification (order of keys does not matter)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def provenance(device: str, wall_time_s: float) -> dict:
    return {"code": code_version(), "libraries": library_versions(),
            "device": device_description(device), "wall_time_s": round(wall_time_s, 3),
            "finished_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


class ResultStore:
    """Runs of one experiment under <root>/<experiment>/."""

    def __init__(self, root: str | os.PathLike, experiment: str) -> None:
        self.folder = Path(root) / experiment

    def path(self, spec: dict) -> Path:
        return self.folder / spec_key(spec)

    def has(self, spec: dict) -> bool:
        return (self.path(spec) / "run.json").exists()

    def save(self, spec: dict, measurements: pd.DataFrame, prov: dict) -> Path:
        """Write one finished run atomically; an existing run is left untouched."""
        final = self.path(spec)
        if final.exists():
            return final
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.folder))
        try:
            measurements.to_csv(tmp / "measurements.csv.gz", index=False,
                                float_format=FLOAT_FORMAT,
                                compression={"method": "gzip", "mtime": 0})
            record = {"key": spec_key(spec), "spec": spec, "provenance": prov}
            (tmp / "run.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def save_note(self, name: str, content: dict) -> Path:
        """Write <folder>/<name>.json atomically (records about a sweep that are not runs,
        such as readings whose training diverged); replaces an older note of that name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.folder)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(content, indent=1, sort_keys=True, default=str) + "\n")
        final = self.folder / f"{name}.json"
        os.replace(tmp, final)
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
        record = json.loads((path / "run.json").read_text())
        return record, pd.read_csv(path / "measurements.csv.gz")

    def _run_folders(self) -> list[Path]:
        if not self.folder.exists():
            return []
        return [p for p in sorted(self.folder.iterdir())
                if not p.name.startswith(".") and (p / "run.json").exists()]

    def records(self) -> list[dict]:
        """Every stored run's record (key, spec, provenance) without its measurements."""
        return [json.loads((p / "run.json").read_text()) for p in self._run_folders()]

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
