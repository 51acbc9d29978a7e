/* Native decode of OTLP ExportTraceServiceRequest wire bytes into columns and records.
 *
 * decode_traces(body, key_index, facts, limit, latest_ns, Resource, SpanRecord) walks the protobuf
 * wire format directly (no upb message is built) and returns
 *
 *     (records, notes, columns, strings, attrs)
 *
 * or None when the request holds something this fast path does not reproduce exactly
 * (malformed wire data, invalid UTF-8, a singular submessage sent twice, groups, deep
 * nesting, string indexes): the caller then decodes with the protobuf library, which
 * stays the specification of what is accepted and how it is reported.
 *
 *   records  list of SpanRecord, the valid spans in request order
 *   notes    list of ("reject", ri, si, pi, trace_id, span_id, parent, start, end) and
 *            ("clip", ri, si, pi, key) in request order; Python words the messages
 *   columns  dict of bytes buffers, one row per record: trace_id (16 B), span_id (8 B),
 *            parent_span_id (8 B, zeros when absent), start_ns, end_ns (int64), kind,
 *            status (int8), parent (int32 row of the parent in this batch, or -1);
 *            service, scope, name (int32 ids into strings); attributes (int32, one id
 *            per kept key: key_index maps each kept key to its column; -1 absent, -2 a
 *            value that is not a string); facts (int32,
 *            one id per entry of ``facts``: the first of its key columns holding a
 *            non-empty string); present (one byte per kept key: 1 when some span
 *            holds a value for it)
 *   strings  list of str: every distinct string of the request, decoded once
 *
 * Records are SpanRecord instances whose __slots__ are filled directly (their __init__
 * only assigns them; tests/test_columnar.py compares them with the Python decoder's).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#define OK 0
#define FAIL -1    /* a Python exception is set */
#define DECLINE -2 /* not ours to decide: the protobuf library decodes this request */
#define MAX_DEPTH 32

static const uint8_t EMPTY[1] = {0};

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} Slice;

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

typedef struct {
    const char *ptr;
    Py_ssize_t len;
    uint64_t hash;
    int32_t id;
    int32_t column; /* as an attribute key: -2 not asked yet, -1 not kept, else its column */
} Entry;

typedef struct {
    PyObject *key_index; /* kept span attribute key -> its column */
    Py_ssize_t n_keys;
    int32_t facts[8][4]; /* per fact: its key columns, -1 terminated */
    Py_ssize_t n_facts;
    int32_t *row;        /* the current span's attribute ids, one per kept key */
    uint8_t *present;    /* per kept key: whether any span holds a value for it */
    Py_ssize_t limit;    /* max attribute value length */
    uint64_t latest_ns;  /* spans ending later are rejected */
    PyObject *resource_type, *record_type;
    PyObject *records, *notes, *strings, *keep;
    Entry *table;
    size_t table_cap, table_count;
    Buf trace, span, parent, start, end, kind, status, service, scope, name, attrs, fact_ids,
        parent_row;
    int32_t rows;
} Ctx;

/* -- buffers ----------------------------------------------------------------------- */

static int buf_grow(Buf *b, size_t n) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + n) cap *= 2;
    char *data = PyMem_Realloc(b->data, cap);
    if (!data) {
        PyErr_NoMemory();
        return FAIL;
    }
    b->data = data;
    b->cap = cap;
    return OK;
}

/* Inline: most calls copy a constant 1, 4, 8 or 16 bytes, which then need no memcpy call. */
static inline int buf_put(Buf *b, const void *src, size_t n) {
    if (b->len + n > b->cap && buf_grow(b, n) != OK) return FAIL;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return OK;
}

static int put_i32(Buf *b, int32_t v) { return buf_put(b, &v, sizeof v); }

/* -- wire format ------------------------------------------------------------------- */

static inline int varint(Slice *s, uint64_t *out) {
    if (s->p < s->end && *s->p < 0x80) { /* most tags and lengths fit in one byte */
        *out = *s->p++;
        return OK;
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (s->p >= s->end) return DECLINE;
        uint8_t byte = *s->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return OK;
        }
    }
    return DECLINE;
}

static inline int tag(Slice *s, uint32_t *field, int *wt) {
    uint64_t t;
    if (varint(s, &t) != OK) return DECLINE;
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    if (*field == 0 || t >> 32) return DECLINE;
    return OK;
}

static int fixed64(Slice *s, uint64_t *out) {
    if (s->end - s->p < 8) return DECLINE;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | s->p[i]; /* little-endian on the wire */
    *out = v;
    s->p += 8;
    return OK;
}

static inline int delimited(Slice *s, Slice *sub) {
    uint64_t n;
    if (varint(s, &n) != OK) return DECLINE;
    if (n > (uint64_t)(s->end - s->p)) return DECLINE;
    sub->p = s->p;
    sub->end = s->p + n;
    s->p += n;
    return OK;
}

/* Skip a field this decoder does not read; groups and unknown wire types are declined. */
static int skip(Slice *s, int wt) {
    uint64_t v;
    Slice sub;
    switch (wt) {
        case 0: return varint(s, &v);
        case 1: return fixed64(s, &v);
        case 2: return delimited(s, &sub);
        case 5:
            if (s->end - s->p < 4) return DECLINE;
            s->p += 4;
            return OK;
        default: return DECLINE;
    }
}

#define EXPECT(wt, want) \
    if ((wt) != (want)) return DECLINE
