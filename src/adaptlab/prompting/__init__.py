"""Prompting as data: Jinja2 templates, example selection, and a prompted model as an LM.

Nothing heavy is imported here, so the CLI can load `adaptlab.prompting.cli` instantly.
"""
