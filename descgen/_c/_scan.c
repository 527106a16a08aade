/* descgen._scan: the prepare stage's per-line loop in C.
 *
 * `scan._scan_python` (scan.py) is the reference: this module makes the same decisions, in the same order, and calls
 * the same Python helpers for what it does not do itself (orjson.loads, title_key of non-ASCII text, clean_text
 * for named HTML references beyond the six below, the malformed-line reason, the uid fallback), so both give
 * identical results (tests/test_prepare.py runs both on every test file and on a fuzzed one). What runs in C:
 * the line split, the raw-line probes, the type checks, the cleaning (entities, tags, whitespace), the ASCII
 * title key, the three xxh3 hashes and the column appends: ~4 us a line of interpreter work saved, which the
 * 2.25 M-line trn.json pays 2.25 M times.
 *
 * scan_block(block, admit, admit_all, base, seed, min_title, min_content, echo, decode, strip, helpers) -> tuple
 *   block    bytes of whole lines (the last may lack its newline)
 *   admit    rows whose rank is below this (or every row, with admit_all) come back as sample candidates
 *   base     surviving rows before this block (candidates carry their index in the whole range)
 *   helpers  (loads, JSONDecodeError, clean_text, title_key, json_failure_reason, uid_fallback)
 * returns (lines, malformed [(reason, line number in block)], (content_empty, title_too_short,
 *          content_too_short, content_repeats_title), raw_title_len, raw_content_len, title_len, content_len,
 *          pair_keys, title_keys, ranks, candidates [(-rank, base + survivor index, uid, title, content)])
 * where the lengths are bytes of native uint32 and the keys and ranks bytes of native uint64, one per row
 * (raw lengths: per row with string title and content; the rest: per surviving row).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#include "xxhash.h"

/* the order of prepare.DROP_REASONS[:4]: the tuple of counts comes back in it */
enum { CONTENT_EMPTY, TITLE_TOO_SHORT, CONTENT_TOO_SHORT, CONTENT_REPEATS_TITLE, N_DROPS };

/* title_key's ASCII path: lower-case, delete string.punctuation + string.whitespace */
static unsigned char NOISE[256], LOWER[256];
static PyObject *S_TITLE, *S_CONTENT, *S_UID, *S_STRIP, *R_NOT_AN_OBJECT, *R_BAD_TITLE, *R_BAD_CONTENT;

typedef struct {
    unsigned char *buf;
    Py_ssize_t cap;
    PyObject *owner; /* the bytes that title_key returned, for non-ASCII text */
    const char *ptr;
    Py_ssize_t len;
} Key;

static int key_of(PyObject *text, Key *key, PyObject *py_title_key) {
    Py_CLEAR(key->owner);
    if (PyUnicode_IS_ASCII(text)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(text), j = 0;
        if (n > key->cap) {
            unsigned char *grown = PyMem_Realloc(key->buf, n);
            if (!grown) {
                PyErr_NoMemory();
                return -1;
            }
            key->buf = grown;
            key->cap = n;
        }
        const unsigned char *src = PyUnicode_1BYTE_DATA(text);
        for (Py_ssize_t i = 0; i < n; i++)
            if (!NOISE[src[i]]) key->buf[j++] = LOWER[src[i]];
        key->ptr = (const char *)key->buf;
        key->len = j;
        return 0;
    }
    PyObject *b = PyObject_CallOneArg(py_title_key, text);
    if (!b) return -1;
    if (!PyBytes_Check(b)) {
        Py_DECREF(b);
        PyErr_SetString(PyExc_TypeError, "title_key must return bytes");
        return -1;
    }
    key->owner = b;
    key->ptr = PyBytes_AS_STRING(b);
    key->len = PyBytes_GET_SIZE(b);
    return 0;
}

static int has_char(PyObject *text, Py_UCS4 ch) {
    /* "&" in text: PyUnicode_FindChar runs memchr over one-byte strings */
    Py_ssize_t at = PyUnicode_FindChar(text, ch, 0, PyUnicode_GET_LENGTH(text), 1);
    return at == -2 ? -1 : at >= 0;
}


