"""The one exception type that means "the user gave us something we cannot use".

The CLI prints ``str(err)`` on one line of stderr and exits with code 2; it never shows a
traceback for a ``UserError`` unless ``--debug`` is given. Messages say what was expected,
what was found, and what to do, e.g.::

    expected a column named text or sentence in data.csv; found: id, review, stars (use --text-col)
"""


class UserError(Exception):
    """Bad input from the user: a file, a flag value, a column, a run directory."""
