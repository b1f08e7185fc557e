# cython: freethreading_compatible=True, autotestdict=False
"""Compiled twin of ``nanasqlite._front``: cache hits without a Python frame.

``CacheFront.__getitem__`` fills the mapping slot of the type, so ``db[key]`` on a cached key is one dict lookup
behind one C call. The first read of a value that is cached as undecoded text (after ``bulk_load`` or a write)
is answered here too: the text is parsed by the compiled codec and the decoded value replaces it in the cache,
with no Python frame between ``db[key]`` and the parser. The pure twin sends that case to ``_miss``, which does
the same under the store's lock. Here the value replaces the text only if that text is still the cached one,
checked and swapped with no call in between that could let another thread run, so a write that raced the
parse wins (the lock-free cache hit above gives the same guarantee).
"""

cimport cython
from cpython.dict cimport PyDict_DelItem, PyDict_GetItemWithError, PyDict_SetItem
from cpython.list cimport PyList_Append
from cpython.ref cimport PyObject

from ._codec import loads as _loads

cdef object _NOT_FOUND = object()


@cython.auto_pickle(False)  # a store is a live connection: never pickled
cdef class CacheFront:
    cdef public dict _hot
    cdef public dict _raw  # the policy's undecoded texts (None: a policy that keeps none)

    def __getitem__(self, key):
        cdef PyObject *value = PyDict_GetItemWithError(self._hot, key)
        if value is not NULL:
            return <object>value
        if self._raw is not None:
            found = self._first_read(key)
            if found is not _NOT_FOUND:
                return found
        return self._miss(key)

    def get(self, key, default=None):
        cdef PyObject *value = PyDict_GetItemWithError(self._hot, key)
        if value is not NULL:
            return <object>value
        if self._raw is not None:
            found = self._first_read(key)
            if found is not _NOT_FOUND:
                return found
        return self._miss_get(key, default)

    def __contains__(self, key):
        if PyDict_GetItemWithError(self._hot, key) is not NULL:
            return True
        if self._raw is not None and PyDict_GetItemWithError(self._raw, key) is not NULL:
            return True
        return self._miss_contains(key)

    cdef object _first_read(self, key):
        """The decoded value of ``key``'s cached text, kept in ``_hot`` in its place; ``_NOT_FOUND`` when there
        is no such text or it is not JSON (``_miss`` then raises the store's error)."""
        cdef dict raw = self._raw
        cdef PyObject *found = PyDict_GetItemWithError(raw, key)
        if found is NULL:
            return _NOT_FOUND
        text = <object>found  # a reference of our own while it is parsed
        if text is None:  # a row whose value is SQL NULL
            value = None
        else:
            try:
                value = _loads(text)
            except ValueError:
                return _NOT_FOUND
        if PyDict_GetItemWithError(raw, key) is <PyObject *>text:  # no write replaced it meanwhile
            PyDict_SetItem(self._hot, key, value)
            PyDict_DelItem(raw, key)
        return value

    def _miss(self, key):
        raise NotImplementedError

    def _miss_get(self, key, default):
        raise NotImplementedError

    def _miss_contains(self, key):
        raise NotImplementedError


def probe(dict hot, keys):
    """Return ``(hits, misses)``: the cached values of ``keys`` and, in order, the keys not in ``hot``."""
    cdef dict hits = {}
    cdef list misses = []
    cdef PyObject *value
    for key in keys:
        value = PyDict_GetItemWithError(hot, key)
        if value is NULL:
            PyList_Append(misses, key)
        else:
            PyDict_SetItem(hits, key, <object>value)
    return hits, misses


from libc.string cimport memcmp, memcpy

cdef enum:
    HEADER = 48  # bytes of the WAL-index header, rewritten on every commit (https://sqlite.org/walformat.html)


@cython.auto_pickle(False)
cdef class CoherentFront(CacheFront):
    """``CacheFront`` for a store that must see other connections' commits (``cache_consistency="auto"``).

    Before every answer it compares the first copy of the WAL-index header (the start of the ``-shm`` file,
    mapped read-only) with the copy taken when the cache was last known to agree with the file: 48 bytes,
    one ``memcmp``. When they differ (a commit by anybody, this connection included), ``_sync`` finds out
    whether another connection committed and drops the cache if so. ``_watching``: 0 checks nothing (views of
    the store made by the async engine), 1 compares the header, 2 calls ``_sync`` on every read (no WAL)."""

    cdef const unsigned char *_shm
    cdef unsigned char _seen[HEADER]
    cdef int _watching
    cdef object _shm_view

    cdef inline int _fresh(self) except -1:
        if self._watching == 0:
            return 0
        if self._watching == 1 and memcmp(self._shm, self._seen, HEADER) == 0:
            return 0
        self._sync()
        return 0

    def __getitem__(self, key):
        self._fresh()
        cdef PyObject *value = PyDict_GetItemWithError(self._hot, key)
        if value is NULL:
            return self._miss(key)
        return <object>value

    def get(self, key, default=None):
        self._fresh()
        cdef PyObject *value = PyDict_GetItemWithError(self._hot, key)
        if value is NULL:
            return self._miss_get(key, default)
        return <object>value

    def __contains__(self, key):
        self._fresh()
        if PyDict_GetItemWithError(self._hot, key) is not NULL:
            return True
        return self._miss_contains(key)

    def _sync(self):
        raise NotImplementedError

    def _coherence_watch(self, view, int mode):
        """Watch ``view`` (a read-only buffer of at least 48 bytes: the mapped ``-shm`` file) in mode 1, or
        nothing in mode 0 or 2."""
        cdef const unsigned char[::1] buf
        if mode == 1:
            buf = view
            if buf.shape[0] < HEADER:
                raise ValueError("the WAL-index header needs 48 bytes")
            self._shm_view = view
            self._shm = &buf[0]
            memcpy(self._seen, self._shm, HEADER)
        else:
            self._shm_view = None
            self._shm = NULL
        self._watching = mode

    def _coherence_header(self):
        """The header now (empty unless in mode 1)."""
        if self._watching != 1:
            return b""
        return (<const char *>self._shm)[:HEADER]

    def _coherence_agree(self, bytes header):
        """Record ``header`` as the state the cache agrees with."""
        if self._watching == 1 and len(header) == HEADER:
            memcpy(self._seen, <const char *>header, HEADER)

    def _coherence_stale(self):
        """Whether the next read would call ``_sync``."""
        if self._watching == 0:
            return False
        return self._watching == 2 or memcmp(self._shm, self._seen, HEADER) != 0

    def _coherence_check(self):
        self._fresh()
