"""Data sources (``mnist``), the IDX format (``idx``) and spike encoding (``encoding``)."""

from spikekit.data.encoding import ENCODERS, poisson_encode, poisson_encode_events
from spikekit.data.idx import read_idx, write_idx
from spikekit.data.mnist import MNIST, Split, cache_dir, load_idx_dir, load_mnist

__all__ = ["ENCODERS", "MNIST", "Split", "cache_dir", "load_idx_dir", "load_mnist", "poisson_encode",
           "poisson_encode_events", "read_idx", "write_idx"]
