"""adaptlab: adapt language models to a domain and measure which adaptation wins."""

__version__ = "0.1.0"
