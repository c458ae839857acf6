/*
 * gatehouse.c — the C guest SDK for Gatehouse plugins, ABI version 1.
 * See gatehouse.h for the API and sdk/ABI.md for the contract.
 *
 * Memory: gh_alloc/gh_free are malloc/free (wasi-libc's dlmalloc). A call
 * parses the request in place (unescaping only ever shortens a string), so
 * the only per-call allocations are the value nodes, taken from chunks that
 * are all freed when the call returns, and the response buffer, which the
 * host frees with gh_free after copying it.
 */
#include "gatehouse.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- exports every plugin has ---- */

__attribute__((export_name("gh_abi_version"))) int32_t gh_abi_version(void) { return GH_ABI_VERSION; }

__attribute__((export_name("gh_alloc"))) void *gh_alloc(uint32_t size)
{
	/* malloc(0) may return NULL; the host needs a real address. */
	return malloc(size ? size : 1);
}

__attribute__((export_name("gh_free"))) void gh_free(void *ptr, uint32_t size)
{
	(void)size;
	free(ptr);
}

/* ---- parser ---- */

#define GH_MAX_DEPTH 128
#define GH_CHUNK_NODES 256

typedef struct gh_chunk {
	struct gh_chunk *next;
	size_t used;
	gh_value nodes[GH_CHUNK_NODES];
} gh_chunk;

typedef struct {
	char *p, *end;
	gh_chunk *first, *cur; /* chunks in order: the root value is first->nodes[0] */
	const char *err;
} gh_parser;

static gh_value *gh_node(gh_parser *ps)
{
	if (!ps->cur || ps->cur->used == GH_CHUNK_NODES) {
		gh_chunk *c = malloc(sizeof *c);
		if (!c) {
			ps->err = "out of memory";
			return NULL;
		}
		c->next = NULL;
		c->used = 0;
		if (ps->cur)
			ps->cur->next = c;
		else
			ps->first = c;
		ps->cur = c;
	}
	gh_value *v = &ps->cur->nodes[ps->cur->used++];
	memset(v, 0, sizeof *v);
	return v;
}

static void gh_free_chunks(gh_chunk *c)
{
	while (c) {
		gh_chunk *next = c->next;
		free(c);
		c = next;
	}
}

static int gh_isws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/*
 * Speed note: under the host's call deadline (wazero's
 * WithCloseOnContextDone) every loop iteration, even a loop entered and left
 * at once, costs a check of tens of nanoseconds, far more than the work in
 * it. So the hot paths test before they loop, and scan strings eight bytes
 * at a time.
 */
static void gh_ws(gh_parser *ps)
{
	/* the host's requests have no whitespace: look once before looping */
	if (ps->p >= ps->end || !gh_isws(*ps->p))
		return;
	do
		ps->p++;
	while (ps->p < ps->end && gh_isws(*ps->p));
}

static int gh_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int gh_hex4(const char *s, const char *end, uint32_t *out)
{
	if (end - s < 4)
		return 0;
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		int h = gh_hex(s[i]);
		if (h < 0)
			return 0;
		v = v << 4 | (uint32_t)h;
	}
	*out = v;
	return 1;
}

static char *gh_put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xC0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xE0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (char)(0xF0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3F));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	}
	return o;
}

