"""adaptlab: adapt language models to a domain and measure which adaptation wins."""

__version__ = "0.1.0"

from adaptlab.quiet import go_offline

go_offline()  # before any Hugging Face library is imported: nothing reaches a hub at run time
