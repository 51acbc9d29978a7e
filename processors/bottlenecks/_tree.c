/* Self time and critical path of many traces at once, on columns.
 *
 * gather(spans, statement_keys, memory_keys, start, end, kind, resource, sid, pid, tid,
 * flags) reads the columns below from a list of SpanRecords when a batch arrives (its
 * records are still in the cache then) and returns the distinct resources in order of
 * first appearance: times and kind (int64), the resource (int64, an index into that list), span and parent ids as big-endian uint64, the trace id as two (uint64[n, 2]),
 * and per span flags (uint8): 1 it has a parent id, 2 its span id is not 8 bytes, 4 its
 * parent id is neither empty nor 8 bytes (or zeros, or the span's own id), 8 a time or kind that is not an int64 (the
 * caller hands such traces to the Python tree), 16 its trace id is not 16 bytes, 32 it
 * has events, 64 its attributes hold one of memory_keys, 128 one of statement_keys.
 *
 * analyse(offsets, parent, start, end, sid, orphan, self_ns, cp_ns, cp_last, root, ok)
 *
 * The spans of trace t are rows offsets[t] .. offsets[t+1]-1 of the columns; every
 * argument is a C-contiguous buffer (numpy arrays):
 *
 *   offsets  int64[T+1]
 *   parent   int32[n]  the parent's row (a row of the same trace), or -1 for a root
 *   start    int64[n]  the span's window, end >= start (no clock correction here: the
 *   end      int64[n]  caller sends traces that need none)
 *   sid      uint64[n] the span id read big-endian: orders like the id's bytes
 *   orphan   uint8[n]  a root whose parent never arrived
 *
 * and it fills
 *
 *   self_ns  int64[n]  duration minus the union of the children clipped to the span
 *   cp_ns    int64[n]  time the span's own work lies on the critical path of the root
 *   cp_last  int32[n]  index of the span's last stretch in the backward walk, -1: none
 *   root     int32[T]  the main root's row
 *   ok       uint8[T]  0 when a parent cycle leaves spans unreachable from the roots
 *                      (the caller then analyses the trace in Python)
 *
 * The pure-Python functions of tracetree.py and critical_path.py are the specification:
 * children in (start, span id) order, the main root (a true root before an orphan, then
 * the longest, the earliest, the smallest id), the backward walk with pending children
 * ordered by (-end, start, span id). tests/processors/bottlenecks/test_bottlenecks_fast.py
 * compares the two on seeded random traces.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t end; /* sort keys of a pending child: end descending, start, id ascending */
    int64_t start;
    uint64_t sid;
    int32_t row;
} Pending;

typedef struct {
    int32_t row;
    int64_t low, cursor;
    int32_t first, count, index; /* the frame's pending children in the scratch buffer */
} Frame;

typedef struct {
    const int64_t *start, *end;
    const uint64_t *sid;
} Cols;

/* -- ordering ------------------------------------------------------------------- */

typedef int (*Before)(const Pending *, const Pending *);

static int start_before(const Pending *a, const Pending *b) {
    if (a->start != b->start) return a->start < b->start;
    return a->sid < b->sid;
}

static int pending_before(const Pending *a, const Pending *b) {
    if (a->end != b->end) return a->end > b->end;
    if (a->start != b->start) return a->start < b->start;
    return a->sid < b->sid;
}

/* Merge sort (insertion sort for short runs): O(n log n) for a parent with thousands of
 * children, linear for the usual short list already in order. tmp holds n/2 items. */
static void sort_run(Pending *p, int32_t n, Pending *tmp, Before before) {
    if (n <= 16) {
        for (int32_t i = 1; i < n; i++) {
            Pending v = p[i];
            int32_t j = i - 1;
            while (j >= 0 && before(&v, &p[j])) {
                p[j + 1] = p[j];
                j--;
            }
            p[j + 1] = v;
        }
        return;
    }
    int32_t h = n / 2;
    sort_run(p, h, tmp, before);
    sort_run(p + h, n - h, tmp, before);
    if (!before(&p[h], &p[h - 1])) return; /* the halves are already in order */
    memcpy(tmp, p, (size_t)h * sizeof(Pending));
    int32_t i = 0, j = h, k = 0;
    while (i < h && j < n) p[k++] = before(&p[j], &tmp[i]) ? p[j++] : tmp[i++];
    while (i < h) p[k++] = tmp[i++];
}

/* -- one trace ---------------------------------------------------------------------- */

typedef struct {
    int32_t *kid_start, *kid_count, *kids, *fill, *roots, *stack;
    Pending *pending, *order, *tmp;
    Frame *frames;
    uint8_t *seen;
    size_t cap;
} Scratch;

static void scratch_free(Scratch *s) {
    free(s->kid_start);
    free(s->kid_count);
    free(s->kids);
    free(s->fill);
    free(s->roots);
    free(s->stack);
    free(s->pending);
    free(s->order);
    free(s->tmp);
    free(s->frames);
    free(s->seen);
    memset(s, 0, sizeof(*s));
}

/* Room for a trace of m spans (buffers grow, never shrink, within one call). */
static int scratch_fit(Scratch *s, size_t m) {
    if (m <= s->cap) return 0;
    scratch_free(s);
    s->kid_start = malloc(m * sizeof(int32_t));
    s->kid_count = malloc(m * sizeof(int32_t));
    s->kids = malloc(m * sizeof(int32_t));
    s->fill = malloc(m * sizeof(int32_t));
    s->roots = malloc(m * sizeof(int32_t));
    s->stack = malloc(m * sizeof(int32_t));
    s->pending = malloc(m * sizeof(Pending));
    s->order = malloc(m * sizeof(Pending));
    s->tmp = malloc(m * sizeof(Pending));
    s->frames = malloc(m * sizeof(Frame));
    s->seen = malloc(m);
    if (!s->kid_start || !s->kid_count || !s->kids || !s->fill || !s->roots || !s->stack ||
        !s->pending || !s->order || !s->tmp || !s->frames || !s->seen) {
        return -1;
    }
    s->cap = m;
    return 0;
}

/* Row's [start, end] clipped to [low, high] (an empty interval at the edge if outside). */
static inline void clip(const Cols *c, int32_t row, int64_t low, int64_t high, int64_t *st,
                        int64_t *en) {
    int64_t a = c->start[row], b = c->end[row];
    a = a > low ? a : low;
    a = a < high ? a : high;
    b = b > a ? b : a;
    *en = b < high ? b : high;
    *st = a;
}

