/* A batch's rows grouped by the values of several integer columns, in one pass.
 *
 * group(parts, rows, flags, first, order, bounds, flagged, grouped) -> groups
 *
 *   parts    a tuple of 1-D integer buffers (1, 2, 4 or 8 bytes an item, signed, any
 *            stride: a column of a wider array will do), all of one length n
 *   rows     int64[m]: the rows to group (in batch order), or None for all n rows
 *   flags    uint8[n] (numpy bool), or None
 *
 * and it fills, groups numbered in order of first appearance among rows,
 *
 *   first    int64[>= m]     per group, its first row
 *   order    int64[>= m]     the rows, group after group, each group in batch order
 *   bounds   int64[>= m + 1] group g is order[bounds[g]:bounds[g + 1]]
 *   flagged  int64[>= m]     per group, how many of its rows have a nonzero flag
 *   grouped  int32[>= m]     per row of rows (in that order), its group
 *
 * (each output but first may be None: not filled), returning the number of groups. Two
 * rows share a group exactly when every part holds the same value at both; the numpy
 * code of otel_perf/facts.py (group_rows, then a stable sort of the rows by group) is the
 * specification, used when this extension is not built; tests/test_groups_native.py
 * compares the two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 32

typedef struct {
    const char *data;
    Py_ssize_t item, stride;
} Part;

static inline int64_t value_at(const Part *p, Py_ssize_t row) {
    const char *at = p->data + row * p->stride;
    switch (p->item) {
    case 1: return *(const int8_t *)at;
    case 2: { int16_t v; memcpy(&v, at, 2); return v; }
    case 4: { int32_t v; memcpy(&v, at, 4); return v; }
    default: { int64_t v; memcpy(&v, at, 8); return v; }
    }
}

static inline uint64_t mix(uint64_t h) { /* splitmix64's finaliser */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static inline uint64_t row_hash(const Part *parts, int n_parts, Py_ssize_t row) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int p = 0; p < n_parts; p++) h = mix(h ^ (uint64_t)value_at(&parts[p], row));
    return h;
}

static inline int same(const Part *parts, int n_parts, Py_ssize_t a, Py_ssize_t b) {
    for (int p = 0; p < n_parts; p++)
        if (value_at(&parts[p], a) != value_at(&parts[p], b)) return 0;
    return 1;
}