/* ---------------------------------------------------------------------------------- cleaning
 * clean_text (clean.py) on the text's UTF-8 bytes, every step in place, since none lengthens the text (a
 * reference is never shorter than its character's UTF-8 bytes: "&#0" -> U+FFFD is 3 -> 3, "&#128" 5 -> 3):
 * html.unescape (twice when '&' survives the first pass), the tag regex, whitespace folding. Each follows its
 * Python original's exact rules (tests compare them on every code point and on fuzzed text); the one thing
 * left to Python is a named reference other than the six below, which needs the HTML5 table and its
 * longest-prefix rule: such a text goes to the Python clean_text whole. Runs between '&' or '<' move by
 * memchr/memmove, so a 1,100-char description costs ~1 us instead of the regex callbacks' ~16 us. */
#define NO_CHAR ((Py_UCS4)-1)

static const Py_UCS4 CP1252[32] = {  /* html._invalid_charrefs for 0x80-0x9f */
    0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d,
    0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a,
    0x153, 0x9d, 0x17e, 0x178};

static Py_UCS4 numeric_charref(uint32_t num) {  /* html._replace_charref, numeric branch */
    if (num == 0) return 0xfffd;
    if (num == 0x0d) return '\r';
    if (num >= 0x80 && num <= 0x9f) return CP1252[num - 0x80];
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return 0xfffd;
    if ((num >= 0x1 && num <= 0x8) || num == 0xb || (num >= 0xe && num <= 0x1f) || num == 0x7f ||
        (num >= 0xfdd0 && num <= 0xfdef) || (num & 0xfffe) == 0xfffe)
        return NO_CHAR;  /* html._invalid_codepoints: dropped */
    return num;
}

