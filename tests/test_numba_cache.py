"""spikekit.numba_cache: every cached kernel is stamped with all the sources its compiled code comes from."""

import os
import re
import shutil
from pathlib import Path

import numba

from spikekit import numba_cache
from spikekit.dynamics.neuron import MODELS
from spikekit.kernels import lif_fused, recurrent, scan

# any mention of numba's compiling decorators or their call form (numba.njit(...)(f), nb.njit, cfunc, ...)
COMPILED = re.compile(r"\b(njit|jit|vectorize|guvectorize|overload|overload_method|intrinsic|register_jitable|cfunc)\b")
NUMBAS_OWN = tuple(numba_cache._numba(name) for name in ("UserProvidedCacheLocator", "InTreeCacheLocator",
                                                         "UserWideCacheLocator"))


def test_every_module_with_compiled_code_is_stamped() -> None:
    package = numba_cache.PACKAGE
    compiled = {path for path in package.rglob("*.py") if COMPILED.search(path.read_text())}
    assert len(compiled) >= 20  # the kernels, the neuron rows, the samplers: the pattern finds them
    assert compiled <= set(numba_cache.compiled_sources())
    assert all(path.exists() for path in numba_cache.compiled_sources())


def _copy(package: Path, target: Path) -> Path:
    for path in [*numba_cache.compiled_sources(package), package / "cli" / "__init__.py"]:
        copy = target / path.relative_to(package)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
    return target


def test_the_stamp_changes_with_any_compiled_source_and_only_those(tmp_path: Path) -> None:
    tree = _copy(numba_cache.PACKAGE, tmp_path / "spikekit")
    os.symlink(tmp_path / "gone", tree / "kernels" / "neurons" / ".#brf.py")  # an editor's lock file: left out
    first = numba_cache.source_stamp(tree)
    assert first == numba_cache.source_stamp() and len(first) == 64  # a copy stamps as the package itself
    (tree / "cli" / "__init__.py").write_text("# not compiled\n")
    assert numba_cache.source_stamp(tree) == first
    rows = tree / "kernels" / "neurons" / "brf.py"  # a callee: numba alone would keep the callers' caches
    rows.write_text(rows.read_text() + "\n# edited\n")
    edited = numba_cache.source_stamp(tree)
    assert edited != first
    constant = tree / "dynamics" / "brf.py"  # a constant the rows import is compiled in too
    constant.write_text(constant.read_text().replace("ROOT_FLOOR = ", "ROOT_FLOOR = 2 * "))
    assert numba_cache.source_stamp(tree) not in (first, edited)


def test_spikekit_kernels_use_the_stamped_locator_and_other_code_numbas_own() -> None:
    kernels = [*recurrent.kernels(MODELS["brf"].code), *scan.kernels(MODELS["alif"].code), lif_fused.scan_kernel]
    for kernel in kernels:
        locator = kernel._cache._impl._locator
        assert type(locator).__name__.startswith("SpikekitStamped") and isinstance(locator, NUMBAS_OWN)
        own, package = locator.get_source_stamp()
        assert package == numba_cache.source_stamp()
        assert kernel._cache._cache_file._source_stamp == (own, package)  # what numba's index is checked against
    assert numba_cache.SpikekitStampedInTreeCacheLocator in numba_cache.LOCATORS  # nameable in numba's env option

    @numba.njit(cache=True)
    def elsewhere(x):  # not spikekit's: keyed on its own file, as numba does
        return x + 1

    locator = elsewhere._cache._impl._locator
    assert type(locator) in NUMBAS_OWN
