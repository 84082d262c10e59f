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
#include <stddef.h>
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

/* get's common case: the value read into a stack buffer. Returns 1 with *answer set (None
 * when missing, else the bytes, or NULL with an exception set) when that settles it; else 0
 * with *length set: an error status, or the length of a value longer than the buffer. */
static int get_small(void *handle, txn_handle txn, const uint8_t *key, int key_len, PyObject **answer, int64_t *length) {
    uint8_t stack[STACK_VALUE];
    int64_t got;
    Py_BEGIN_ALLOW_THREADS
    got = get_into32(handle, txn, key, key_len, stack, STACK_VALUE);
    Py_END_ALLOW_THREADS
    *length = got;
    if (got == -1) {
        Py_INCREF(Py_None);
        *answer = Py_None;
        return 1;
    }
    if (got >= 0 && got <= STACK_VALUE) {
        *answer = PyBytes_FromStringAndSize((const char *)stack, (Py_ssize_t)got);
        return 1;
    }
    return 0;
}

/* get(handle, txn_id, snapshot, key) -> bytes, None when missing, or an int error status. */
static PyObject *get(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *handle;
    txn_handle txn;
    const uint8_t *key;
    int key_len;
    if (common(args, nargs, 4, "get", &handle, &txn, &key, &key_len) < 0) return NULL;
    PyObject *answer;
    int64_t length;
    if (get_small(handle, txn, key, key_len, &answer, &length)) return answer;
    if (length < 0) return PyLong_FromLongLong(length);
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

/* Getter and Putter: a database's get(key) and put(key, value) as C callables. Database
 * installs them as the instance's `get` and `put`, so the common call (an open database,
 * bytes arguments, for get a value that fits the stack buffer) runs no Python frame at all;
 * a Python method costs ~0.1-0.2 us more per call. Every other call (other argument types,
 * keywords, a closed database, a long value, an error status) goes to
 * `fallback(database, *args, **kwargs)`, the SDK's Python path, which gives the same answers
 * and raises the same errors (a put that failed wrote nothing, so the fallback may repeat
 * it). They hold the database weakly: no reference cycle, so dropping the last reference
 * still closes it at once. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    void *handle;        /* NULL once close() was called */
    PyObject *database;  /* weakref.ref to the Database */
    PyObject *fallback;
} BoundCall;

static PyObject *bound_fallback(BoundCall *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *database;  /* a new reference; None once the database is gone */
#if PY_VERSION_HEX >= 0x030D0000
    if (PyWeakref_GetRef(self->database, &database) < 0) return NULL;
    if (!database) database = Py_NewRef(Py_None);
#else
    database = PyWeakref_GetObject(self->database);
    if (!database) return NULL;
    Py_INCREF(database);
#endif
    Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject *small[8];
    PyObject **all = total + 1 <= 8 ? small : PyMem_Malloc((size_t)(total + 1) * sizeof(PyObject *));
    if (!all) {
        Py_DECREF(database);
        return PyErr_NoMemory();
    }
    all[0] = database;
    for (Py_ssize_t i = 0; i < total; i++) all[i + 1] = args[i];
    PyObject *result = PyObject_Vectorcall(self->fallback, all, (size_t)(nargs + 1), kwnames);
    if (all != small) PyMem_Free(all);
    Py_DECREF(database);
    return result;
}

/* Whether `object` is exactly bytes of at most INT32_MAX bytes (the *32 functions' limit). */
static inline int small_bytes(PyObject *object) {
    return PyBytes_CheckExact(object) && PyBytes_GET_SIZE(object) <= INT32_MAX;
}

static PyObject *getter_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    BoundCall *self = (BoundCall *)callable;
    void *handle = self->handle;
    if (handle && PyVectorcall_NARGS(nargsf) == 1 && !kwnames && small_bytes(args[0])) {
        txn_handle none = {0, 0};
        PyObject *answer;
        int64_t length;
        if (get_small(handle, none, (const uint8_t *)PyBytes_AS_STRING(args[0]), (int)PyBytes_GET_SIZE(args[0]),
                      &answer, &length))
            return answer;
    }
    return bound_fallback(self, args, nargsf, kwnames);
}