#define TRY(expr)                 \
    do {                          \
        int rc_ = (expr);         \
        if (rc_ != OK) return rc_; \
    } while (0)

/* -- UTF-8 (proto3 string fields are validated by the protobuf library too) ---------- */

static int utf8_valid(const uint8_t *p, const uint8_t *end) {
    while (p < end) {
        uint8_t c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        int n;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (end - p <= n) return 0;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

static int check_utf8(const Slice *s) { return utf8_valid(s->p, s->end) ? OK : DECLINE; }

/* -- the string table: each distinct byte string decoded to str once ------------------ */

/* Eight bytes at a time, each word mixed by a multiply and a shift (the table only
 * needs its entries spread; equal strings are still compared byte for byte). */
static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    const uint64_t m = 0x9e3779b97f4a7c15ULL;
    uint64_t h = 1469598103934665603ULL ^ (n * m);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * m;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    for (size_t j = 0; i + j < n; j++) w |= (uint64_t)p[i + j] << (8 * j); /* the last 0-7 */
    h = (h ^ w) * m;
    return h ^ (h >> 32);
}

static int table_grow(Ctx *c) {
    size_t cap = c->table_cap ? c->table_cap * 2 : 1024;
    Entry *table = PyMem_Calloc(cap, sizeof(Entry));
    if (!table) {
        PyErr_NoMemory();
        return FAIL;
    }
    for (size_t i = 0; i < c->table_cap; i++) {
        Entry *e = &c->table[i];
        if (!e->ptr) continue;
        size_t j = e->hash & (cap - 1);
        while (table[j].ptr) j = (j + 1) & (cap - 1);
        table[j] = *e;
    }
    PyMem_Free(c->table);
    c->table = table;
    c->table_cap = cap;
    return OK;
}

/* The table entry of the UTF-8 string in ``s``, decoding it on first sight. */
static int intern(Ctx *c, const Slice *s, Entry **out) {
    if ((c->table_count + 1) * 2 > c->table_cap) TRY(table_grow(c));
    size_t n = (size_t)(s->end - s->p);
    uint64_t h = hash_bytes(s->p, n);
    size_t j = h & (c->table_cap - 1);
    while (c->table[j].ptr) {
        Entry *e = &c->table[j];
        if (e->hash == h && (size_t)e->len == n && memcmp(e->ptr, s->p, n) == 0) {
            *out = e;
            return OK;
        }
        j = (j + 1) & (c->table_cap - 1);
    }
    if (!utf8_valid(s->p, s->end)) return DECLINE;
    PyObject *text = PyUnicode_DecodeUTF8((const char *)s->p, (Py_ssize_t)n, "strict");
    if (!text) {
        PyErr_Clear();
        return DECLINE;
    }
    int32_t id = (int32_t)PyList_GET_SIZE(c->strings);
    int rc = PyList_Append(c->strings, text);
    Py_DECREF(text);
    if (rc < 0) return FAIL;
    Entry *e = &c->table[j];
    e->ptr = (const char *)(s->p ? s->p : (const uint8_t *)"");
    e->len = (Py_ssize_t)n;
    e->hash = h;
    e->id = id;
    e->column = -2;
    c->table_count++;
    *out = e;
    return OK;
}

static PyObject *string_of(Ctx *c, int32_t id) { return PyList_GET_ITEM(c->strings, id); }

/* -- AnyValue and KeyValue --------------------------------------------------------- */

static int attributes_into(Ctx *c, Slice s_kv, PyObject *dict, int depth);

/* Convert an AnyValue; with ``out`` NULL only validate it. ``str_id`` is the string's
 * table id for string values, else -1. */
static int any_value(Ctx *c, Slice s, int depth, PyObject **out, int32_t *str_id) {
    uint32_t field;
    int wt, seen = 0;
    Slice sub;
    uint64_t v;
    PyObject *value = NULL;
    *str_id = -1;
    if (depth > MAX_DEPTH) return DECLINE;
    while (s.p < s.end) {
        TRY(tag(&s, &field, &wt));
        if (field >= 1 && field <= 8 && seen++) goto decline; /* oneof set twice */
        switch (field) {
            case 1: {
                EXPECT(wt, 2);
                TRY(delimited(&s, &sub));
                if (!out) { /* validating only: no str for a value nobody keeps */
                    TRY(check_utf8(&sub));
                    break;
                }
                Entry *e;
                int rc = intern(c, &sub, &e);
                if (rc != OK) return rc;
                *str_id = e->id;
                if (out) {
                    value = string_of(c, e->id);
                    Py_INCREF(value);
                }
                break;
            }
            case 2:
                EXPECT(wt, 0);
                TRY(varint(&s, &v));
                if (out) value = PyBool_FromLong(v != 0);
                break;
            case 3:
                EXPECT(wt, 0);
                TRY(varint(&s, &v));
                if (out) value = PyLong_FromLongLong((long long)v);
                break;
            case 4: {
                EXPECT(wt, 1);
                TRY(fixed64(&s, &v));
                double d;
                memcpy(&d, &v, 8);
                if (out) value = PyFloat_FromDouble(d);
                break;
            }
            case 5:
            case 6: {
                EXPECT(wt, 2);
                TRY(delimited(&s, &sub));
                PyObject *container = NULL;
                if (out) {
                    container = field == 5 ? PyList_New(0) : PyDict_New();
                    if (!container) return FAIL;
                }
                int rc = OK;
                while (rc == OK && sub.p < sub.end) {
                    uint32_t f2;
                    int wt2;
                    Slice item;
                    rc = tag(&sub, &f2, &wt2);
                    if (rc != OK) break;
                    if (f2 != 1) {
                        rc = skip(&sub, wt2);
                        continue;
                    }
                    if (wt2 != 2 || delimited(&sub, &item) != OK) {
                        rc = DECLINE;
                        break;
                    }
                    if (field == 6) {
                        rc = attributes_into(c, item, container, depth + 1);
                        continue;
                    }
                    PyObject *element = NULL;
                    int32_t ignored;
                    rc = any_value(c, item, depth + 1, out ? &element : NULL, &ignored);
                    if (rc == OK && element) {
                        if (PyList_Append(container, element) < 0) rc = FAIL;
                        Py_DECREF(element);
                    }
                }
                if (rc != OK) {
                    Py_XDECREF(container);
                    return rc;
                }
                value = container;
                break;
            }
            case 7:
                EXPECT(wt, 2);
                TRY(delimited(&s, &sub));
                if (out) value = PyBytes_FromStringAndSize((const char *)sub.p, sub.end - sub.p);
                break;
            case 8:
                goto decline; /* string_value_strindex: profiles only */
            default:
                TRY(skip(&s, wt));
                continue;
        }
        if (out && !value) return FAIL;
    }
    if (out) {
        if (!value) {
            value = Py_None;
            Py_INCREF(value);
        }
        *out = value;
    }
    return OK;
decline:
    Py_XDECREF(value);
    return DECLINE;
}

/* One KeyValue: its key (interned) and its value slice. */
static int key_value(Ctx *c, Slice s, Entry **key, Slice *value, int *has_value) {
    uint32_t field;
    int wt;
    Slice key_bytes = {EMPTY, EMPTY};
    *has_value = 0;
    while (s.p < s.end) {
        TRY(tag(&s, &field, &wt));
        if (field == 1) {
            EXPECT(wt, 2);
            TRY(delimited(&s, &key_bytes));
        } else if (field == 2) {
            EXPECT(wt, 2);
            if (*has_value) return DECLINE; /* a submessage sent twice is merged: not here */
            TRY(delimited(&s, value));
            *has_value = 1;
        } else if (field == 3) {
            EXPECT(wt, 0);
            TRY(skip(&s, wt));
        } else {
            TRY(skip(&s, wt));
        }
    }
    return intern(c, &key_bytes, key);
}

/* Add one KeyValue to ``dict`` (every key kept, as ``attributes()`` does); ``dict`` NULL
 * only validates. */
static int attributes_into(Ctx *c, Slice s, PyObject *dict, int depth) {
    Entry *key;
    Slice value = {NULL, NULL};
    int has_value;
    TRY(key_value(c, s, &key, &value, &has_value));
    PyObject *converted = NULL;
    int32_t str_id;
    TRY(any_value(c, value, depth, dict ? &converted : NULL, &str_id));
    if (!dict) return OK;
    int rc = PyDict_SetItem(dict, string_of(c, key->id), converted);
    Py_DECREF(converted);
    return rc < 0 ? FAIL : OK;
}

/* All KeyValues of field ``number`` in message ``s`` into a new dict (or validate). */
static int attributes(Ctx *c, Slice s, uint32_t number, PyObject **out) {
    uint32_t field;
    int wt;
    Slice sub;
    PyObject *dict = NULL;
    if (out) {
        dict = PyDict_New();
        if (!dict) return FAIL;
    }
    int rc = OK;
    while (rc == OK && s.p < s.end) {
        rc = tag(&s, &field, &wt);
        if (rc != OK) break;
        if (field != number) {
            rc = skip(&s, wt);
            continue;
        }
        if (wt != 2 || delimited(&s, &sub) != OK) {
            rc = DECLINE;
            break;
        }
        rc = attributes_into(c, sub, dict, 1);
    }
    if (rc != OK) {
        Py_XDECREF(dict);
        return rc;
    }
    if (out) *out = dict;
    return OK;
}

/* A message whose listed fields are strings (validated) and KeyValues (validated). */
static int validate_message(Ctx *c, Slice s, uint32_t strings_mask, uint32_t kv_mask) {
    uint32_t field;
    int wt;
    Slice sub;
    while (s.p < s.end) {
        TRY(tag(&s, &field, &wt));
        uint32_t bit = field < 32 ? 1u << field : 0;
        if (bit & (strings_mask | kv_mask)) {
            EXPECT(wt, 2);
            TRY(delimited(&s, &sub));
            if (bit & strings_mask) {
                TRY(check_utf8(&sub));
            } else {
                TRY(attributes_into(c, sub, NULL, 1));
            }
        } else {
            TRY(skip(&s, wt));
        }
    }
    return OK;
}

/* -- spans ------------------------------------------------------------------------- */

typedef struct {
    Slice trace_id, span_id, parent, name, status;
    uint64_t start, end, kind;
    int has_status;
} SpanFields;

static int span_fields(Ctx *c, Slice s, SpanFields *f) {
    uint32_t field;
    int wt;
    Slice sub;
    memset(f, 0, sizeof *f);
    f->trace_id.p = f->trace_id.end = f->span_id.p = f->span_id.end = EMPTY;
    f->parent.p = f->parent.end = f->name.p = f->name.end = EMPTY;
    while (s.p < s.end) {
        TRY(tag(&s, &field, &wt));
        switch (field) {
            case 1: EXPECT(wt, 2); TRY(delimited(&s, &f->trace_id)); break;
            case 2: EXPECT(wt, 2); TRY(delimited(&s, &f->span_id)); break;
            case 4: EXPECT(wt, 2); TRY(delimited(&s, &f->parent)); break;
            case 5: EXPECT(wt, 2); TRY(delimited(&s, &f->name)); break;
            case 3: EXPECT(wt, 2); TRY(delimited(&s, &sub)); TRY(check_utf8(&sub)); break;
            case 6:
                EXPECT(wt, 0);
                TRY(varint(&s, &f->kind));
                if (f->kind > INT32_MAX) return DECLINE;
                break;
            case 7: EXPECT(wt, 1); TRY(fixed64(&s, &f->start)); break;
            case 8: EXPECT(wt, 1); TRY(fixed64(&s, &f->end)); break;
            case 9: case 11: EXPECT(wt, 2); TRY(delimited(&s, &sub)); break; /* read later */
            case 10: case 12: case 14: EXPECT(wt, 0); TRY(skip(&s, wt)); break;
            case 16: EXPECT(wt, 5); TRY(skip(&s, wt)); break;
            case 13:
                EXPECT(wt, 2);
                TRY(delimited(&s, &sub));
                TRY(validate_message(c, sub, 1u << 3, 1u << 4)); /* a link */
                break;
            case 15:
                EXPECT(wt, 2);
                if (f->has_status) return DECLINE;
                TRY(delimited(&s, &f->status));
                f->has_status = 1;
                break;
            default: TRY(skip(&s, wt));
        }
    }
    return OK;
}

static int status_fields(Ctx *c, Slice s, uint64_t *code, int32_t *message) {
    uint32_t field;
    int wt;
    Slice sub = {EMPTY, EMPTY};
    *code = 0;
    while (s.p < s.end) {
        TRY(tag(&s, &field, &wt));
        if (field == 2) {
            EXPECT(wt, 2);
            TRY(delimited(&s, &sub));
        } else if (field == 3) {
            EXPECT(wt, 0);
            TRY(varint(&s, code));
            if (*code > INT32_MAX) return DECLINE;
        } else {
            TRY(skip(&s, wt));
        }
    }
    Entry *e;
    TRY(intern(c, &sub, &e));
    *message = e->id;
    return OK;
}

static int is_zero(const Slice *s) {
    for (const uint8_t *p = s->p; p < s->end; p++)
        if (*p) return 0;
    return 1;
}

static int rejected(Ctx *c, const SpanFields *f) {
    Py_ssize_t parent = f->parent.end - f->parent.p;
    return f->trace_id.end - f->trace_id.p != 16 || f->span_id.end - f->span_id.p != 8 ||
           (parent && parent != 8) || f->end == 0 || f->end < f->start ||
           is_zero(&f->trace_id) || f->end > c->latest_ns;
}

static PyObject *bytes_of(const Slice *s) {
    return PyBytes_FromStringAndSize((const char *)s->p, s->end - s->p);
}

static int note(Ctx *c, PyObject *item) {
    if (!item) return FAIL;
    int rc = PyList_Append(c->notes, item);
    Py_DECREF(item);
    return rc < 0 ? FAIL : OK;
}

/* The kept attributes of a span into ``dict``; clipped values noted, strings columned. */
static int span_attribute(Ctx *c, Slice s, PyObject *dict, int ri, int si, int pi) {
    Entry *key;
    Slice value = {NULL, NULL};
    int has_value;
    TRY(key_value(c, s, &key, &value, &has_value));
    if (key->column == -2) {
        PyObject *column = PyDict_GetItemWithError(c->key_index, string_of(c, key->id));
        if (!column && PyErr_Occurred()) return FAIL;
        long k = column ? PyLong_AsLong(column) : -1;
        if (k == -1 && PyErr_Occurred()) return FAIL;
        if (k < -1 || k >= c->n_keys) {
            PyErr_SetString(PyExc_ValueError, "key_index holds a column out of range");
            return FAIL;
        }
        key->column = (int32_t)k;
    }
    int32_t str_id;
    if (key->column < 0 || !dict) return any_value(c, value, 1, NULL, &str_id);
    PyObject *converted;
    TRY(any_value(c, value, 1, &converted, &str_id));
    int32_t cell = str_id >= 0 ? str_id : -2; /* -2: a value that is not a string (or None) */
    int clipped = 0;
    if (PyUnicode_Check(converted) && PyUnicode_GET_LENGTH(converted) > c->limit) {
        PyObject *cut = PyUnicode_Substring(converted, 0, c->limit);
        Py_DECREF(converted);
        if (!cut) return FAIL;
        converted = cut;
        clipped = 1;
        cell = str_id = (int32_t)PyList_GET_SIZE(c->strings);
        if (PyList_Append(c->strings, cut) < 0) {
            Py_DECREF(cut);
            return FAIL;
        }
    } else if (PyBytes_Check(converted) && PyBytes_GET_SIZE(converted) > c->limit) {
        PyObject *cut = PyBytes_FromStringAndSize(PyBytes_AS_STRING(converted), c->limit);
        Py_DECREF(converted);
        if (!cut) return FAIL;
        converted = cut;
        clipped = 1;
    }
    int rc = PyDict_SetItem(dict, string_of(c, key->id), converted);
    Py_DECREF(converted);
    if (rc < 0) return FAIL;
    if (clipped)
        TRY(note(c, Py_BuildValue("(siiiO)", "clip", ri, si, pi, string_of(c, key->id))));
    c->row[key->column] = cell; /* a later value of the same key wins, as in the dict */
    return OK;
}

static int event(Ctx *c, Slice s, PyObject **out) {
    uint32_t field;
    int wt;
    Slice sub, name = {EMPTY, EMPTY};
    uint64_t time = 0;
    PyObject *attrs = PyDict_New();
    if (!attrs) return FAIL;
    int rc = OK;
    while (rc == OK && s.p < s.end) {
        rc = tag(&s, &field, &wt);
        if (rc != OK) break;
        if (field == 1) {
            rc = wt == 1 ? fixed64(&s, &time) : DECLINE;
        } else if (field == 2) {
            rc = wt == 2 ? delimited(&s, &name) : DECLINE;
        } else if (field == 3) {
            rc = wt == 2 ? delimited(&s, &sub) : DECLINE;
            if (rc == OK) rc = attributes_into(c, sub, out ? attrs : NULL, 1);
        } else if (field == 4) {
            rc = wt == 0 ? skip(&s, wt) : DECLINE;
        } else {
            rc = skip(&s, wt);
        }
    }
    Entry *e = NULL;
    if (rc == OK) rc = intern(c, &name, &e);
    if (rc == OK && out) {
        *out = Py_BuildValue("(KOO)", (unsigned long long)time, string_of(c, e->id), attrs);
        if (!*out) rc = FAIL;
    }
    Py_DECREF(attrs);
    return rc;
}

/* The second pass over a span: attributes (kept ones only) and events. */
static int span_details(Ctx *c, Slice s, int keep, int ri, int si, int pi, PyObject *attrs,
                        PyObject *events) {
    uint32_t field;
    int wt;
    Slice sub;
    while (s.p < s.end) {
        TRY(tag(&s, &field, &wt));
        if (field == 9) {
            TRY(delimited(&s, &sub));
            TRY(span_attribute(c, sub, keep ? attrs : NULL, ri, si, pi));
        } else if (field == 11) {
            TRY(delimited(&s, &sub));
            PyObject *item = NULL;
            TRY(event(c, sub, keep ? &item : NULL));
            if (item) {
                int rc = PyList_Append(events, item);
                Py_DECREF(item);
                if (rc < 0) return FAIL;
            }
        } else {
            TRY(skip(&s, wt));
        }
    }
    return OK;
}

static int put_ids(Ctx *c, const SpanFields *f) {
    static const uint8_t zeros[8] = {0};
    TRY(buf_put(&c->trace, f->trace_id.p, 16));
    TRY(buf_put(&c->span, f->span_id.p, 8));
    TRY(buf_put(&c->parent, f->parent.end > f->parent.p ? f->parent.p : zeros, 8));
    TRY(buf_put(&c->start, &f->start, 8));
    return buf_put(&c->end, &f->end, 8);
}

/* Where SpanRecord keeps each constructor argument: the offsets of its __slots__. */
static const char *const RECORD_SLOTS[13] = {
    "trace_id", "span_id",  "parent_span_id", "resource",    "scope_name",     "name",  "kind",
    "start_ns", "end_ns",   "status_code",    "status_message", "attributes", "events"};
static PyTypeObject *layout_type = NULL;
static Py_ssize_t layout[13];

static int record_layout(PyObject *type) {
    if ((PyTypeObject *)type == layout_type) return OK;
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "SpanRecord must be a class");
        return FAIL;
    }
    for (int i = 0; i < 13; i++) {
        PyObject *d = PyObject_GetAttrString(type, RECORD_SLOTS[i]);
        if (!d) return FAIL;
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
        if (ok) layout[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "SpanRecord.%s must be a __slots__ member",
                         RECORD_SLOTS[i]);
            return FAIL;
        }
    }
    layout_type = (PyTypeObject *)type;
    return OK;
}

