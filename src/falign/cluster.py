"""Fan-out of a sweep over a cluster: the missing runs of any family, submitted as one
`submitit` job array (SLURM), or run through submitit's local executor on this machine (the
same code path, what the tests use).

Each array task trains its own runs into the shared result store, through the same sweep as
`python -m falign.runs train`: claims keep tasks apart (a run already stored or claimed by a
live worker is skipped), and each task stops training a little before its time limit and
checkpoints its run under <results>/_checkpoints, so that submitting again resumes it.

    python -m falign.runs submit lenet_cifar:paper --executor slurm --partition gpu \
        --gpus-per-task 1 --time-min 120
"""
from __future__ import annotations

from pathlib import Path

from .families import get_family
from .store import ResultStore, spec_key
from .sweep import checkpoint_folder, group_runs, missing, resumable_first, run_sweep

EXECUTORS = ("local", "slurm")
MARGIN_S = 300.0      # a task stops training this long before its time limit, to checkpoint


def train_task(family_name: str, profile: str, keys: list[str], results: str, device: str,
               data_root: str | None, budget_s: float) -> dict:
    """One array task: train the runs `keys` of family/profile into the store at `results`."""
    from .runs import resolve_device

    family = get_family(family_name)
    store = ResultStore(results, family.store_name(profile))
    report = run_sweep(family, family.PROFILES[profile], store, device=resolve_device(device),
                       data_root=data_root, progress=False, budget_s=budget_s,
                       checkpoints=checkpoint_folder(store), only=set(keys))
    return {"trained": report.trained, "paused": report.paused,
            "claimed_elsewhere": report.claimed_elsewhere}


def task_keys(family, profile: str, results: str | Path) -> list[list[str]]:
    """The missing runs of family/profile as array tasks: one task per group of runs that the
    family trains together, checkpointed runs first."""
    store = ResultStore(results, family.store_name(profile))
    todo = resumable_first(missing(family, family.PROFILES[profile], store),
                           checkpoint_folder(store))
    return [[spec_key(s) for s in group] for group in group_runs(todo, family.group_key)]


def submit(targets: list[tuple[str, str]], results: str | Path, *, executor: str = "local",
           logs: str | Path = "logs/submitit", partition: str | None = None,
           gpus_per_task: int = 0, cpus_per_task: int = 1, time_min: int = 60,
           max_parallel: int | None = None, device: str = "auto",
           data_root: str | None = None) -> list:
    """Submit the missing runs of each (family, profile) target as one job array; returns
    the submitit jobs (job.result() waits for one).  Nothing is submitted for a target whose
    runs are all stored."""
    import submitit

    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
    if time_min * 60 <= MARGIN_S:
        raise ValueError(f"time limit of {time_min} min leaves no time to train after the "
                         f"{MARGIN_S / 60:.0f}-minute checkpoint margin; ask for more minutes")
    results = str(Path(results).resolve())
    ex = submitit.AutoExecutor(folder=str(logs), cluster=executor)
    params = dict(timeout_min=time_min, cpus_per_task=cpus_per_task, name="falign-sweep")
    if gpus_per_task:
        params["gpus_per_node"] = gpus_per_task
    if executor == "slurm":
        params.update(slurm_partition=partition, slurm_array_parallelism=max_parallel or 64)
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    jobs = []
    for family_name, profile in targets:
        family = get_family(family_name)
        if profile not in family.PROFILES:
            raise ValueError(f"unknown profile {profile!r} of {family_name}; profiles: "
                             f"{', '.join(family.PROFILES)}")
        tasks = task_keys(family, profile, results)
        if not tasks:
            continue
        n = len(tasks)
        jobs += ex.map_array(train_task, [family_name] * n, [profile] * n, tasks, [results] * n,
                             [device] * n, [data_root] * n, [time_min * 60 - MARGIN_S] * n)
    return jobs
