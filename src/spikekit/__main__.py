"""``python -m spikekit`` runs the command line."""

import sys

from spikekit.cli import main

sys.exit(main())