/* Children of local span i clipped to [low, high], appended to the pending buffer. */
static int32_t push_pending(const Cols *c, Scratch *s, int32_t base, int32_t i, int64_t low,
                            int64_t high, int32_t *used) {
    int32_t first = *used, n = s->kid_count[i];
    for (int32_t k = 0; k < n; k++) {
        int32_t row = base + s->kids[s->kid_start[i] + k];
        int64_t st, en;
        clip(c, row, low, high, &st, &en);
        Pending *p = &s->pending[first + k];
        p->end = en;
        p->start = st;
        p->sid = c->sid[row];
        p->row = row;
    }
    sort_run(&s->pending[first], n, s->tmp, pending_before);
    *used = first + n;
    return first;
}

static void emit(int64_t *cp_ns, int32_t *cp_last, int32_t *stretch, int32_t row, int64_t a,
                 int64_t b) {
    cp_ns[row] += b - a;
    cp_last[row] = (*stretch)++;
}

static void walk_back(const Cols *c, Scratch *s, int32_t base, int32_t root, int64_t *cp_ns,
                      int32_t *cp_last) {
    int32_t used = 0, depth = 0, stretch = 0;
    int32_t local = root - base;
    int64_t low = c->start[root], high = c->end[root];
    Frame *f = &s->frames[depth++];
    f->row = root;
    f->low = low;
    f->cursor = high;
    f->count = s->kid_count[local];
    f->first = push_pending(c, s, base, local, low, high, &used);
    f->index = 0;
    while (depth > 0) {
        f = &s->frames[depth - 1];
        int32_t i = f->index, found = -1;
        for (; i < f->count; i++) {
            if (s->pending[f->first + i].end <= f->cursor) {
                found = i;
                break;
            }
        }
        if (found < 0) {
            if (f->cursor > f->low) emit(cp_ns, cp_last, &stretch, f->row, f->low, f->cursor);
            depth--;
            continue;
        }
        Pending child = s->pending[f->first + found];
        if (f->cursor > child.end) emit(cp_ns, cp_last, &stretch, f->row, child.end, f->cursor);
        f->cursor = child.start;
        f->index = found + 1;
        int32_t clocal = child.row - base;
        if (s->kid_count[clocal] > 0) {
            Frame *g = &s->frames[depth++];
            g->row = child.row;
            g->low = child.start;
            g->cursor = child.end;
            g->count = s->kid_count[clocal];
            g->first = push_pending(c, s, base, clocal, child.start, child.end, &used);
            g->index = 0;
        } else if (child.end > child.start) {
            emit(cp_ns, cp_last, &stretch, child.row, child.start, child.end);
        }
    }
}

static int64_t covered(const Cols *c, Scratch *s, int32_t base, int32_t i, int64_t low,
                       int64_t high) {
    int64_t total = 0, reach = 0;
    int have = 0;
    for (int32_t k = 0; k < s->kid_count[i]; k++) {
        int32_t row = base + s->kids[s->kid_start[i] + k];
        int64_t st, en;
        clip(c, row, low, high, &st, &en);
        int64_t begin = (have && reach > st) ? reach : st;
        if (en > begin) total += en - begin;
        reach = (have && reach > en) ? reach : en;
        have = 1;
    }
    return total;
}

static int root_before(const Cols *c, const uint8_t *orphan, int32_t a, int32_t b) {
    if (orphan[a] != orphan[b]) return orphan[a] < orphan[b];
    int64_t da = c->end[a] - c->start[a], db = c->end[b] - c->start[b];
    if (da != db) return da > db;
    if (c->start[a] != c->start[b]) return c->start[a] < c->start[b];
    return c->sid[a] < c->sid[b];
}

/* Returns 1 when every span is reachable from a root, 0 for a cycle, -1 out of memory. */
static int one_trace(const Cols *c, const int32_t *parent, const uint8_t *orphan, Scratch *s,
                     int32_t base, int32_t m, int64_t *self_ns, int64_t *cp_ns,
                     int32_t *cp_last, int32_t *root_out) {
    if (scratch_fit(s, (size_t)m) < 0) return -1;
    int32_t n_roots = 0;
    memset(s->kid_count, 0, (size_t)m * sizeof(int32_t));
    for (int32_t i = 0; i < m; i++) {
        int32_t p = parent[base + i];
        if (p < 0) s->roots[n_roots++] = i;
        else s->kid_count[p - base]++;
    }
    int32_t acc = 0;
    for (int32_t i = 0; i < m; i++) {
        s->kid_start[i] = acc;
        s->fill[i] = acc;
        acc += s->kid_count[i];
    }
    for (int32_t i = 0; i < m; i++) {
        int32_t p = parent[base + i];
        if (p >= 0) s->kids[s->fill[p - base]++] = i;
    }
    /* reachability: a parent cycle hides spans from every root */
    memset(s->seen, 0, (size_t)m);
    int32_t top = 0, reached = 0;
    for (int32_t r = 0; r < n_roots; r++) s->stack[top++] = s->roots[r];
    while (top > 0) {
        int32_t i = s->stack[--top];
        s->seen[i] = 1;
        reached++;
        for (int32_t k = 0; k < s->kid_count[i]; k++) s->stack[top++] = s->kids[s->kid_start[i] + k];
    }
    if (reached < m || n_roots == 0) return 0;
    for (int32_t i = 0; i < m; i++) {
        /* children in (start, span id) order */
        int32_t n = s->kid_count[i];
        int32_t *ids = &s->kids[s->kid_start[i]];
        if (n > 1) {
            for (int32_t k = 0; k < n; k++) {
                int32_t row = base + ids[k];
                Pending key = {0, c->start[row], c->sid[row], ids[k]};
                s->order[k] = key;
            }
            sort_run(s->order, n, s->tmp, start_before);
            for (int32_t k = 0; k < n; k++) ids[k] = s->order[k].row;
        }
        int32_t row = base + i;
        int64_t low = c->start[row], high = c->end[row];
        self_ns[row] = high - low - (n ? covered(c, s, base, i, low, high) : 0);
    }
    int32_t best = base + s->roots[0];
    for (int32_t r = 1; r < n_roots; r++) {
        int32_t row = base + s->roots[r];
        if (root_before(c, orphan, row, best)) best = row;
    }
    *root_out = best;
    walk_back(c, s, base, best, cp_ns, cp_last);
    return 1;
}