static PyObject *putter_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    BoundCall *self = (BoundCall *)callable;
    void *handle = self->handle;
    if (handle && PyVectorcall_NARGS(nargsf) == 2 && !kwnames && small_bytes(args[0]) && small_bytes(args[1])) {
        txn_handle none = {0, 0};
        int status;
        Py_BEGIN_ALLOW_THREADS
        status = put32(handle, none, (const uint8_t *)PyBytes_AS_STRING(args[0]), (int)PyBytes_GET_SIZE(args[0]),
                       (const uint8_t *)PyBytes_AS_STRING(args[1]), (int)PyBytes_GET_SIZE(args[1]));
        Py_END_ALLOW_THREADS
        if (status == 0) Py_RETURN_NONE;
    }
    return bound_fallback(self, args, nargsf, kwnames);
}

static PyTypeObject GetterType, PutterType;

static PyObject *bound_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    unsigned long long handle;
    PyObject *database, *fallback;
    if (kwargs && PyDict_GET_SIZE(kwargs)) {
        PyErr_Format(PyExc_TypeError, "%s takes no keyword arguments", type->tp_name);
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "KOO", &handle, &database, &fallback)) return NULL;
    if (!put32) {
        PyErr_SetString(PyExc_RuntimeError, "toondb._speedups is not bound to the library");
        return NULL;
    }
    if (!PyWeakref_CheckRef(database) || !PyCallable_Check(fallback)) {
        PyErr_Format(PyExc_TypeError, "%s(handle, weakref to the database, fallback callable)", type->tp_name);
        return NULL;
    }
    BoundCall *self = (BoundCall *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->vectorcall = type == &PutterType ? putter_call : getter_call;
    self->handle = (void *)(uintptr_t)handle;
    Py_INCREF(database);
    self->database = database;
    Py_INCREF(fallback);
    self->fallback = fallback;
    return (PyObject *)self;
}

static void bound_dealloc(PyObject *object) {
    BoundCall *self = (BoundCall *)object;
    Py_XDECREF(self->database);
    Py_XDECREF(self->fallback);
    Py_TYPE(object)->tp_free(object);
}

static PyObject *bound_close(PyObject *object, PyObject *unused) {
    ((BoundCall *)object)->handle = NULL;
    Py_RETURN_NONE;
}

static PyMethodDef bound_methods[] = {
    {"close", bound_close, METH_NOARGS, "close(): every later call takes the fallback (the database was closed)."},
    {NULL, NULL, 0, NULL},
};

#define BOUND_CALL_TYPE(NAME, DOC)                                          \
    {                                                                       \
        PyVarObject_HEAD_INIT(NULL, 0)                                      \
        .tp_name = "toondb._speedups." NAME,                                \
        .tp_doc = DOC,                                                      \
        .tp_basicsize = sizeof(BoundCall),                                  \
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,        \
        .tp_new = bound_new,                                                \
        .tp_dealloc = bound_dealloc,                                        \
        .tp_call = PyVectorcall_Call,                                       \
        .tp_vectorcall_offset = offsetof(BoundCall, vectorcall),            \
        .tp_methods = bound_methods,                                        \
    }

static PyTypeObject GetterType = BOUND_CALL_TYPE("Getter", "Getter(handle, database_weakref, fallback): get(key) of an open database, in C.");
static PyTypeObject PutterType = BOUND_CALL_TYPE("Putter", "Putter(handle, database_weakref, fallback): put(key, value) of an open database, in C.");

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

PyMODINIT_FUNC PyInit__speedups(void) {
    if (PyType_Ready(&GetterType) < 0 || PyType_Ready(&PutterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    PyTypeObject *types[] = {&GetterType, &PutterType};
    for (int i = 0; i < 2; i++) {
        Py_INCREF(types[i]);
        if (PyModule_AddObject(m, types[i]->tp_name + sizeof("toondb._speedups.") - 1, (PyObject *)types[i]) < 0) {
            Py_DECREF(types[i]);
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
