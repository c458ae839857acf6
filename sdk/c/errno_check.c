/*
 * errno_check: the smallest plugin touching errno, built by `make
 * plugins-examples` with the flags the README documents. With
 * -mbulk-memory and without -ftls-model=local-exec, clang 14 stops on
 * wasi-libc's thread-local errno ("only -ftls-model=local-exec is
 * supported"); this keeps the documented line and the Makefile honest.
 */
#include <errno.h>
#include <stdlib.h>

#include "gatehouse.h"

/* token_claims answers {"n": <config.n parsed by strtol>}, refusing a number out of range. */
static int claims(gh_call *call, const gh_value *config, const gh_value *input)
{
	(void)input;
	const gh_value *n = gh_get(config, "n");
	const char *s = n && n->str ? n->str : "0";
	errno = 0;
	long v = strtol(s, NULL, 10);
	if (errno == ERANGE)
		return gh_refuse(call, "server_error", "n is out of range");
	gh_writer *w = gh_result(call);
	gh_wobject_begin(w);
	gh_wkey(w, "n");
	gh_wnumber(w, (double)v);
	gh_wobject_end(w);
	return 0;
}

GH_HOOK(token_claims, claims)