/* -- the Python entry point ---------------------------------------------------------- */

static int get(PyObject *obj, Py_buffer *view, Py_ssize_t item, int writable, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if (view->itemsize != item || view->len % item != 0) {
        PyErr_Format(PyExc_ValueError, "%s: expected items of %zd bytes", what, item);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Acquires the n buffers o[i] into v[i] (items of sizes[i] bytes, writable from index
 * writable_from on). Returns how many it acquired: n, or fewer with an exception set;
 * the caller releases that many with release_all. */
static int get_all(PyObject *const *o, Py_buffer *v, int n, const Py_ssize_t *sizes,
                   int writable_from, const char *const *names) {
    int got = 0;
    for (; got < n; got++) {
        if (get(o[got], &v[got], sizes[got], got >= writable_from, names[got]) < 0) break;
    }
    return got;
}

static void release_all(Py_buffer *v, int got) {
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
}

static PyObject *analyse(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o[11];
    if (!PyArg_UnpackTuple(args, "analyse", 11, 11, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
                           &o[6], &o[7], &o[8], &o[9], &o[10]))
        return NULL;
    static const char *names[11] = {"offsets", "parent", "start", "end",  "sid", "orphan",
                                    "self_ns", "cp_ns",  "cp_last", "root", "ok"};
    static const Py_ssize_t sizes[11] = {8, 4, 8, 8, 8, 1, 8, 8, 4, 4, 1};
    Py_buffer v[11];
    int got = 0;
    PyObject *result = NULL;
    got = get_all(o, v, 11, sizes, 6, names);
    if (got < 11) goto done;
    Py_ssize_t n = v[1].len / 4, traces = v[9].len / 4;
    if (v[0].len / 8 != traces + 1 || v[2].len / 8 != n || v[3].len / 8 != n ||
        v[4].len / 8 != n || v[5].len != n || v[6].len / 8 != n || v[7].len / 8 != n ||
        v[8].len / 4 != n || v[10].len != traces) {
        PyErr_SetString(PyExc_ValueError, "analyse: column lengths disagree");
        goto done;
    }
    const int64_t *offsets = v[0].buf;
    const int32_t *parent = v[1].buf;
    Cols c = {v[2].buf, v[3].buf, v[4].buf};
    const uint8_t *orphan = v[5].buf;
    int64_t *self_ns = v[6].buf, *cp_ns = v[7].buf;
    int32_t *cp_last = v[8].buf, *root = v[9].buf;
    uint8_t *ok = v[10].buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t p = parent[i];
        cp_ns[i] = 0;
        cp_last[i] = -1;
        self_ns[i] = 0;
        if (p >= n || p < -1) {
            PyErr_Format(PyExc_ValueError, "analyse: parent row %d of row %zd is out of range", p, i);
            goto done;
        }
    }
    Scratch s;
    memset(&s, 0, sizeof(s));
    for (Py_ssize_t t = 0; t < traces; t++) {
        int64_t lo = offsets[t], hi = offsets[t + 1];
        if (lo < 0 || hi < lo || hi > n || hi - lo > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "analyse: bad offsets of trace %zd", t);
            scratch_free(&s);
            goto done;
        }
        for (int64_t i = lo; i < hi; i++) {
            if (parent[i] >= 0 && (parent[i] < lo || parent[i] >= hi)) {
                PyErr_Format(PyExc_ValueError, "analyse: row %lld has a parent in another trace",
                             (long long)i);
                scratch_free(&s);
                goto done;
            }
        }
        root[t] = -1;
        int r = hi > lo ? one_trace(&c, parent, orphan, &s, (int32_t)lo, (int32_t)(hi - lo),
                                    self_ns, cp_ns, cp_last, &root[t])
                        : 0;
        if (r < 0) {
            PyErr_NoMemory();
            scratch_free(&s);
            goto done;
        }
        ok[t] = (uint8_t)r;
    }
    scratch_free(&s);
    result = Py_NewRef(Py_None);
done:
    release_all(v, got);
    return result;
}


/* -- shares: what each operation gives the critical path of its trace --------------- */

typedef struct {
    int64_t key, ns;
    int32_t last;
} Share;

static int share_before(const void *a, const void *b) {
    const Share *x = a, *y = b;
    return x->last > y->last ? -1 : x->last < y->last; /* the earliest stretch first */
}

/* shares(offsets, key, cp_ns, cp_last, root, skip, share_t, share_key, share_ns): per
 * trace not skipped, one row per key of the spans on its critical path (cp_last >= 0)
 * with their cp_ns summed, in path order (by their last stretch, latest index first);
 * a trace whose path has no stretch (a zero-length root) gives its root's key with 0 ns.
 * Returns how many rows it wrote (at most n + traces). */
static PyObject *shares(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o[9];
    if (!PyArg_UnpackTuple(args, "shares", 9, 9, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6],
                           &o[7], &o[8]))
        return NULL;
    static const char *names[9] = {"offsets", "key", "cp_ns", "cp_last", "root", "skip",
                                   "share_t", "share_key", "share_ns"};
    static const Py_ssize_t sizes[9] = {8, 8, 8, 4, 4, 1, 8, 8, 8};
    Py_buffer v[9];
    int got = 0;
    PyObject *result = NULL;
    Share *found = NULL;
    got = get_all(o, v, 9, sizes, 6, names);
    if (got < 9) goto done;
    Py_ssize_t n = v[1].len / 8, traces = v[4].len / 4, cap = v[6].len / 8;
    if (v[0].len / 8 != traces + 1 || v[2].len / 8 != n || v[3].len / 4 != n ||
        v[5].len != traces || cap < n + traces || v[7].len / 8 != cap || v[8].len / 8 != cap) {
        PyErr_SetString(PyExc_ValueError, "shares: column lengths disagree");
        goto done;
    }
    const int64_t *offsets = v[0].buf, *key = v[1].buf, *cp_ns = v[2].buf;
    const int32_t *cp_last = v[3].buf, *root = v[4].buf;
    const uint8_t *skip = v[5].buf;
    int64_t *out_t = v[6].buf, *out_key = v[7].buf, *out_ns = v[8].buf;
    found = malloc((size_t)(n > 0 ? n : 1) * sizeof(Share));
    if (found == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t count = 0;
    for (Py_ssize_t t = 0; t < traces; t++) {
        int64_t lo = offsets[t], hi = offsets[t + 1];
        if (lo < 0 || hi < lo || hi > n) {
            PyErr_Format(PyExc_ValueError, "shares: bad offsets of trace %zd", t);
            goto done;
        }
        if (skip[t]) continue;
        Py_ssize_t m = 0;
        for (int64_t i = lo; i < hi; i++) {
            if (cp_last[i] < 0) continue;
            Py_ssize_t k = 0;
            while (k < m && found[k].key != key[i]) k++;
            if (k == m) {
                found[m].key = key[i];
                found[m].ns = 0;
                found[m].last = -1;
                m++;
            }
            found[k].ns += cp_ns[i];
            if (cp_last[i] > found[k].last) found[k].last = cp_last[i];
        }
        if (m == 0) {
            if (root[t] < lo || root[t] >= hi) {
                PyErr_Format(PyExc_ValueError, "shares: bad root of trace %zd", t);
                goto done;
            }
            out_t[count] = t;
            out_key[count] = key[root[t]];
            out_ns[count++] = 0;
            continue;
        }
        qsort(found, (size_t)m, sizeof(Share), share_before);
        for (Py_ssize_t k = 0; k < m; k++) {
            out_t[count] = t;
            out_key[count] = found[k].key;
            out_ns[count++] = found[k].ns;
        }
    }
    result = PyLong_FromSsize_t(count);
done:
    free(found);
    release_all(v, got);
    return result;
}

