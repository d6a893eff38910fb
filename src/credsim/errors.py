"""credsim's exceptions.

    CredsimError
    ├── ScenarioError      a scenario file, a built-in name or a --set value is wrong
    ├── ResourceError      the run would not fit this machine (memory, disk)
    ├── CorruptRunError    a run folder or checkpoint is incomplete, altered or unreadable
    └── OutputError        a file cannot be written where the user asked (a device, a folder,
                           a name too long, a read-only place, a full disk)

Each carries a message written for the person who made the mistake: which file, which
field, what was expected and what was found. The command line prints it and exits with 2.
"""

from __future__ import annotations


class CredsimError(Exception):
    """Base class of every error credsim raises on purpose."""


class ScenarioError(CredsimError):
    """A scenario could not be loaded or did not validate."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: invalid scenario\n{lines}")


class ResourceError(CredsimError):
    """The requested run needs more memory or disk than this machine has."""


class CorruptRunError(CredsimError):
    """A run folder's files do not match its ``manifest.json`` (or it has none, or the run
    is not complete), or a checkpoint cannot be read. The message names the file."""


class OutputError(CredsimError):
    """A file cannot be written at the path given (``--out``, ``--csv``): it is a device,
    FIFO or folder, the name is not one the file system takes, or the write failed. The
    message names the path."""
