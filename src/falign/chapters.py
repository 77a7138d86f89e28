"""What every results chapter does first: find (or, if asked, train) its family's runs in the
result store, say how complete they are, and describe where they came from.  It knows no
family: chapters name theirs (falign.families) and keep only prose, equations and figures."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from .families import get_family
from .runs import resolve_device
from .store import ResultStore, spec_key
from .sweep import checkpoint_folder, planned_specs, run_sweep


def protocol_rows(table: pd.DataFrame, family, protocol, store=None) -> pd.DataFrame:
    """The rows of a store's table (ResultStore.table()) that belong to `protocol`'s runs
    (a staged family's later stages as planned from `store`)."""
    if not len(table):
        return table
    keys = {spec_key(s) for s in planned_specs(family, protocol, store)}
    return table[table.run_key.isin(keys)].reset_index(drop=True)


@dataclass
class SweepResults:
    family: str
    profile: str
    protocol: object
    store: ResultStore
    table: pd.DataFrame          # every stored measurement of this protocol, spec as columns
    expected: int                # runs the protocol has
    stored: int                  # runs found
    cells: pd.DataFrame          # per cell of the grid: repeats stored and planned

    @property
    def complete(self) -> bool:
        return self.stored == self.expected

    def command(self) -> str:
        return f"python -m falign.runs train {self.family} --profile {self.profile}"

    def status(self) -> str:
        if self.complete:
            return f"all {self.expected} runs of the '{self.profile}' profile are stored."
        return (f"{self.stored} of {self.expected} runs of the '{self.profile}' profile of "
                f"{self.family} are stored; the figures show those. `{self.command()}` trains "
                "the rest (finished runs are kept).")

    def pending_cells(self) -> pd.DataFrame:
        return self.cells[self.cells.stored < self.cells.planned]


def _check_override_type(profile: str, name: str, current, value) -> None:
    """An override must have the type of the field it replaces (an int where a float is
    expected is fine; a field that is None takes anything)."""
    if current is None or value is None:
        return
    expected = float if isinstance(current, float) else type(current)
    numeric = expected is float and isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (numeric or isinstance(value, expected)) or \
            (isinstance(current, tuple) and current and value and
             not all(isinstance(v, type(current[0])) or
                     (isinstance(current[0], float) and isinstance(v, int)) for v in value)):
        raise ValueError(f"override {name}={value!r} has the wrong type: the field holds "
                         f"{type(current).__name__} values (the {profile} profile has "
                         f"{current!r}); pass e.g. {name}={current!r}")


def load_results(family: str, profile: str = "paper", results: str | Path = "results",
                 device: str = "auto", data_root=None, train_missing: bool = False,
                 progress: bool | None = None, overrides: dict | None = None) -> SweepResults:
    """The runs of `family`'s `profile` from the store under `results`.

    train_missing=True trains every run not yet stored (resumable); False only reads, so a
    chapter re-renders from stored runs on a CPU in seconds.  `overrides` changes protocol
    fields (e.g. {"widths": [15, 200]}); runs of changed fields are stored under their own keys.
    """
    fam = get_family(family)
    if profile not in fam.PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(fam.PROFILES)}")
    protocol = fam.PROFILES[profile]
    if overrides:
        unknown = set(overrides) - set(protocol.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown protocol field(s) {sorted(unknown)}; fields: "
                             f"{sorted(protocol.__dataclass_fields__)}")
        tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        for name, value in tuples.items():
            _check_override_type(profile, name, getattr(protocol, name), value)
        protocol = replace(protocol, **tuples)
    store = ResultStore(results, fam.store_name(profile))
    if train_missing:
        run_sweep(fam, protocol, store, device=resolve_device(device), data_root=data_root,
                  progress=progress, checkpoints=checkpoint_folder(store))
    table = protocol_rows(store.table(), fam, protocol, store)
    stored = table.run_key.nunique() if len(table) else 0
    if stored == 0:
        raise FileNotFoundError(
            f"no stored runs of the '{profile}' profile under {store.folder}. Train them with "
            f"`python -m falign.runs train {family} --profile {profile}` (or "
            f"`make reproduce PROFILE={profile}`, or train_missing=True), or point `results` at "
            "a folder that holds them")
    planned = planned_specs(fam, protocol, store)
    specs = pd.DataFrame(planned)
    specs["stored"] = [store.has(s) for s in planned]
    cells = (specs.groupby(list(fam.CELL), sort=False).stored.agg(["sum", "size"])
             .rename(columns={"sum": "stored", "size": "planned"}).reset_index())
    return SweepResults(family, profile, protocol, store, table,
                        len(specs), stored, cells)


