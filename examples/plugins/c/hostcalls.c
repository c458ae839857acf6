/*
 * hostcalls: exercises the C SDK's host-function wrappers (log, kv_get,
 * kv_put, http_request) from a token_claims hook, for examples_test.go.
 * Config {"url": "..."}: counts calls per subject in the plugin's KV
 * namespace, fetches url, and answers
 * {"claims": {"visits": <n>, "status": <http status>, "body": "<http body>"}};
 * an http_request error is refused as server_error with the host's reason.
 */
#include <stdlib.h>
#include <string.h>

#include "gatehouse.h"

static int token_claims(gh_call *call, const gh_value *config, const gh_value *input)
{
	const char *sub = gh_string(gh_get(input, "sub"));
	const char *url = gh_string(gh_get(config, "url"));
	if (!sub || !url)
		return gh_refuse(call, "invalid_request", "sub and config.url are required");
	gh_log(GH_LOG_INFO, "hostcalls: token_claims called");

	/* visits/<sub>: a decimal counter */
	size_t sub_len = strlen(sub), key_len = 7 + sub_len;
	char *key = malloc(key_len);
	if (!key)
		return gh_refuse(call, "server_error", "out of memory");
	memcpy(key, "visits/", 7);
	memcpy(key + 7, sub, sub_len);
	size_t n;
	long visits = 0;
	char *old = gh_kv_get(key, key_len, &n);
	if (old) {
		visits = strtol(old, NULL, 10);
		free(old);
	}
	visits++;
	char num[24];
	int k = 0;
	for (long v = visits; v > 0; v /= 10)
		num[k++] = (char)('0' + v % 10);
	for (int i = 0; i < k / 2; i++) {
		char t = num[i];
		num[i] = num[k - 1 - i];
		num[k - 1 - i] = t;
	}
	int put = gh_kv_put(key, key_len, num, (size_t)k);
	free(key);
	if (put != 0)
		return gh_refuse(call, "server_error", "kv_put failed");

	/* GET url with an X-Sub header */
	gh_writer req = {0};
	gh_wobject_begin(&req);
	gh_wkey(&req, "method");
	gh_wstring(&req, "GET");
	gh_wkey(&req, "url");
	gh_wstring(&req, url);
	gh_wkey(&req, "headers");
	gh_wobject_begin(&req);
	gh_wkey(&req, "X-Sub");
	gh_wstring(&req, sub);
	gh_wobject_end(&req);
	gh_wkey(&req, "body");
	gh_wstring(&req, "");
	gh_wobject_end(&req);
	if (req.oom)
		return gh_refuse(call, "server_error", "out of memory");
	char *resp = gh_http_request(req.data, req.len, &n);
	free(req.data);
	if (!resp)
		return gh_refuse(call, "server_error", "out of memory");
	/* the response is a JSON document: parse it with the SDK's own parser */
	gh_writer *w = gh_result(call);
	int r = 0;
	gh_value *doc = gh_parse(resp, n);
	const gh_value *err = gh_get(doc, "error");
	if (!doc) {
		r = gh_refuse(call, "server_error", "unparsable http_request response");
	} else if (err) {
		r = gh_refuse(call, "server_error", gh_string(err) ? gh_string(err) : "http_request failed");
	} else {
		gh_wobject_begin(w);
		gh_wkey(w, "claims");
		gh_wobject_begin(w);
		gh_wkey(w, "visits");
		gh_wnumber(w, (double)visits);
		gh_wkey(w, "status");
		gh_wvalue(w, gh_get(doc, "status"));
		gh_wkey(w, "body");
		gh_wvalue(w, gh_get(doc, "body"));
		gh_wobject_end(w);
		gh_wobject_end(w);
	}
	gh_parse_free(doc);
	free(resp);
	return r;
}

GH_HOOK(token_claims, token_claims)