/* -- parents: each span's parent row within its trace ---------------------------------- */

typedef struct {
    uint64_t sid;
    int32_t row;
} Keyed;

static int keyed_before(const void *a, const void *b) {
    const Keyed *x = a, *y = b;
    if (x->sid != y->sid) return x->sid < y->sid ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Traces up to this many spans are searched pairwise (no sort): the usual trace. */
#define SMALL_TRACE 24

/* OTLP span kinds (the enum of the protocol) */
#define KIND_PRODUCER 4
#define KIND_CONSUMER 5

/* parents() for one small trace of m spans starting at row lo: the first span (in row
 * order) holding each parent id, found by a scan, as the sorted search finds it. */
static void small_parents(const uint64_t *sid, const uint64_t *pid, const uint8_t *has,
                          int32_t m, int32_t lo, int32_t *parent, uint8_t *repeated) {
    uint8_t twice = 0;
    for (int32_t i = 0; i < m && !twice; i++)
        for (int32_t k = i + 1; k < m; k++)
            if (sid[k] == sid[i]) {
                twice = 1;
                break;
            }
    *repeated = twice;
    for (int32_t i = 0; i < m; i++) {
        parent[i] = -1;
        if (!has[i]) continue;
        for (int32_t k = 0; k < m; k++)
            if (sid[k] == pid[i]) {
                parent[i] = lo + k;
                break;
            }
    }
}

/* parents(offsets, sid, pid, has_parent, parent, repeated): parent[i] is the row of the
 * first span of i's trace whose id is i's parent id (-1 without a parent id or when none
 * has it); repeated[t] is 1 when a span id appears twice in trace t (the tree keeps the
 * first record: the caller hands such traces to the Python tree). */
static PyObject *parents(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o[6];
    if (!PyArg_UnpackTuple(args, "parents", 6, 6, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5]))
        return NULL;
    static const char *names[6] = {"offsets", "sid", "pid", "has_parent", "parent", "repeated"};
    static const Py_ssize_t sizes[6] = {8, 8, 8, 1, 4, 1};
    Py_buffer v[6];
    int got = 0;
    PyObject *result = NULL;
    Keyed *keyed = NULL;
    got = get_all(o, v, 6, sizes, 4, names);
    if (got < 6) goto done;
    Py_ssize_t n = v[1].len / 8, traces = v[5].len;
    if (v[0].len / 8 != traces + 1 || v[2].len / 8 != n || v[3].len != n || v[4].len / 4 != n) {
        PyErr_SetString(PyExc_ValueError, "parents: column lengths disagree");
        goto done;
    }
    const int64_t *offsets = v[0].buf;
    const uint64_t *sid = v[1].buf, *pid = v[2].buf;
    const uint8_t *has = v[3].buf;
    int32_t *parent = v[4].buf;
    uint8_t *repeated = v[5].buf;
    keyed = malloc((size_t)(n > 0 ? n : 1) * sizeof(Keyed));
    if (keyed == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t t = 0; t < traces; t++) {
        int64_t lo = offsets[t], hi = offsets[t + 1];
        if (lo < 0 || hi < lo || hi > n || hi - lo > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "parents: bad offsets of trace %zd", t);
            goto done;
        }
        int32_t m = (int32_t)(hi - lo);
        if (m <= SMALL_TRACE) {
            small_parents(sid + lo, pid + lo, has + lo, m, (int32_t)lo, parent + lo, &repeated[t]);
            continue;
        }
        for (int32_t k = 0; k < m; k++) {
            keyed[k].sid = sid[lo + k];
            keyed[k].row = (int32_t)(lo + k);
        }
        qsort(keyed, (size_t)m, sizeof(Keyed), keyed_before);
        repeated[t] = 0;
        for (int32_t k = 1; k < m; k++)
            if (keyed[k].sid == keyed[k - 1].sid) repeated[t] = 1;
        for (int64_t i = lo; i < hi; i++) {
            parent[i] = -1;
            if (!has[i]) continue;
            int32_t a = 0, b = m; /* the first of the ids equal to pid[i] */
            while (a < b) {
                int32_t mid = a + (b - a) / 2;
                if (keyed[mid].sid < pid[i]) a = mid + 1;
                else b = mid;
            }
            if (a < m && keyed[a].sid == pid[i]) parent[i] = keyed[a].row;
        }
    }
    result = Py_NewRef(Py_None);
done:
    free(keyed);
    release_all(v, got);
    return result;
}

/* skewed(offsets, parent, resource, kind, start, end, mark): mark[t] = 1 when a child
 * of trace t lies outside its parent's window on another resource, in a synchronous
 * call (the parent not a PRODUCER, the child not a CONSUMER): clock skew the tree may
 * correct, so the trace takes the Python tree. Other marks are left as they are. */