def run_provenances(sweep: SweepResults) -> list[dict]:
    """The provenance records of the runs a chapter shows (one store read)."""
    keys = set(sweep.table.run_key)
    return [r["provenance"] for r in sweep.store.records() if r["key"] in keys]


def peak_memory_line(prov: list[dict]) -> str:
    """The largest recorded peak memory over a chapter's runs, and how many runs recorded one
    (runs stored before memory was measured say "not recorded", never a guess)."""
    from .store import memory_summary

    recorded = [p for p in prov if memory_summary(p) != "not recorded"]
    if not recorded:
        return "not recorded"
    top = max(recorded, key=lambda p: p["memory"]["peak_rss_mib"])
    return f"{memory_summary(top)}; recorded for {len(recorded)} of {len(prov)} runs"


def provenance_card(sweep: SweepResults) -> pd.DataFrame:
    """Where the chapter's numbers come from: profile, data, runs, devices, compute, versions,
    code."""
    prov = run_provenances(sweep)
    wall = sum(p["wall_time_s"] for p in prov)
    commits = sorted({(p["code"].get("git_commit") or "unknown")[:10] for p in prov})
    sources = sorted({p["code"]["falign_source_sha256"] for p in prov})
    libs = prov[0]["libraries"]
    dates = sorted(p["finished_utc"][:10] for p in prov)
    fam = get_family(sweep.family)
    card = {"profile": sweep.profile,
            **(fam.describe(sweep.protocol) if hasattr(fam, "describe") else {}),
            "runs stored": f"{sweep.stored} of {sweep.expected}",
            "device(s)": "; ".join(sorted({p["device"] for p in prov})),
            "compute (sum of per-run wall times)": f"{wall / 3600:.2f} h",
            "wall time per run (median)":
                f"{pd.Series([p['wall_time_s'] for p in prov]).median():.1f} s",
            "peak memory (largest)": peak_memory_line(prov),
            "trained": f"{dates[0]} to {dates[-1]}" if dates[0] != dates[-1] else dates[0],
            "falign commit(s)": ", ".join(commits),
            "falign source hash(es)": ", ".join(sources),
            "python / torch / numpy": f"{libs['python']} / {libs['torch']} / {libs['numpy']}"}
    present = sorted({p.get("data", {}).get("classes_present") for p in prov} - {None})
    if present:
        card["classes in the data copy used"] = ", ".join(map(str, present))
    return pd.DataFrame({"": list(card.values())}, index=list(card))


def live_provenance_card(profile: str, setup: dict, wall_time_s: float,
                         device: str = "cpu") -> pd.DataFrame:
    """The provenance card of a chapter that computes its figure live (small networks and
    flows, nothing stored): what was computed (`setup`: network, repeats, steps, dtype, ...),
    at which profile, on what, in how long, with which code and libraries.  Its cell is tagged
    `nbval-ignore-output`: the wall time and commit change from one execution to the next."""
    from .store import provenance

    prov = provenance(device, wall_time_s)
    libs = prov["libraries"]
    card = {"profile": profile, **{k: str(v) for k, v in setup.items()},
            "device": prov["device"],
            "wall time of the chapter's computations": f"{wall_time_s:.1f} s",
            "computed": prov["finished_utc"][:10],
            "falign commit": (prov["code"].get("git_commit") or "unknown")[:10],
            "falign source hash": prov["code"]["falign_source_sha256"],
            "python / torch / numpy": f"{libs['python']} / {libs['torch']} / {libs['numpy']}"}
    return pd.DataFrame({"": list(card.values())}, index=list(card))