static Py_ssize_t put_utf8(char *o, Py_UCS4 c) {
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int name_is(const char *s, Py_ssize_t n, const char *name) {
    return (Py_ssize_t)strlen(name) == n && memcmp(s, name, n) == 0;
}

/* move the text before the next `c` down to s[*o] (memchr + memmove); false when no `c` is left */
static int skip_to(char *s, Py_ssize_t n, char c, Py_ssize_t *i, Py_ssize_t *o) {
    const char *at = *i < n ? memchr(s + *i, c, n - *i) : NULL;
    Py_ssize_t run = (at ? at - s : n) - *i;
    memmove(s + *o, s + *i, run);
    *o += run;
    *i += run;
    return at != NULL;
}

/* html.unescape: &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?); -1: needs Python's */
static Py_ssize_t unescape(char *s, Py_ssize_t n) {
    Py_ssize_t i = 0, o = 0;
    while (skip_to(s, n, '&', &i, &o)) {
        Py_ssize_t k = i + 1;
        if (k < n && s[k] == '#') {
            uint32_t num = 0;
            k++;
            if (k < n && s[k] >= '0' && s[k] <= '9') {
                for (; k < n && s[k] >= '0' && s[k] <= '9'; k++)
                    num = num > 0x10ffff ? num : num * 10 + (s[k] - '0');  /* past 0x10ffff all map alike */
            } else if (k + 1 < n && (s[k] == 'x' || s[k] == 'X') && hex_value(s[k + 1]) >= 0) {
                for (k++; k < n && hex_value(s[k]) >= 0; k++)
                    num = num > 0x10ffff ? num : num * 16 + hex_value(s[k]);
            } else {
                s[o++] = s[i++];  /* "&#" with no number: no match, the '&' stays */
                continue;
            }
            if (k < n && s[k] == ';') k++;
            Py_UCS4 c = numeric_charref(num);
            if (c != NO_CHAR) o += put_utf8(s + o, c);
            i = k;
            continue;
        }
        Py_ssize_t j = k;
        while (k < n && s[k] != '\t' && s[k] != '\n' && s[k] != '\f' && s[k] != ' ' && s[k] != '<' && s[k] != '&' &&
               s[k] != '#' && s[k] != ';')
            k++;
        if (k == j) {
            s[o++] = s[i++];  /* no name: no match */
            continue;
        }
        Py_ssize_t len = k - j;
        if (k >= n || s[k] != ';') return -1;  /* "&amp" without ';' and its kin: the HTML5 prefix rule */
        char c = name_is(s + j, len, "amp") ? '&' : name_is(s + j, len, "lt") ? '<' : name_is(s + j, len, "gt") ? '>'
               : name_is(s + j, len, "quot") ? '"' : name_is(s + j, len, "apos") ? '\'' : 0;
        if (c) {
            s[o++] = c;
        } else if (name_is(s + j, len, "nbsp")) {
            o += put_utf8(s + o, 0xa0);
        } else {
            return -1;
        }
        i = k + 1;
    }
    return o;
}

static int ascii_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int ascii_alnum(unsigned char c) { return ascii_alpha(c) || (c >= '0' && c <= '9'); }

static int block_tag(const char *s, Py_ssize_t n) {  /* prepare._BLOCK_TAGS, case-insensitive */
    static const char *tags[] = {"br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3",
                                 "h4", "h5", "h6", "hr", NULL};
    char lower[6];
    if (n > 5) return 0;
    for (Py_ssize_t i = 0; i < n; i++) lower[i] = (char)LOWER[(unsigned char)s[i]];
    for (const char **t = tags; *t; t++)
        if (name_is(lower, n, *t)) return 1;
    return 0;
}

/* prepare._TAG_RE = </?([A-Za-z][A-Za-z0-9]*)[^<>]*> : a block tag becomes a space, any other vanishes */
static Py_ssize_t strip_tags(char *s, Py_ssize_t n) {
    Py_ssize_t i = 0, o = 0;
    while (skip_to(s, n, '<', &i, &o)) {
        Py_ssize_t k = i + 1;
        if (k < n && s[k] == '/') k++;
        if (!(k < n && ascii_alpha(s[k]))) {
            s[o++] = s[i++];
            continue;
        }
        Py_ssize_t name = k;
        while (k < n && ascii_alnum(s[k])) k++;
        int is_block = block_tag(s + name, k - name);
        while (k < n && s[k] != '<' && s[k] != '>') k++;
        if (k >= n || s[k] == '<') {
            s[o++] = s[i++];
            continue;
        }
        if (is_block) s[o++] = ' ';
        i = k + 1;
    }
    return o;
}

static unsigned char ASCII_SPACE[128];  /* \t \n \v \f \r \x1c-\x1f and ' ': str.isspace below 0x80 */

/* bytes of the whitespace character (str.split's set) that starts at s, or 0 */
static int space_at(const unsigned char *s, const unsigned char *end) {
    unsigned char c = s[0];
    if (c < 0x80) return ASCII_SPACE[c];
    if (c == 0xc2) return end - s >= 2 && (s[1] == 0x85 || s[1] == 0xa0) ? 2 : 0;  /* U+0085 U+00A0 */
    if (end - s < 3) return 0;
    if (c == 0xe1) return s[1] == 0x9a && s[2] == 0x80 ? 3 : 0;  /* U+1680 */
    if (c == 0xe2) {
        if (s[1] == 0x80) return (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf) ? 3 : 0;  /* U+2000-200A 2028 2029 202F */
        return s[1] == 0x81 && s[2] == 0x9f ? 3 : 0;  /* U+205F */
    }
    if (c == 0xe3) return s[1] == 0x80 && s[2] == 0x80 ? 3 : 0;  /* U+3000 */
    return 0;
}

static int has_double_space(const char *s, Py_ssize_t n);

/* a whitespace character other than ' ': where split/join can differ from strip besides double spaces */
static int has_other_space(const char *s, Py_ssize_t n) {
    const unsigned char *u = (const unsigned char *)s, *end = u + n;
    for (const unsigned char *q = u; q < end; q++) {
        if (*q < 0x80 ? (ASCII_SPACE[*q] && *q != ' ') : space_at(q, end) > 0) return 1;
    }
    return 0;
}

/* prepare's raw-line probe for the wide spaces (U+1680, U+2000-200A, U+2028/9, U+202F, U+205F, U+3000): the
 * c2 xx ones are caught by the lead-byte probe and JSON escapes the ASCII ones */
static int has_wide_space(const char *s, Py_ssize_t n) {
    const unsigned char *end = (const unsigned char *)s + n;
    for (int lead = 0xe1; lead <= 0xe3; lead++)
        for (const unsigned char *q = (const unsigned char *)s; (q = memchr(q, lead, end - q)); q++)
            if (space_at(q, end)) return 1;
    return 0;
}

/* prepare.fold_whitespace: " ".join(text.split()) where a run can hide, else text.strip() */
static Py_ssize_t fold_ws(char *s, Py_ssize_t n) {
    const unsigned char *u = (const unsigned char *)s, *end = u + n;
    Py_ssize_t o = 0;
    if (has_double_space(s, n) || has_other_space(s, n)) {
        int gap = 0;
        for (Py_ssize_t i = 0; i < n;) {
            int k = space_at(u + i, end);
            if (k) {
                gap = o > 0;
                i += k;
                continue;
            }
            if (gap) s[o++] = ' ';
            gap = 0;
            s[o++] = s[i++];  /* a continuation byte is never a space's lead: byte by byte is safe */
        }
        return o;
    }
    Py_ssize_t a = 0, b = n, k;
    while (a < b && (k = space_at(u + a, end))) a += k;
    while (b > a) {
        Py_ssize_t last = b - 1;
        while (last > a && (u[last] & 0xc0) == 0x80) last--;  /* back to the last character's lead byte */
        if (space_at(u + last, end) != b - last) break;
        b = last;
    }
    memmove(s, s + a, b - a);
    return b - a;
}

static char *WORK;  /* one buffer, grown as needed: the GIL serialises callers */
static Py_ssize_t WORK_CAP;

/* clean_text(text, decode, strip, fold), or NULL with *fallback set where the Python one must do it */
static PyObject *clean_c(PyObject *text, int decode, int strip, int fold, int *fallback) {
    *fallback = 0;
    Py_ssize_t n;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &n);
    if (!utf8) return NULL;
    if (n > WORK_CAP) {
        char *grown = PyMem_Realloc(WORK, n);
        if (!grown) return PyErr_NoMemory();
        WORK = grown;
        WORK_CAP = n;
    }
    char *s = WORK;
    memcpy(s, utf8, n);
    int changed = 0;
    if (decode && memchr(s, '&', n)) {
        n = unescape(s, n);
        if (n >= 0 && memchr(s, '&', n)) n = unescape(s, n);  /* &amp;#8217; */
        changed = 1;
    }
    if (n >= 0 && strip && memchr(s, '<', n)) {
        n = strip_tags(s, n);
        changed = 1;
    }
    if (n < 0) {
        *fallback = 1;
        return NULL;
    }
    if (fold || changed) {
        n = fold_ws(s, n);
        return PyUnicode_DecodeUTF8(s, n, "strict");
    }
    if (n && (s[0] == ' ' || s[n - 1] == ' ')) return PyObject_CallMethodNoArgs(text, S_STRIP);
    return Py_NewRef(text);
}

