"""Hand-written C kernels for the few hot paths no library covers, compiled on first use (see build.py).

Every kernel here has a PyTorch fallback that gives the same results; the kernels only make them faster."""
