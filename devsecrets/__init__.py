"""devsecrets: secrets for one child process, never for the shell."""

__version__ = "0.1.0"