/* A SpanRecord with its slots set (the values are stolen; NULLs fail after cleanup). */
static int record(Ctx *c, PyObject *values[13]) {
    PyTypeObject *type = (PyTypeObject *)c->record_type;
    PyObject *item = NULL;
    int complete = 1;
    for (int i = 0; i < 13; i++) complete &= values[i] != NULL;
    if (complete) item = type->tp_alloc(type, 0);
    if (!item) {
        for (int i = 0; i < 13; i++) Py_XDECREF(values[i]);
        return FAIL;
    }
    for (int i = 0; i < 13; i++) *(PyObject **)((char *)item + layout[i]) = values[i];
    int rc = PyList_Append(c->records, item);
    Py_DECREF(item);
    return rc < 0 ? FAIL : OK;
}

static PyObject *new_ref(PyObject *o) {
    Py_INCREF(o);
    return o;
}

static int span_record(Ctx *c, const SpanFields *f, PyObject *resource, int32_t scope,
                       int32_t name, uint64_t code, int32_t message, PyObject *attrs,
                       PyObject *events) {
    PyObject *values[13] = {
        bytes_of(&f->trace_id),
        bytes_of(&f->span_id),
        bytes_of(&f->parent),
        new_ref(resource),
        new_ref(string_of(c, scope)),
        new_ref(string_of(c, name)),
        PyLong_FromUnsignedLongLong(f->kind),
        PyLong_FromUnsignedLongLong(f->start),
        PyLong_FromUnsignedLongLong(f->end),
        PyLong_FromUnsignedLongLong(code),
        new_ref(string_of(c, message)),
        new_ref(attrs),
        PyList_GET_SIZE(events) ? PyList_AsTuple(events) : PyTuple_New(0),
    };
    return record(c, values);
}

