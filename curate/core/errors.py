"""Errors that map to exit codes: config and usage problems are found before any work starts (exit 2)."""


class ConfigError(Exception):
    """A configuration, usage or schema problem; the message says what to change. Exit code 2."""


class RunRefused(ConfigError):
    """An existing run directory cannot be resumed with this config or input. Exit code 2."""
