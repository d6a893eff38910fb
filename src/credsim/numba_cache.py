"""Numba's cache of credsim's kernels, kept as fresh as the whole package.

Numba stamps a cached kernel with its own source file only. A kernel that calls (often
inlines) a function from another module keeps its machine code when that other module
changes, so after an edit or a ``git pull`` of an editable install it would go on running
the old code: silently old results, or a crash where the data it reads changed shape. (Numba
documents this: "cache invalidation fails to recognize changes in symbols defined in another
file".) credsim's kernels do call across modules: the event engine's pay step inlines the
reference engine's income rule, behave reads the closed forms of ``lazy``, and so on.

So credsim's kernels are stamped with every source file of the package together
(:func:`package_stamp`): a change to any of them makes numba compile all of them again, once
(about 30 s), and nothing stale is ever loaded. :func:`install` puts that stamp in front of
numba's own cache locators, for the files of one package only; the places the cache is
written are numba's own (``NUMBA_CACHE_DIR`` when set, else ``__pycache__`` beside the
source, else the user's cache folder). ``NUMBA_CACHE_LOCATOR_CLASSES``, when set, is left to
rule. Where numba lacks the locator list or the locators this builds on (by their names
before or after numba 0.61), :func:`install` does nothing and numba's own stamps apply.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


@functools.cache
def package_stamp(root: str) -> str:
    """A hash of the name and content of every ``.py`` file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(Path(root).rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _numba(name: str):
    """A class of numba's caching module: public from numba 0.61, with a leading underscore
    before (``pyproject.toml`` allows 0.60); None when neither is there."""
    from numba.core import caching

    return getattr(caching, name, None) or getattr(caching, f"_{name}", None)


@functools.cache
def locators_for(root: str) -> tuple[type, ...]:
    """Numba's three file-backed locators, for the files under ``root`` only, each giving
    the package's stamp instead of the file's."""
    def inside(py_file: str) -> bool:
        try:
            return Path(py_file).resolve().is_relative_to(root)
        except (OSError, ValueError):
            return False

    made = []
    for base in (_numba("UserProvidedCacheLocator"), _numba("InTreeCacheLocator"), _numba("UserWideCacheLocator")):

        def from_function(cls, py_func, py_file):
            return super(cls, cls).from_function(py_func, py_file) if inside(py_file) else None

        made.append(type(f"Package{base.__name__}", (base,), {
            "get_source_stamp": lambda self: package_stamp(root),
            "from_function": classmethod(from_function),
            "__module__": __name__,
        }))
    return tuple(made)


def install(root: str | Path) -> bool:
    """Stamp the kernels of the package at ``root`` with the whole package (once; before its
    kernels are defined). False where numba has no locator list, or no locators, of the
    kind this builds on: numba's own stamps then apply."""
    root = str(Path(root).resolve())
    locators = getattr(_numba("CacheImpl"), "_locator_classes", None)
    needed = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")
    if not isinstance(locators, list) or any(_numba(name) is None for name in needed):
        return False
    for locator in reversed(locators_for(root)):
        if locator not in locators:
            locators.insert(0, locator)
    return True