/* Per fact, the first of its key columns holding a non-empty string, else -1. */
static int put_facts(Ctx *c) {
    for (Py_ssize_t i = 0; i < c->n_facts; i++) {
        int32_t chosen = -1;
        for (const int32_t *k = c->facts[i]; *k >= 0 && chosen < 0; k++) {
            int32_t id = c->row[*k];
            if (id >= 0 && PyUnicode_GET_LENGTH(string_of(c, id)) > 0) chosen = id;
        }
        TRY(put_i32(&c->fact_ids, chosen));
    }
    for (Py_ssize_t k = 0; k < c->n_keys; k++)
        if (c->row[k] != -1) c->present[k] = 1;
    return buf_put(&c->attrs, c->row, sizeof(int32_t) * (size_t)c->n_keys);
}

static int span(Ctx *c, Slice s, PyObject *resource, int32_t service, int32_t scope, int ri,
                int si, int pi) {
    SpanFields f;
    TRY(span_fields(c, s, &f));
    Entry *name;
    TRY(intern(c, &f.name, &name));
    uint64_t code = 0;
    int32_t message = 0;
    if (f.has_status) {
        TRY(status_fields(c, f.status, &code, &message));
    } else {
        Slice none = {EMPTY, EMPTY};
        Entry *e;
        TRY(intern(c, &none, &e));
        message = e->id;
    }
    if (rejected(c, &f)) {
        PyObject *item = Py_BuildValue("(siiiNNNKK)", "reject", ri, si, pi, bytes_of(&f.trace_id),
                                       bytes_of(&f.span_id), bytes_of(&f.parent),
                                       (unsigned long long)f.start, (unsigned long long)f.end);
        TRY(note(c, item));
        return span_details(c, s, 0, ri, si, pi, NULL, NULL);
    }
    for (Py_ssize_t k = 0; k < c->n_keys; k++) c->row[k] = -1;
    PyObject *attrs = PyDict_New(), *events = PyList_New(0);
    int rc = attrs && events ? span_details(c, s, 1, ri, si, pi, attrs, events) : FAIL;
    if (rc == OK)
        rc = span_record(c, &f, resource, scope, name->id, code, message, attrs, events);
    Py_XDECREF(attrs);
    Py_XDECREF(events);
    if (rc != OK) return rc;
    int8_t kind = (int8_t)(f.kind < 127 ? f.kind : 127), status = (int8_t)(code < 127 ? code : 127);
    TRY(put_ids(c, &f));
    TRY(buf_put(&c->kind, &kind, 1));
    TRY(buf_put(&c->status, &status, 1));
    TRY(put_i32(&c->service, service));
    TRY(put_i32(&c->scope, scope));
    TRY(put_i32(&c->name, name->id));
    TRY(put_facts(c));
    c->rows++;
    return OK;
}

