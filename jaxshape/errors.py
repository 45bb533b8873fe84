"""Errors raised for bad input.

`ConfigError` carries one line that names the fix; the CLI prints it and exits with
status 2 without a traceback. It is raised before anything compiles.
"""


class ConfigError(ValueError):
    """Invalid configuration or input; the message says how to fix it."""
