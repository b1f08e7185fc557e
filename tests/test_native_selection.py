from __future__ import annotations

import nanasqlite
from nanasqlite import _native

from .conftest import NO_EXT, REQUIRE_EXT


def test_required_extensions_are_really_used() -> None:
    if REQUIRE_EXT:
        assert nanasqlite.NATIVE is True
        assert _native.codec.__name__ == "nanasqlite._speedups._codec"
        assert _native.front.__name__ == "nanasqlite._speedups._front"


def test_disabled_extensions_are_really_not_used() -> None:
    if NO_EXT:
        assert nanasqlite.NATIVE is False
        assert _native.codec.__name__ == "nanasqlite.codec"
        assert _native.front.__name__ == "nanasqlite._front"


def test_store_front_is_the_selected_implementation() -> None:
    assert issubclass(nanasqlite.NanaSQLite, _native.front.CacheFront)
