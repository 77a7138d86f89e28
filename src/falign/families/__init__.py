"""Experiment families: one module per family in this package, found by its NAME.  The sweep,
the result store and the chapter loader (falign.chapters) reach a family only through this
registry, so adding a family is adding a module (tests may register one of their own).

Families kept outside this package are found through the environment: FALIGN_FAMILIES names
modules (comma-separated, importable) that each define a family; worker processes and cluster
tasks inherit it."""
from __future__ import annotations

import importlib
import os
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


def _from_environment() -> dict[str, ModuleType]:
    found = {}
    for name in filter(None, (n.strip() for n in os.environ.get("FALIGN_FAMILIES", "").split(","))):
        try:
            module = importlib.import_module(name)
        except ImportError as err:
            raise ValueError(f"FALIGN_FAMILIES names module {name!r}, which cannot be imported "
                             f"({err}); put its folder on PYTHONPATH or fix the name") from None
        if not (hasattr(module, "NAME") and hasattr(module, "run_specs")):
            raise ValueError(f"FALIGN_FAMILIES module {name!r} defines no family (it needs NAME "
                             "and run_specs; see falign.sweep for the interface)")
        found[module.NAME] = module
    return found


def families() -> dict[str, ModuleType]:
    """Every family: the modules of this package, those named in FALIGN_FAMILIES, then those
    registered at run time."""
    return {**_discover(), **_from_environment(), **_REGISTERED}


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
