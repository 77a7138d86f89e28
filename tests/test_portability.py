"""The book runs the same on any machine: a GPU job rehearsed on the CPU end to end, the
chapter runner's quiet execution, and the alternate CPU kernel paths `make test` re-checks the
render-time chapters under."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from falign import notebooks
from falign.runs import verify_results
from falign.store import ResultStore
from test_lenet_family import make_fake_tiny

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_job_runs_end_to_end_on_the_cpu_and_its_runs_unpack_with_checksums(tmp_path):
    """scripts/gpu_job.sh as the device machine runs it: a copy of the tracked tree with the
    data `make device-data` packs, its own python3, no papermill importable, a fresh $OUT;
    then `make unpack-runs` of what it packed into an empty store, which must verify clean."""
    tree = tmp_path / "tree"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split("\n")
    for name in filter(None, tracked):
        if name.startswith(("results/", "chapters/")):
            continue            # the job reads neither chapters nor stored runs
        source = ROOT / name
        if source.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    shared = tmp_path / "shared"
    make_fake_tiny(shared, n_classes=5, train=12, val=4)
    subprocess.run(["make", "-s", "device-data", f"SHARED={shared}"], cwd=tree, check=True)
    assert (tree / ".device" / "tiny-imagenet-200.tar.xz").stat().st_size > 0

    tools = tmp_path / "bin"                 # `python3` is the machine's interpreter
    tools.mkdir()
    (tools / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (tools / "python3").chmod(0o755)
    blocker = tmp_path / "no-papermill"      # the device machine has no papermill
    blocker.mkdir()
    (blocker / "papermill.py").write_text("raise ImportError('no papermill on the device')\n")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "PYTHONPATH": str(blocker),
           "OUT": str(out), "TARGETS": "lenet_cifar:smoke", "DEVICE": "cpu", "WORKERS": "1",
           "BUDGET_MIN": "5", "OMP_NUM_THREADS": "1"}
    env.pop("FALIGN_DATA", None)
    job = subprocess.run(["bash", "scripts/gpu_job.sh"], cwd=tree, env=env, capture_output=True,
                         text=True, timeout=600)
    assert job.returncode == 0, job.stdout[-2000:] + job.stderr[-2000:]
    archive = out / "runs-lenet_cifar.tar.gz"
    assert archive.is_file()

    clean = tmp_path / "clean-results"
    subprocess.run(["make", "-s", "unpack-runs", f"ARCHIVE={archive}", f"RESULTS={clean}",
                    f"VENV={Path(sys.executable).parents[1]}"], cwd=ROOT, check=True,
                   capture_output=True, text=True)
    from falign.families import lenet_cifar
    planned = lenet_cifar.run_specs(lenet_cifar.PROFILES["smoke"])
    store = ResultStore(clean, lenet_cifar.store_name("smoke"))
    records = store.records()
    assert len(records) == len(planned) and all(store.has(s) for s in planned)
    assert all(r["checksums"] and r["record_sha256"] for r in records)
    assert verify_results(clean).clean
    assert all(r["provenance"]["memory"]["peak_rss_mib"] > 0 for r in records)


def test_chapters_get_only_the_parameters_they_declare_and_a_local_kernel(tmp_path, monkeypatch):
    """make reproduce passes results / train_missing to every chapter; papermill would warn
    for each one a chapter lacks, and ipykernel warns about TCP for every kernel."""
    import papermill

    seen = {}

    def fake_execute(source, target, parameters, **kwargs):
        seen.update(parameters=parameters, manager=kwargs["kernel_manager_class"])
        shutil.copy(source, target)

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    notebooks.execute_chapter("lillicrap_fig8_momentum", tmp_path / "out.ipynb",
                              parameters={"profile": "smoke", "results": "x",
                                          "train_missing": True})
    assert seen["parameters"] == {"profile": "smoke"}
    first, second = seen["manager"](), seen["manager"]()
    assert first.transport == "ipc"
    assert first.ip != second.ip and "kernel-ipc" not in first.ip   # kernels side by side


def test_the_alternate_kernel_paths_are_named_as_their_libraries_spell_them():
    """A misspelt variable is silently ignored, and the pass would compare the default path
    with itself: check each against the values its library documents."""
    from falign import portability
    alt = portability.ALTERNATE_KERNEL_PATHS
    assert alt["ATEN_CPU_CAPABILITY"] in {"default", "avx2", "avx512"}
    assert alt["MKL_CBWR"] in {"COMPATIBLE", "SSE4_2", "AVX", "AVX2", "AVX512"}
    assert alt["MKL_ENABLE_INSTRUCTIONS"] in {"SSE4_2", "AVX", "AVX2", "AVX512"}
    assert alt["ONEDNN_MAX_CPU_ISA"] in {"SSE41", "AVX", "AVX2", "AVX512_CORE"}
    chapters = portability.render_time_chapters()
    assert "lillicrap_fig8_momentum" in chapters and "theory_conservation" in chapters
    assert "lechner_tables3_4_cifar_classes" not in chapters   # reads the store only
    # rebuilding initial networks from their seeds is a computation too
    assert "table3_deviations" in chapters and "readings_ablation" in chapters


def test_every_background_queue_token_names_a_family_and_profile():
    """A mistyped token would end the session's training at its first step."""
    import re

    from falign.families import families
    text = (ROOT / "Makefile").read_text()
    queue = re.search(r"^QUEUE \?=((?:.*\\\n)*.*)$", text, re.M).group(1).replace("\\\n", " ")
    tokens = queue.split()
    assert len(tokens) >= 8
    known = families()
    for token in tokens:
        family, profile = token.split(":")
        assert family in known, token
        assert profile in known[family].PROFILES, token


def test_make_test_checks_every_chapter_once_on_one_of_the_two_paths():
    """The store chapters on the default kernels, the render-time ones on the alternates:
    together every chapter, none twice (and the Makefile's test target uses both lists)."""
    from falign import portability
    from falign.notebooks import chapter_names
    store, live = portability.store_chapters(), portability.render_time_chapters()
    assert sorted(store + live) == sorted(chapter_names()) and not set(store) & set(live)
    recipe = (ROOT / "Makefile").read_text().split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "falign.portability store" in recipe and "falign.portability render-time" in recipe
    assert "falign.portability alternate-env" in recipe
