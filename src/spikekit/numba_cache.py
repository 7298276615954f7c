"""numba's on-disk cache of spikekit's compiled code, invalidated when any source it compiles from changes.

numba keys a cached function on the one file that defines it (a hash of its contents): a kernel of
``kernels/recurrent.py`` stays cached when only ``kernels/neurons/brf.py``, whose rows it inlines, changes, and it
then runs the old rows, silently. Here every function spikekit caches is keyed instead on the contents of all the
files its compiled code comes from (``compiled_sources``: every module of ``kernels`` and ``dynamics``, and the
other modules that define compiled functions), so a change to any of them recompiles each kernel once, on its
next call. Where the cache lives stays numba's choice (``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the source,
else the user-wide cache directory), and ``NUMBA_CACHE_LOCATOR_CLASSES``, where set, is left to rule.

Imported first by ``spikekit/__init__.py``: a locator is chosen when a function is decorated.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba.core import caching

PACKAGE = Path(__file__).resolve().parent
# Modules outside kernels/ and dynamics/ that define compiled functions (tests/test_numba_cache.py checks the list)
COMPILED_ELSEWHERE = ("data/events.py", "data/poisson.py", "data/shift.py", "spike_events.py")


def compiled_sources(package: Path = PACKAGE) -> list[Path]:
    """The files spikekit's compiled code comes from, in a fixed order."""
    files = [*(package / "kernels").rglob("*.py"), *(package / "dynamics").rglob("*.py"),
             *(package / name for name in COMPILED_ELSEWHERE)]
    return sorted(files)


@functools.cache
def source_stamp(package: Path = PACKAGE) -> str:
    """SHA-256 of the paths (relative to ``package``) and contents of ``compiled_sources``; computed once a
    process (the files do not change under a running process that has compiled from them)."""
    digest = hashlib.sha256()
    for path in compiled_sources(package):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _ours(py_file: str) -> bool:
    return Path(py_file).resolve().is_relative_to(PACKAGE)


def _stamped(locator: type) -> type:
    """``locator`` for spikekit's files only, its source stamp ``source_stamp``."""

    class Stamped(locator):
        @classmethod
        def from_function(cls, py_func, py_file):
            return super().from_function(py_func, py_file) if _ours(py_file) else None

        def get_source_stamp(self):
            return source_stamp()

    Stamped.__name__ = Stamped.__qualname__ = f"SpikekitStamped{locator.__name__}"
    return Stamped


def _numba(name: str):
    """numba's class ``name``: public since numba 0.61, with a leading underscore before."""
    return getattr(caching, name, None) or getattr(caching, f"_{name}")


LOCATORS = tuple(_stamped(_numba(name)) for name in ("UserProvidedCacheLocator", "InTreeCacheLocator",
                                                     "UserWideCacheLocator"))
_CLASSES = _numba("CacheImpl")._locator_classes  # numba's list, tried in order when a function is decorated
if not any(locator.__name__.startswith("SpikekitStamped") for locator in _CLASSES):  # once, also on a reload
    _CLASSES[:0] = LOCATORS
