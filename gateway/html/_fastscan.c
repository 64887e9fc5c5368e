/* Native twins of two regexes in gateway/html/scanner.py, for the rewriter's hot loop.
 *
 *   skip(buf, pos, endpos, pass_start, pass_end) -> int
 *       where skip_pattern(S, E, frozenset()).match(buf, pos, endpos) ends, with
 *       S = frozenset() if pass_start else None, E likewise: the run of plain markup (text,
 *       tags, comments, doctypes, bogus comments) starting at pos.
 *
 *   Stops(start, end, relative, url_attrs, list_url_attrs, attrs).find(lowered, pos) -> int
 *       where stop_pattern(...).search(lowered, pos) starts, len(lowered) when it finds
 *       nothing. `start`/`end` are tuples of lowercase ASCII names or None (every tag); the
 *       rest are tuples too. `list_url_attrs` are the url attributes holding a srcset list.
 *
 * Both follow the regexes' grammar byte for byte (possessive repetitions, first matching
 * alternative wins); tests/gateway/html/test_fastscan.py checks them against the regexes on
 * generated markup. scanner.py is the reference: change the grammar there first.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef unsigned char u8;
typedef Py_ssize_t ssize;

/* HTML §13.2.5: ASCII whitespace is TAB, LF, FF, CR, SPACE. */
static inline int is_ws(u8 c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f'; }
static inline int is_alpha(u8 c) { return (u8)((c | 0x20) - 'a') < 26; }
static inline int ends_name(u8 c) { return is_ws(c) || c == '/' || c == '>'; }

/* scanner._REL: the bytes of a same-origin relative URL. */
static u8 REL[256];

static void init_tables(void) {
    const char *extra = "_.~!$()*+;=@%/?#-";
    for (int c = 0; c < 256; c++)
        REL[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    for (const char *e = extra; *e; e++) REL[(u8)*e] = 1;
}

static const u8 *find(const u8 *b, ssize from, ssize end, u8 c) {
    return from < end ? memchr(b + from, c, (size_t)(end - from)) : NULL;
}

/* scanner._ATTR's value part, from just after the name: `[ws]*+=[ws]*+VALUE` or, with no
 * `=` ahead, nothing. Returns the end, or -1 when a `=` is not followed by a whole value. */
static ssize attr_value(const u8 *b, ssize q, ssize end) {
    ssize r = q;
    while (r < end && is_ws(b[r])) r++;
    if (r >= end || b[r] != '=') return q;
    r++;
    while (r < end && is_ws(b[r])) r++;
    if (r >= end) return -1;
    u8 c = b[r];
    if (c == '"' || c == '\'') {
        const u8 *close = find(b, r + 1, end, c);
        return close ? (close - b) + 1 : -1;
    }
    if (c == '>') return r; /* `(?=>)`: an empty value right before the tag's end */
    r++;
    while (r < end && !is_ws(b[r]) && b[r] != '>') r++;
    return r;
}

/* scanner._ATTR at q (b[q] is not whitespace, `/` or `>`). */
static ssize attr(const u8 *b, ssize q, ssize end) {
    q++; /* the first byte may be `=` */
    while (q < end && !ends_name(b[q]) && b[q] != '=') q++;
    return attr_value(b, q, end);
}

/* `(?:SEP|ATTR)*+>` after a tag name starting at q; the end of the tag or -1. */
static ssize tag_rest(const u8 *b, ssize q, ssize end) {
    while (q < end && !ends_name(b[q])) q++;
    for (;;) {
        if (q >= end) return -1;
        u8 c = b[q];
        if (is_ws(c) || c == '/') { q++; continue; }
        if (c == '>') return q + 1;
        q = attr(b, q, end);
        if (q < 0) return -1;
    }
}

/* After `<!--` at q: `>`, `->`, or up to the first `--!?>`. */
static ssize comment(const u8 *b, ssize q, ssize end) {
    if (q < end && b[q] == '>') return q + 1;
    if (q + 1 < end && b[q] == '-' && b[q + 1] == '>') return q + 2;
    for (ssize i = q;;) {
        const u8 *d = find(b, i, end, '-');
        if (d == NULL) return -1;
        i = d - b;
        if (i + 2 >= end) return -1;
        if (b[i + 1] == '-') {
            if (b[i + 2] == '>') return i + 3;
            if (b[i + 2] == '!' && i + 3 < end && b[i + 3] == '>') return i + 4;
        }
        i++;
    }
}

static ssize skip_run(const u8 *b, ssize p, ssize end, int pass_start, int pass_end) {
    while (p < end) {
        if (b[p] != '<') {
            const u8 *lt = find(b, p, end, '<');
            if (lt == NULL) return end;
            p = lt - b;
        }
        if (p + 1 >= end) return p;
        u8 c = b[p + 1];
        ssize r = -1;
        if (is_alpha(c)) {
            if (pass_start) r = tag_rest(b, p + 2, end);
        } else if (c == '/') {
            if (p + 2 < end) {
                u8 c2 = b[p + 2];
                if (is_alpha(c2)) {
                    if (pass_end) r = tag_rest(b, p + 3, end);
                } else if (c2 == '>') {
                    r = p + 3; /* `</>` */
                } else {
                    const u8 *gt = find(b, p + 2, end, '>'); /* `</1…>`: bogus comment */
                    r = gt ? (gt - b) + 1 : -1;
                }
            }
        } else if (c == '!') {
            if (p + 3 < end && b[p + 2] == '-' && b[p + 3] == '-') {
                r = comment(b, p + 4, end);
            } else {
                const u8 *gt = find(b, p + 2, end, '>'); /* doctype, bogus comment */
                r = gt ? (gt - b) + 1 : -1;
            }
        } else if (c == '?') {
            const u8 *gt = find(b, p + 2, end, '>');
            r = gt ? (gt - b) + 1 : -1;
        } else {
            r = p + 1; /* a `<` that starts no markup is text */
        }
        if (r < 0) return p;
        p = r;
    }
    return p;
}

static int parse_bounds(PyObject *const *args, Py_ssize_t nargs, Py_buffer *view, ssize *pos,
                        ssize *endpos) {
    if (PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE) < 0) return -1;
    *pos = PyLong_AsSsize_t(args[1]);
    *endpos = nargs > 2 ? PyLong_AsSsize_t(args[2]) : view->len;
    if (PyErr_Occurred()) { PyBuffer_Release(view); return -1; }
    if (*endpos > view->len) *endpos = view->len;
    if (*pos < 0) *pos = 0;
    return 0;
}

static PyObject *skip(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "skip(buf, pos, endpos, pass_start, pass_end)");
        return NULL;
    }
    Py_buffer view;
    ssize pos, endpos;
    if (parse_bounds(args, 3, &view, &pos, &endpos) < 0) return NULL;
    int pass_start = PyObject_IsTrue(args[3]), pass_end = PyObject_IsTrue(args[4]);
    if (pass_start < 0 || pass_end < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    ssize at = pos >= endpos ? pos : skip_run(view.buf, pos, endpos, pass_start, pass_end);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(at);
}