/* gh_special flags (in the byte's high bit) the bytes of x that are '"', '\\' or control characters; the lowest flag is exact. */
static uint64_t gh_special(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
	return (((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x)) & highs;
}

/*
 * gh_plain_run returns how many bytes from p on (up to end) need no
 * attention inside a JSON string, eight at a time; a string shorter than
 * eight bytes takes no loop at all.
 */
static size_t gh_plain_run(const char *p, const char *end)
{
	const char *s = p;
	uint64_t x, m;
	if (end - p >= 8) {
		memcpy(&x, p, 8);
		if ((m = gh_special(x)))
			return (size_t)(__builtin_ctzll(m) >> 3);
		p += 8;
		while (end - p >= 8) {
			memcpy(&x, p, 8);
			if ((m = gh_special(x)))
				return (size_t)(p - s) + (size_t)(__builtin_ctzll(m) >> 3);
			p += 8;
		}
	}
	if (p < end) {
		x = 0x6161616161616161ULL; /* pad with 'a', which is not special */
		memcpy(&x, p, (size_t)(end - p));
		if ((m = gh_special(x)))
			return (size_t)(p - s) + (size_t)(__builtin_ctzll(m) >> 3);
		p = end;
	}
	return (size_t)(p - s);
}

/* gh_pstring parses a string at ps->p (on the opening quote) and unescapes it in place. */
static int gh_pstring(gh_parser *ps, const char **out, size_t *out_len)
{
	char *start = ++ps->p, *o;
	/* the common case, a string without escapes, takes no loop */
	ps->p += gh_plain_run(ps->p, ps->end);
	if (ps->p < ps->end && *ps->p == '"') {
		*ps->p++ = '\0';
		*out = start;
		*out_len = (size_t)(ps->p - 1 - start);
		return 1;
	}
	o = ps->p;
	while (ps->p < ps->end) {
		size_t run = gh_plain_run(ps->p, ps->end);
		if (run) {
			if (o != ps->p)
				memmove(o, ps->p, run);
			o += run;
			ps->p += run;
			if (ps->p >= ps->end)
				break;
		}
		unsigned char c = (unsigned char)*ps->p;
		if (c == '"') {
			*o = '\0'; /* o <= the closing quote: unescaping only shortens */
			ps->p++;
			*out = start;
			*out_len = (size_t)(o - start);
			return 1;
		}
		if (c < 0x20) {
			ps->err = "control character in string";
			return 0;
		}
		if (c != '\\') {
			*o++ = (char)c;
			ps->p++;
			continue;
		}
		if (ps->end - ps->p < 2) {
			break;
		}
		char e = ps->p[1];
		ps->p += 2;
		switch (e) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			uint32_t cp, lo;
			if (!gh_hex4(ps->p, ps->end, &cp)) {
				ps->err = "bad \\u escape";
				return 0;
			}
			ps->p += 4;
			if (cp >= 0xD800 && cp < 0xDC00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u' &&
			    gh_hex4(ps->p + 2, ps->end, &lo) && lo >= 0xDC00 && lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				ps->p += 6;
			} else if (cp >= 0xD800 && cp < 0xE000) {
				cp = 0xFFFD; /* a lone surrogate, as encoding/json decodes it */
			}
			o = gh_put_utf8(o, cp);
			break;
		}
		default:
			ps->err = "bad escape in string";
			return 0;
		}
	}
	ps->err = "unterminated string";
	return 0;
}

static int gh_digits(gh_parser *ps)
{
	const char *s = ps->p;
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > s;
}

static int gh_pnumber(gh_parser *ps, gh_value *v)
{
	char *s = ps->p;
	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (!gh_digits(ps))
		goto bad;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!gh_digits(ps))
			goto bad;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!gh_digits(ps))
			goto bad;
	}
	v->type = GH_NUMBER;
	v->str = s;
	v->len = (size_t)(ps->p - s);
	if (v->len <= 15 && !memchr(s, '.', v->len) && !memchr(s, 'e', v->len) && !memchr(s, 'E', v->len)) {
		/* a small integer, the common case, exactly and without strtod's loops */
		long long n = 0;
		for (const char *d = *s == '-' ? s + 1 : s; d < ps->p; d++)
			n = n * 10 + (*d - '0');
		v->num = (double)(*s == '-' ? -n : n);
	} else if (ps->p < ps->end) {
		/* strtod needs a terminator: borrow the byte after the number. */
		char c = *ps->p;
		*ps->p = '\0';
		v->num = strtod(s, NULL);
		*ps->p = c;
	} else {
		/* the number ends the buffer: copy it out */
		char tmp[64];
		size_t n = v->len < sizeof tmp - 1 ? v->len : sizeof tmp - 1;
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		v->num = strtod(tmp, NULL);
	}
	return 1;