/* -- scopes and resources ---------------------------------------------------------- */

/* Find the one submessage at ``number`` (absent: empty); validate the rest's strings. */
static int singular(Slice s, uint32_t number, uint32_t strings_mask, Slice *out) {
    uint32_t field;
    int wt, found = 0;
    Slice sub;
    out->p = out->end = EMPTY;
    while (s.p < s.end) {
        TRY(tag(&s, &field, &wt));
        uint32_t bit = field < 32 ? 1u << field : 0;
        if (field == number || (bit & strings_mask)) {
            EXPECT(wt, 2);
            TRY(delimited(&s, &sub));
            if (field == number) {
                if (found++) return DECLINE;
                *out = sub;
            } else {
                TRY(check_utf8(&sub));
            }
        } else {
            TRY(skip(&s, wt));
        }
    }
    return OK;
}

/* Whether ``s`` opens with its field ``number`` as a submessage (serializers write fields in
 * order): then that field is read first and the rest in one pass, without ``singular``'s. */
static int opens_with(Slice s, uint32_t number, Slice *out) {
    uint32_t field;
    int wt;
    if (s.p >= s.end || tag(&s, &field, &wt) != OK || field != number || wt != 2) return 0;
    return delimited(&s, out) == OK;
}

static int scope_spans(Ctx *c, Slice s, PyObject *resource, int32_t service, int ri, int si) {
    Slice scope, sub;
    int leading = opens_with(s, 1, &scope);
    if (!leading) TRY(singular(s, 1, 1u << 3, &scope));
    /* InstrumentationScope: name (1), version (2), attributes (3) */
    Slice name = {EMPTY, EMPTY};
    uint32_t field;
    int wt;
    Slice walk = scope;
    while (walk.p < walk.end) {
        TRY(tag(&walk, &field, &wt));
        if (field == 1) {
            EXPECT(wt, 2);
            TRY(delimited(&walk, &name));
        } else if (field == 2) {
            EXPECT(wt, 2);
            TRY(delimited(&walk, &sub));
            TRY(check_utf8(&sub));
        } else if (field == 3) {
            EXPECT(wt, 2);
            TRY(delimited(&walk, &sub));
            TRY(attributes_into(c, sub, NULL, 1));
        } else {
            TRY(skip(&walk, wt));
        }
    }
    Entry *scope_name;
    TRY(intern(c, &name, &scope_name));
    int pi = 0, scopes = 0;
    while (s.p < s.end) {
        TRY(tag(&s, &field, &wt));
        if (field == 2) {
            EXPECT(wt, 2);
            TRY(delimited(&s, &sub));
            TRY(span(c, sub, resource, service, scope_name->id, ri, si, pi++));
        } else if (leading && (field == 1 || field == 3)) { /* what singular() checks */
            EXPECT(wt, 2);
            TRY(delimited(&s, &sub));
            if (field == 1 && scopes++) return DECLINE; /* a scope sent twice is merged */
            if (field == 3) TRY(check_utf8(&sub));
        } else {
            TRY(skip(&s, wt));
        }
    }
    return OK;
}