static PyObject *clean(PyObject *text, int decode, int strip, int fold, PyObject *py_clean) {
    int fallback;
    PyObject *out = clean_c(text, decode, strip, fold, &fallback);
    if (fallback)
        return PyObject_CallFunctionObjArgs(py_clean, text, decode ? Py_True : Py_False, strip ? Py_True : Py_False,
                                            fold ? Py_True : Py_False, NULL);
    return out;
}

static PyObject *clean_text_py(PyObject *self, PyObject *args) {
    /* the C clean_text alone, for tests: (text, decode, strip, fold, python_clean_text) */
    PyObject *text, *py_clean;
    int decode, strip, fold;
    if (!PyArg_ParseTuple(args, "UpppO", &text, &decode, &strip, &fold, &py_clean)) return NULL;
    return clean(text, decode, strip, fold, py_clean);
}

/* the loop's test for the exact path: the raw line shows whitespace to fold, or the field holds '&' or '<' */
static int needs_cleaning(PyObject *text, int fold) {
    if (fold) return 1;
    int amp = has_char(text, '&');
    return amp ? amp : has_char(text, '<');
}

/* title = clean_text(title, decode, strip, fold) where it needs it, else title.strip() */
static PyObject *clean_title(PyObject *title, int fold, PyObject *py_clean, int decode, int strip) {
    int needs = needs_cleaning(title, fold);
    if (needs < 0) return NULL;
    if (needs) return clean(title, decode, strip, fold, py_clean);
    Py_ssize_t n = PyUnicode_GET_LENGTH(title);
    if (n && (Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(title, 0)) || Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(title, n - 1))))
        return PyObject_CallMethodNoArgs(title, S_STRIP);
    return Py_NewRef(title);
}

