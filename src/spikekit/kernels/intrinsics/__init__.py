"""LLVM intrinsics the kernels build on, emitted as IR because numba has no vector types: register-held row sums
and scatters (``rows``), and vectorised compress-store selection (``select``, also the Poisson sampler's)."""
