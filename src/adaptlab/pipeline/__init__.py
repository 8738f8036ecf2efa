"""Composable pipelines: LMs, prompt recipes and Python functions chained text to text.

Nothing heavy is imported here, so the CLI can load `adaptlab.pipeline.cli` instantly.
"""
