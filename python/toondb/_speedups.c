/* toondb._speedups: the SDK's per-key hot calls (put, get, delete, scan batches, encoding a
 * put_many batch) without ctypes or per-pair Python code.
 *
 * A ctypes call costs 0.4-0.6 us before the library runs; these functions call the same C ABI
 * functions of libtoondb_storage.so directly. The extension does not link against the
 * library: the SDK loads it with ctypes as before (whichever copy TOONDB_LIB_PATH and the
 * search order find) and hands this module the addresses of the functions it needs (bind()).
 * It is optional: when it is not built, the SDK uses ctypes for everything.
 *
 * Every call releases the GIL while the library runs, as ctypes does, so threads sharing a
 * database still overlap (a put with sync_mode "full" waits for fsync).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* The C ABI's transaction handle, passed by value (toondb.h). */
typedef struct {
    uint64_t txn_id;
    uint64_t snapshot_ts;
} txn_handle;

typedef int (*put32_fn)(void *, txn_handle, const uint8_t *, int, const uint8_t *, int);
typedef int64_t (*get_into32_fn)(void *, txn_handle, const uint8_t *, int, uint8_t *, int);
typedef int (*delete32_fn)(void *, txn_handle, const uint8_t *, int);
typedef int (*visitor_fn)(void *, const uint8_t *, size_t, const uint8_t *, size_t);
typedef int64_t (*scan_visit_fn)(void *, size_t, visitor_fn, void *, uint8_t *);

static put32_fn put32;
static get_into32_fn get_into32;
static delete32_fn delete32;
static scan_visit_fn scan_visit;

/* Values up to this size are read into a stack buffer and copied once into the result. */
#define STACK_VALUE 4096

static PyObject *bind(PyObject *self, PyObject *args) {
    unsigned long long put, get, del, visit;
    if (!PyArg_ParseTuple(args, "KKKK", &put, &get, &del, &visit)) return NULL;
    if (!put || !get || !del || !visit) {
        PyErr_SetString(PyExc_ValueError, "bind: a function address is NULL");
        return NULL;
    }
    put32 = (put32_fn)(uintptr_t)put;
    get_into32 = (get_into32_fn)(uintptr_t)get;
    delete32 = (delete32_fn)(uintptr_t)del;
    scan_visit = (scan_visit_fn)(uintptr_t)visit;
    Py_RETURN_NONE;
}

/* A bytes argument `what` as its data and C int length (the library's *32 functions). */
static int bytes_arg(PyObject *obj, const char *what, const uint8_t **data, int *len) {
    if (!PyBytes_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be bytes", what);
        return -1;
    }
    if (PyBytes_GET_SIZE(obj) > INT32_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s longer than 2**31 - 1 bytes", what);
        return -1;
    }
    *data = (const uint8_t *)PyBytes_AS_STRING(obj);
    *len = (int)PyBytes_GET_SIZE(obj);
    return 0;
}

/* Arguments common to every call: (handle: int, txn_id: int, snapshot: int, key: bytes). */
static int common(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected, const char *name,
                  void **handle, txn_handle *txn, const uint8_t **key, int *key_len) {
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments (%zd given)", name, expected, nargs);
        return -1;
    }
    if (!put32) {
        PyErr_SetString(PyExc_RuntimeError, "toondb._speedups is not bound to the library");
        return -1;
    }
    *handle = PyLong_AsVoidPtr(args[0]);
    txn->txn_id = PyLong_AsUnsignedLongLong(args[1]);
    txn->snapshot_ts = PyLong_AsUnsignedLongLong(args[2]);
    if (PyErr_Occurred()) return -1;
    return bytes_arg(args[3], "key", key, key_len);
}

/* put(handle, txn_id, snapshot, key, value) -> status (0 ok, else the library's error code). */
static PyObject *put(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *handle;
    txn_handle txn;
    const uint8_t *key;
    int key_len;
    const uint8_t *value;
    int value_len;
    if (common(args, nargs, 5, "put", &handle, &txn, &key, &key_len) < 0) return NULL;
    if (bytes_arg(args[4], "value", &value, &value_len) < 0) return NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = put32(handle, txn, key, key_len, value, value_len);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(status);
}

