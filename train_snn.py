"""The seed's command: ``python train_snn.py [options]`` is ``spikekit train [options]``."""

import sys

from spikekit.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