bad:
	ps->err = "bad number";
	return 0;
}

static int gh_lit(gh_parser *ps, const char *word, size_t n)
{
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
		ps->err = "unexpected character";
		return 0;
	}
	ps->p += n;
	return 1;
}

static gh_value *gh_pvalue(gh_parser *ps, int depth)
{
	if (depth > GH_MAX_DEPTH) {
		ps->err = "nesting too deep";
		return NULL;
	}
	gh_ws(ps);
	if (ps->p >= ps->end) {
		ps->err = "unexpected end of input";
		return NULL;
	}
	gh_value *v = gh_node(ps);
	if (!v)
		return NULL;
	switch (*ps->p) {
	case '{': {
		v->type = GH_OBJECT;
		ps->p++;
		gh_ws(ps);
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			return v;
		}
		gh_value **tail = &v->child;
		for (;;) {
			gh_ws(ps);
			if (ps->p >= ps->end || *ps->p != '"') {
				ps->err = "expected object key";
				return NULL;
			}
			const char *key;
			size_t key_len;
			if (!gh_pstring(ps, &key, &key_len))
				return NULL;
			gh_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				ps->err = "expected ':'";
				return NULL;
			}
			ps->p++;
			gh_value *m = gh_pvalue(ps, depth + 1);
			if (!m)
				return NULL;
			m->key = key;
			m->key_len = key_len;
			*tail = m;
			tail = &m->next;
			gh_ws(ps);
			if (ps->p < ps->end && *ps->p == ',') {
				ps->p++;
				continue;
			}
			if (ps->p < ps->end && *ps->p == '}') {
				ps->p++;
				return v;
			}
			ps->err = "expected ',' or '}'";
			return NULL;
		}
	}
	case '[': {
		v->type = GH_ARRAY;
		ps->p++;
		gh_ws(ps);
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return v;
		}
		gh_value **tail = &v->child;
		for (;;) {
			gh_value *m = gh_pvalue(ps, depth + 1);
			if (!m)
				return NULL;
			*tail = m;
			tail = &m->next;
			gh_ws(ps);
			if (ps->p < ps->end && *ps->p == ',') {
				ps->p++;
				continue;
			}
			if (ps->p < ps->end && *ps->p == ']') {
				ps->p++;
				return v;
			}
			ps->err = "expected ',' or ']'";
			return NULL;
		}
	}
	case '"':
		v->type = GH_STRING;
		return gh_pstring(ps, &v->str, &v->len) ? v : NULL;
	case 't':
		v->type = GH_TRUE;
		return gh_lit(ps, "true", 4) ? v : NULL;
	case 'f':
		v->type = GH_FALSE;
		return gh_lit(ps, "false", 5) ? v : NULL;
	case 'n':
		v->type = GH_NULL;
		return gh_lit(ps, "null", 4) ? v : NULL;
	default:
		return gh_pnumber(ps, v) ? v : NULL;
	}
}

/* gh_parse_doc parses a whole document (surrounding whitespace allowed); NULL with ps->err set on failure. */
static gh_value *gh_parse_doc(gh_parser *ps)
{
	gh_value *v = gh_pvalue(ps, 0);
	if (v) {
		gh_ws(ps);
		if (ps->p != ps->end) {
			ps->err = "trailing data";
			v = NULL;
		}
	}
	return v;
}

gh_value *gh_parse(char *text, size_t len)
{
	gh_parser ps = {text, text + len, NULL, NULL, NULL};
	gh_value *v = gh_parse_doc(&ps);
	if (!v)
		gh_free_chunks(ps.first);
	return v;
}

void gh_parse_free(gh_value *root)
{
	if (root)
		gh_free_chunks((gh_chunk *)((char *)root - offsetof(gh_chunk, nodes)));
}

/* ---- accessors ---- */