static int resource_spans(Ctx *c, Slice s, int ri) {
    Slice res;
    TRY(singular(s, 1, 1u << 3, &res));
    /* Resource: attributes (1), entity_refs (3: strings at 1..4) */
    uint32_t field;
    int wt;
    Slice walk = res, sub;
    while (walk.p < walk.end) {
        TRY(tag(&walk, &field, &wt));
        if (field == 3) {
            EXPECT(wt, 2);
            TRY(delimited(&walk, &sub));
            TRY(validate_message(c, sub, 0x1e, 0));
        } else if (field == 1) {
            EXPECT(wt, 2);
            TRY(delimited(&walk, &sub));
        } else {
            TRY(skip(&walk, wt));
        }
    }
    PyObject *attrs;
    TRY(attributes(c, res, 1, &attrs));
    PyObject *resource = PyObject_CallOneArg(c->resource_type, attrs);
    Py_DECREF(attrs);
    if (!resource) return FAIL;
    int rc = OK;
    PyObject *service_name = PyObject_GetAttrString(resource, "service_name");
    Slice service_bytes;
    Py_ssize_t n;
    const char *utf8 = service_name ? PyUnicode_AsUTF8AndSize(service_name, &n) : NULL;
    Entry *service = NULL;
    if (!utf8) {
        rc = FAIL;
    } else {
        /* the str lives on in the Resource, so the table may point at its UTF-8 */
        service_bytes.p = (const uint8_t *)utf8;
        service_bytes.end = service_bytes.p + n;
        rc = intern(c, &service_bytes, &service);
    }
    int si = 0;
    while (rc == OK && s.p < s.end) {
        rc = tag(&s, &field, &wt);
        if (rc != OK) break;
        if (field != 2) {
            rc = skip(&s, wt);
            continue;
        }
        rc = wt == 2 ? delimited(&s, &sub) : DECLINE;
        if (rc == OK) rc = scope_spans(c, sub, resource, service->id, ri, si++);
    }
    Py_XDECREF(service_name);
    /* the table points into the service name's UTF-8: keep its Resource to the end */
    if (PyList_Append(c->keep, resource) < 0) rc = FAIL;
    Py_DECREF(resource);
    return rc;
}

