/*
 * signin-example-c: the shared example sign_in policy written with the C SDK
 * (sdk/c). Config {"allowed_domains": ["example.com"], "group": "group:default/staff"}:
 * an email whose domain (after the last '@', compared case-insensitively) is
 * allowed signs in as user:default/<local part lowercased>, owning that user
 * and the group; anything else is refused with access_denied.
 *
 * Build (examples/plugins/examples.mk does this):
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -I sdk/c \
 *         sdk/c/gatehouse.c examples/plugins/c/signin.c -o signin-example-c.wasm
 */
#include <stdlib.h>
#include <string.h>

#include "gatehouse.h"

/* lower_ascii lowercases A-Z only: every example language must give byte-identical answers. */
static void lower_ascii(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
}

static int equal_fold_ascii(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return 0;
	for (size_t i = 0; i < an; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

static int sign_in(gh_call *call, const gh_value *config, const gh_value *input)
{
	const gh_value *email = gh_get(gh_get(input, "profile"), "email");
	if (!gh_is(email, GH_STRING) || email->len == 0)
		return gh_refuse(call, "access_denied", "sign-in requires an email address");

	/* The strings of a call are the SDK's own until the handler returns: lowercase in place. */
	char *local = (char *)email->str, *domain = local + email->len;
	size_t local_len = email->len, domain_len = 0;
	for (size_t i = email->len; i > 0; i--) {
		if (local[i - 1] == '@') {
			local_len = i - 1;
			domain = local + i;
			domain_len = email->len - i;
			break;
		}
	}
	lower_ascii(local, local_len);
	lower_ascii(domain, domain_len);

	int allowed = 0;
	const gh_value *domains = gh_get(config, "allowed_domains");
	if (gh_is(domains, GH_ARRAY))
		for (const gh_value *d = domains->child; d && !allowed; d = d->next)
			allowed = d->type == GH_STRING && equal_fold_ascii(d->str, d->len, domain, domain_len);
	if (!allowed) {
		static const char pre[] = "email domain ", post[] = " is not allowed";
		char *msg = malloc(sizeof pre + domain_len + sizeof post);
		if (!msg)
			return gh_refuse(call, "server_error", "out of memory");
		memcpy(msg, pre, sizeof pre - 1);
		memcpy(msg + sizeof pre - 1, domain, domain_len);
		memcpy(msg + sizeof pre - 1 + domain_len, post, sizeof post);
		int r = gh_refuse(call, "access_denied", msg); /* gh_refuse copies msg */
		free(msg);
		return r;
	}

	static const char prefix[] = "user:default/";
	size_t ref_len = sizeof prefix - 1 + local_len;
	char *ref = malloc(ref_len);
	if (!ref)
		return gh_refuse(call, "server_error", "out of memory");
	memcpy(ref, prefix, sizeof prefix - 1);
	memcpy(ref + sizeof prefix - 1, local, local_len);

	gh_writer *w = gh_result(call);
	gh_wobject_begin(w);
	gh_wkey(w, "sub");
	gh_wstringn(w, ref, ref_len);
	gh_wkey(w, "ent");
	gh_warray_begin(w);
	gh_wstringn(w, ref, ref_len);
	const gh_value *group = gh_get(config, "group");
	if (gh_is(group, GH_STRING) && group->len > 0)
		gh_wstringn(w, group->str, group->len);
	gh_warray_end(w);
	gh_wobject_end(w);
	free(ref);
	return 0;
}

GH_HOOK(sign_in, sign_in)
