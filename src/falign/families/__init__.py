"""Experiment families: one module per family in this package, found by its NAME.  The sweep,
the result store and the chapter loader (falign.chapters) reach a family only through this
registry, so adding a family is adding a module (tests may register one of their own)."""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

_REGISTERED: dict[str, ModuleType] = {}


def _discover() -> dict[str, ModuleType]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run_specs"):
            found[module.NAME] = module
    return found


def families() -> dict[str, ModuleType]:
    """Every family: the modules of this package, then those registered at run time."""
    return {**_discover(), **_REGISTERED}


def register(module: ModuleType) -> ModuleType:
    """Add a family defined elsewhere (e.g. a test's toy family)."""
    _REGISTERED[module.NAME] = module
    return module


def get_family(name: str) -> ModuleType:
    """The family called `name`; an unknown name lists the known ones."""
    known = families()
    if name not in known:
        raise ValueError(f"unknown experiment family {name!r}; families: {', '.join(sorted(known))}")
    return known[name]