/* content: the same, except that the fast path strips only when it starts or ends with a space */
static PyObject *clean_content(PyObject *content, int fold, PyObject *py_clean, int decode, int strip) {
    int needs = needs_cleaning(content, fold);
    if (needs < 0) return NULL;
    if (needs) return clean(content, decode, strip, fold, py_clean);
    Py_ssize_t n = PyUnicode_GET_LENGTH(content);
    if (PyUnicode_READ_CHAR(content, 0) == ' ' || PyUnicode_READ_CHAR(content, n - 1) == ' ')
        return PyObject_CallMethodNoArgs(content, S_STRIP);
    return Py_NewRef(content);
}

static int has_double_space(const char *s, Py_ssize_t n) {
    /* two spaces in a row. glibc's memmem walks a 2-byte needle byte by byte (~12 % of the scan in perf);
     * this inner loop has no early exit, so gcc -O3 turns it into 16-byte vector compares: one branch per
     * 64 bytes (~0.1 us for an 850-byte line). */
    const unsigned char *u = (const unsigned char *)s;
    Py_ssize_t i = 0;
    for (; i + 64 < n; i += 64) {
        unsigned char pair = 0;
        for (int j = 0; j < 64; j++) pair |= (u[i + j] == ' ') & (u[i + j + 1] == ' ');
        if (pair) return 1;
    }
    for (; i + 1 < n; i++)
        if (u[i] == ' ' && u[i + 1] == ' ') return 1;
    return 0;
}

