"""``spikekit report`` and ``train --report``: the page, its files, and the page as a browser shows it."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from spikekit.cli import main
from spikekit.cli.common import load_data
from spikekit.cli.inspect import load_model
from spikekit.data.mnist import MNIST
from spikekit.io.run_dir import RunDir
from spikekit.report import build_report

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory, mnist: MNIST) -> Path:
    from tests.conftest import write_mnist_dir
    root = tmp_path_factory.mktemp("report")
    data_dir = write_mnist_dir(root / "mnist", mnist, 2000, 300)
    assert main(["train", "--data-dir", str(data_dir), "--epochs", "2", "-T", "10", "--out", str(root / "run"),
                 "--report"]) == 0
    return root / "run"


def test_report_links_only_to_files_that_exist(report_dir: Path) -> None:
    page = (report_dir / "report" / "index.html").read_text()
    targets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(targets) == 13 and len(set(targets)) == 13  # curves, sparsity, accuracy over time, encoding, 3 x 2
    # digits, 3 more
    for target in targets:
        assert not re.match(r"[a-z]+:", target), f"{target} is not a local file"
        assert (report_dir / "report" / target).is_file(), target
    assert {path.name for path in (report_dir / "report").glob("*.png")} == set(targets)


def test_report_states_the_measured_accuracy_and_the_energy_source(report_dir: Path) -> None:
    page = (report_dir / "report" / "index.html").read_text()
    history = [json.loads(line) for line in (report_dir / "metrics.jsonl").read_text().splitlines()]
    best = max(record["test_accuracy"] for record in history)
    assert f"Test accuracy {100 * best:.2f}%" in page  # the best checkpoint, evaluated again, agrees
    assert "Horowitz" in page and "ISSCC 2014" in page and "0.9 pJ" in page and "4.6 pJ" in page
    assert "estimate" in page


@pytest.fixture(scope="module")
def small_data_dir(tmp_path_factory: pytest.TempPathFactory, mnist: MNIST) -> Path:
    from tests.conftest import write_mnist_dir
    return write_mnist_dir(tmp_path_factory.mktemp("neurons") / "mnist", mnist, 500, 30)


# An ALIF row draws its moving threshold once the neuron has fired before the last step: surely the busiest
# hidden neuron (row 0), not surely the least active one. Every CubaLIF row draws its synaptic current.
@pytest.mark.parametrize(("arch", "kind", "line", "rows"), [("16a-10", "ALIF", "adaptive threshold", 1),
                                                            ("16s-10", "CubaLIF", "synaptic current J", 3)])
def test_membrane_figure_shows_the_hidden_layers_other_state(small_data_dir: Path, tmp_path: Path, arch: str,
                                                             kind: str, line: str, rows: int) -> None:
    """A tiny run with an ALIF or CubaLIF hidden layer and a LIF output: the hidden rows draw the moving
    threshold or the synaptic current, the output rows V, threshold and spikes only; the caption says so."""
    run = tmp_path / "run"
    assert main(["train", "--data-dir", str(small_data_dir), "--epochs", "1", "-T", "8", "--batch-size", "16",
                 "--arch", arch, "--out", str(run), "--report"]) == 0
    assert (run / "report" / "membrane_0.png").stat().st_size > 10_000
    assert f"The hidden rows are {kind} neurons" in (run / "report" / "index.html").read_text()
    model, config = load_model(str(RunDir(run).checkpoint_path("final")), engine=None)
    report = build_report(model, config, [], load_data(str(small_data_dir), config.train, config.dataset).test)
    labels = [[drawn.get_label() for drawn in axes.lines] for axes in report.figures["membrane_0"].axes]
    assert len(labels) == 5  # 3 hidden rows, 2 output rows
    assert all(line in row for row in labels[:rows])
    assert labels[3:] == [["membrane V", "threshold", "spike"]] * 2


def test_report_of_a_non_run_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a spikekit run directory" in err and err.count("\n") == 1


def test_report_renders_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("no browser: install Debian packages chromium and chromium-driver to run this test")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((report_dir / "report" / "index.html").as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);")
        assert len(images) == 13
        assert all(complete and width > 0 for _, complete, width in images), images
        height = driver.execute_script("return document.body.scrollHeight;")
        driver.set_window_size(1200, min(height + 100, 16000))
        screenshot = tmp_path / "report.png"
        assert driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
        keep = os.environ.get("SPIKEKIT_SCREENSHOT_DIR")
        if keep:  # for a human to look at
            shutil.copy(screenshot, Path(keep) / "report.png")
    finally:
        driver.quit()