static int get(PyObject *obj, Py_buffer *view, Py_ssize_t item, int writable, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if ((item && view->itemsize != item) || view->len % view->itemsize != 0) {
        PyErr_Format(PyExc_ValueError, "%s: expected items of %zd bytes, got %zd", what, item,
                     view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Groups of rows[0..m) (all n rows when rows is NULL); fills the outputs, returns the
 * count of groups, or -1 (MemoryError set). */
static Py_ssize_t group_rows(const Part *parts, int n_parts, const int64_t *rows,
                             Py_ssize_t m, const uint8_t *flags, int64_t *first, int64_t *order,
                             int64_t *bounds, int64_t *flagged, int32_t *grouped) {
    size_t size = 16;
    while (size < 2 * (size_t)m) size <<= 1;
    int32_t *table = malloc(size * sizeof(int32_t));
    int32_t *group = grouped ? grouped : malloc((m ? m : 1) * sizeof(int32_t));
    int64_t *sizes = malloc((m + 1) * sizeof(int64_t)); /* bounds, when not asked for */
    if (!table || !group || !sizes) {
        free(table);
        if (group != grouped) free(group);
        free(sizes);
        PyErr_NoMemory();
        return -1;
    }
    if (!bounds) bounds = sizes;
    memset(table, 0xff, size * sizeof(int32_t)); /* -1: empty */
    Py_ssize_t groups = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        Py_ssize_t row = rows ? (Py_ssize_t)rows[i] : i;
        size_t at = (size_t)row_hash(parts, n_parts, row) & (size - 1);
        int32_t g;
        while ((g = table[at]) >= 0 && !same(parts, n_parts, (Py_ssize_t)first[g], row))
            at = (at + 1) & (size - 1);
        if (g < 0) {
            g = table[at] = (int32_t)groups++;
            first[g] = row;
            bounds[g + 1] = 0;
            if (flagged) flagged[g] = 0;
        }
        group[i] = g;
        bounds[g + 1]++;
        if (flagged && flags && flags[row]) flagged[g]++;
    }
    bounds[0] = 0;
    for (Py_ssize_t g = 0; g < groups; g++) bounds[g + 1] += bounds[g];
    if (!order) goto freed;
    /* a counting sort: each group's rows land in batch order */
    int64_t *next = (int64_t *)table; /* the table is done with; reused for the cursors */
    if ((size_t)groups * sizeof(int64_t) > size * sizeof(int32_t)) {
        next = malloc((size_t)groups * sizeof(int64_t));
        if (!next) {
            groups = -1;
            PyErr_NoMemory();
            goto freed;
        }
    }
    memcpy(next, bounds, (size_t)groups * sizeof(int64_t));
    for (Py_ssize_t i = 0; i < m; i++) order[next[group[i]]++] = rows ? rows[i] : i;
    if (next != (int64_t *)table) free(next);
freed:
    free(table);
    if (group != grouped) free(group);
    free(sizes);
    return groups;
}

/* A part's buffer as a Part; on failure the buffer is released and -1 returned. */
static int get_part(PyObject *obj, Py_buffer *view, int index, Part *part) {
    if (PyObject_GetBuffer(obj, view, PyBUF_RECORDS_RO) < 0) return -1;
    const char *format = view->format ? view->format : "B";
    if (*format == '<' || *format == '=' || *format == '@') format++;
    Py_ssize_t item = view->itemsize;
    if (view->ndim != 1 || strlen(format) != 1 || !strchr("bhilq", *format) ||
        (item != 1 && item != 2 && item != 4 && item != 8)) {
        PyErr_Format(PyExc_ValueError,
                     "parts[%d]: expected a 1-D column of signed integers of 1, 2, 4 or 8 "
                     "bytes, got format %s in %d dimensions",
                     index, view->format ? view->format : "B", view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    part->data = view->buf;
    part->item = item;
    part->stride = view->strides[0];
    return 0;
}

/* Every part's buffer, all of one length (*n); *got counts the views acquired, which the
 * caller releases, on failure too (-1 returned, ValueError set). */
static int get_parts(PyObject *parts_obj, int n_parts, Py_buffer *views, Part *parts, int *got,
                     Py_ssize_t *n) {
    for (; *got < n_parts; (*got)++) {
        int p = *got;
        if (get_part(PyTuple_GET_ITEM(parts_obj, p), &views[p], p, &parts[p]) < 0) return -1;
        Py_ssize_t len = views[p].shape[0];
        if (p && len != *n) {
            PyErr_Format(PyExc_ValueError, "parts[%d]: %zd rows, expected %zd", p, len, *n);
            (*got)++;
            return -1;
        }
        *n = len;
    }
    return 0;
}

static PyObject *group(PyObject *self, PyObject *args) {
    PyObject *parts_obj, *rows_obj, *flags_obj, *out[5];
    if (!PyArg_ParseTuple(args, "O!OOOOOOO", &PyTuple_Type, &parts_obj, &rows_obj, &flags_obj,
                          &out[0], &out[1], &out[2], &out[3], &out[4]))
        return NULL;
    int n_parts = (int)PyTuple_GET_SIZE(parts_obj);
    if (n_parts < 1 || n_parts > MAX_PARTS) {
        PyErr_Format(PyExc_ValueError, "parts: expected 1 to %d columns, got %d", MAX_PARTS,
                     n_parts);
        return NULL;
    }
    Py_buffer views[MAX_PARTS + 7];
    Part parts[MAX_PARTS];
    int got = 0; /* views acquired, released at the end */
    PyObject *result = NULL;
    Py_ssize_t n = 0;
    if (get_parts(parts_obj, n_parts, views, parts, &got, &n) < 0) goto done;
    const int64_t *rows = NULL;
    Py_ssize_t m = n;
    if (rows_obj != Py_None) {
        if (get(rows_obj, &views[got], 8, 0, "rows") < 0) goto done;
        rows = views[got].buf;
        m = views[got++].len / 8;
        for (Py_ssize_t i = 0; i < m; i++)
            if (rows[i] < 0 || rows[i] >= n) {
                PyErr_Format(PyExc_ValueError, "rows[%zd]: %lld is not a row of %zd", i,
                             (long long)rows[i], n);
                goto done;
            }
    }
    const uint8_t *flags = NULL;
    if (flags_obj != Py_None) {
        if (get(flags_obj, &views[got], 1, 0, "flags") < 0) goto done;
        flags = views[got].buf;
        if (views[got++].len != n) {
            PyErr_Format(PyExc_ValueError, "flags: %zd rows, expected %zd", views[got - 1].len,
                         n);
            goto done;
        }
    }
    static const char *const names[5] = {"first", "order", "bounds", "flagged", "grouped"};
    void *outs[5] = {NULL, NULL, NULL, NULL, NULL};
    for (int i = 0; i < 5; i++) {
        if (i && out[i] == Py_None) continue;
        Py_ssize_t item = i == 4 ? 4 : 8;
        if (get(out[i], &views[got], item, 1, names[i]) < 0) goto done;
        Py_ssize_t have = views[got].len / item, need = m + (i == 2);
        outs[i] = views[got++].buf;
        if (have < need) {
            PyErr_Format(PyExc_ValueError, "%s: %zd items, at least %zd needed", names[i], have,
                         need);
            goto done;
        }
    }
    Py_ssize_t groups = group_rows(parts, n_parts, rows, m, flags, outs[0], outs[1], outs[2],
                                   outs[3], outs[4]);
    if (groups >= 0) result = PyLong_FromSsize_t(groups);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    return result;
}

/* keys(parts, tags, first, strings, others) -> list of tuples
 *
 * The values behind each group's first row, one tuple per row of first (int32): the
 * value of every part whose tag is None as an int, first; then, for every other part
 * whose id there is not -1 (absent), its tag and the value the id stands for:
 * strings[id] for an id >= 0, others[-3 - id] for a code of -3 and down. Ids are
 * batch-local, these tuples are not: otel_perf/facts.py keys its memo of operation names
 * by them (combination_keys there is the specification). */
static PyObject *value_of(PyObject *strings, PyObject *others, int64_t id, int part) {
    PyObject *table = id >= 0 ? strings : others;
    int64_t at = id >= 0 ? id : -3 - id;
    if (at < 0 || at >= PySequence_Fast_GET_SIZE(table)) {
        PyErr_Format(PyExc_ValueError, "parts[%d]: id %lld names no %s", part, (long long)id,
                     id >= 0 ? "string" : "value");
        return NULL;
    }
    PyObject *value = PySequence_Fast_GET_ITEM(table, at);
    Py_INCREF(value);
    return value;
}

static PyObject *first_keys(const Part *parts, int n_parts, PyObject *tags, const int32_t *first,
                            Py_ssize_t m, Py_ssize_t n, PyObject *strings, PyObject *others) {
    PyObject *out = PyList_New(m), *items[2 * MAX_PARTS];
    if (!out) return NULL;
    for (Py_ssize_t i = 0; i < m; i++) {
        Py_ssize_t row = first[i], used = 0;
        if (row < 0 || row >= n) {
            PyErr_Format(PyExc_ValueError, "first[%zd]: %zd is not a row of %zd", i, row, n);
            goto failed;
        }
        for (int p = 0; p < n_parts; p++) {
            PyObject *tag = PyTuple_GET_ITEM(tags, p);
            int64_t id = value_at(&parts[p], row);
            if (tag == Py_None) {
                if (!(items[used++] = PyLong_FromLongLong(id))) goto unwound;
                continue;
            }
            if (id == -1) continue;
            Py_INCREF(tag);
            items[used++] = tag;
            if (!(items[used++] = value_of(strings, others, id, p))) goto unwound;
        }
        PyObject *key = PyTuple_New(used);
        if (!key) goto unwound;
        for (Py_ssize_t k = 0; k < used; k++) PyTuple_SET_ITEM(key, k, items[k]);
        PyList_SET_ITEM(out, i, key);
        continue;
    unwound:
        for (Py_ssize_t k = 0; k < used; k++) Py_XDECREF(items[k]);
        goto failed;
    }
    return out;
failed:
    Py_DECREF(out);
    return NULL;
}

static PyObject *keys(PyObject *self, PyObject *args) {
    PyObject *parts_obj, *tags, *first_obj, *strings_obj, *others_obj;
    if (!PyArg_ParseTuple(args, "O!O!OOO", &PyTuple_Type, &parts_obj, &PyTuple_Type, &tags,
                          &first_obj, &strings_obj, &others_obj))
        return NULL;
    int n_parts = (int)PyTuple_GET_SIZE(parts_obj);
    if (n_parts < 1 || n_parts > MAX_PARTS || PyTuple_GET_SIZE(tags) != n_parts) {
        PyErr_Format(PyExc_ValueError, "parts: expected 1 to %d columns and a tag each, got %d "
                     "and %zd tags", MAX_PARTS, n_parts, PyTuple_GET_SIZE(tags));
        return NULL;
    }
    Py_buffer views[MAX_PARTS + 1];
    Part parts[MAX_PARTS];
    int got = 0;
    PyObject *result = NULL, *strings = NULL, *others = NULL;
    Py_ssize_t n = 0;
    if (get_parts(parts_obj, n_parts, views, parts, &got, &n) < 0) goto done;
    if (get(first_obj, &views[got], 4, 0, "first") < 0) goto done;
    Py_ssize_t m = views[got++].len / 4;
    strings = PySequence_Fast(strings_obj, "strings: expected a sequence");
    others = strings ? PySequence_Fast(others_obj, "others: expected a sequence") : NULL;
    if (others)
        result = first_keys(parts, n_parts, tags, views[got - 1].buf, m, n, strings, others);
done:
    Py_XDECREF(strings);
    Py_XDECREF(others);
    for (int i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    return result;
}

/* reads(kind, name, nonempty, decide, reads, name_out, kept) -> flags
 *
 * The masks of otel_perf/facts.py's _read_masks and _rule_reads in one pass (they are its
 * specification, used when this extension is not built): per row, entry (SERVER 2,
 * CONSUMER 5) or exit (CLIENT 3, PRODUCER 4) by kind; from decide (six columns or None:
 * http.route, rpc.method, url.template, server.address, net.peer.name, peer.service; an id
 * counts when it is a string, nonempty[id]) whether it is routed, routed as a call, hosted,
 * addressed; name_out gets -1 for a routed entry span, else its name; kept row j (of n
 * items) gets reads[j]'s column where its mask (0 entry, 1 unrouted entry, 2 exit, 3
 * unrouted exit, 4 exit not both routed and hosted, 5 addressed exit) holds, else -1.
 * Returns per read: 1 when some kept id is not -1, plus 2 when one is -2 (OTHER). */
#define N_DECIDE 6
#define MAX_READS 32

static PyObject *reads(PyObject *self, PyObject *args) {
    PyObject *kind_obj, *name_obj, *ne_obj, *decide, *reads_obj, *name_out_obj, *kept_obj;
    if (!PyArg_ParseTuple(args, "OOOO!O!OO", &kind_obj, &name_obj, &ne_obj, &PyTuple_Type,
                          &decide, &PyTuple_Type, &reads_obj, &name_out_obj, &kept_obj))
        return NULL;
    Py_ssize_t k = PyTuple_GET_SIZE(reads_obj);
    if (PyTuple_GET_SIZE(decide) != N_DECIDE || k > MAX_READS) {
        PyErr_Format(PyExc_ValueError, "decide: expected %d columns, got %zd; reads: at most %d",
                     N_DECIDE, PyTuple_GET_SIZE(decide), MAX_READS);
        return NULL;
    }
    Py_buffer views[N_DECIDE + MAX_READS + 5];
    Part cols[N_DECIDE + MAX_READS + 2];
    int has[N_DECIDE], mask_of[MAX_READS], got = 0;
    PyObject *result = NULL;
    if (get_part(kind_obj, &views[got], 0, &cols[0]) < 0) goto done;
    Py_ssize_t n = views[got++].shape[0];
    if (get_part(name_obj, &views[got], 1, &cols[1]) < 0) goto done;
    if (views[got++].shape[0] != n) goto rows;
    for (int d = 0; d < N_DECIDE; d++) {
        PyObject *column = PyTuple_GET_ITEM(decide, d);
        if (!(has[d] = column != Py_None)) continue;
        if (get_part(column, &views[got], 2 + d, &cols[2 + d]) < 0) goto done;
        if (views[got++].shape[0] != n) goto rows;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *read = PyTuple_GET_ITEM(reads_obj, j);
        if (!PyTuple_Check(read) || PyTuple_GET_SIZE(read) != 2 ||
            (mask_of[j] = (int)PyLong_AsLong(PyTuple_GET_ITEM(read, 1))) < 0 || mask_of[j] > 5) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "reads[%zd]: expected (column, mask 0-5)", j);
            goto done;
        }
        Part *col = &cols[2 + N_DECIDE + j];
        if (get_part(PyTuple_GET_ITEM(read, 0), &views[got], 2 + N_DECIDE + (int)j, col) < 0)
            goto done;
        if (views[got++].shape[0] != n) goto rows;
    }
    if (get(ne_obj, &views[got], 1, 0, "nonempty") < 0) goto done;
    const uint8_t *ne = views[got].buf;
    Py_ssize_t strings = views[got++].len;
    if (get(name_out_obj, &views[got], 4, 1, "name_out") < 0) goto done;
    int32_t *name_out = views[got].buf;
    if (views[got++].len < 4 * n) goto rows;
    if (get(kept_obj, &views[got], 4, 1, "kept") < 0) goto done;
    int32_t *kept = views[got].buf;
    if (views[got++].len < 4 * n * k) goto rows;
    int flags[MAX_READS] = {0};
    for (Py_ssize_t row = 0; row < n; row++) {
        int64_t kind = value_at(&cols[0], row);
        int entry = kind == 2 || kind == 5, exits = kind == 3 || kind == 4, filled[N_DECIDE];
        for (int d = 0; d < N_DECIDE; d++) {
            int64_t id = has[d] ? value_at(&cols[2 + d], row) : -1;
            filled[d] = id >= 0 && id < strings && ne[id];
        }
        int routed = entry && (filled[0] || filled[1]);
        int call_routed = exits && (filled[2] || filled[0]);
        int hosted = filled[3] || filled[4] || filled[5];
        int mask[6] = {entry, entry && !routed, exits, exits && !call_routed,
                       exits && !(call_routed && hosted), exits && filled[3]};
        name_out[row] = routed ? -1 : (int32_t)value_at(&cols[1], row);
        for (Py_ssize_t j = 0; j < k; j++) {
            int32_t id = mask[mask_of[j]] ? (int32_t)value_at(&cols[2 + N_DECIDE + j], row) : -1;
            kept[j * n + row] = id;
            flags[j] |= (id != -1) | (id == -2) << 1;
        }
    }
    result = PyList_New(k);
    for (Py_ssize_t j = 0; result && j < k; j++) {
        PyObject *flag = PyLong_FromLong(flags[j]);
        if (!flag) Py_CLEAR(result);
        else PyList_SET_ITEM(result, j, flag);
    }
    goto done;
rows:
    PyErr_Format(PyExc_ValueError, "reads: every column needs %zd rows", n);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"reads", reads, METH_VARARGS,
     "reads(kind, name, nonempty, decide, reads, name_out, kept) -> flags: the rows where "
     "the operation rule reads each column, in one pass."},
    {"keys", keys, METH_VARARGS,
     "keys(parts, tags, first, strings, others) -> list: per first row, the values its ids "
     "stand for, tagged, as a tuple."},
    {"group", group, METH_VARARGS,
     "group(parts, rows, flags, first, order, bounds, flagged, grouped) -> groups: rows grouped by "
     "their values in every part, in order of first appearance."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_groups", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__groups(void) { return PyModule_Create(&module); }