static int add_malformed(PyObject *list, PyObject *reason, Py_ssize_t lineno) {
    PyObject *item = Py_BuildValue("(On)", reason, lineno);
    if (!item) return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

static PyObject *scan_block(PyObject *self, PyObject *args) {
    Py_buffer block;
    unsigned long long admit, seed;
    int admit_all, echo, decode, strip;
    Py_ssize_t base, min_title, min_content;
    PyObject *helpers;
    if (!PyArg_ParseTuple(args, "y*KpnKnnpppO!", &block, &admit, &admit_all, &base, &seed, &min_title, &min_content,
                          &echo, &decode, &strip, &PyTuple_Type, &helpers))
        return NULL;
    PyObject *loads, *decode_error, *py_clean, *py_title_key, *failure_reason, *uid_fallback;
    if (!PyArg_ParseTuple(helpers, "OOOOOO", &loads, &decode_error, &py_clean, &py_title_key, &failure_reason,
                          &uid_fallback)) {
        PyBuffer_Release(&block);
        return NULL;
    }
    const char *p = block.buf, *end = p + block.len;

    /* rows <= lines <= newlines + 1: size every column once */
    Py_ssize_t cap = 1;
    for (const char *q = p; (q = memchr(q, '\n', end - q)); q++) cap++;
    uint32_t *raw_tl = PyMem_Malloc(cap * 4), *raw_cl = PyMem_Malloc(cap * 4);
    uint32_t *tl = PyMem_Malloc(cap * 4), *cl = PyMem_Malloc(cap * 4);
    uint64_t *pair_keys = PyMem_Malloc(cap * 8), *title_keys = PyMem_Malloc(cap * 8), *ranks = PyMem_Malloc(cap * 8);
    PyObject *malformed = PyList_New(0), *candidates = PyList_New(0), *result = NULL;
    Key key = {0}, content_key = {0};
    Py_ssize_t lines = 0, rows = 0, survivors = 0, drops[N_DROPS] = {0};
    PyObject *line = NULL, *row = NULL, *title = NULL, *content = NULL, *uid = NULL;
    if (!raw_tl || !raw_cl || !tl || !cl || !pair_keys || !title_keys || !ranks) {
        PyErr_NoMemory();
        goto done;
    }
    if (!malformed || !candidates) goto done;

    while (p < end) {
        const char *nl = memchr(p, '\n', end - p), *line_end = nl ? nl : end;
        Py_ssize_t n = line_end - p;
        const char *start = p;
        p = nl ? nl + 1 : end;
        lines++;
        Py_CLEAR(line);
        Py_CLEAR(row);
        Py_CLEAR(title);
        Py_CLEAR(content);
        Py_CLEAR(uid);

        /* a view, not a copy: orjson reads any buffer; the block outlives the call */
        if (!(line = PyMemoryView_FromMemory((char *)start, n, PyBUF_READ))) goto done;
        if (!(row = PyObject_CallOneArg(loads, line))) {
            if (!PyErr_ExceptionMatches(decode_error)) goto done;
            PyErr_Clear();
            Py_SETREF(line, PyBytes_FromStringAndSize(start, n));
            if (!line) goto done;
            PyObject *reason = PyObject_CallOneArg(failure_reason, line);
            if (!reason) goto done;
            int rc = add_malformed(malformed, reason, lines);
            Py_DECREF(reason);
            if (rc < 0) goto done;
            continue;
        }
        if (!PyDict_CheckExact(row)) {
            if (add_malformed(malformed, R_NOT_AN_OBJECT, lines) < 0) goto done;
            continue;
        }
        PyObject *raw_title = PyDict_GetItemWithError(row, S_TITLE);  /* borrowed */
        if (!raw_title && PyErr_Occurred()) goto done;
        if (!raw_title || !PyUnicode_CheckExact(raw_title)) {
            if (add_malformed(malformed, R_BAD_TITLE, lines) < 0) goto done;
            continue;
        }
        PyObject *raw_content = PyDict_GetItemWithError(row, S_CONTENT);
        if (!raw_content && PyErr_Occurred()) goto done;
        if (!raw_content || !PyUnicode_CheckExact(raw_content)) {
            if (add_malformed(malformed, R_BAD_CONTENT, lines) < 0) goto done;
            continue;
        }
        raw_tl[rows] = (uint32_t)PyUnicode_GET_LENGTH(raw_title);
        raw_cl[rows] = (uint32_t)PyUnicode_GET_LENGTH(raw_content);
        rows++;
        if (PyUnicode_GET_LENGTH(raw_content) == 0) {
            drops[CONTENT_EMPTY]++;
            continue;
        }
        /* whitespace to fold shows in the raw line as a JSON escape, c2 a0 / c2 85, two spaces or a wide space */
        int fold = memchr(start, '\\', n) || memchr(start, 0xC2, n) || has_double_space(start, n) ||
                   has_wide_space(start, n);
        if (!(title = clean_title(raw_title, fold, py_clean, decode, strip))) goto done;
        if (PyUnicode_GET_LENGTH(title) < min_title) {
            drops[TITLE_TOO_SHORT]++;
            continue;
        }
        if (!(content = clean_content(raw_content, fold, py_clean, decode, strip))) goto done;
        Py_ssize_t content_len = PyUnicode_GET_LENGTH(content);
        if (content_len < min_content) {
            drops[content_len ? CONTENT_TOO_SHORT : CONTENT_EMPTY]++;
            continue;
        }
        if (key_of(title, &key, py_title_key) < 0) goto done;
        if (echo && content_len <= 2 * key.len + 40) {
            if (key_of(content, &content_key, py_title_key) < 0) goto done;
            if (content_key.len == key.len && memcmp(content_key.ptr, key.ptr, key.len) == 0) {
                drops[CONTENT_REPEATS_TITLE]++;
                continue;
            }
        }
        PyObject *raw_uid = PyDict_GetItemWithError(row, S_UID);
        if (!raw_uid && PyErr_Occurred()) goto done;
        if (raw_uid && PyUnicode_CheckExact(raw_uid))
            uid = Py_NewRef(raw_uid);
        else if (!(uid = PyObject_CallFunctionObjArgs(uid_fallback, raw_uid ? raw_uid : Py_None, title, content, NULL)))
            goto done;
        Py_ssize_t uid_n, title_n, content_n;
        const char *uid_s = PyUnicode_AsUTF8AndSize(uid, &uid_n);
        const char *title_s = uid_s ? PyUnicode_AsUTF8AndSize(title, &title_n) : NULL;
        const char *content_s = title_s ? PyUnicode_AsUTF8AndSize(content, &content_n) : NULL;
        if (!content_s) goto done;
        uint64_t rank = XXH3_64bits_withSeed(uid_s, uid_n, seed);
        pair_keys[survivors] = XXH3_64bits_withSeed(content_s, content_n, XXH3_64bits(title_s, title_n));
        title_keys[survivors] = XXH3_64bits(key.ptr, key.len);
        ranks[survivors] = rank;
        tl[survivors] = (uint32_t)PyUnicode_GET_LENGTH(title);
        cl[survivors] = (uint32_t)content_len;
        if (admit_all || rank < admit) {
            /* the heap entry itself: (-rank, row index in the range, uid, title, content) */
            PyObject *positive = PyLong_FromUnsignedLongLong(rank);
            PyObject *negative = positive ? PyNumber_Negative(positive) : NULL;
            Py_XDECREF(positive);
            if (!negative) goto done;
            PyObject *item = Py_BuildValue("(NnOOO)", negative, base + survivors, uid, title, content);
            if (!item) goto done;
            int rc = PyList_Append(candidates, item);
            Py_DECREF(item);
            if (rc < 0) goto done;
        }
        survivors++;
    }
    result = Py_BuildValue("(nN(nnnn)y#y#y#y#y#y#y#N)", lines, malformed, drops[CONTENT_EMPTY],
                           drops[TITLE_TOO_SHORT], drops[CONTENT_TOO_SHORT], drops[CONTENT_REPEATS_TITLE],
                           (char *)raw_tl, rows * 4, (char *)raw_cl, rows * 4, (char *)tl, survivors * 4,
                           (char *)cl, survivors * 4, (char *)pair_keys, survivors * 8, (char *)title_keys,
                           survivors * 8, (char *)ranks, survivors * 8, candidates);
    malformed = candidates = NULL;  /* "N" stole them, or released them on failure */

done:
    Py_XDECREF(line);
    Py_XDECREF(row);
    Py_XDECREF(title);
    Py_XDECREF(content);
    Py_XDECREF(uid);
    Py_XDECREF(key.owner);
    Py_XDECREF(content_key.owner);
    PyMem_Free(key.buf);
    PyMem_Free(content_key.buf);
    Py_XDECREF(malformed);
    Py_XDECREF(candidates);
    PyMem_Free(raw_tl);
    PyMem_Free(raw_cl);
    PyMem_Free(tl);
    PyMem_Free(cl);
    PyMem_Free(pair_keys);
    PyMem_Free(title_keys);
    PyMem_Free(ranks);
    PyBuffer_Release(&block);
    return result;
}

static PyObject *xxh3_64(PyObject *self, PyObject *args) {
    /* the same hash as xxhash.xxh3_64_intdigest(data, seed), from the copy compiled in here */
    Py_buffer data;
    unsigned long long seed = 0;
    if (!PyArg_ParseTuple(args, "y*|K", &data, &seed)) return NULL;
    uint64_t h = XXH3_64bits_withSeed(data.buf, data.len, seed);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLongLong(h);
}

static PyMethodDef methods[] = {
    {"scan_block", scan_block, METH_VARARGS, "Scan one block of JSON lines (see the module's source)."},
    {"clean_text", clean_text_py, METH_VARARGS, "clean_text(text, decode, strip, fold, python_clean_text) -> str"},
    {"xxh3_64", xxh3_64, METH_VARARGS, "xxh3_64(data, seed=0) -> int"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", "prepare's per-line loop in C", -1, methods};

PyMODINIT_FUNC PyInit__scan(void) {
    const char *noise = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ \t\n\r\x0b\x0c";
    for (int c = 0; c < 256; c++) LOWER[c] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    for (const char *q = noise; *q; q++) NOISE[(unsigned char)*q] = 1;
    for (const char *q = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"; *q; q++) ASCII_SPACE[(unsigned char)*q] = 1;
    if (!(S_TITLE = PyUnicode_InternFromString("title")) || !(S_CONTENT = PyUnicode_InternFromString("content")) ||
        !(S_UID = PyUnicode_InternFromString("uid")) || !(S_STRIP = PyUnicode_InternFromString("strip")) ||
        !(R_NOT_AN_OBJECT = PyUnicode_InternFromString("not_an_object")) ||
        !(R_BAD_TITLE = PyUnicode_InternFromString("bad_title")) ||
        !(R_BAD_CONTENT = PyUnicode_InternFromString("bad_content")))
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "ABI", 1) < 0) Py_CLEAR(m);  /* = prepare.C_SCAN_ABI */
    return m;
}
