/*
 * gatehouse.h — the C guest SDK for Gatehouse plugins, ABI version 1
 * (sdk/ABI.md). Compile gatehouse.c with your plugin:
 *
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -mbulk-memory \
 *         -ftls-model=local-exec -I sdk/c sdk/c/gatehouse.c plugin.c -o plugin.wasm
 *
 * (-ftls-model=local-exec: with bulk memory, clang 14 refuses wasi-libc's
 * thread-local errno in any other TLS model.)
 *
 * The SDK exports gh_alloc, gh_free and gh_abi_version; GH_HOOK(name, fn)
 * exports gh_<name>. A handler gets the parsed "config" and "input" of the
 * request envelope and either writes its result with the gh_w* writer or
 * refuses with gh_refuse (which copies its strings). Everything a call
 * parses lives until the handler returns: keep no pointers into it across
 * calls.
 */
#ifndef GATEHOUSE_H
#define GATEHOUSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GH_ABI_VERSION 1

/* ---- JSON values (parsed from the request, read-only) ---- */

typedef enum {
	GH_NULL,
	GH_FALSE,
	GH_TRUE,
	GH_NUMBER,
	GH_STRING,
	GH_ARRAY,
	GH_OBJECT
} gh_type;

/*
 * gh_value is one node of a parsed document. Strings are unescaped UTF-8,
 * NUL-terminated, with their byte length in len (they may hold \u0000).
 * Numbers keep their JSON text in str/len and their value in num.
 * Arrays and objects chain their members through child/next; object
 * members carry their key.
 */
typedef struct gh_value gh_value;
struct gh_value {
	gh_type type;
	const char *str;
	size_t len;
	double num;
	const char *key;
	size_t key_len;
	gh_value *child;
	gh_value *next;
};

/*
 * gh_parse parses the JSON document text[0..len) (a host-function answer,
 * say) in place: strings are unescaped inside text, which must outlive the
 * result. NULL when it is not valid JSON or memory ran out. Release the
 * result with gh_parse_free (text stays the caller's).
 */
gh_value *gh_parse(char *text, size_t len);
void gh_parse_free(gh_value *root);

/* gh_getn returns the member of an object named key[0..n), or NULL (also when v is NULL or not an object). */
const gh_value *gh_getn(const gh_value *v, const char *key, size_t n);
/* gh_get is gh_getn with a NUL-terminated key (its length folds to a constant for a literal). */
static inline const gh_value *gh_get(const gh_value *v, const char *key) { return gh_getn(v, key, __builtin_strlen(key)); }
/* gh_string returns a string value's text, or NULL when v is NULL or not a string. */
const char *gh_string(const gh_value *v);
/* gh_is reports whether v is non-NULL and of type t. */
int gh_is(const gh_value *v, gh_type t);

/* ---- JSON writer (the hook's result) ---- */

typedef struct {
	char *data;
	size_t len, cap;
	int need_comma; /* internal: a value was written in the open container */
	int oom;        /* set when memory ran out; the call then fails closed */
} gh_writer;

void gh_wobject_begin(gh_writer *w);
void gh_wobject_end(gh_writer *w);
void gh_warray_begin(gh_writer *w);
void gh_warray_end(gh_writer *w);
/* gh_wkey writes an object key; the next gh_w* call writes its value. */
void gh_wkeyn(gh_writer *w, const char *key, size_t n);
static inline void gh_wkey(gh_writer *w, const char *key) { gh_wkeyn(w, key, __builtin_strlen(key)); }
void gh_wstring(gh_writer *w, const char *s);
void gh_wstringn(gh_writer *w, const char *s, size_t n);
void gh_wnumber(gh_writer *w, double n);
void gh_wbool(gh_writer *w, int b);
void gh_wnull(gh_writer *w);
/* gh_wvalue writes a parsed value (for example part of the config) as JSON. */
void gh_wvalue(gh_writer *w, const gh_value *v);
/* gh_wraw appends JSON text as it is: it must be one valid JSON value. */
void gh_wraw(gh_writer *w, const char *s, size_t n);

/* ---- Hooks ---- */

typedef struct gh_call gh_call;

/*
 * gh_refuse makes the call answer {"error":{"code":code,"message":message}};
 * return its value from the handler. Codes of ABI v1 (sdk/ABI.md):
 * access_denied, unknown_user_id, invalid_request, server_error.
 */
int gh_refuse(gh_call *call, const char *code, const char *message);
/* gh_result returns the writer for the hook's result value: write exactly one value into it. */
gh_writer *gh_result(gh_call *call);
/* gh_hook_name returns the hook being called, as in the request envelope. */
const char *gh_hook_name(const gh_call *call);

/*
 * A handler writes its result into gh_result(call) and returns 0, or
 * returns gh_refuse(call, code, message). config is the plugin's config
 * object ({} when none), input the hook input (see sdk/ABI.md).
 */
typedef int (*gh_handler)(gh_call *call, const gh_value *config, const gh_value *input);

/* gh_dispatch runs one call of hook; GH_HOOK's export calls it. */
uint64_t gh_dispatch(uint8_t *req, uint32_t len, const char *hook, gh_handler handler);

/* GH_HOOK(sign_in, my_handler) exports gh_sign_in served by my_handler. */
#define GH_HOOK(hook, handler)                                                      \
	__attribute__((export_name("gh_" #hook))) uint64_t gh_##hook(uint8_t *ptr, uint32_t len) \
	{                                                                               \
		return gh_dispatch(ptr, len, #hook, handler);                                      \
	}

/* ---- Host functions (module "gatehouse") ---- */

enum { GH_LOG_DEBUG = 0, GH_LOG_INFO = 1, GH_LOG_WARN = 2, GH_LOG_ERROR = 3 };

/* gh_log writes one line to Gatehouse's log (always granted). */
void gh_log(int level, const char *message);

/*
 * gh_http_request sends the request JSON {"method","url","headers","body"}
 * (needs plugins.settings.<name>.http_allow in the server's configuration)
 * and returns the response JSON, {"status","headers","body"} or
 * {"error": "..."}, as a malloc'd,
 * NUL-terminated string that the caller frees, with its length in *out_len.
 * Returns NULL only when memory ran out.
 */
char *gh_http_request(const char *request_json, size_t len, size_t *out_len);

/*
 * gh_kv_get returns the value stored under key (needs kv: true) as a
 * malloc'd, NUL-terminated buffer the caller frees, with its length in
 * *out_len, or NULL when the key is missing.
 */
char *gh_kv_get(const char *key, size_t key_len, size_t *out_len);
/* gh_kv_put stores value under key; 0 on success, non-zero on error. */
int gh_kv_put(const char *key, size_t key_len, const char *value, size_t value_len);

#ifdef __cplusplus
}
#endif

#endif