# No run of any family has been trained on a GPU yet, so a GPU's time is not measured.  Until one
# is, the re-run box turns the measured CPU time into a range with this assumed speed-up of one
# GPU over one CPU core (small MLPs gain little from a GPU, ResNet-18 at 224 px a lot), and calls
# it an estimate; runs stored from a GPU replace the range by their measured time.
GPU_SPEEDUP_ASSUMED = (10, 100)


def _hours(seconds: float) -> str:
    """A duration for the re-run box: minutes under an hour, else hours to two figures."""
    if seconds < 3600:
        return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 10 else f"{hours:.0f} h"


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _processor(device: str) -> str:
    """'cpu: Intel(R) Xeon(R) Processor (2 cores, 1 threads)' -> 'Intel Xeon'."""
    name = device.split(":", 1)[-1].split("(2 cores")[0].split(" (")[0]
    return " ".join(w for w in name.replace("(R)", "").replace("(TM)", "").split()
                    if w.lower() != "processor")


def rerun_costs(family: str, results: str | Path, profiles=None) -> pd.DataFrame:
    """Per profile of `family` (smoke, the tests' profile, left out): runs planned and stored,
    the CPU time the stored runs took (sum of their recorded wall times, from provenance), the
    processors they ran on, an estimate of the CPU time the missing runs need (each missing
    run priced at the median wall time of the stored runs of its grid cell; in a cell with
    none, at the family's cost(spec) times the median seconds per unit of cost when the family
    prices its runs, else at the median of all stored runs), and the GPU time: measured when runs trained on a GPU are
    stored, else a range from GPU_SPEEDUP_ASSUMED (an estimate, and said to be one)."""
    fam = get_family(family)
    profiles = [p for p in fam.PROFILES if p != "smoke"] if profiles is None else list(profiles)
    unknown = sorted(set(profiles) - set(fam.PROFILES))
    if unknown:
        raise ValueError(f"unknown profile(s) {unknown} of {family}; profiles: {sorted(fam.PROFILES)}")
    cell_of = (lambda spec: tuple(spec.get(c) for c in fam.CELL)) if hasattr(fam, "CELL") \
        else (lambda spec: ())
    rows = []
    for profile in profiles:
        store = ResultStore(results, fam.store_name(profile))
        # a staged family plans its later stages from the runs stored (falign.sweep)
        planned = {spec_key(s): s for s in planned_specs(fam, fam.PROFILES[profile], store)}
        records = [r for r in store.records() if r["key"] in planned] if store.folder.is_dir() else []
        cpu = [r for r in records if str(r["provenance"].get("device", "")).startswith("cpu")]
        gpu = [r for r in records if str(r["provenance"].get("device", "")).startswith("cuda")]
        per_cell: dict[tuple, list[float]] = {}
        for r in cpu:
            per_cell.setdefault(cell_of(r["spec"]), []).append(r["provenance"]["wall_time_s"])
        every = [t for times in per_cell.values() for t in times]
        stored = {r["key"] for r in records}
        missing = [s for k, s in planned.items() if k not in stored]
        # a family that prices its runs (cost(spec), e.g. lechner_mdfa) scales an empty cell
        # from the median seconds per unit of cost; others take the median stored run
        per_unit = (float(pd.Series([r["provenance"]["wall_time_s"] / fam.cost(r["spec"])
                                     for r in cpu]).median())
                    if hasattr(fam, "cost") and cpu else None)

        def priced(spec) -> float:
            if cell_of(spec) in per_cell:
                return float(pd.Series(per_cell[cell_of(spec)]).median())
            return fam.cost(spec) * per_unit if per_unit is not None else \
                float(pd.Series(every).median())

        left = sum(priced(s) for s in missing) if every else float("nan")
        rows.append({"profile": profile, "planned": len(planned), "stored": len(stored),
                     "cpu_s_stored": sum(r["provenance"]["wall_time_s"] for r in cpu),
                     "cpu_runs": len(cpu),
                     "processors": ", ".join(sorted({_processor(r["provenance"]["device"])
                                                     for r in cpu})),
                     "cpu_s_left_estimate": left if missing else 0.0,
                     "gpu_s_stored": sum(r["provenance"]["wall_time_s"] for r in gpu),
                     "gpu_runs": len(gpu)})
    return pd.DataFrame(rows)


