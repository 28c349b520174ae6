"""nbo-engine: next-best-offer and experimentation engine for retail banks."""

__version__ = "0.1.0"
__all__ = ["__version__"]
