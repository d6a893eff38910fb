"""Reading a user's TOML file (a scenario or an experiment): size-capped, strict UTF-8, and
every failure turned into the caller's error, naming the file."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 1_000_000


def read_toml(path: Path, label: str, error: Callable[[str, list[str]], Exception], kind: str) -> dict[str, Any]:
    """Parse ``path``; any problem raises ``error(label, [message])``. ``kind`` names what the
    file should be ("a scenario", "an experiment") in the size message."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise error(label, [f"file is {size:,} bytes; {kind} may be at most {MAX_FILE_BYTES:,}"])
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error(label, [f"not valid UTF-8 text (byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise error(label, [f"not valid TOML: {exc}"]) from None
    except RecursionError:
        raise error(label, ["not valid TOML: nested too deeply"]) from None
    except OSError as exc:
        raise error(label, [f"cannot read file: {exc.strerror}"]) from None
