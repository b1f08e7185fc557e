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
