"""The one place that decides between the compiled extensions and their pure-Python twins.

Either all three compiled modules are used or none: a partly built package runs the pure implementation
(a combination of the two is never tested). The choice is made once, at import:

* ``NANASQLITE_NO_EXTENSIONS=1`` asks for the pure implementation: nothing compiled is imported, no warning.
* ``NANASQLITE_REQUIRE_EXTENSIONS=1`` makes a missing or broken extension an ImportError of one line that
  names the module and how to build it.
* Otherwise a missing extension falls back to the pure implementation with one ``NanaSQLiteExtensionWarning``
  (a ``RuntimeWarning``) saying what is missing and how to build it.

``NATIVE`` says which implementation runs, ``MISSING`` why the compiled one does not, and ``implementation()``
says it in words (``nanasqlite --version``, ``nanasqlite info``).
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

from .exceptions import NanaSQLiteExtensionWarning

__all__ = ["NATIVE", "MISSING", "BUILD_HINT", "codec", "front", "bridge", "implementation"]

_NO_EXT = os.environ.get("NANASQLITE_NO_EXTENSIONS") == "1"
_REQUIRE_EXT = os.environ.get("NANASQLITE_REQUIRE_EXTENSIONS") == "1"

if _NO_EXT and _REQUIRE_EXT:
    raise ImportError("NANASQLITE_NO_EXTENSIONS and NANASQLITE_REQUIRE_EXTENSIONS are both set; unset one of them")

_PACKAGE = "nanasqlite._speedups"
# (compiled module, its pure twin), in import order: the pure bridge imports the codec from here.
_MODULES = (("_codec", "codec"), ("_front", "_front"), ("_bridge", "_bridge"))

#: How to get the compiled extensions, for the messages below.
BUILD_HINT = (
    "to build them, install a C compiler and the SQLite headers (Debian/Ubuntu: apt-get install gcc "
    "libsqlite3-dev) and reinstall from the source tree: NANASQLITE_REQUIRE_EXTENSIONS=1 pip install "
    "--force-reinstall --no-deps . (a failed build is then an error that shows the compiler's output)"
)


def _import_compiled(name: str) -> tuple[ModuleType | None, str]:
    """The compiled module, or None and why not: "not built", or the import error of a broken one."""
    full = f"{_PACKAGE}.{name}"
    try:
        return importlib.import_module(full), ""
    except ModuleNotFoundError as exc:
        if exc.name in (full, _PACKAGE):
            return None, "not built"
        return None, " ".join(f"{type(exc).__name__}: {exc}".split())
    except ImportError as exc:  # the file is there but does not load: wrong Python, missing symbol ...
        return None, " ".join(f"{type(exc).__name__}: {exc}".split())


_compiled: dict[str, ModuleType] = {}
#: Compiled modules that could not be used, with why ("not built", or the import error); empty when
#: ``NATIVE`` or when the pure implementation was asked for.
MISSING: dict[str, str] = {}
if not _NO_EXT:
    for _name, _ in _MODULES:
        _module, _why = _import_compiled(_name)
        if _module is None:
            MISSING[_name] = _why
        else:
            _compiled[_name] = _module

#: True when every hot path runs in the compiled extensions.
NATIVE: bool = not _NO_EXT and not MISSING


def _missing_text() -> str:
    """What is missing, in one line: every unusable module and, for a partial build, what was built."""
    parts = []
    for name, why in MISSING.items():
        parts.append(f"{_PACKAGE}.{name} is " + ("not built" if why == "not built" else f"broken ({why})"))
    text = "; ".join(parts)
    built = [name for name, _ in _MODULES if name not in MISSING]
    if built:
        text += f" (the package is partly built: {', '.join(built)} {'is' if len(built) == 1 else 'are'} there)"
    return text


if MISSING:
    if _REQUIRE_EXT:
        raise ImportError(f"NANASQLITE_REQUIRE_EXTENSIONS=1, but {_missing_text()}; {BUILD_HINT}")
    warnings.warn(
        f"nanasqlite runs its pure-Python implementation (2-4x slower on batches): {_missing_text()}; "
        f"{BUILD_HINT}. Set NANASQLITE_NO_EXTENSIONS=1 to choose the pure implementation without this warning.",
        NanaSQLiteExtensionWarning,
        stacklevel=3,  # the line that imported nanasqlite (the import machinery's frames are not counted)
    )


def _select(name: str, pure: str) -> ModuleType:
    return _compiled[name] if NATIVE else importlib.import_module(f"nanasqlite.{pure}")


codec = _select("_codec", "codec")
front = _select("_front", "_front")
bridge = _select("_bridge", "_bridge")  # after codec: the pure bridge imports it from here


def implementation() -> str:
    """Which implementation runs, and why, in a few words (never "compiled" unless it is the compiled one)."""
    if NATIVE:
        return "compiled extensions"
    if _NO_EXT:
        return "pure Python, as NANASQLITE_NO_EXTENSIONS=1 asks"
    return f"pure Python: C extensions not usable: {', '.join(MISSING)}"