/* gh_memeq compares eight bytes at a time (memcpy of a variable length is one bulk-memory instruction). */
static int gh_memeq(const char *a, const char *b, size_t n)
{
	uint64_t x, y;
	while (n > 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y)
			return 0;
		a += 8;
		b += 8;
		n -= 8;
	}
	x = y = 0;
	memcpy(&x, a, n);
	memcpy(&y, b, n);
	return x == y;
}

const gh_value *gh_getn(const gh_value *v, const char *key, size_t n)
{
	if (!v || v->type != GH_OBJECT)
		return NULL;
	const gh_value *found = NULL;
	/* the last duplicate wins, as in encoding/json */
	for (const gh_value *m = v->child; m; m = m->next)
		if (m->key_len == n && gh_memeq(m->key, key, n))
			found = m;
	return found;
}

const char *gh_string(const gh_value *v) { return v && v->type == GH_STRING ? v->str : NULL; }

int gh_is(const gh_value *v, gh_type t) { return v && v->type == t; }

/* ---- writer ---- */

static void gh_grow(gh_writer *w, size_t n)
{
	if (w->oom || w->len + n <= w->cap)
		return;
	size_t cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap *= 2;
	char *d = realloc(w->data, cap);
	if (!d) {
		w->oom = 1;
		return;
	}
	w->data = d;
	w->cap = cap;
}

void gh_wraw(gh_writer *w, const char *s, size_t n)
{
	gh_grow(w, n);
	if (w->oom)
		return;
	memcpy(w->data + w->len, s, n);
	w->len += n;
}

static void gh_wbyte(gh_writer *w, char c) { gh_wraw(w, &c, 1); }

/* gh_sep writes the comma before a value (not after a key). */
static void gh_sep(gh_writer *w)
{
	if (w->need_comma)
		gh_wbyte(w, ',');
	w->need_comma = 1;
}

void gh_wobject_begin(gh_writer *w)
{
	gh_sep(w);
	gh_wbyte(w, '{');
	w->need_comma = 0;
}

void gh_wobject_end(gh_writer *w)
{
	gh_wbyte(w, '}');
	w->need_comma = 1;
}

void gh_warray_begin(gh_writer *w)
{
	gh_sep(w);
	gh_wbyte(w, '[');
	w->need_comma = 0;
}

void gh_warray_end(gh_writer *w)
{
	gh_wbyte(w, ']');
	w->need_comma = 1;
}

static void gh_wquoted(gh_writer *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	gh_wbyte(w, '"');
	size_t run = gh_plain_run(s, s + n);
	if (run == n) { /* nothing to escape: no loop */
		gh_wraw(w, s, n);
		gh_wbyte(w, '"');
		return;
	}
	run = 0;
	for (size_t i = 0; i < n; i++) {
		i += gh_plain_run(s + i, s + n);
		if (i >= n)
			break;
		unsigned char c = (unsigned char)s[i];
		gh_wraw(w, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': gh_wraw(w, "\\\"", 2); break;
		case '\\': gh_wraw(w, "\\\\", 2); break;
		case '\n': gh_wraw(w, "\\n", 2); break;
		case '\r': gh_wraw(w, "\\r", 2); break;
		case '\t': gh_wraw(w, "\\t", 2); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			gh_wraw(w, u, 6);
		}
		}
	}
	gh_wraw(w, s + run, n - run);
	gh_wbyte(w, '"');
}

void gh_wkeyn(gh_writer *w, const char *key, size_t n)
{
	gh_sep(w);
	gh_wquoted(w, key, n);
	gh_wbyte(w, ':');
	w->need_comma = 0;
}

void gh_wstringn(gh_writer *w, const char *s, size_t n)
{
	gh_sep(w);
	gh_wquoted(w, s, n);
}

void gh_wstring(gh_writer *w, const char *s) { gh_wstringn(w, s, strlen(s)); }

