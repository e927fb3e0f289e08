/* The head of an access-log line, natively: loglake.linehead's contract, for the lines it can be sure of.
 *
 * head(data, threshold) -> (host, time, status, request_id, lucky) | None
 *
 * does what loglake.linehead.py_head does for a Firehose record's decoded bytes: strip them, match
 * _FAST_SCAN_RE of loglake/formats/combined.py as far as the size, hash the stripped line (the first 16 bytes of
 * its SHA-256, as 32 hex digits: the line's request_id) and hash that id in turn (its first 8 bytes below
 * ``threshold``: kept by sampling). It answers None where it is not sure, and the Python reference decides:
 * records that are not one line (a newline, a JSON start), bytes outside ASCII (the pattern's \S and \d are
 * Unicode), backslashes (escaped quotes: _ESCAPED_SCAN_RE), sizes of 640 digits or more, and lines the
 * pattern does not match. tests/unit/test_linehead.py holds the two to the same answers.
 *
 * SHA-256 is OpenSSL's, the one hashlib already loaded (SHA-NI on x86, the ARMv8 SHA-2 instructions on
 * Graviton): linehead.py hands over its three functions' addresses through set_sha256() and checks a known
 * answer before using head(). Built with the limited API (abi3), so one build serves Python 3.11 and later.
 */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030B0000
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef int (*sha256_init_fn)(void *ctx);
typedef int (*sha256_update_fn)(void *ctx, const void *data, size_t len);
typedef int (*sha256_final_fn)(unsigned char *md, void *ctx);

static sha256_init_fn sha_init;
static sha256_update_fn sha_update;
static sha256_final_fn sha_final;

/* OpenSSL's SHA256_CTX is 112 bytes; room to spare, aligned for any member. */
typedef union {
    unsigned char bytes[256];
    uint64_t align;
} sha_ctx;

static void sha256(const unsigned char *data, size_t len, unsigned char out[32]) {
    sha_ctx ctx;
    sha_init(&ctx);
    sha_update(&ctx, data, len);
    sha_final(out, &ctx);
}

/* str.isspace() for ASCII, what the pattern's \s (and str.strip()) mean: \t \n \v \f \r, \x1c-\x1f, space. */
static inline int py_space(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 28 && c <= 31); }
/* bytes.strip()'s whitespace. */
static inline int bytes_space(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13); }
static inline int digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Where a span of the text starts and ends. */
typedef struct {
    Py_ssize_t start, end;
} span;

/* \S+ followed by one space, from *at: the token's span, and *at past the space; 0 if there is none. */
static int token(const unsigned char *s, Py_ssize_t n, Py_ssize_t *at, span *out) {
    Py_ssize_t i = *at;
    while (i < n && !py_space(s[i])) i++;
    if (i == *at || i >= n || s[i] != ' ') return 0;
    out->start = *at;
    out->end = i;
    *at = i + 1;
    return 1;
}

/* The pattern after the optional vhost, from at:
 *   (\S+) (\S+) (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}|-) (\d{1,639}|-)(?=[ \t]|\Z)
 * Every part is determined by the next delimiter, so no backtracking is needed within it. */
static int rest(const unsigned char *s, Py_ssize_t n, Py_ssize_t at, span *host, span *when, span *status) {
    span ident, user;
    if (!token(s, n, &at, host) || !token(s, n, &at, &ident) || !token(s, n, &at, &user)) return 0;
    if (at >= n || s[at] != '[') return 0;
    Py_ssize_t i = ++at;
    while (i < n && s[i] != ']') i++;
    if (i == at || i + 2 >= n || s[i + 1] != ' ' || s[i + 2] != '"') return 0;
    when->start = at;
    when->end = i;
    at = i = i + 3;
    while (i < n && s[i] != '"') i++;
    if (i + 1 >= n || s[i + 1] != ' ') return 0;
    at = i + 2;
    if (at < n && s[at] == '-') {
        status->start = at;
        status->end = at + 1;
    } else if (at + 3 <= n && digit(s[at]) && digit(s[at + 1]) && digit(s[at + 2])) {
        status->start = at;
        status->end = at + 3;
    } else {
        return 0;
    }
    at = status->end;
    if (at >= n || s[at] != ' ') return 0;
    at++;
    if (at < n && s[at] == '-') {
        at++;
    } else {
        i = at;
        while (i < n && digit(s[i])) i++;
        if (i == at || i - at >= 640) return 0;
        at = i;
    }
    return at == n || s[at] == ' ' || s[at] == '\t';
}

