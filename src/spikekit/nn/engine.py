"""Choosing the engine once for a whole model: ``use_engine``.

Every spikekit layer (``SNNLayer``, ``ConvLayer``) and network (``SNN``) holds the name of the engine its
``forward`` runs (``spikekit.kernels``: "fast", the compiled kernels; "reference", the step loop they must
equal). A model of your own that holds spikekit layers among torch ones switches all of them at once:

    >>> import torch
    >>> import spikekit as sk
    >>> model = torch.nn.Sequential(sk.SNNLayer(4, 3), sk.SNNLayer(3, 2))
    >>> _ = sk.nn.use_engine(model, "reference")
    >>> [layer.engine for layer in model]
    ['reference', 'reference']
"""

from __future__ import annotations

from torch import nn

from spikekit.kernels import check_engine


def use_engine(model: nn.Module, engine: str) -> nn.Module:
    """Set ``engine`` on every module of ``model`` (itself included) that has one; returns ``model``.
    ``ValueError`` listing the engines for an unknown name."""
    engine = check_engine(engine)
    for module in model.modules():
        if hasattr(module, "engine") and isinstance(module.engine, str):
            module.engine = engine
    return model