void gh_wnumber(gh_writer *w, double n)
{
	gh_sep(w);
	/* integers print exactly; others with enough digits to round-trip */
	char buf[32];
	if (n == n && n - n == 0 && n == (double)(long long)n && n > -9007199254740992.0 && n < 9007199254740992.0) {
		long long i = (long long)n;
		char tmp[24];
		int k = 0, neg = i < 0;
		unsigned long long u = neg ? (unsigned long long)(-i) : (unsigned long long)i;
		do {
			tmp[k++] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		int j = 0;
		if (neg)
			buf[j++] = '-';
		while (k)
			buf[j++] = tmp[--k];
		gh_wraw(w, buf, (size_t)j);
		return;
	}
	if (n != n || n - n != 0) { /* NaN and infinities have no JSON form */
		gh_wraw(w, "null", 4);
		return;
	}
	int k = snprintf(buf, sizeof buf, "%.17g", n);
	gh_wraw(w, buf, (size_t)k);
}

void gh_wbool(gh_writer *w, int b)
{
	gh_sep(w);
	if (b)
		gh_wraw(w, "true", 4);
	else
		gh_wraw(w, "false", 5);
}

void gh_wnull(gh_writer *w)
{
	gh_sep(w);
	gh_wraw(w, "null", 4);
}

void gh_wvalue(gh_writer *w, const gh_value *v)
{
	if (!v) {
		gh_wnull(w);
		return;
	}
	switch (v->type) {
	case GH_NULL: gh_wnull(w); break;
	case GH_FALSE: gh_wbool(w, 0); break;
	case GH_TRUE: gh_wbool(w, 1); break;
	case GH_NUMBER:
		gh_sep(w);
		gh_wraw(w, v->str, v->len);
		break;
	case GH_STRING: gh_wstringn(w, v->str, v->len); break;
	case GH_ARRAY:
		gh_warray_begin(w);
		for (const gh_value *m = v->child; m; m = m->next)
			gh_wvalue(w, m);
		gh_warray_end(w);
		break;
	case GH_OBJECT:
		gh_wobject_begin(w);
		for (const gh_value *m = v->child; m; m = m->next) {
			gh_sep(w);
			gh_wquoted(w, m->key, m->key_len);
			gh_wbyte(w, ':');
			w->need_comma = 0;
			gh_wvalue(w, m);
		}
		gh_wobject_end(w);
		break;
	}
}

/* ---- calls ---- */

struct gh_call {
	const char *hook;
	gh_writer result;
	gh_writer error; /* the whole error response, written by gh_refuse */
	int refused;
};

static void gh_werror(gh_writer *w, const char *code, const char *message)
{
	gh_wraw(w, "{\"error\":{\"code\":", 17);
	gh_wquoted(w, code, strlen(code));
	gh_wraw(w, ",\"message\":", 11);
	gh_wquoted(w, message, strlen(message));
	gh_wraw(w, "}}", 2);
}

int gh_refuse(gh_call *call, const char *code, const char *message)
{
	call->refused = 1;
	call->error.len = 0;
	call->error.oom = 0;
	gh_werror(&call->error, code && *code ? code : "server_error", message ? message : "");
	return -1;
}

gh_writer *gh_result(gh_call *call) { return &call->result; }

const char *gh_hook_name(const gh_call *call) { return call->hook; }

static uint64_t gh_pack(gh_writer *w)
{
	return (uint64_t)(uintptr_t)w->data << 32 | (uint64_t)w->len;
}

/* gh_error_response answers {"error":{...}}; when even that cannot be allocated the call traps (fails closed). */
static uint64_t gh_error_response(const char *code, const char *message)
{
	gh_writer w = {0};
	gh_werror(&w, code, message);
	if (w.oom)
		__builtin_trap();
	return gh_pack(&w);
}

uint64_t gh_dispatch(uint8_t *req, uint32_t len, const char *hook, gh_handler handler)
{
	gh_parser ps = {(char *)req, (char *)req + len, NULL, NULL, NULL};
	gh_value *env = gh_parse_doc(&ps);
	if (!env || env->type != GH_OBJECT) {
		gh_free_chunks(ps.first);
		return gh_error_response("invalid_request", ps.err ? ps.err : "request is not a JSON object");
	}
	const gh_value *abi = gh_get(env, "abi");
	if (abi && !(abi->type == GH_NUMBER && abi->num == GH_ABI_VERSION)) {
		gh_free_chunks(ps.first);
		return gh_error_response("server_error", "request is not ABI version 1");
	}
	static const gh_value empty = {GH_OBJECT, NULL, 0, 0, NULL, 0, NULL, NULL};
	const gh_value *config = gh_get(env, "config");
	if (!config || config->type == GH_NULL)
		config = &empty;
	const gh_value *input = gh_get(env, "input");

	gh_call call = {0};
	call.hook = gh_string(gh_get(env, "hook"));
	if (!call.hook) {
		call.hook = hook;
	} else if (strcmp(call.hook, hook) != 0) {
		gh_writer m = {0};
		gh_wraw(&m, "request for hook ", 17);
		gh_wraw(&m, call.hook, strlen(call.hook));
		gh_wraw(&m, " reached the ", 13);
		gh_wraw(&m, hook, strlen(hook));
		gh_wraw(&m, " export", 8); /* with the NUL */
		uint64_t out = gh_error_response("invalid_request", m.oom ? "request for another hook" : m.data);
		free(m.data);
		gh_free_chunks(ps.first);
		return out;
	}
	gh_wraw(&call.result, "{\"result\":", 10);
	size_t start = call.result.len;
	handler(&call, config, input);

	uint64_t out;
	if (call.refused && !call.error.oom) {
		free(call.result.data);
		out = gh_pack(&call.error);
	} else if (call.refused) {
		free(call.result.data);
		free(call.error.data);
		out = gh_error_response("server_error", "out of memory writing the error");
	} else if (call.result.oom) {
		free(call.result.data);
		out = gh_error_response("server_error", "out of memory writing the result");
	} else {
		if (call.result.len == start)
			gh_wraw(&call.result, "{}", 2); /* a handler that wrote nothing answers an empty result */
		gh_wbyte(&call.result, '}');
		if (call.result.oom) {
			free(call.result.data);
			out = gh_error_response("server_error", "out of memory writing the result");
		} else {
			out = gh_pack(&call.result);
		}
	}
	gh_free_chunks(ps.first);
	return out;
}

/* ---- host functions ---- */

__attribute__((import_module("gatehouse"), import_name("log"))) void gh__log(int32_t level, const char *ptr, uint32_t len);
__attribute__((import_module("gatehouse"), import_name("http_request"))) uint64_t gh__http_request(const char *ptr,
                                                                                                   uint32_t len);
__attribute__((import_module("gatehouse"), import_name("kv_get"))) uint64_t gh__kv_get(const char *kptr, uint32_t klen);
__attribute__((import_module("gatehouse"), import_name("kv_put"))) int32_t gh__kv_put(const char *kptr, uint32_t klen,
                                                                                      const char *vptr, uint32_t vlen);

void gh_log(int level, const char *message) { gh__log(level, message, (uint32_t)strlen(message)); }

/* gh_take turns a packed buffer the host filled through gh_alloc into a NUL-terminated string. */
static char *gh_take(uint64_t packed, size_t *out_len)
{
	char *p = (char *)(uintptr_t)(uint32_t)(packed >> 32);
	size_t n = (uint32_t)packed;
	char *s = realloc(p, n + 1);
	if (!s) {
		free(p);
		return NULL;
	}
	s[n] = '\0';
	if (out_len)
		*out_len = n;
	return s;
}

char *gh_http_request(const char *request_json, size_t len, size_t *out_len)
{
	return gh_take(gh__http_request(request_json, (uint32_t)len), out_len);
}

char *gh_kv_get(const char *key, size_t key_len, size_t *out_len)
{
	uint64_t packed = gh__kv_get(key, (uint32_t)key_len);
	if (packed == 0)
		return NULL;
	return gh_take(packed, out_len);
}

int gh_kv_put(const char *key, size_t key_len, const char *value, size_t value_len)
{
	return gh__kv_put(key, (uint32_t)key_len, value, (uint32_t)value_len);
}