static PyObject *skewed(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o[7];
    if (!PyArg_UnpackTuple(args, "skewed", 7, 7, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6]))
        return NULL;
    static const char *names[7] = {"offsets", "parent", "resource", "kind", "start", "end", "mark"};
    static const Py_ssize_t sizes[7] = {8, 4, 8, 8, 8, 8, 1};
    Py_buffer v[7];
    int got = 0;
    PyObject *result = NULL;
    got = get_all(o, v, 7, sizes, 6, names);
    if (got < 7) goto done;
    Py_ssize_t n = v[1].len / 4, traces = v[6].len;
    if (v[0].len / 8 != traces + 1 || v[2].len / 8 != n || v[3].len / 8 != n ||
        v[4].len / 8 != n || v[5].len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "skewed: column lengths disagree");
        goto done;
    }
    const int64_t *offsets = v[0].buf, *resource = v[2].buf, *kind = v[3].buf;
    const int64_t *start = v[4].buf, *end = v[5].buf;
    const int32_t *parent = v[1].buf;
    uint8_t *mark = v[6].buf;
    for (Py_ssize_t t = 0; t < traces; t++) {
        int64_t lo = offsets[t], hi = offsets[t + 1];
        if (lo < 0 || hi < lo || hi > n) {
            PyErr_Format(PyExc_ValueError, "skewed: bad offsets of trace %zd", t);
            goto done;
        }
        for (int64_t i = lo; i < hi && !mark[t]; i++) {
            int32_t p = parent[i];
            if (p < 0) continue;
            if (p >= n) {
                PyErr_Format(PyExc_ValueError, "skewed: parent row %d out of range", p);
                goto done;
            }
            if (resource[i] == resource[p] || kind[p] == KIND_PRODUCER || kind[i] == KIND_CONSUMER)
                continue;
            if (start[i] < start[p] || start[i] > end[p] || end[i] > end[p]) mark[t] = 1;
        }
    }
    result = Py_NewRef(Py_None);
done:
    release_all(v, got);
    return result;
}

/* -- gather: the columns of SpanRecord objects ---------------------------------------- */

enum {
    HAS_PARENT = 1,
    ODD_ID = 2,
    ODD_PARENT = 4,
    ODD_TIME = 8,
    ODD_TRACE = 16,
    EVENTS = 32,
    MEMORY = 64,
    STATEMENT = 128
};

static PyObject *s_start, *s_end, *s_kind, *s_resource, *s_span_id, *s_parent, *s_trace_id,
    *s_events, *s_attributes;

static int64_t long_of(PyObject *span, PyObject *name, uint8_t *flags) {
    PyObject *value = PyObject_GetAttr(span, name);
    if (value == NULL) return -1;
    int overflow = 0;
    long long got = PyLong_Check(value) ? PyLong_AsLongLongAndOverflow(value, &overflow) : 0;
    if (!PyLong_Check(value) || overflow) *flags |= ODD_TIME; /* the Python tree decides */
    Py_DECREF(value);
    return (int64_t)got;
}

static uint64_t big_endian(const unsigned char *p) {
    uint64_t out = 0;
    for (int i = 0; i < 8; i++) out = (out << 8) | p[i];
    return out;
}

/* An 8-byte id as a big-endian integer; 0 and a flag for any other length. */
static uint64_t id_of(PyObject *span, PyObject *name, uint8_t *flags, uint8_t odd, int parent) {
    PyObject *value = PyObject_GetAttr(span, name);
    if (value == NULL) return 0;
    uint64_t out = 0;
    Py_ssize_t size = PyBytes_Check(value) ? PyBytes_GET_SIZE(value) : -1;
    if (size == 8) {
        out = big_endian((const unsigned char *)PyBytes_AS_STRING(value));
    } else if (!(parent && size == 0)) {
        *flags |= odd;
    }
    if (parent && size != 0) *flags |= HAS_PARENT;
    Py_DECREF(value);
    return out;
}

/* A 16-byte trace id as two big-endian integers; zeros and ODD_TRACE for another. */
static void trace_of(PyObject *span, uint64_t *out, uint8_t *flags) {
    PyObject *value = PyObject_GetAttr(span, s_trace_id);
    if (value == NULL) return;
    if (PyBytes_Check(value) && PyBytes_GET_SIZE(value) == 16) {
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(value);
        out[0] = big_endian(p);
        out[1] = big_endian(p + 8);
    } else {
        out[0] = out[1] = 0;
        *flags |= ODD_TRACE;
    }
    Py_DECREF(value);
}

/* Whether the dict holds any of the keys (a tuple of str); -1 on error. */
static int holds_any(PyObject *attrs, PyObject *keys) {
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(keys); k++) {
        int found = PyDict_Contains(attrs, PyTuple_GET_ITEM(keys, k));
        if (found != 0) return found;
    }
    return 0;
}

/* EVENTS (a non-empty events sequence), STATEMENT, MEMORY (a key of each tuple). */
static int carried(PyObject *span, PyObject *statement, PyObject *memory, uint8_t *flags) {
    PyObject *events = PyObject_GetAttr(span, s_events);
    if (events == NULL) return -1;
    int truth = PyObject_IsTrue(events);
    Py_DECREF(events);
    if (truth < 0) return -1;
    if (truth) *flags |= EVENTS;
    PyObject *attrs = PyObject_GetAttr(span, s_attributes);
    if (attrs == NULL) return -1;
    int rc = 0;
    if (PyDict_Check(attrs)) {
        int a = holds_any(attrs, statement), b = a < 0 ? -1 : holds_any(attrs, memory);
        if (a < 0 || b < 0) rc = -1;
        if (a > 0) *flags |= STATEMENT;
        if (b > 0) *flags |= MEMORY;
    } else {
        *flags |= STATEMENT | MEMORY; /* not a dict: the caller looks for itself */
    }
    Py_DECREF(attrs);
    return rc;
}

