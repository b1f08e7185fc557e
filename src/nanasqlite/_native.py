"""The one place that decides between the compiled extensions and their pure-Python twins.

``NANASQLITE_NO_EXTENSIONS=1`` forces the pure implementation; ``NANASQLITE_REQUIRE_EXTENSIONS=1`` turns a
missing or broken extension into an ImportError instead of a silent fallback.
"""

from __future__ import annotations

import os
from types import ModuleType

_NO_EXT = os.environ.get("NANASQLITE_NO_EXTENSIONS") == "1"
_REQUIRE_EXT = os.environ.get("NANASQLITE_REQUIRE_EXTENSIONS") == "1"

if _NO_EXT and _REQUIRE_EXT:
    raise ImportError("NANASQLITE_NO_EXTENSIONS and NANASQLITE_REQUIRE_EXTENSIONS are both set")


def _load(native: str, pure: str) -> tuple[ModuleType, bool]:
    import importlib

    if not _NO_EXT:
        try:
            return importlib.import_module(f"nanasqlite._speedups.{native}"), True
        except ImportError:
            if _REQUIRE_EXT:
                raise
    return importlib.import_module(f"nanasqlite.{pure}"), False


codec, _codec_native = _load("_codec", "codec")
front, _front_native = _load("_front", "_front")
bridge, _bridge_native = _load("_bridge", "_bridge")  # after codec: the pure bridge imports it from here

#: True when every hot path runs in the compiled extensions.
NATIVE: bool = _codec_native and _front_native and _bridge_native
