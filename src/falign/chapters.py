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
                f"{self.family} are stored; the figures show those. `{self.command()}` (or `make reproduce "
                f"PROFILE={self.profile}`) trains the rest (finished runs are kept).")

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


def status_banner(sweep: SweepResults):
    """A warning box, for the top of a chapter, when its grid is only partly trained: which
    cells have how many repeats, and the command that trains the rest.  None when complete."""
    from html import escape

    from IPython.display import HTML

    if sweep.complete:
        return None
    pending = sweep.pending_cells()
    cell_cols = [c for c in pending.columns if c not in ("stored", "planned")]
    by_cell = {}
    for row in pending.itertuples(index=False):
        key = ", ".join(f"{c} = {getattr(row, c)}" for c in cell_cols if c != "rule")
        by_cell.setdefault(key, []).append(f"{row.rule} {row.stored}/{row.planned}")
    items = "".join(f"<li>{escape(k)}: {escape('; '.join(v))}</li>" for k, v in by_cell.items())
    return HTML(
        '<div class="admonition warning"><p class="admonition-title">Partly trained: '
        f'{sweep.stored} of {sweep.expected} runs of the \u2018{escape(sweep.profile)}\u2019 '
        'profile</p><p>What is shown uses the stored runs only. Cells still missing repeats '
        f'(stored/planned):</p><ul>{items}</ul><p>Train the rest (resumable, in jobs of any '
        f'length): <code>{escape(sweep.command())} --budget-min 9</code>, on a GPU with '
        '<code>--device cuda --workers 8</code>; then re-render with '
        '<code>make notebooks</code>.</p></div>')


def show_status(sweep: SweepResults) -> None:
    """Display a chapter's status line and, when its grid is partly trained, the banner."""
    from IPython.display import Markdown, display

    display(Markdown(sweep.status()))
    banner = status_banner(sweep)
    if banner is not None:
        display(banner)


def glue(name: str, value, display: bool = False):
    """Store `value` under `name` for the chapter's prose ({glue:text}`name:.1f`): myst-nb's
    glue where it is installed (the book's build); elsewhere (e.g. on Colab) the value is only
    returned, and the prose shows the role unrendered."""
    import numbers

    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)            # numpy scalars render as "np.float64(...)" otherwise
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return value
    myst_glue(name, value, display=display)
    return value
