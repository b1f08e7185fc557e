"""Compiled twins of nanasqlite's hot paths; import them through ``nanasqlite._native``."""