/* get(handle, txn_id, snapshot, key) -> bytes, None when missing, or an int error status. */
static PyObject *get(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *handle;
    txn_handle txn;
    const uint8_t *key;
    int key_len;
    if (common(args, nargs, 4, "get", &handle, &txn, &key, &key_len) < 0) return NULL;
    uint8_t stack[STACK_VALUE];
    int64_t length;
    Py_BEGIN_ALLOW_THREADS
    length = get_into32(handle, txn, key, key_len, stack, STACK_VALUE);
    Py_END_ALLOW_THREADS
    if (length == -1) Py_RETURN_NONE;
    if (length < 0) return PyLong_FromLongLong(length);
    if (length <= STACK_VALUE) return PyBytes_FromStringAndSize((const char *)stack, (Py_ssize_t)length);
    /* Longer than the stack buffer: read straight into a result of the reported size. The value
     * can change between the calls (another writer), so repeat until it fits. */
    for (;;) {
        if (length > INT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "value longer than 2**31 - 1 bytes: use the ctypes path");
            return NULL;
        }
        PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)length);
        if (!result) return NULL;
        int64_t capacity = length;
        uint8_t *into = (uint8_t *)PyBytes_AS_STRING(result);
        Py_BEGIN_ALLOW_THREADS
        length = get_into32(handle, txn, key, key_len, into, (int)capacity);
        Py_END_ALLOW_THREADS
        if (length >= 0 && length <= capacity) {
            if (length < capacity && _PyBytes_Resize(&result, (Py_ssize_t)length) < 0) return NULL;
            return result;
        }
        Py_DECREF(result);
        if (length == -1) Py_RETURN_NONE;
        if (length < 0) return PyLong_FromLongLong(length);
    }
}

/* delete(handle, txn_id, snapshot, key) -> status. */
static PyObject *delete_(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *handle;
    txn_handle txn;
    const uint8_t *key;
    int key_len;
    if (common(args, nargs, 4, "delete", &handle, &txn, &key, &key_len) < 0) return NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = delete32(handle, txn, key, key_len);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(status);
}

/* toondb_scan_visit's visitor: appends (key, value) to the list `ctx`; nonzero stops the scan
 * (out of memory; the Python error is set). Runs with the GIL held. */
static int append_pair(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len) {
    PyObject *k = PyBytes_FromStringAndSize((const char *)key, (Py_ssize_t)key_len);
    PyObject *v = k ? PyBytes_FromStringAndSize((const char *)value, (Py_ssize_t)value_len) : NULL;
    PyObject *pair = v ? PyTuple_New(2) : NULL;
    if (!pair) {
        Py_XDECREF(k);
        Py_XDECREF(v);
        return 1;
    }
    PyTuple_SET_ITEM(pair, 0, k);
    PyTuple_SET_ITEM(pair, 1, v);
    /* Two bytes objects cannot be part of a reference cycle: leave the pair out of the
       cyclic GC's young generation at once (CPython would untrack it at its first collection
       anyway), so the collections a long scan's allocations trigger have nothing to walk. */
    PyObject_GC_UnTrack(pair);
    int failed = PyList_Append((PyObject *)ctx, pair);
    Py_DECREF(pair);
    return failed ? 1 : 0;
}

/* scan_batch(scan, limit) -> (list of (key, value), done), or the int -1 when the library
 * failed (its last error says why). Pairs are built straight from the library's buffers: one
 * copy each. The GIL stays held, as the visitor makes Python objects. */
static PyObject *scan_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "scan_batch takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!scan_visit) {
        PyErr_SetString(PyExc_RuntimeError, "toondb._speedups is not bound to the library");
        return NULL;
    }
    void *scan = PyLong_AsVoidPtr(args[0]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (PyErr_Occurred()) return NULL;
    if (limit <= 0) {
        PyErr_SetString(PyExc_ValueError, "scan_batch: limit must be positive");
        return NULL;
    }
    PyObject *pairs = PyList_New(0);
    if (!pairs) return NULL;
    uint8_t done = 0;
    int64_t visited = scan_visit(scan, (size_t)limit, append_pair, pairs, &done);
    if (PyErr_Occurred()) {  /* the visitor ran out of memory */
        Py_DECREF(pairs);
        return NULL;
    }
    if (visited < 0) {
        Py_DECREF(pairs);
        return PyLong_FromLongLong(visited);
    }
    return Py_BuildValue("(NO)", pairs, done ? Py_True : Py_False);
}

