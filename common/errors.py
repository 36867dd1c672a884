"""The one exception type for bad user input.

Anything raised as ``UserInputError`` is printed by the CLI as a single line
``error: <message>`` and ends the process with exit status 2. The message must
name the file, row, item or key at fault and say what was expected.
"""


class UserInputError(Exception):
    """Bad input from the user: a file, a flag, a config key, a data row."""