/* --- Stops --------------------------------------------------------------------------- */

/* A set of names: the bytes objects, with a first-byte filter. */
typedef struct {
    PyObject *names; /* tuple of bytes, or NULL for "every name" */
    u8 first[256];
} NameSet;

static int nameset_init(NameSet *set, PyObject *names) {
    memset(set->first, 0, sizeof set->first);
    Py_CLEAR(set->names); /* __init__ may run again on the same object */
    if (names == Py_None) return 0;
    if (!PyTuple_Check(names)) {
        PyErr_SetString(PyExc_TypeError, "names must be a tuple of bytes or None");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (!PyBytes_Check(name) || PyBytes_GET_SIZE(name) == 0) {
            PyErr_SetString(PyExc_TypeError, "names must be non-empty bytes");
            return -1;
        }
    }
    /* Only now: a filter bit set means `names` holds that name (nameset_has relies on it). */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++)
        set->first[(u8)PyBytes_AS_STRING(PyTuple_GET_ITEM(names, i))[0]] = 1;
    Py_INCREF(names);
    set->names = names;
    return 0;
}

static int nameset_has(const NameSet *set, const u8 *s, ssize len) {
    if (len == 0 || !set->first[s[0]]) return 0;
    PyObject *names = set->names;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (PyBytes_GET_SIZE(name) == len && memcmp(PyBytes_AS_STRING(name), s, (size_t)len) == 0)
            return 1;
    }
    return 0;
}

typedef struct {
    PyObject_HEAD
    int start_all, end_all;
    NameSet start, end, relative, url, url_list, attrs;
} Stops;

static void stops_dealloc(Stops *self) {
    NameSet *sets[] = {&self->start, &self->end, &self->relative, &self->url, &self->url_list,
                       &self->attrs};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) Py_XDECREF(sets[i]->names);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int stops_init(Stops *self, PyObject *args, PyObject *kwds) {
    PyObject *start, *end, *relative, *url, *url_list, *attrs;
    if (!PyArg_ParseTuple(args, "OOOOOO:Stops", &start, &end, &relative, &url, &url_list, &attrs))
        return -1;
    if (relative == Py_None || url == Py_None || url_list == Py_None || attrs == Py_None) {
        PyErr_SetString(PyExc_TypeError, "relative, url_attrs and attrs must be tuples");
        return -1;
    }
    self->start_all = start == Py_None;
    self->end_all = end == Py_None;
    if (nameset_init(&self->start, start) < 0 || nameset_init(&self->end, end) < 0 ||
        nameset_init(&self->relative, relative) < 0 || nameset_init(&self->url, url) < 0 ||
        nameset_init(&self->url_list, url_list) < 0 || nameset_init(&self->attrs, attrs) < 0)
        return -1;
    return 0;
}

/* The length of the name at q if a name delimiter (whitespace, `/`, `>`) follows it before
 * the end, else -1: a trie word must be followed by one to match. */
static ssize name_at(const u8 *b, ssize q, ssize end) {
    ssize t = q;
    while (t < end && !ends_name(b[t])) t++;
    return t < end ? t - q : -1;
}

