"""The one exception a user should ever see from this package.

A :class:`UnlearnError` carries a single line that says what is wrong and how
to fix it. Recipes catch it at the top level, print the line and exit with
status 2, so bad input never produces a traceback or a half-written output.

Example
-------
>>> try:
...     raise UnlearnError("forget_ratio must lie in (0, 1), got 1.5")
... except UnlearnError as err:
...     print(err)
forget_ratio must lie in (0, 1), got 1.5
"""


class UnlearnError(Exception):
    """A user-facing error: one line, no traceback."""
