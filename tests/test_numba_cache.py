"""spikekit.numba_cache: every cached kernel is stamped with all the sources its compiled code comes from."""

import re
import shutil
from pathlib import Path

import numba

from spikekit import numba_cache
from spikekit.dynamics.neuron import MODELS
from spikekit.kernels import recurrent, scan

COMPILED = re.compile(r"@(numba\.)?(njit|jit|vectorize|guvectorize|overload|intrinsic|register_jitable)\b")


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
    stamp = numba_cache.source_stamp.__wrapped__  # uncached: the tree changes under it here
    tree = _copy(numba_cache.PACKAGE, tmp_path / "spikekit")
    first = stamp(tree)
    assert first == numba_cache.source_stamp() and len(first) == 64  # a copy stamps as the package itself
    (tree / "cli" / "__init__.py").write_text("# not compiled\n")
    assert stamp(tree) == first
    rows = tree / "kernels" / "neurons" / "brf.py"  # a callee: numba alone would keep the callers' caches
    rows.write_text(rows.read_text() + "\n# edited\n")
    edited = stamp(tree)
    assert edited != first
    constant = tree / "dynamics" / "brf.py"  # a constant the rows import is compiled in too
    constant.write_text(constant.read_text().replace("ROOT_FLOOR = ", "ROOT_FLOOR = 2 * "))
    assert stamp(tree) not in (first, edited)


def test_spikekit_kernels_use_the_stamped_locator_and_other_code_numbas_own() -> None:
    kernels = [*recurrent.kernels(MODELS["brf"].code), *scan.kernels(MODELS["alif"].code)]
    for kernel in kernels:
        locator = kernel._cache._impl._locator
        assert type(locator).__name__.startswith("SpikekitStamped")
        assert locator.get_source_stamp() == numba_cache.source_stamp()

    @numba.njit(cache=True)
    def elsewhere(x):  # not spikekit's: keyed on its own file, as numba does
        return x + 1

    locator = elsewhere._cache._impl._locator
    assert not type(locator).__name__.startswith("SpikekitStamped")
    assert locator.get_source_stamp() != numba_cache.source_stamp()
