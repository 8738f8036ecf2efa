"""Generation: settings over transformers generate (KV cache on), the decode loop that the
prefix cache and speculative decoding share, and the persistent response cache."""
