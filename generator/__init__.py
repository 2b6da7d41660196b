"""compact-proofs generator: training, float proof search and certificate writing (untrusted)."""

__version__ = "0.1.0"
