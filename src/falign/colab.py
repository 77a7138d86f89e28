"""Setting a chapter up on Google Colab, called by each chapter's first (hidden) cell once it
has cloned the book: install the library, point the data root into the clone, and run from the
chapters folder so that the stored results resolve as in the book."""
from __future__ import annotations

import os
import subprocess
import sys


def setup(book: str) -> None:
    """Install the clone at `book` into Colab's Python and make it the working copy.  To
    re-train on Colab's GPU, set profile = "quick" and train_missing = True in the chapter's
    parameters cell (device "auto" picks the GPU)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", book],
                   check=True)
    if f"{book}/src" not in sys.path:
        sys.path.insert(0, f"{book}/src")      # this kernel started before the install
    os.environ.setdefault("FALIGN_DATA", f"{book}/data")
    os.chdir(f"{book}/chapters")
