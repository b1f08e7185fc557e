# cython: freethreading_compatible=True, autotestdict=False
"""Compiled twin of ``nanasqlite._front``: cache hits without a Python frame.

``CacheFront.__getitem__`` fills the mapping slot of the type, so ``db[key]`` on a cached key is one dict lookup
behind one C call.
"""

cimport cython
from cpython.dict cimport PyDict_GetItemWithError, PyDict_SetItem
from cpython.list cimport PyList_Append
from cpython.ref cimport PyObject


@cython.auto_pickle(False)  # a store is a live connection: never pickled
cdef class CacheFront:
    cdef public dict _hot

    def __getitem__(self, key):
        cdef PyObject *value = PyDict_GetItemWithError(self._hot, key)
        if value is NULL:
            return self._miss(key)
        return <object>value

    def get(self, key, default=None):
        cdef PyObject *value = PyDict_GetItemWithError(self._hot, key)
        if value is NULL:
            return self._miss_get(key, default)
        return <object>value

    def __contains__(self, key):
        if PyDict_GetItemWithError(self._hot, key) is not NULL:
            return True
        return self._miss_contains(key)

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