def chapters_reading(family: str) -> list[str]:
    """The chapters whose source loads `family`, by its name in quotes or by importing its
    module (the pages to re-render after training)."""
    import re

    from .notebooks import CHAPTERS

    loads = re.compile(rf'"{re.escape(family)}"|families import [\w, ]*\b{re.escape(family)}\b'
                       rf'|families\.{re.escape(family)}\b')
    return sorted(p.stem for p in CHAPTERS.glob("*.py") if loads.search(p.read_text()))


def rerun_box(sweep: SweepResults, profiles=None):
    """The "Re-run this chapter" box (HTML, for the top of a chapter): the runs stored of
    planned and the grid cells still empty or short of repeats at the chapter's profile; then,
    folded, one command per profile with the CPU time its stored runs took (from their
    provenance) and an estimate for the runs left, the GPU time (an estimate until a GPU run is
    stored), what --budget-min and --workers do, and the command that re-renders the page."""
    from html import escape

    from IPython.display import HTML

    costs = rerun_costs(sweep.family, sweep.store.folder.parent, profiles)
    pending = sweep.pending_cells()
    cell_cols = [c for c in pending.columns if c not in ("stored", "planned", "rule")]
    empty, short = {}, {}
    for row in pending.itertuples(index=False):
        key = ", ".join(f"{c} = {getattr(row, c)}" for c in cell_cols) or "the grid"
        target = empty if row.stored == 0 else short
        target.setdefault(key, []).append(
            f"{row.rule}" if row.stored == 0 else f"{row.rule} {row.stored}/{row.planned}")
    if sweep.complete:
        state = (f"All {sweep.expected} runs of the \u2018{sweep.profile}\u2019 profile are "
                 "stored; every cell is full.")
    else:
        state = (f"{sweep.stored} of {sweep.expected} runs of the \u2018{sweep.profile}\u2019 "
                 "profile are stored; what is shown uses those.")
    lists = ""
    if empty:
        lists += ("<p>Cells still empty (no run stored):</p><ul>" + "".join(
            f"<li>{escape(k)}: {escape(', '.join(v))}</li>" for k, v in empty.items()) + "</ul>")
    if short:
        lists += ("<p>Cells short of repeats (stored/planned):</p><ul>" + "".join(
            f"<li>{escape(k)}: {escape('; '.join(v))}</li>" for k, v in short.items()) + "</ul>")
    lo, hi = GPU_SPEEDUP_ASSUMED
    rows = []
    for c in costs.itertuples(index=False):
        command = (f"python -m falign.runs train {sweep.family} --profile {c.profile} "
                   "--budget-min 60 --workers 1")
        if c.cpu_runs:
            cpu = (f"measured: {_hours(c.cpu_s_stored)} for the {_runs(c.cpu_runs)} stored "
                   f"({escape(c.processors)})")
            if c.planned > c.stored:
                cpu += (f"; the {_runs(c.planned - c.stored)} left: about "
                        f"{_hours(c.cpu_s_left_estimate)} (an estimate: each priced at the median "
                        "stored run of its cell, or scaled from the stored runs where its own "
                        "cell has none)")
            total = c.cpu_s_stored + c.cpu_s_left_estimate
        else:
            cpu, total = "not measured: no run of this profile is stored yet", float("nan")
        if c.gpu_runs:
            gpu = (f"measured: {_hours(c.gpu_s_stored)} for the {_runs(c.gpu_runs)} trained on "
                   "a GPU")
        elif total == total:
            gpu = (f"estimate, not measured: {_hours(total / hi)} to {_hours(total / lo)} for "
                   f"the whole profile (the CPU time at an assumed {lo} to {hi}\u00d7 speed-up)")
        else:
            gpu = "not measured, and no CPU run to estimate it from"
        rows.append(f"<tr><td>{escape(c.profile)}</td><td>{c.stored} of {c.planned}</td>"
                    f"<td><code>{escape(command)}</code></td><td>{cpu}</td><td>{gpu}</td></tr>")
    pages = chapters_reading(sweep.family)
    render = (" ".join(pages) if pages else "&lt;chapter&gt;")
    return HTML(
        f'<div class="admonition {"note" if sweep.complete else "warning"} falign-rerun">'
        '<p class="admonition-title">Re-run this chapter</p>'
        f"<p>{escape(state)}</p>{lists}"
        "<details><summary>How to re-run it: one command per profile, and what each costs"
        "</summary><table class=\"falign-rerun-table\"><thead><tr><th>profile</th>"
        f"<th>runs of the family {escape(sweep.family)} stored</th>"
        "<th>command (trains the missing runs)</th><th>CPU time</th>"
        "<th>GPU time</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        "<p><code>--budget-min 60</code> stops starting or continuing runs after 60 minutes; a "
        "run cut short is saved under <code>results/_checkpoints/</code> and the next call "
        "resumes it to the same result, so a profile of many hours trains in jobs of any "
        "length. <code>--workers N</code> trains N runs at once in separate processes that "
        "share the store (a run is never trained twice): on a CPU give each worker a core, "
        "on one GPU several workers keep it busy. <code>--device cuda</code> forces the GPU "
        "(the default, auto, picks it when present). Finished runs are never trained again.</p>"
        f"<p>Then re-render the page from the stored runs: <code>python -m falign.notebooks "
        f"render {escape(render)}</code>.</p></details></div>")


