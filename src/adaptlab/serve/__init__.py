"""OpenAI-compatible HTTP serving of any `LM`: what the ecosystem's clients already speak."""