static inline int is_slash(u8 c) { return c == '/' || c == '\\'; }

/* scanner._value for a URL attribute: a whole same-origin relative value at r (a srcset
 * list when `list`); its end, or -1. A single URL may not start with `//` or `/\`
 * (scheme-relative); in a list, no URL may, and none of its bytes is checked for where a URL
 * starts, so no `/` may be followed by `/` or `\` anywhere in it. */
static ssize relative_value(const u8 *b, ssize r, ssize end, int list) {
    u8 quote = b[r];
    if (quote == '"' || quote == '\'') r++;
    else quote = 0;
    if (!list && r + 1 < end && is_slash(b[r]) && is_slash(b[r + 1])) return -1;
    for (; r < end; r++) {
        u8 c = b[r];
        if (list && c == '/' && r + 1 < end && is_slash(b[r + 1])) return -1;
        if (REL[c] || (list && (c == ',' || (quote && is_ws(c))))) continue;
        break;
    }
    if (r >= end) return -1;
    if (quote) return b[r] == quote ? r + 1 : -1;
    return is_ws(b[r]) || b[r] == '>' ? r : -1;
}

/* scanner._url_attribute's tail, after the name at t. */
static ssize url_attr_rest(const u8 *b, ssize t, ssize end, int list) {
    ssize r = t;
    while (r < end && is_ws(b[r])) r++;
    if (r < end && b[r] == '=') {
        r++;
        while (r < end && is_ws(b[r])) r++;
        return r < end ? relative_value(b, r, end, list) : -1;
    }
    return ends_name(b[t]) ? t : -1; /* valueless */
}

/* scanner._relative_tag matches at p (a `<` before a relative-tag name). */
static int relative_tag(const Stops *self, const u8 *b, ssize p, ssize end) {
    if (!is_alpha(b[p + 1])) return 0;
    ssize q = p + 2;
    while (q < end && !ends_name(b[q])) q++;
    for (;;) {
        if (q >= end) return 0;
        u8 c = b[q];
        if (is_ws(c) || c == '/') { q++; continue; }
        if (c == '>') return 1;
        ssize t = q;
        while (t < end && !ends_name(b[t]) && b[t] != '=') t++;
        if (t < end) {
            ssize len = t - q;
            if (nameset_has(&self->attrs, b + q, len)) return 0;
            int url = nameset_has(&self->url, b + q, len);
            if (url || nameset_has(&self->url_list, b + q, len)) {
                q = url_attr_rest(b, t, end, !url);
                if (q < 0) return 0;
                continue;
            }
        }
        q = attr(b, q, end);
        if (q < 0) return 0;
    }
}

static ssize find_stop(const Stops *self, const u8 *b, ssize p, ssize end) {
    for (;;) {
        const u8 *lt = find(b, p, end, '<');
        if (lt == NULL || lt + 1 >= b + end) return end;
        p = lt - b;
        u8 c = b[p + 1];
        if (c == '/') {
            if (self->end_all) {
                if (p + 2 < end && (u8)(b[p + 2] - 'a') < 26) return p;
            } else if (self->end.names != NULL) {
                ssize len = name_at(b, p + 2, end);
                if (len > 0 && nameset_has(&self->end, b + p + 2, len)) return p;
            }
        } else if (self->start_all) {
            if ((u8)(c - 'a') < 26) return p;
        } else {
            ssize len = name_at(b, p + 1, end);
            if (len > 0) {
                if (nameset_has(&self->start, b + p + 1, len)) return p;
                if (nameset_has(&self->relative, b + p + 1, len) && !relative_tag(self, b, p, end))
                    return p;
            }
        }
        p++;
    }
}

static PyObject *stops_find(Stops *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "find(lowered, pos)");
        return NULL;
    }
    Py_buffer view;
    ssize pos, endpos;
    if (parse_bounds(args, 2, &view, &pos, &endpos) < 0) return NULL;
    ssize at = pos >= endpos ? endpos : find_stop(self, view.buf, pos, endpos);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(at);
}

static PyMethodDef stops_methods[] = {
    {"find", (PyCFunction)(void (*)(void))stops_find, METH_FASTCALL,
     "find(lowered, pos) -> where the next stop starts (len(lowered): none)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject StopsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gateway.html._fastscan.Stops",
    .tp_basicsize = sizeof(Stops),
    .tp_dealloc = (destructor)stops_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Stops(start, end, relative, url_attrs, list_url_attrs, attrs)",
    .tp_methods = stops_methods,
    .tp_init = (initproc)stops_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"skip", (PyCFunction)(void (*)(void))skip, METH_FASTCALL,
     "skip(buf, pos, endpos, pass_start, pass_end) -> end of the plain-markup run at pos"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastscan", "Native twins of the rewriter's scanning regexes.", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__fastscan(void) {
    init_tables();
    if (PyType_Ready(&StopsType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&StopsType);
    if (PyModule_AddObject(m, "Stops", (PyObject *)&StopsType) < 0) {
        Py_DECREF(&StopsType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
