"""Generation: sampling settings over transformers generate (KV cache on)."""