def status_banner(sweep: SweepResults):
    """The re-run box (rerun_box) when the chapter's grid is only partly trained; None when it
    is complete."""
    return None if sweep.complete else rerun_box(sweep)


def show_status(sweep: SweepResults) -> None:
    """Display a chapter's status line and its re-run box (rerun_box)."""
    from IPython.display import Markdown, display

    display(Markdown(sweep.status()))
    display(rerun_box(sweep))


class _GluedNumber(float):
    """A glued number: a float in every computation, and nothing on the page when it ends a
    cell (the prose shows it where it is glued, labelled)."""

    def _ipython_display_(self) -> None:
        pass


class _GluedText(str):
    """A glued string: a str everywhere, and nothing on the page when it ends a cell."""

    def _ipython_display_(self) -> None:
        pass


def glue(name: str, value, display: bool = False):
    """Store `value` under `name` for the chapter's prose ({glue:text}`name:.1f`): myst-nb's
    glue where it is installed (the book's build); elsewhere (e.g. on Colab) the value is only
    returned, and the prose shows the role unrendered.  A number or string is returned as a
    float or str that IPython does not display, so a cell ending in glue(...) prints no bare
    value."""
    import numbers

    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)            # numpy scalars render as "np.float64(...)" otherwise
    quiet = (_GluedNumber(value) if isinstance(value, float) else
             _GluedText(value) if isinstance(value, str) else value)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return quiet
    myst_glue(name, value, display=display)
    return quiet
