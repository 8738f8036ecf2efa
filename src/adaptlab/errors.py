"""The one exception type for a user's mistake.

The CLI prints its message on one line and exits non-zero; anything else is a bug
and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user: a file, field or value, and what would be accepted."""