static PyObject *gather(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *spans, *statement, *memory, *o[8], *seen = NULL;
    if (!PyArg_ParseTuple(args, "O!O!O!OOOOOOOO", &PyList_Type, &spans, &PyTuple_Type,
                          &statement, &PyTuple_Type, &memory, &o[0], &o[1], &o[2], &o[3],
                          &o[4], &o[5], &o[6], &o[7]))
        return NULL;
    static const char *names[8] = {"start", "end", "kind", "resource",
                                   "sid",   "pid", "tid",  "flags"};
    static const Py_ssize_t sizes[8] = {8, 8, 8, 8, 8, 8, 8, 1};
    static const Py_ssize_t per_row[8] = {1, 1, 1, 1, 1, 1, 2, 1};
    Py_buffer v[8];
    int got = 0;
    PyObject *result = NULL;
    got = get_all(o, v, 8, sizes, 0, names);
    if (got < 8) goto done;
    Py_ssize_t n = PyList_GET_SIZE(spans);
    for (int i = 0; i < 8; i++) {
        if (v[i].len / sizes[i] != n * per_row[i]) {
            PyErr_SetString(PyExc_ValueError, "gather: column lengths disagree");
            goto done;
        }
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(statement) + PyTuple_GET_SIZE(memory); k++) {
        PyObject *key = k < PyTuple_GET_SIZE(statement)
                            ? PyTuple_GET_ITEM(statement, k)
                            : PyTuple_GET_ITEM(memory, k - PyTuple_GET_SIZE(statement));
        if (!PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "gather: attribute keys must be str");
            goto done;
        }
    }
    int64_t *start = v[0].buf, *end = v[1].buf, *kind = v[2].buf, *resource = v[3].buf;
    uint64_t *sid = v[4].buf, *pid = v[5].buf, *tid = v[6].buf;
    uint8_t *flags = v[7].buf;
    seen = PyList_New(0);
    if (seen == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *span = PyList_GET_ITEM(spans, i);
        uint8_t f = 0;
        start[i] = long_of(span, s_start, &f);
        end[i] = long_of(span, s_end, &f);
        kind[i] = long_of(span, s_kind, &f);
        PyObject *res = PyObject_GetAttr(span, s_resource);
        if (res == NULL) goto done;
        /* the resource's identity, numbered in order of first appearance */
        Py_ssize_t r = PyList_GET_SIZE(seen) - 1;
        if (r < 0 || PyList_GET_ITEM(seen, r) != res) {
            for (r = 0; r < PyList_GET_SIZE(seen); r++)
                if (PyList_GET_ITEM(seen, r) == res) break;
            if (r == PyList_GET_SIZE(seen) && PyList_Append(seen, res) < 0) {
                Py_DECREF(res);
                goto done;
            }
        }
        Py_DECREF(res);
        resource[i] = (int64_t)r;
        sid[i] = id_of(span, s_span_id, &f, ODD_ID, 0);
        pid[i] = id_of(span, s_parent, &f, ODD_PARENT, 1);
        if ((f & HAS_PARENT) && !(f & (ODD_ID | ODD_PARENT)) && (pid[i] == 0 || pid[i] == sid[i]))
            f |= ODD_PARENT; /* a zero parent id or its own: the Python tree decides */
        trace_of(span, &tid[2 * i], &f);
        if (PyErr_Occurred() || carried(span, statement, memory, &f) < 0) goto done;
        flags[i] = f;
    }
    result = Py_NewRef(seen);
done:
    Py_XDECREF(seen);
    release_all(v, got);
    return result;
}

/* -- take: a batch read and grouped by trace in one pass ------------------------------- */

/* Where a SpanRecord keeps each field read here: slot offsets of its type (looked up once
 * per call; a record of another type is read with getattr). */
enum { F_START, F_END, F_KIND, F_RESOURCE, F_SPAN, F_PARENT, F_TRACE, F_EVENTS, F_ATTRS, F_N };

typedef struct {
    PyTypeObject *type;
    Py_ssize_t offset[F_N];
} Slots;

static PyObject **field_names[F_N] = {&s_start, &s_end, &s_kind, &s_resource, &s_span_id,
                                      &s_parent, &s_trace_id, &s_events, &s_attributes};

static void find_slots(Slots *slots, PyTypeObject *type) {
    slots->type = NULL;
    for (int k = 0; k < F_N; k++) {
        PyObject *d = _PyType_Lookup(type, *field_names[k]);
        if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type)) return;
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX) return;
        slots->offset[k] = m->offset;
    }
    slots->type = type;
}

/* A new reference to a field of span (NULL with an exception when it is missing). */
static PyObject *field(const Slots *slots, PyObject *span, int k) {
    if (Py_TYPE(span) == slots->type) {
        PyObject *value = *(PyObject **)((char *)span + slots->offset[k]);
        if (value != NULL) return Py_NewRef(value);
    }
    return PyObject_GetAttr(span, *field_names[k]);
}

static int64_t long_field(const Slots *slots, PyObject *span, int k, uint8_t *flags) {
    PyObject *value = field(slots, span, k);
    if (value == NULL) return -1;
    int overflow = 0;
    long long got = PyLong_Check(value) ? PyLong_AsLongLongAndOverflow(value, &overflow) : 0;
    if (!PyLong_Check(value) || overflow) *flags |= ODD_TIME;
    Py_DECREF(value);
    return (int64_t)got;
}

static uint64_t id_field(const Slots *slots, PyObject *span, int k, uint8_t *flags, uint8_t odd,
                         int parent) {
    PyObject *value = field(slots, span, k);
    if (value == NULL) return 0;
    uint64_t out = 0;
    Py_ssize_t size = PyBytes_Check(value) ? PyBytes_GET_SIZE(value) : -1;
    if (size == 8) out = big_endian((const unsigned char *)PyBytes_AS_STRING(value));
    else if (!(parent && size == 0)) *flags |= odd;
    if (parent && size != 0) *flags |= HAS_PARENT;
    Py_DECREF(value);
    return out;
}

typedef struct {
    int64_t start, end, kind, resource;
    uint64_t sid, pid, tid[2];
    uint8_t flags;
} Row;

