"""numba's on-disk cache of spikekit's compiled code, invalidated when any source it compiles from changes.

numba keys a cached function on the one file that defines it (a hash of its contents): a kernel of
``kernels/recurrent.py`` stays cached when only ``kernels/neurons/brf.py``, whose rows it inlines, changes, and it
then runs the old rows, silently. Here every function spikekit caches is keyed instead on the contents of all the
files its compiled code comes from (``compiled_sources``: every module of ``kernels`` and ``dynamics``, and the
other modules that define compiled functions), so a change to any of them recompiles each kernel once, on its
next call. Where the cache lives stays numba's choice (``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the source,
else the user-wide cache directory), and ``NUMBA_CACHE_LOCATOR_CLASSES``, where set, is left to rule (it can name
the classes here). A kernel of the user's own that inlines spikekit's helpers is keyed by numba alone, on its own
file.

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


@functools.cache
def compiled_sources(package: Path = PACKAGE) -> tuple[Path, ...]:
    """The files spikekit's compiled code comes from, in a fixed order (hidden files, such as an editor's lock
    file ``.#brf.py``, left out); listed once a process (~5 ms; the stamp asks at every decoration)."""
    files = [*(package / "kernels").rglob("*.py"), *(package / "dynamics").rglob("*.py"),
             *(package / name for name in COMPILED_ELSEWHERE)]
    return tuple(sorted(path for path in files if path.is_file() and not path.name.startswith(".")))


def source_stamp(package: Path = PACKAGE) -> str:
    """SHA-256 of the paths (relative to ``package``) and contents of ``compiled_sources``. Read again only when a
    file's modification time or size changes (a module reloaded after an edit gets the new stamp), as numba does
    for the one file it hashes."""
    files = compiled_sources(package)
    return _digest(package, tuple((path, *_stat(path)) for path in files))


def _stat(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_size


@functools.lru_cache(maxsize=8)
def _digest(package: Path, files: tuple[tuple[Path, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _, _ in files:
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _ours(py_file: str) -> bool:
    return Path(py_file).resolve().is_relative_to(PACKAGE)


def _stamped(locator: type) -> type:
    """``locator`` for spikekit's files only, its source stamp numba's own (the defining file's hash) together with
    ``source_stamp``: a compiled function in a file the list misses still goes stale no more than numba's would.
    Where the sources cannot be read (a frozen application without them), numba's stamp alone."""

    class Stamped(locator):
        @classmethod
        def from_function(cls, py_func, py_file):
            return super().from_function(py_func, py_file) if _ours(py_file) else None

        def get_source_stamp(self):
            own = super().get_source_stamp()
            try:
                return own, source_stamp()
            except OSError:
                return own

    Stamped.__name__ = Stamped.__qualname__ = f"SpikekitStamped{locator.__name__.lstrip('_')}"
    return Stamped


def _numba(name: str):
    """numba's class ``name``: public since numba 0.61, with a leading underscore before."""
    return getattr(caching, name, None) or getattr(caching, f"_{name}")


LOCATORS = tuple(_stamped(_numba(name)) for name in ("UserProvidedCacheLocator", "InTreeCacheLocator",
                                                     "UserWideCacheLocator"))
# by name too, for NUMBA_CACHE_LOCATOR_CLASSES (e.g. spikekit.numba_cache.SpikekitStampedInTreeCacheLocator)
globals().update({locator.__name__: locator for locator in LOCATORS})
_CLASSES = _numba("CacheImpl")._locator_classes  # numba's list, tried in order when a function is decorated
if not any(locator.__name__.startswith("SpikekitStamped") for locator in _CLASSES):  # once, also on a reload
    _CLASSES[:0] = LOCATORS
