"""Reading a user's TOML file (a scenario or an experiment): size-capped, strict UTF-8,
bounded in line length and key depth before it is parsed, and every failure turned into the
caller's error, naming the file.

Why bounds before parsing: Python's TOML parser takes time quadratic in the depth of a key
(a 60 KB file holding one dotted key of 30,000 parts took 18.9 s and 3.6 GB to reject).
:func:`toml_text_problem` makes one linear pass over the text, with no parsing, and refuses
a file whose lines or keys go past the limits below; what is left for the parser is at most
:data:`MAX_FILE_BYTES` of text whose keys are at most :data:`MAX_KEY_DEPTH` parts deep, so
any input is answered quickly by construction. The limits are far above any real scenario
or experiment (the built-in scenarios: under 16 KB, lines under 300 characters, keys at
most 4 parts deep, values nested at most 3 deep (a timeline ramp of a list field); tests/test_bounded_parsing.py checks this).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 1_000_000
# enough for 10,000 region shares written at full precision on one line (about 240,000
# characters); credsim's own files write long arrays one value per line
MAX_LINE_CHARS = 262_144
# parts of a key, counting its table header and the keys of the inline tables around it:
# `[population.groups.minority]` then `share = 0.1` is 4
MAX_KEY_DEPTH = 32
# arrays and inline tables inside one another, in one value
MAX_NESTING = 32

_TOKEN = re.compile(r"[ \t]+|\r?\n|#[^\n]*|[A-Za-z0-9_+:\-]+|.", re.DOTALL)
_WORD = re.compile(r"[A-Za-z0-9_+:\-]")


def read_toml(path: Path, label: str, error: Callable[[str, list[str]], Exception], kind: str) -> dict[str, Any]:
    """Parse ``path``; any problem raises ``error(label, [message])``. ``kind`` names what the
    file should be ("a scenario", "an experiment") in the size message."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise error(label, [f"file is {size:,} bytes; {kind} may be at most {MAX_FILE_BYTES:,}"])
        text = path.read_bytes()[: MAX_FILE_BYTES + 1].decode("utf-8")
        if len(text.encode("utf-8")) > MAX_FILE_BYTES:  # it grew since stat()
            raise error(label, [f"file is over {MAX_FILE_BYTES:,} bytes; {kind} may be at most {MAX_FILE_BYTES:,}"])
        problem = toml_text_problem(text)
        if problem:
            raise error(label, [f"not read: {problem}"])
        return tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise error(label, [f"not valid UTF-8 text (byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise error(label, [f"not valid TOML: {exc}"]) from None
    except RecursionError:
        raise error(label, ["not valid TOML: nested too deeply"]) from None
    except OSError as exc:
        raise error(label, [f"cannot read file: {exc.strerror}"]) from None


def toml_text_problem(text: str) -> str | None:
    """What makes ``text`` too long in a line, or too deep in a key or a value, to be given
    to the parser; None when it is within the limits. One pass, no parsing: time and memory
    linear in the text. Valid TOML within the limits is never refused; text that is not
    TOML may pass (the parser then says what is wrong with it)."""
    for number, line in enumerate(text.split("\n"), 1):
        if len(line) > MAX_LINE_CHARS:
            return f"line {number} is {len(line):,} characters long; a line may be at most {MAX_LINE_CHARS:,}"
    return _depth_problem(text)


def _depth_problem(text: str) -> str | None:
    # frames: [kind, depth of the keys written directly in it, depth of the key whose value
    # is being read (None while a key is expected)]; "top" is the file itself, "{" an inline
    # table, "[" an array (whose items are values).
    frames: list[list[Any]] = [["top", 0, None]]
    run = 0  # parts of the dotted name being read
    after_dot = False
    header = False  # inside a [table] or [[array of tables]] header
    pos, end = 0, len(text)

    def where(at: int) -> str:
        return f"line {text.count(chr(10), 0, at) + 1}"

    while pos < end:
        ch = text[pos]
        if ch in "\"'":
            close = _string_end(text, pos)
            if close < 0:
                return None  # an unterminated string: the parser stops there
            token_end, kind = close, "part"
        else:
            match = _TOKEN.match(text, pos)
            token_end = match.end()
            token = match.group()
            if _WORD.match(token):
                kind = "part"
            elif token[0] in " \t" or token[0] == "#":
                pos = token_end
                continue
            else:
                kind = token
        frame = frames[-1]
        if kind == "part":
            run = run + 1 if after_dot else 1
            after_dot = False
            if header:
                depth = run
            elif frame[0] != "[" and frame[2] is None:  # a key
                depth = frame[1] + run
            else:
                depth = 0  # a value (a dotted value is not valid TOML; the parser says so)
            if depth > MAX_KEY_DEPTH:
                return f"{where(pos)}: a key {depth} parts deep (its table and dotted parts together); a key may be at most {MAX_KEY_DEPTH} deep"
        elif kind == ".":
            after_dot = True
        else:
            after_dot = False
            if kind in ("\n", "\r\n"):
                if len(frames) == 1:
                    frame[2] = None
            elif kind == "=" and not header:
                frame[2] = frame[1] + run if frame[2] is None else frame[2]
            elif kind == "[" and len(frames) == 1 and frame[2] is None:
                header = True  # `[[` reads two of these: still a header
            elif kind == "]" and header:
                frames[0][1] = run
                header = False
            elif kind in "[{":
                base = frame[2] if frame[2] is not None else frame[1]
                frames.append([kind, base, base if kind == "[" else None])
                if len(frames) - 1 > MAX_NESTING:
                    return f"{where(pos)}: a value nested more than {MAX_NESTING} deep (arrays and inline tables); at most {MAX_NESTING} is allowed"
            elif kind in "]}" and len(frames) > 1 and frame[0] == "[{"[kind == "}"]:
                frames.pop()
            elif kind == "," and frame[0] == "{":
                frame[2] = None
            run = 0
        pos = token_end
    return None


def _string_end(text: str, start: int) -> int:
    """Where the TOML string opening at ``start`` ends (the index after its closing quote),
    or -1 when it is not closed. Linear in the string's length."""
    quote = text[start]
    triple = text.startswith(quote * 3, start)
    delim = quote * 3 if triple else quote
    i = start + len(delim)
    line_end = -1 if triple else text.find("\n", i)
    while True:
        j = text.find(delim, i)
        if j < 0 or (line_end >= 0 and j > line_end):
            return -1
        if quote == '"':  # a quote after an odd number of backslashes is escaped
            k = j
            while k > i and text[k - 1] == "\\":
                k -= 1
            if (j - k) % 2:
                i = j + 1
                continue
        close = j + len(delim)
        if triple:  # up to two quotes may end the content: """a"""" is 'a"'
            extra = 0
            while close < len(text) and text[close] == quote and extra < 2:
                close += 1
                extra += 1
        return close