/* One span into a Row; -1 with an exception on error. */
static int read_row(const Slots *slots, PyObject *span, PyObject *statement, PyObject *memory,
                    PyObject *seen, Row *row) {
    uint8_t f = 0;
    row->start = long_field(slots, span, F_START, &f);
    row->end = long_field(slots, span, F_END, &f);
    row->kind = long_field(slots, span, F_KIND, &f);
    PyObject *res = field(slots, span, F_RESOURCE);
    if (res == NULL) return -1;
    Py_ssize_t r = PyList_GET_SIZE(seen) - 1;
    if (r < 0 || PyList_GET_ITEM(seen, r) != res) {
        for (r = 0; r < PyList_GET_SIZE(seen); r++)
            if (PyList_GET_ITEM(seen, r) == res) break;
        if (r == PyList_GET_SIZE(seen) && PyList_Append(seen, res) < 0) {
            Py_DECREF(res);
            return -1;
        }
    }
    Py_DECREF(res);
    row->resource = (int64_t)r;
    row->sid = id_field(slots, span, F_SPAN, &f, ODD_ID, 0);
    row->pid = id_field(slots, span, F_PARENT, &f, ODD_PARENT, 1);
    if ((f & HAS_PARENT) && !(f & (ODD_ID | ODD_PARENT)) && (row->pid == 0 || row->pid == row->sid))
        f |= ODD_PARENT;
    PyObject *trace = field(slots, span, F_TRACE);
    if (trace == NULL) return -1;
    if (PyBytes_Check(trace) && PyBytes_GET_SIZE(trace) == 16) {
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(trace);
        row->tid[0] = big_endian(p);
        row->tid[1] = big_endian(p + 8);
    } else {
        row->tid[0] = row->tid[1] = 0;
        f |= ODD_TRACE;
    }
    Py_DECREF(trace);
    if (PyErr_Occurred()) return -1;
    PyObject *events = field(slots, span, F_EVENTS);
    if (events == NULL) return -1;
    int truth = PyObject_IsTrue(events);
    Py_DECREF(events);
    if (truth < 0) return -1;
    if (truth) f |= EVENTS;
    PyObject *attrs = field(slots, span, F_ATTRS);
    if (attrs == NULL) return -1;
    int rc = 0;
    if (PyDict_Check(attrs)) {
        int a = holds_any(attrs, statement), b = a < 0 ? -1 : holds_any(attrs, memory);
        if (a < 0 || b < 0) rc = -1;
        if (a > 0) f |= STATEMENT;
        if (b > 0) f |= MEMORY;
    } else {
        f |= STATEMENT | MEMORY;
    }
    Py_DECREF(attrs);
    row->flags = f;
    return rc;
}

/* Traces in order of first appearance: group[i] per row; returns how many, -1 no memory. */
static Py_ssize_t group_traces(const Row *rows, Py_ssize_t n, int32_t *group, Py_ssize_t *first) {
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap <<= 1;
    int32_t *table = malloc(cap * sizeof(int32_t));
    if (table == NULL) return -1;
    memset(table, 0xff, cap * sizeof(int32_t));
    Py_ssize_t groups = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t h = rows[i].tid[0] * 0x9E3779B97F4A7C15ULL ^ rows[i].tid[1];
        h ^= h >> 29;
        size_t at = (size_t)(h * 0xBF58476D1CE4E5B9ULL) & (cap - 1);
        for (;;) {
            int32_t g = table[at];
            if (g < 0) {
                table[at] = (int32_t)groups;
                first[groups] = i;
                group[i] = (int32_t)groups++;
                break;
            }
            const Row *o = &rows[first[g]];
            if (o->tid[0] == rows[i].tid[0] && o->tid[1] == rows[i].tid[1]) {
                group[i] = g;
                break;
            }
            at = (at + 1) & (cap - 1);
        }
    }
    free(table);
    return groups;
}

/* 1 when the batch can be grouped by trace: every id of the usual length, times int64,
 * no span id twice (found through a hash table, not a sort); 0 when not; -1 out of
 * memory. */
static int groupable(const Row *rows, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (rows[i].flags & (ODD_TRACE | ODD_ID | ODD_TIME)) return 0;
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap <<= 1;
    int32_t *table = malloc(cap * sizeof(int32_t));
    if (table == NULL) return -1;
    memset(table, 0xff, cap * sizeof(int32_t));
    int ok = 1;
    for (Py_ssize_t i = 0; i < n && ok; i++) {
        uint64_t h = rows[i].sid ^ (rows[i].sid >> 31);
        size_t at = (size_t)(h * 0xBF58476D1CE4E5B9ULL >> 17) & (cap - 1);
        for (;;) {
            int32_t k = table[at];
            if (k < 0) {
                table[at] = (int32_t)i;
                break;
            }
            if (rows[k].sid == rows[i].sid) {
                ok = 0;
                break;
            }
            at = (at + 1) & (cap - 1);
        }
    }
    free(table);
    return ok;
}

static PyObject *trace_key_of(const uint64_t tid[2]) {
    unsigned char bytes[17];
    bytes[0] = 1;
    for (int k = 0; k < 8; k++) {
        bytes[1 + k] = (unsigned char)(tid[0] >> (56 - 8 * k));
        bytes[9 + k] = (unsigned char)(tid[1] >> (56 - 8 * k));
    }
    return _PyLong_FromByteArray(bytes, 17, 0, 0);
}

/* take(spans, statement_keys, memory_keys, start, end, kind, resource, sid, pid, flags,
 * order, lo, hi, last) reads every span as gather does and groups the rows by trace:
 * the columns are written in trace order (traces in order of first appearance, each
 * one's rows in order), order[k] the row of spans at k, and trace g is rows lo[g] to
 * hi[g] - 1 with its latest end last[g]. Returns (resources, spans in trace order, the
 * traces' keys: int.from_bytes(b"\x01" + trace_id)); when the batch cannot be grouped
 * (see groupable) the columns stay in the spans' order and it returns (resources, None,
 * None). */