/* Appends `n` bytes to the growing buffer `*buf` (capacity `*cap`, used `*len`). */
static int append(uint8_t **buf, size_t *cap, size_t *len, const void *data, size_t n) {
    if (*len + n > *cap) {
        size_t grown = *cap ? *cap : 4096;
        while (grown < *len + n) grown *= 2;
        uint8_t *bigger = PyMem_Realloc(*buf, grown);
        if (!bigger) {
            PyErr_NoMemory();
            return -1;
        }
        *buf = bigger;
        *cap = grown;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    return 0;
}

static int append_u32(uint8_t **buf, size_t *cap, size_t *len, uint32_t v) {
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return append(buf, cap, len, le, 4);
}

/* `item` as bytes: itself when it is bytes, else convert(item, what) (the SDK's check, which
 * accepts bytearray and memoryview and raises TypeError for the rest). New reference. */
static PyObject *as_bytes(PyObject *item, PyObject *convert, PyObject *what) {
    if (PyBytes_CheckExact(item)) {
        Py_INCREF(item);
        return item;
    }
    PyObject *converted = PyObject_CallFunctionObjArgs(convert, item, what, NULL);
    if (converted && !PyBytes_Check(converted)) {
        Py_DECREF(converted);
        PyErr_SetString(PyExc_TypeError, "the converter did not return bytes");
        return NULL;
    }
    return converted;
}

/* encode_pairs(pairs, convert) -> (bytes, count): the toondb_put_many buffer for an iterable of
 * (key, value) pairs, count u32 then {klen u32, vlen u32, key, value}*count, little-endian. */
static PyObject *encode_pairs(PyObject *self, PyObject *args) {
    PyObject *pairs, *convert;
    if (!PyArg_ParseTuple(args, "OO", &pairs, &convert)) return NULL;
    PyObject *key_name = PyUnicode_FromString("key"), *value_name = PyUnicode_FromString("value");
    PyObject *iterator = key_name && value_name ? PyObject_GetIter(pairs) : NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    uint32_t count = 0;
    PyObject *result = NULL;
    if (!iterator || append_u32(&buf, &cap, &len, 0) < 0) goto done;
    PyObject *pair;
    while ((pair = PyIter_Next(iterator))) {
        PyObject *key = NULL, *value = NULL;
        int failed = 1;
        if (PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2) {
            key = as_bytes(PyTuple_GET_ITEM(pair, 0), convert, key_name);
            value = key ? as_bytes(PyTuple_GET_ITEM(pair, 1), convert, value_name) : NULL;
        } else {
            PyObject *items = PySequence_Tuple(pair);
            if (items && PyTuple_GET_SIZE(items) == 2) {
                key = as_bytes(PyTuple_GET_ITEM(items, 0), convert, key_name);
                value = key ? as_bytes(PyTuple_GET_ITEM(items, 1), convert, value_name) : NULL;
            } else if (items) {
                PyErr_SetString(PyExc_ValueError, "each pair must have two items (key, value)");
            }
            Py_XDECREF(items);
        }
        Py_DECREF(pair);
        if (key && value) {
            Py_ssize_t key_len = PyBytes_GET_SIZE(key), value_len = PyBytes_GET_SIZE(value);
            if (key_len > UINT32_MAX || value_len > UINT32_MAX) {
                PyErr_SetString(PyExc_OverflowError, "a key or value longer than 2**32 - 1 bytes");
            } else if (count == UINT32_MAX) {
                PyErr_SetString(PyExc_OverflowError, "more than 2**32 - 1 pairs");
            } else if (append_u32(&buf, &cap, &len, (uint32_t)key_len) == 0 &&
                       append_u32(&buf, &cap, &len, (uint32_t)value_len) == 0 &&
                       append(&buf, &cap, &len, PyBytes_AS_STRING(key), (size_t)key_len) == 0 &&
                       append(&buf, &cap, &len, PyBytes_AS_STRING(value), (size_t)value_len) == 0) {
                count++;
                failed = 0;
            }
        }
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (failed) goto done;
    }
    if (PyErr_Occurred()) goto done;
    buf[0] = (uint8_t)count;
    buf[1] = (uint8_t)(count >> 8);
    buf[2] = (uint8_t)(count >> 16);
    buf[3] = (uint8_t)(count >> 24);
    result = Py_BuildValue("(y#I)", (const char *)buf, (Py_ssize_t)len, count);
done:
    PyMem_Free(buf);
    Py_XDECREF(iterator);
    Py_XDECREF(key_name);
    Py_XDECREF(value_name);
    return result;
}

static PyMethodDef methods[] = {
    {"bind", bind, METH_VARARGS, "bind(put32, get_into32, delete32, scan_visit): the library functions' addresses."},
    {"put", (PyCFunction)(void (*)(void))put, METH_FASTCALL, "put(handle, txn_id, snapshot, key, value) -> status"},
    {"get", (PyCFunction)(void (*)(void))get, METH_FASTCALL,
     "get(handle, txn_id, snapshot, key) -> bytes, None (missing) or an int error status"},
    {"delete", (PyCFunction)(void (*)(void))delete_, METH_FASTCALL, "delete(handle, txn_id, snapshot, key) -> status"},
    {"scan_batch", (PyCFunction)(void (*)(void))scan_batch, METH_FASTCALL,
     "scan_batch(scan, limit) -> (list of (key, value), done), or -1 when the library failed"},
    {"encode_pairs", encode_pairs, METH_VARARGS, "encode_pairs(pairs, convert) -> (toondb_put_many buffer, count)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "toondb._speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
