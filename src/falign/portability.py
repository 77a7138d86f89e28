"""Which chapters could print CPU-dependent digits, and the kernel paths they are re-checked
under.

`make test` runs nbval over the chapters whose numbers come from the store on the machine's
default kernels, and over the chapters that compute at render time with ALTERNATE_KERNEL_PATHS
set: their committed outputs were rendered on a default path, so the float64 and rounding
choices that keep their printed digits portable must survive other kernels, which stand in for
another vendor's CPU on a single machine.  (Checking them on the default path as well would
cost several minutes of the suite's 25 for a weaker test; `make test-default-paths` does it.)

    python -m falign.portability render-time     # the notebooks to re-check, one per line
    python -m falign.portability store           # the others (their digits come from the store)
    python -m falign.portability alternate-env   # NAME=value words for `env`
"""
from __future__ import annotations

import sys

from .notebooks import CHAPTERS, PAGES, chapter_names

# ATen's dispatch level; MKL's conditional-reproducibility mode and an older instruction set;
# oneDNN held to SSE4.1.  Spelled as torch 2.12's bundled MKL and oneDNN read them (a misspelt
# name is silently ignored, so the test-suite checks the values).
ALTERNATE_KERNEL_PATHS = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE",
                          "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"}

# What marks a code cell as computing rather than reading the store: a live provenance card,
# the modules that train small networks or check theorems, or a network built from a run's
# spec (an exercise that probes the initial model).  Chapters that only aggregate stored
# runs (float64 pandas over stored values) are left to the first pass: their digits come from
# the store.
_COMPUTE_MARKERS = ("live_provenance_card(", "synthetic_tasks", "theory.", "import theory",
                    "linear_dynamics", "monotone", "build_model(", "angle_curve(",
                    # initial networks rebuilt from their seeds (P_j(0) at render time)
                    "conditioning(", "initial_potentials(")


def render_time_chapters() -> list[str]:
    """Chapters that compute at render time (train a small network, integrate a flow, check a
    theorem) rather than only read stored runs: the ones whose printed digits could depend on
    the CPU.  Found from the sources' code cells (the Colab set-up cell aside)."""
    import jupytext

    live = []
    for name in chapter_names():
        if name in PAGES:
            continue
        cells = jupytext.read(CHAPTERS / f"{name}.py").cells
        code = "\n".join(c.source for c in cells
                         if c.cell_type == "code" and "google.colab" not in c.source)
        if any(marker in code for marker in _COMPUTE_MARKERS):
            live.append(name)
    return live


def store_chapters() -> list[str]:
    """Every other chapter and page: its printed numbers come from the result store."""
    live = set(render_time_chapters())
    return [name for name in chapter_names() if name not in live]


def main(argv: list[str] | None = None) -> None:
    command = (argv if argv is not None else sys.argv[1:])[:1]
    if command == ["render-time"]:
        print("\n".join(f"chapters/{name}.ipynb" for name in render_time_chapters()))
    elif command == ["store"]:
        print("\n".join(f"chapters/{name}.ipynb" for name in store_chapters()))
    elif command == ["alternate-env"]:
        print(" ".join(f"{k}={v}" for k, v in ALTERNATE_KERNEL_PATHS.items()))
    else:
        sys.exit("usage: python -m falign.portability render-time | store | alternate-env")


if __name__ == "__main__":
    main()