static PyObject *take(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *spans, *statement, *memory, *o[11];
    if (!PyArg_ParseTuple(args, "O!O!O!OOOOOOOOOOO", &PyList_Type, &spans, &PyTuple_Type,
                          &statement, &PyTuple_Type, &memory, &o[0], &o[1], &o[2], &o[3],
                          &o[4], &o[5], &o[6], &o[7], &o[8], &o[9], &o[10]))
        return NULL;
    static const char *names[11] = {"start", "end", "kind", "resource", "sid", "pid",
                                    "flags", "order", "lo",   "hi",       "last"};
    static const Py_ssize_t sizes[11] = {8, 8, 8, 8, 8, 8, 1, 8, 8, 8, 8};
    Py_buffer v[11];
    int got = 0;
    PyObject *result = NULL, *seen = NULL, *ordered = NULL, *keys = NULL;
    Row *rows = NULL;
    int32_t *group = NULL;
    Py_ssize_t *first = NULL, *fill = NULL;
    got = get_all(o, v, 11, sizes, 0, names);
    if (got < 11) goto done;
    Py_ssize_t n = PyList_GET_SIZE(spans);
    for (int i = 0; i < 11; i++) {
        if (v[i].len / sizes[i] != n) {
            PyErr_SetString(PyExc_ValueError, "take: column lengths disagree");
            goto done;
        }
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(statement); k++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(statement, k))) goto bad_key;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(memory); k++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(memory, k))) goto bad_key;
    size_t m = (size_t)(n > 0 ? n : 1);
    rows = malloc(m * sizeof(Row));
    group = malloc(m * sizeof(int32_t));
    first = malloc(m * sizeof(Py_ssize_t));
    fill = malloc(m * sizeof(Py_ssize_t));
    seen = PyList_New(0);
    if (!rows || !group || !first || !fill) {
        PyErr_NoMemory();
        goto done;
    }
    if (seen == NULL) goto done;
    Slots slots = {NULL, {0}};
    if (n > 0) find_slots(&slots, Py_TYPE(PyList_GET_ITEM(spans, 0)));
    for (Py_ssize_t i = 0; i < n; i++) {
        if (read_row(&slots, PyList_GET_ITEM(spans, i), statement, memory, seen, &rows[i]) < 0)
            goto done;
    }
    int64_t *start = v[0].buf, *end = v[1].buf, *kind = v[2].buf, *resource = v[3].buf;
    uint64_t *sid = v[4].buf, *pid = v[5].buf;
    uint8_t *flags = v[6].buf;
    int64_t *order = v[7].buf, *lo = v[8].buf, *hi = v[9].buf, *last = v[10].buf;
    int ok = groupable(rows, n);
    if (ok < 0) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t groups = 0;
    if (ok) {
        groups = group_traces(rows, n, group, first);
        if (groups < 0) {
            PyErr_NoMemory();
            goto done;
        }
        Py_ssize_t at = 0;
        for (Py_ssize_t g = 0; g < groups; g++) fill[g] = 0;
        for (Py_ssize_t i = 0; i < n; i++) fill[group[i]]++;
        for (Py_ssize_t g = 0; g < groups; g++) {
            lo[g] = at;
            hi[g] = at + fill[g];
            last[g] = INT64_MIN;
            at += fill[g];
            fill[g] = lo[g];
        }
        ordered = PyList_New(n);
        keys = PyList_New(groups);
        if (ordered == NULL || keys == NULL) goto done;
        for (Py_ssize_t g = 0; g < groups; g++) {
            PyObject *key = trace_key_of(rows[first[g]].tid);
            if (key == NULL) goto done;
            PyList_SET_ITEM(keys, g, key);
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t k = i;
        if (ok) {
            int32_t g = group[i];
            k = fill[g]++;
            if (rows[i].end > last[g]) last[g] = rows[i].end;
            PyObject *span = PyList_GET_ITEM(spans, i);
            PyList_SET_ITEM(ordered, k, Py_NewRef(span));
        }
        const Row *r = &rows[i];
        start[k] = r->start;
        end[k] = r->end;
        kind[k] = r->kind;
        resource[k] = r->resource;
        sid[k] = r->sid;
        pid[k] = r->pid;
        flags[k] = r->flags;
        order[k] = i;
    }
    if (ok) {
        result = Py_BuildValue("(OOOn)", seen, ordered, keys, groups);
    } else {
        result = Py_BuildValue("(OOOn)", seen, Py_None, Py_None, (Py_ssize_t)-1);
    }
    goto done;
bad_key:
    PyErr_SetString(PyExc_TypeError, "take: attribute keys must be str");
done:
    Py_XDECREF(seen);
    Py_XDECREF(ordered);
    Py_XDECREF(keys);
    free(rows);
    free(group);
    free(first);
    free(fill);
    release_all(v, got);
    return result;
}

/* untrack(spans, record_type): every item of the list whose type is exactly record_type
 * leaves the cyclic garbage collector's lists. A SpanRecord cannot be part of a reference
 * cycle (it holds ids, numbers, strings, its resource and attribute values), and records
 * held for the quiet time otherwise reach the oldest generation, which every full
 * collection of the process then walks. Returns how many were untracked. */
static PyObject *untrack(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *spans, *type;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &spans, &PyType_Type, &type)) return NULL;
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(spans); i++) {
        PyObject *span = PyList_GET_ITEM(spans, i);
        if (Py_TYPE(span) == (PyTypeObject *)type && PyObject_GC_IsTracked(span)) {
            PyObject_GC_UnTrack(span);
            count++;
        }
    }
    return PyLong_FromSsize_t(count);
}

static PyMethodDef methods[] = {
    {"shares", shares, METH_VARARGS,
     "shares(offsets, key, cp_ns, cp_last, root, skip, share_t, share_key, share_ns): "
     "each trace's critical path by operation, in path order."},
    {"take", take, METH_VARARGS,
     "take(spans, statement_keys, memory_keys, start, end, kind, resource, sid, pid, flags, "
     "order, lo, hi, last): a batch's columns grouped by trace (see the source)."},
    {"untrack", untrack, METH_VARARGS,
     "untrack(spans, record_type): records of exactly that type untracked by the cyclic GC."},
    {"parents", parents, METH_VARARGS,
     "parents(offsets, sid, pid, has_parent, parent, repeated): parent rows within traces."},
    {"skewed", skewed, METH_VARARGS,
     "skewed(offsets, parent, resource, kind, start, end, mark): traces with a child the "
     "tree may move (clock skew) marked."},
    {"analyse", analyse, METH_VARARGS,
     "Self time and critical path of many traces (see the module's source for the columns)."},
    {"gather", gather, METH_VARARGS,
     "gather(spans, statement_keys, memory_keys, start, end, kind, resource, sid, pid, tid, "
     "flags): the SpanRecords' columns."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_tree", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__tree(void) {
    s_start = PyUnicode_InternFromString("start_ns");
    s_end = PyUnicode_InternFromString("end_ns");
    s_kind = PyUnicode_InternFromString("kind");
    s_resource = PyUnicode_InternFromString("resource");
    s_span_id = PyUnicode_InternFromString("span_id");
    s_parent = PyUnicode_InternFromString("parent_span_id");
    s_trace_id = PyUnicode_InternFromString("trace_id");
    s_events = PyUnicode_InternFromString("events");
    s_attributes = PyUnicode_InternFromString("attributes");
    if (!s_start || !s_end || !s_kind || !s_resource || !s_span_id || !s_parent || !s_trace_id ||
        !s_events || !s_attributes)
        return NULL;
    return PyModule_Create(&module);
}