/* (\S+:\d+) at the start of the text, followed by a space: where the rest starts, or 0. */
static Py_ssize_t vhost(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n && !py_space(s[i])) i++;
    if (i >= n || s[i] != ' ') return 0;
    Py_ssize_t j = i; /* \S+ gives back characters until ':' + digits end the token */
    while (j > 0 && digit(s[j - 1])) j--;
    if (j == i || j < 2 || s[j - 1] != ':') return 0;
    return i + 1;
}

static const char HEX[] = "0123456789abcdef";

/* Base64 digit values; -1 outside the alphabet. */
static signed char B64[256];

static void b64_table(void) {
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(B64, -1, sizeof B64);
    for (int k = 0; k < 64; k++) B64[(unsigned char)alphabet[k]] = (signed char)k;
}

/* Canonical base64 only (what Firehose sends, what loglake.b64 decodes by its fast codec): length a multiple
 * of 4, alphabet characters, at most two '=' at the end, padding bits zero. The decoded length, or -1. */
static Py_ssize_t b64_decode(const unsigned char *in, Py_ssize_t n, unsigned char *out, Py_ssize_t room) {
    if (n == 0 || n % 4 != 0) return -1;
    Py_ssize_t pad = in[n - 1] == '=' ? (in[n - 2] == '=' ? 2 : 1) : 0;
    Py_ssize_t len = n / 4 * 3 - pad;
    if (len > room) return -1;
    Py_ssize_t full = pad ? n - 4 : n, o = 0;
    for (Py_ssize_t i = 0; i < full; i += 4) {
        int a = B64[in[i]], b = B64[in[i + 1]], c = B64[in[i + 2]], d = B64[in[i + 3]];
        if ((a | b | c | d) < 0) return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (pad) {
        const unsigned char *q = in + n - 4;
        int a = B64[q[0]], b = B64[q[1]], c = pad == 2 ? 0 : B64[q[2]];
        if ((a | b | c) < 0) return -1;
        if (pad == 2 ? (b & 15) : (c & 3)) return -1; /* padding bits set: not canonical */
        out[o++] = (unsigned char)(a << 2 | b >> 4);
        if (pad == 1) out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
    }
    return len;
}

static int two(const unsigned char *p) { return digit(p[0]) && digit(p[1]) ? (p[0] - '0') * 10 + (p[1] - '0') : -1; }

/* Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "17/May/2015:10:05:03 +0200" exactly (26 characters) → epoch ms, UTC, as parse_clf_time computes it; 0 when
 * the text has any other shape or a value out of range (the Python reference then decides). */
static int clf_ms(const unsigned char *t, Py_ssize_t n, int64_t *ms) {
    static const char *const MONTHS[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
    static const int DAYS[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != 26 || t[2] != '/' || t[6] != '/' || t[11] != ':' || t[14] != ':' || t[17] != ':' || t[20] != ' ' ||
        (t[21] != '+' && t[21] != '-'))
        return 0;
    int day = two(t), y1 = two(t + 7), y2 = two(t + 9), h = two(t + 12), mi = two(t + 15), s = two(t + 18),
        oh = two(t + 22), om = two(t + 24);
    if ((day | y1 | y2 | h | mi | s | oh | om) < 0 || h > 23 || mi > 59 || s > 60 || oh > 23 || om > 59) return 0;
    char mon[3];
    for (int k = 0; k < 3; k++) {
        unsigned char c = t[3 + k];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        if (c < 'a' || c > 'z') return 0;
        mon[k] = (char)c;
    }
    int month = 0;
    for (int k = 0; k < 12; k++)
        if (memcmp(mon, MONTHS[k], 3) == 0) month = k + 1;
    int year = y1 * 100 + y2;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (!month || year < 1 || day < 1 || day > DAYS[month - 1] || (month == 2 && day == 29 && !leap)) return 0;
    int64_t offset = ((int64_t)oh * 3600 + om * 60) * 1000;
    int64_t local = days_from_civil(year, month, day) * 86400000 + ((int64_t)h * 3600 + mi * 60 + s) * 1000;
    *ms = t[21] == '+' ? local - offset : local + offset;
    return 1;
}

/* The room for one decoded record: longer ones are not one ordinary line, and go to the Python reference. */
#define MAX_LINE 8192

static PyObject *head(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "head(data: str, threshold: bytes)");
        return NULL;
    }
    if (sha_init == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set_sha256() was not called: import loglake.linehead instead");
        return NULL;
    }
    Py_ssize_t encoded_len, tn = PyBytes_Size(args[1]);
    const unsigned char *encoded = (const unsigned char *)PyUnicode_AsUTF8AndSize(args[0], &encoded_len);
    if (encoded == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
        PyErr_Clear(); /* lone surrogates (json.loads makes them of "\ud800"): not base64, as for the reference */
        Py_RETURN_NONE;
    }
    const unsigned char *threshold = (const unsigned char *)PyBytes_AsString(args[1]);
    if (threshold == NULL) return NULL;
    unsigned char data[MAX_LINE];
    Py_ssize_t n = b64_decode(encoded, encoded_len, data, MAX_LINE);
    if (n <= 0 || data[0] == '{' || data[0] == '[' || data[0] == 0x1f || data[0] == 0xef) Py_RETURN_NONE;
    unsigned char unusual = 0; /* branch-free, so that the compiler vectorises it */
    for (Py_ssize_t k = 0; k < n; k++) {
        unsigned char c = data[k];
        unusual |= (unsigned char)((c >> 7) | (c == '\n') | (c == '\\'));
    }
    if (unusual) Py_RETURN_NONE;
    Py_ssize_t ls = 0, le = n; /* the line: bytes.strip() */
    while (ls < le && bytes_space(data[ls])) ls++;
    while (le > ls && bytes_space(data[le - 1])) le--;
    Py_ssize_t ts = ls, te = le; /* the text: str.strip() of the line's ASCII */
    while (ts < te && py_space(data[ts])) ts++;
    while (te > ts && py_space(data[te - 1])) te--;
    const unsigned char *s = data + ts;
    Py_ssize_t tl = te - ts;
    span host, when, status;
    Py_ssize_t after = vhost(s, tl);
    if (!(after && rest(s, tl, after, &host, &when, &status)) && !rest(s, tl, 0, &host, &when, &status)) {
        Py_RETURN_NONE;
    }
    int64_t ms;
    if (!clf_ms(s + when.start, when.end - when.start, &ms)) Py_RETURN_NONE;
    unsigned char digest[32], id[32], again[32];
    sha256(data + ls, (size_t)(le - ls), digest);
    for (int k = 0; k < 16; k++) {
        id[2 * k] = (unsigned char)HEX[digest[k] >> 4];
        id[2 * k + 1] = (unsigned char)HEX[digest[k] & 15];
    }
    sha256(id, 32, again);
    /* digest < threshold as bytes compare (loglake.sampling.keep_below): the first differing byte decides;
     * a digest longer than an equal prefix is the greater. */
    int cmp = memcmp(again, threshold, (size_t)(tn < 32 ? tn : 32));
    int lucky = cmp < 0 || (cmp == 0 && 32 < tn);
    PyObject *out = PyTuple_New(5);
    if (out == NULL) return NULL;
    PyObject *code;
    if (s[status.start] == '-') {
        code = Py_None;
        Py_INCREF(code);
    } else {
        code = PyLong_FromLong((s[status.start] - '0') * 100 + (s[status.start + 1] - '0') * 10 +
                               (s[status.start + 2] - '0'));
    }
    PyObject *items[5] = {
        PyLong_FromLongLong(ms),
        code,
        PyUnicode_FromStringAndSize((const char *)s + host.start, host.end - host.start),
        PyBytes_FromStringAndSize((const char *)id, 32),
        PyBool_FromLong(lucky),
    };
    for (int k = 0; k < 5; k++) {
        if (items[k] == NULL) {
            for (int j = k + 1; j < 5; j++) Py_XDECREF(items[j]);
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SetItem(out, k, items[k]);
    }
    return out;
}

static PyObject *set_sha256(PyObject *self, PyObject *args) {
    unsigned long long init, update, final;
    if (!PyArg_ParseTuple(args, "KKK", &init, &update, &final)) return NULL;
    if (!init || !update || !final) {
        PyErr_SetString(PyExc_ValueError, "SHA256_Init, SHA256_Update and SHA256_Final must all be non-null");
        return NULL;
    }
    sha_init = (sha256_init_fn)(uintptr_t)init;
    sha_update = (sha256_update_fn)(uintptr_t)update;
    sha_final = (sha256_final_fn)(uintptr_t)final;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"head", (PyCFunction)(void (*)(void))head, METH_FASTCALL,
     "head(data, threshold) -> (timestamp_ms, status_code, host, request_id, lucky) | None"},
    {"set_sha256", set_sha256, METH_VARARGS, "set_sha256(init, update, final): OpenSSL's SHA256_* addresses"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_linehead", NULL, -1, methods};

PyMODINIT_FUNC PyInit__linehead(void) {
    b64_table();
    return PyModule_Create(&module);
}