/* -- the module -------------------------------------------------------------------- */

static int request(Ctx *c, Slice s) {
    uint32_t field;
    int wt;
    Slice sub;
    int ri = 0;
    while (s.p < s.end) {
        TRY(tag(&s, &field, &wt));
        if (field != 1) {
            TRY(skip(&s, wt));
            continue;
        }
        EXPECT(wt, 2);
        TRY(delimited(&s, &sub));
        TRY(resource_spans(c, sub, ri++));
    }
    return OK;
}

static PyObject *take(Buf *b) {
    return PyBytes_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->len);
}

/* Each row's parent row within the batch (same trace id and span id), else -1. */
static int parent_rows(Ctx *c) {
    int32_t n = c->rows;
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    int32_t *slots = PyMem_Malloc(cap * sizeof(int32_t));
    if (!slots) {
        PyErr_NoMemory();
        return FAIL;
    }
    for (size_t j = 0; j < cap; j++) slots[j] = -1;
    const uint8_t *trace = (const uint8_t *)c->trace.data, *span = (const uint8_t *)c->span.data;
    const uint8_t *parent = (const uint8_t *)c->parent.data;
    for (int32_t i = 0; i < n; i++) { /* the first row of a duplicated span id is its row */
        size_t j = hash_bytes(span + 8 * (size_t)i, 8) & (cap - 1);
        int duplicate = 0;
        while (slots[j] >= 0 && !duplicate) {
            int32_t r = slots[j];
            duplicate = !memcmp(span + 8 * (size_t)r, span + 8 * (size_t)i, 8) &&
                        !memcmp(trace + 16 * (size_t)r, trace + 16 * (size_t)i, 16);
            if (!duplicate) j = (j + 1) & (cap - 1);
        }
        if (!duplicate) slots[j] = i;
    }
    int rc = OK;
    for (int32_t i = 0; i < n && rc == OK; i++) {
        const uint8_t *want = parent + 8 * (size_t)i;
        int32_t found = -1;
        static const uint8_t zeros[8] = {0};
        if (memcmp(want, zeros, 8)) {
            size_t j = hash_bytes(want, 8) & (cap - 1);
            for (; slots[j] >= 0 && found < 0; j = (j + 1) & (cap - 1)) {
                int32_t r = slots[j];
                if (r != i && !memcmp(span + 8 * (size_t)r, want, 8) &&
                    !memcmp(trace + 16 * (size_t)r, trace + 16 * (size_t)i, 16))
                    found = r;
            }
        }
        rc = put_i32(&c->parent_row, found);
    }
    PyMem_Free(slots);
    return rc;
}

