"""tokenization room."""
