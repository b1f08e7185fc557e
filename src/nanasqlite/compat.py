"""Which optional libraries this installation uses (1.6's ``nanasqlite.compat`` flags), reported honestly.

- ``HAS_ORJSON`` is ``False``: the store's JSON codec is its own (compiled, with a pure-Python twin) whether or
  not orjson is installed, so its output never depends on it.
- ``HAS_VALIDKIT``: whether validkit-py can be imported (validation hooks use it when present).
- ``HAS_RE2`` is ``False``: SQL clauses are checked by a linear-time tokenizer, not by regular expressions.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

__all__ = ["HAS_ORJSON", "HAS_VALIDKIT", "HAS_RE2", "IDENTIFIER_PATTERN", "validkit_validate"]

HAS_ORJSON = False
HAS_RE2 = importlib.util.find_spec("re2") is not None  # hooks match key_pattern with it
HAS_VALIDKIT = importlib.util.find_spec("validkit") is not None

#: A plain SQL name: letters, digits and ``_``, not starting with a digit.
IDENTIFIER_PATTERN = re.compile(r"^[a-zA-Z_]\w*$")


def validkit_validate(*args: Any, **kwargs: Any) -> Any:
    """``validkit.validate``; ``ImportError`` when validkit-py is not installed."""
    try:
        from validkit import validate  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise ImportError("validkit-py is not installed. Install it with: pip install validkit-py") from None
    return validate(*args, **kwargs)