static PyObject *columns(Ctx *c) {
    struct {
        const char *name;
        Buf *buf;
    } cols[] = {{"trace_id", &c->trace},   {"span_id", &c->span},   {"parent_span_id", &c->parent},
                {"start_ns", &c->start},   {"end_ns", &c->end},     {"kind", &c->kind},
                {"status", &c->status},    {"service", &c->service}, {"scope", &c->scope},
                {"name", &c->name},        {"attributes", &c->attrs}, {"facts", &c->fact_ids},
                {"parent", &c->parent_row}};
    if (parent_rows(c) != OK) return NULL;
    PyObject *out = PyDict_New();
    if (!out) return NULL;
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        PyObject *b = take(cols[i].buf);
        if (!b || PyDict_SetItemString(out, cols[i].name, b) < 0) {
            Py_XDECREF(b);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(b);
    }
    return out;
}

static void release(Ctx *c) {
    Buf *bufs[] = {&c->trace,   &c->span,  &c->parent, &c->start, &c->end,
                   &c->kind,    &c->status, &c->service, &c->scope, &c->name,
                   &c->attrs,   &c->fact_ids, &c->parent_row};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) PyMem_Free(bufs[i]->data);
    PyMem_Free(c->table);
    PyMem_Free(c->row);
    PyMem_Free(c->present);
    Py_XDECREF(c->records);
    Py_XDECREF(c->notes);
    Py_XDECREF(c->strings);
    Py_XDECREF(c->keep);
}

/* facts: a tuple of tuples of key columns (at most 8 facts of at most 3 keys). */
static int read_facts(Ctx *c, PyObject *facts) {
    c->n_facts = PyTuple_GET_SIZE(facts);
    if (c->n_facts > 8) goto bad;
    for (Py_ssize_t i = 0; i < c->n_facts; i++) {
        PyObject *keys = PyTuple_GET_ITEM(facts, i);
        if (!PyTuple_Check(keys) || PyTuple_GET_SIZE(keys) > 3) goto bad;
        Py_ssize_t n = PyTuple_GET_SIZE(keys);
        for (Py_ssize_t k = 0; k < n; k++) {
            long column = PyLong_AsLong(PyTuple_GET_ITEM(keys, k));
            if (column == -1 && PyErr_Occurred()) return FAIL;
            if (column < 0 || column >= c->n_keys) goto bad;
            c->facts[i][k] = (int32_t)column;
        }
        c->facts[i][n] = -1;
    }
    return OK;
bad:
    PyErr_SetString(PyExc_ValueError, "facts: up to 8 tuples of up to 3 key columns");
    return FAIL;
}

static PyObject *decode_traces(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer body;
    Ctx c;
    memset(&c, 0, sizeof c);
    unsigned long long latest;
    PyObject *facts;
    if (!PyArg_ParseTuple(args, "y*O!O!nKOO", &body, &PyDict_Type, &c.key_index, &PyTuple_Type,
                          &facts, &c.limit, &latest, &c.resource_type, &c.record_type))
        return NULL;
    c.latest_ns = latest;
    c.n_keys = PyDict_GET_SIZE(c.key_index);
    c.records = PyList_New(0);
    c.notes = PyList_New(0);
    c.strings = PyList_New(0);
    c.keep = PyList_New(0);
    c.row = PyMem_Malloc(sizeof(int32_t) * (size_t)(c.n_keys ? c.n_keys : 1));
    c.present = PyMem_Calloc((size_t)(c.n_keys ? c.n_keys : 1), 1);
    PyObject *result = NULL;
    if (!c.row || !c.present) PyErr_NoMemory();
    if (c.records && c.notes && c.strings && c.keep && c.row && c.present &&
        read_facts(&c, facts) == OK &&
        record_layout(c.record_type) == OK) {
        Slice s = {(const uint8_t *)body.buf, (const uint8_t *)body.buf + body.len};
        int rc = request(&c, s);
        if (rc == DECLINE) {
            result = Py_None;
            Py_INCREF(result);
        } else if (rc == OK) {
            PyObject *cols = columns(&c);
            Buf present = {(char *)c.present, (size_t)c.n_keys, (size_t)c.n_keys};
            PyObject *flags = cols ? take(&present) : NULL;
            if (flags && PyDict_SetItemString(cols, "present", flags) < 0) Py_CLEAR(cols);
            Py_XDECREF(flags);
            if (cols) result = PyTuple_Pack(4, c.records, c.notes, cols, c.strings);
            Py_XDECREF(cols);
        }
    }
    release(&c);
    PyBuffer_Release(&body);
    return result;
}

static PyMethodDef methods[] = {
    {"decode_traces", decode_traces, METH_VARARGS,
     "decode_traces(body, key_index, facts, limit, latest_ns, Resource, SpanRecord)"
     " -> (records, notes, columns, strings) | None"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_columnar", "Native OTLP trace decode into columns.", -1, methods,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__columnar(void) { return PyModule_Create(&module); }
