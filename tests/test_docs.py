"""The documentation holds together: links between the pages resolve, and the README's commands exist."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from spikekit.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", flags=re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _prose(page: Path) -> str:
    """The page without its fenced code blocks (a link-like text in code is not a link)."""
    return FENCE.sub("", page.read_text())


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation other than '-' and '_' dropped, spaces to '-'.

    >>> anchor("Event-camera data: N-MNIST and tonic")
    'event-camera-data-n-mnist-and-tonic'
    >>> anchor("The layer grammar (`--arch`)")
    'the-layer-grammar---arch'
    """
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor on ``page``, repeated headings numbered as GitHub does (``name-1``, ...)."""
    seen: dict[str, int] = {}
    names = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", _prose(page), flags=re.MULTILINE):
        name = anchor(heading)
        names.add(f"{name}-{seen[name]}" if name in seen else name)
        seen[name] = seen.get(name, 0) + 1
    return names


def _links() -> list[tuple[Path, str]]:
    return [(page, target) for page in PAGES for target in LINK.findall(_prose(page))
            if not re.match(r"[a-z]+:", target)]  # http:, https:, mailto: leave the repository


@pytest.mark.parametrize(("page", "target"), _links(), ids=lambda value: getattr(value, "name", value))
def test_a_relative_link_resolves(page: Path, target: str) -> None:
    path, _, fragment = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    assert linked.exists(), f"{page.name}: {target} names no file"
    if fragment and linked.suffix == ".md":
        assert fragment in anchors(linked), f"{page.name}: {target} names no heading of {linked.name}"


def _subcommands() -> set[str]:
    (action,) = [action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)]
    return set(action.choices)


def _commands(pages: list[Path]) -> list[tuple[str, str]]:
    """(page name, command) for every ``spikekit ...`` command in the pages' bash blocks (also under
    ``torchrun ... -m spikekit``), its comment cut and its continued lines joined."""
    found = []
    for page in pages:
        for block in re.findall(r"^```bash\n(.*?)^```", page.read_text(), flags=re.DOTALL | re.MULTILINE):
            for line in block.replace("\\\n", " ").splitlines():
                command = line.split(" #")[0].strip()
                if " -m spikekit " in command:
                    command = "spikekit " + command.split(" -m spikekit ", 1)[1]
                if command.startswith("spikekit "):
                    found.append((page.name, command))
    return found


def test_the_readme_shows_commands() -> None:
    assert len(_commands([ROOT / "README.md"])) >= 5


@pytest.mark.parametrize(("page", "command"), _commands(PAGES))
def test_a_documented_command_parses(page: str, command: str) -> None:
    """Every command the README and docs/ show is one the CLI accepts: its subcommand and every option exist
    and take the values shown (running them whole would train on all of MNIST; tests/cli runs each kind
    small)."""
    argv = shlex.split(command)[1:]
    assert argv[0] in _subcommands(), f"{page}: {command!r}: no subcommand {argv[0]!r}"
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{page}: {command!r} does not parse (see the error above)")


def test_every_page_is_reachable_from_the_readme() -> None:
    linked = {(page.parent / target.partition("#")[0]).resolve() for page, target in _links()
              if target.partition("#")[0]}
    assert {page.resolve() for page in PAGES if page.name != "README.md"} <= linked


def test_the_cli_page_shows_the_help_the_parser_prints() -> None:
    """docs/cli.md's `--help` blocks are the parser's own (regenerate with ``python tools/cli_help.py``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cli_help", ROOT / "tools" / "cli_help.py")
    cli_help = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli_help)
    page = (ROOT / "docs" / "cli.md").read_text()
    texts = cli_help.help_texts()
    assert len(cli_help.SECTION.findall(page)) == len(texts)  # one block per command, none missing
    assert cli_help.render(page, texts) == page, "docs/cli.md is stale: run python tools/cli_help.py"


SMALL = ["--epochs", "1", "--limit-train", "32", "--limit-test", "16"]  # appended: the last occurrence wins


@pytest.mark.shrunk
def test_every_documented_command_runs_at_a_small_size(tmp_path: Path, monkeypatch, capsys) -> None:
    """Every `spikekit` command of README.md and docs/, page by page in its order, run for real at a small size
    (the text shows full runs): SMALL appended to each `train` (and `-T 4` where the data allows it), 16 test
    images for `eval` and `report`, `-T 25` for `predict`. runs/RUN is the README's first run; data/shd holds
    files in SHD's layout; DIR, N-MNIST-format recordings of 100 MNIST digits per split; digit.png a test
    digit; /shared/ a folder of the test's. The torchrun lines of docs/interop.md run as the plain command
    they launch (tests/train/test_distributed.py runs torchrun itself)."""
    from PIL import Image

    from spikekit.cli import main
    from spikekit.data.mnist import load_mnist
    from spikekit.data.nmnist import write_nmnist_folder
    from tests.data.test_shd import _write

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "shd").mkdir(parents=True)
    for split in ("train", "test"):
        _write(tmp_path / "data" / "shd" / f"shd_{split}.h5")
    mnist = load_mnist()
    Image.fromarray(mnist.test.images[0].reshape(28, 28).numpy()).save("digit.png")
    for split, part in (("Train", mnist.train), ("Test", mnist.test)):
        write_nmnist_folder(tmp_path / "DIR", part.images[:100].numpy().reshape(-1, 28, 28) / 255.0,
                            part.labels[:100].numpy(), split)
    commands = _commands(PAGES)
    assert len(commands) >= 17
    for page, command in commands:
        argv = shlex.split(command.replace("/shared/", f"{tmp_path}/shared/"))[1:]
        if argv[0] == "train" and "--resume" not in argv:
            argv += SMALL + ([] if {"smnist", "psmnist"} & set(argv) else ["-T", "4"])  # sequences: T = 784
            argv += ["--out", "runs/RUN"] if not (tmp_path / "runs" / "RUN").exists() else []
        elif argv[0] in ("eval", "report"):
            argv += ["--limit-test", "16"]
        elif argv[0] == "predict":
            argv += ["-T", "25"]  # runs/RUN trained at T=4 on 32 images: give it the default's steps to answer
        assert main(argv) == 0, f"{page}: {command!r} failed: {capsys.readouterr().err}"
    assert (tmp_path / "model.nir").is_file() and (tmp_path / "runs" / "RUN" / "report" / "index.html").is_file()
    assert (tmp_path / "recording.png").is_file() and (tmp_path / "shared" / "runs" / "ddp").is_dir()
