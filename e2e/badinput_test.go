package e2e_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// badCase is one hostile or malformed request and the RFC error it must get.
type badCase struct {
	name   string
	req    request
	status int
	code   string // the RFC error code in the JSON body
	// challenge, when set, is the start of the WWW-Authenticate header the
	// answer must carry (RFC 6749 §5.2 for Basic, RFC 6750 §3 for Bearer).
	challenge string
	// allow, when set, is the Allow header of a 405 (RFC 9110 §15.5.6).
	allow string
	// mutates marks the one refusal that must change the store: a replayed
	// code revokes its grant. Every other refusal changes nothing.
	mutates bool
	// page marks a refusal answered with the HTML error page rather than
	// JSON: an authorization error the client's redirect URI is not
	// trusted with (RFC 9700 §4.11.2). code must appear on the page.
	page bool
}

// TestBadInput sends a table of bad requests to every endpoint that takes
// input (token, authorization, registration and its management, userinfo,
// revocation, introspection): each gets its RFC error as JSON with the
// right status, never a 500, and leaves the store exactly as it was. The
// answers are pinned in testdata/golden/errors.json.
func TestBadInput(t *testing.T) {
	t.Parallel()
	l := startLive(t, func(c *config.Config) {
		c.Registration.RedirectURIPatterns = []string{"https://*.example.com/callback", "http://127.0.0.1:*/callback"}
		c.Registration.CustomScopes = []string{"catalog.read"}
	})
	ctx := context.Background()
	l.client(t, "web", store.ClientMetadata{Scope: "openid profile offline_access"})
	l.client(t, "other", store.ClientMetadata{})
	l.client(t, "poster", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthPost})
	l.client(t, "spa", store.ClientMetadata{TokenEndpointAuthMethod: oauth.AuthNone})
	l.client(t, "machine", store.ClientMetadata{GrantTypes: []string{"client_credentials"}, Scope: "catalog.read"})
	l.client(t, "app", store.ClientMetadata{ResponseTypes: []string{"code"}, GrantTypes: []string{"authorization_code"}})
	// Stored with scope values the server does not offer (as before the
	// scope policy): they are never granted.
	l.client(t, "grabber", store.ClientMetadata{GrantTypes: []string{"client_credentials"}, Scope: "catalog.read admin payments:write"})
	verifier := oauth2.GenerateVerifier()

	redeem := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {liveRedirect}, "code_verifier": {verifier}}
	}
	ok := func(r request) answer {
		t.Helper()
		a := l.do(t, r)
		if a.status/100 != 2 {
			t.Fatalf("setup %s: %d %s", r, a.status, a.raw)
		}
		return a
	}

	// A code redeemed once, to be replayed; another whose refresh token is
	// used to ask for more scope; a machine token without openid.
	used := l.code(t, "web", "openid offline_access", verifier, nil)
	first := ok(form("/v1/token", redeem(used), "web", liveSecret))
	usedGrant := mustCode(t, l, used).GrantID
	refresh := ok(form("/v1/token", redeem(l.code(t, "web", "openid offline_access", verifier, nil)), "web", liveSecret)).str("refresh_token")
	machineToken := ok(form("/v1/token", url.Values{"grant_type": {"client_credentials"}}, "machine", liveSecret)).str("access_token")
	// A client deleted after it got tokens (RFC 7592 §2.3): they die with it.
	l.client(t, "gone", store.ClientMetadata{GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, Scope: "openid offline_access"})
	goneToken := ok(form("/v1/token", url.Values{"grant_type": {"client_credentials"}}, "gone", liveSecret)).str("access_token")
	goneRefresh := ok(form("/v1/token", redeem(l.code(t, "gone", "openid offline_access", verifier, nil)), "gone", liveSecret)).str("refresh_token")
	if err := l.st.Clients.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// A client registered through the API, for RFC 7592 management.
	reg := ok(request{method: http.MethodPost, path: "/v1/register",
		header: http.Header{"Content-Type": {"application/json"}},
		body:   `{"client_name":"Bad Input","redirect_uris":["` + liveRedirect + `"]}`})
	regID, regToken := reg.str("client_id"), reg.str("registration_access_token")

	fresh := l.code(t, "web", "openid", verifier, nil)
	otherClients := l.code(t, "other", "openid", verifier, nil)
	expired := l.code(t, "web", "openid", verifier, func(c *store.AuthCode) { c.ExpiresAt = c.ExpiresAt.Add(-2 * l.cfg.Tokens.CodeTTL) })
	with := func(v url.Values, kv ...string) url.Values {
		c := url.Values{}
		for k, vs := range v {
			c[k] = append([]string(nil), vs...)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				c.Del(kv[i])
			} else {
				c.Set(kv[i], kv[i+1])
			}
		}
		return c
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	raw := func(method, path, contentType, body string, kv ...string) request {
		h := http.Header{}
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return request{method: method, path: path, header: h, body: body}
	}
	const formType, jsonType = "application/x-www-form-urlencoded", "application/json"
	machineAuth := basicAuth("machine", liveSecret)
	nested := strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000)
	oversized := "grant_type=client_credentials&pad=" + strings.Repeat("a", l.cfg.Server.BodyLimit)
	zipped := func(s string) string { return string(gzipped(t, strings.NewReader(s))) }
	const basicChallenge, bearerChallenge = `Basic realm="gatehouse"`, `Bearer realm="gatehouse"`
	const noneJWT = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4Iiwic2NvcGUiOiJvcGVuaWQifQ."

	cases := []badCase{
		// Token endpoint: client authentication (RFC 6749 §2.3, §5.2).
		{name: "token/unknown client", req: form("/v1/token", cc, "nobody", liveSecret), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "token/wrong secret basic", req: form("/v1/token", cc, "machine", "wrong"), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "token/wrong secret post", req: form("/v1/token", with(redeem(fresh), "client_id", "poster", "client_secret", "wrong"), "", ""), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "token/malformed basic", req: raw("POST", "/v1/token", formType, cc.Encode(), "Authorization", "Basic !!!"), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "token/no client authentication", req: form("/v1/token", cc, "", ""), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "token/two authentication methods that disagree", req: form("/v1/token", with(cc, "client_secret", "another-secret"), "machine", liveSecret), status: 400, code: "invalid_request"},
		{name: "token/public client, confidential method", req: form("/v1/token", redeem(fresh), "spa", liveSecret), status: 401, code: "invalid_client", challenge: basicChallenge},
		// Grant types and scope.
		{name: "token/missing grant_type", req: form("/v1/token", url.Values{}, "machine", liveSecret), status: 400, code: "invalid_request"},
		{name: "token/unsupported grant_type", req: form("/v1/token", url.Values{"grant_type": {"password"}}, "machine", liveSecret), status: 400, code: "unsupported_grant_type"},
		{name: "token/grant type not registered", req: form("/v1/token", cc, "web", liveSecret), status: 400, code: "unauthorized_client"},
		{name: "token/scope not registered", req: form("/v1/token", with(cc, "scope", "catalog.read admin"), "machine", liveSecret), status: 400, code: "invalid_scope"},
		{name: "token/resource not on the allow-list", req: form("/v1/token", with(cc, "resource", "https://payments.example.net/"), "machine", liveSecret), status: 400, code: "invalid_target"},
		{name: "token/registered scope the server does not offer", req: form("/v1/token", with(cc, "scope", "admin payments:write"), "grabber", liveSecret), status: 400, code: "invalid_scope"},
		// Authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6).
		{name: "token/code unknown", req: form("/v1/token", with(redeem(fresh), "code", "no-such-code"), "web", liveSecret), status: 400, code: "invalid_grant"},
		{name: "token/code of another client", req: form("/v1/token", redeem(otherClients), "web", liveSecret), status: 400, code: "invalid_grant"},
		{name: "token/code expired", req: form("/v1/token", redeem(expired), "web", liveSecret), status: 400, code: "invalid_grant"},
		{name: "token/redirect_uri not registered", req: form("/v1/token", with(redeem(fresh), "redirect_uri", "https://evil.example/cb"), "web", liveSecret), status: 400, code: "invalid_grant"},
		{name: "token/redirect_uri missing", req: form("/v1/token", with(redeem(fresh), "redirect_uri", ""), "web", liveSecret), status: 400, code: "invalid_grant"},
		{name: "token/code_verifier missing", req: form("/v1/token", with(redeem(fresh), "code_verifier", ""), "web", liveSecret), status: 400, code: "invalid_grant"},
		{name: "token/code_verifier wrong", req: form("/v1/token", with(redeem(fresh), "code_verifier", oauth2.GenerateVerifier()), "web", liveSecret), status: 400, code: "invalid_grant"},
		{name: "token/code_verifier too short", req: form("/v1/token", with(redeem(fresh), "code_verifier", "short"), "web", liveSecret), status: 400, code: "invalid_grant"},
		{name: "token/code missing", req: form("/v1/token", with(redeem(fresh), "code", ""), "web", liveSecret), status: 400, code: "invalid_request"},
		{name: "token/code reused", req: form("/v1/token", redeem(used), "web", liveSecret), status: 400, code: "invalid_grant", mutates: true},
		// Refresh (RFC 6749 §6).
		{name: "token/refresh scope escalation", req: form("/v1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "scope": {"openid profile"}}, "web", liveSecret), status: 400, code: "invalid_scope"},
		{name: "token/refresh of another client", req: form("/v1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "other", liveSecret), status: 400, code: "invalid_grant"},
		{name: "token/refresh of a deleted client", req: form("/v1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {goneRefresh}}, "gone", liveSecret), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "token/refresh unknown", req: form("/v1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, "web", liveSecret), status: 400, code: "invalid_grant"},
		// Bodies.
		{name: "token/body over the limit", req: raw("POST", "/v1/token", formType, oversized, "Authorization", machineAuth), status: 413, code: "invalid_request"},
		{name: "token/wrong content type", req: raw("POST", "/v1/token", "text/plain", cc.Encode(), "Authorization", machineAuth), status: 415, code: "invalid_request"},
		{name: "token/repeated parameter", req: raw("POST", "/v1/token", formType, "grant_type=client_credentials&grant_type=client_credentials", "Authorization", machineAuth), status: 400, code: "invalid_request"},
		{name: "token/repeated scope", req: raw("POST", "/v1/token", formType, "grant_type=client_credentials&scope=catalog.read&scope=admin", "Authorization", machineAuth), status: 400, code: "invalid_request"},
		{name: "token/form not UTF-8", req: raw("POST", "/v1/token", formType, "grant_type=client_credentials&scope=%ff%fe", "Authorization", machineAuth), status: 400, code: "invalid_request"},
		{name: "token/form name not UTF-8", req: raw("POST", "/v1/token", formType, "grant_type=client_credentials&%c0=x", "Authorization", machineAuth), status: 400, code: "invalid_request"},
		{name: "token/malformed form", req: raw("POST", "/v1/token", formType, "grant_type=%zz", "Authorization", machineAuth), status: 400, code: "invalid_request"},
		{name: "token/JSON not UTF-8", req: raw("POST", "/v1/token", jsonType, "{\"grant_type\":\"client_credentials\",\"scope\":\"\xff\"}", "Authorization", machineAuth), status: 400, code: "invalid_request"},
		{name: "token/JSON deeply nested", req: raw("POST", "/v1/token", jsonType, `{"grant_type":"client_credentials","x":`+nested+`}`, "Authorization", machineAuth), status: 400, code: "invalid_request"},
		{name: "token/JSON array", req: raw("POST", "/v1/token", jsonType, `["grant_type","client_credentials"]`, "Authorization", machineAuth), status: 400, code: "invalid_request"},
		{name: "token/JSON object value", req: raw("POST", "/v1/token", jsonType, `{"grant_type":{"$ne":""}}`, "Authorization", machineAuth), status: 400, code: "invalid_request"},
		{name: "token/gzip body", req: raw("POST", "/v1/token", formType, zipped(cc.Encode()), "Authorization", machineAuth, "Content-Encoding", "gzip"), status: 415, code: "invalid_request"},
		{name: "token/gzip, gzip JSON body", req: raw("POST", "/v1/token", jsonType, zipped(zipped(`{"grant_type":"client_credentials"}`)), "Authorization", machineAuth, "Content-Encoding", "gzip, gzip"), status: 415, code: "invalid_request"},
		{name: "token/JSON repeated member", req: raw("POST", "/v1/token", jsonType, `{"grant_type":"client_credentials","scope":"catalog.read","scope":"admin"}`, "Authorization", machineAuth), status: 400, code: "invalid_request"},

		// Authorization endpoint, before the redirect URI is trusted
		// (RFC 6749 §4.1.2.1): a loopback URI may differ in its port only
		// (RFC 8252 §7.3).
		{name: "authorize/loopback redirect, other path", req: raw("GET", "/v1/authorize?"+url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:4187/callback/"}}.Encode(), "", ""), status: 400, code: "invalid_request"},
		{name: "authorize/loopback redirect, other host", req: raw("GET", "/v1/authorize?"+url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {"http://localhost:9/callback"}}.Encode(), "", ""), status: 400, code: "invalid_request"},
		// A client that registered itself is not trusted with a redirect
		// before the user has seen anything: the error page, no Location.
		{name: "authorize/self-registered client, response_type token", req: raw("GET", "/v1/authorize?"+url.Values{"client_id": {"app"}, "response_type": {"token"}, "redirect_uri": {liveRedirect}, "state": {"s"}}.Encode(), "", ""), status: 400, code: "unsupported_response_type", page: true},
		{name: "authorize/self-registered client, prompt none", req: raw("GET", "/v1/authorize?"+url.Values{"client_id": {"app"}, "response_type": {"code"}, "redirect_uri": {liveRedirect}, "prompt": {"none"},
			"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}.Encode(), "", ""), status: 400, code: "login_required", page: true},
		{name: "authorize/scope the server does not offer", req: raw("GET", "/v1/authorize?"+url.Values{"client_id": {"app"}, "response_type": {"code"}, "redirect_uri": {liveRedirect}, "scope": {"openid admin"},
			"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}.Encode(), "", ""), status: 400, code: "invalid_scope", page: true},
		{name: "authorize/resource not on the allow-list", req: raw("GET", "/v1/authorize?"+url.Values{"client_id": {"app"}, "response_type": {"code"}, "redirect_uri": {liveRedirect}, "resource": {"https://payments.example.net/"},
			"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}.Encode(), "", ""), status: 400, code: "invalid_target", page: true},
		{name: "authorize/loopback redirect, https", req: raw("GET", "/v1/authorize?"+url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {"https://127.0.0.1:9/callback"}}.Encode(), "", ""), status: 400, code: "invalid_request"},

		// Registration (RFC 7591 §3.2.2).
		{name: "register/form body", req: raw("POST", "/v1/register", formType, "client_name=x"), status: 400, code: "invalid_request"},
		{name: "register/malformed JSON", req: raw("POST", "/v1/register", jsonType, `{"client_name":`), status: 400, code: "invalid_client_metadata"},
		{name: "register/JSON deeply nested", req: raw("POST", "/v1/register", jsonType, `{"x":`+nested+`}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/JSON not UTF-8", req: raw("POST", "/v1/register", jsonType, "{\"client_name\":\"\xff\xfe\",\"redirect_uris\":[\""+liveRedirect+"\"]}"), status: 400, code: "invalid_client_metadata"},
		{name: "register/repeated member", req: raw("POST", "/v1/register", jsonType, `{"client_name":"a","client_name":"b","redirect_uris":["`+liveRedirect+`"]}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/redirect_uri with fragment", req: raw("POST", "/v1/register", jsonType, `{"redirect_uris":["https://app.example/cb#x"]}`), status: 400, code: "invalid_redirect_uri"},
		{name: "register/redirect_uri plain http", req: raw("POST", "/v1/register", jsonType, `{"redirect_uris":["http://app.example/cb"]}`), status: 400, code: "invalid_redirect_uri"},
		{name: "register/redirect_uri host in the path", req: raw("POST", "/v1/register", jsonType, `{"redirect_uris":["https://evil.test/.example.com/callback"]}`), status: 400, code: "invalid_redirect_uri"},
		{name: "register/redirect_uri host in the query", req: raw("POST", "/v1/register", jsonType, `{"redirect_uris":["https://evil.test?.example.com/callback"]}`), status: 400, code: "invalid_redirect_uri"},
		{name: "register/redirect_uri dot segment", req: raw("POST", "/v1/register", jsonType, `{"redirect_uris":["https://app.example.com/x/../callback"]}`), status: 400, code: "invalid_redirect_uri"},
		{name: "register/redirect_uri encoded slash", req: raw("POST", "/v1/register", jsonType, `{"redirect_uris":["https://app.example.com/x%2F..%2Fcallback"]}`), status: 400, code: "invalid_redirect_uri"},
		{name: "register/no redirect_uris", req: raw("POST", "/v1/register", jsonType, `{"client_name":"x"}`), status: 400, code: "invalid_redirect_uri"},
		{name: "register/unknown grant type", req: raw("POST", "/v1/register", jsonType, `{"grant_types":["password"],"redirect_uris":["`+liveRedirect+`"]}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/public client_credentials", req: raw("POST", "/v1/register", jsonType, `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/redirect_uris not strings", req: raw("POST", "/v1/register", jsonType, `{"redirect_uris":[1]}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/control characters in client_name", req: raw("POST", "/v1/register", jsonType, `{"client_name":"a\u0000b","redirect_uris":["`+liveRedirect+`"]}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/id_token alg none", req: raw("POST", "/v1/register", jsonType, `{"id_token_signed_response_alg":"none","redirect_uris":["`+liveRedirect+`"]}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/id_token alg HS256", req: raw("POST", "/v1/register", jsonType, `{"id_token_signed_response_alg":"HS256","redirect_uris":["`+liveRedirect+`"]}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/id_token alg not a string", req: raw("POST", "/v1/register", jsonType, `{"id_token_signed_response_alg":256,"redirect_uris":["`+liveRedirect+`"]}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/scope the server does not offer", req: raw("POST", "/v1/register", jsonType, `{"grant_types":["client_credentials"],"scope":"admin payments:write"}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/software_statement", req: raw("POST", "/v1/register", jsonType, `{"software_statement":"a.b.c","redirect_uris":["`+liveRedirect+`"]}`), status: 400, code: "invalid_software_statement"},
		// RFC 8705 metadata on a server without mutual TLS.
		{name: "register/certificate-bound tokens without mutual TLS", req: raw("POST", "/v1/register", jsonType, `{"grant_types":["client_credentials"],"tls_client_certificate_bound_access_tokens":true}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/certificate-bound tokens not a boolean", req: raw("POST", "/v1/register", jsonType, `{"grant_types":["client_credentials"],"tls_client_certificate_bound_access_tokens":"yes"}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/tls_client_auth subject with a secret method", req: raw("POST", "/v1/register", jsonType, `{"grant_types":["client_credentials"],"tls_client_auth_san_dns":"client.example"}`), status: 400, code: "invalid_client_metadata"},
		// RFC 7662 introspection of other clients' tokens is the operator's
		// grant, never a client's own.
		{name: "register/resource_server without the operator's token", req: raw("POST", "/v1/register", jsonType, `{"grant_types":["client_credentials"],"resource_server":true}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/resource_server not a boolean", req: raw("POST", "/v1/register", jsonType, `{"grant_types":["client_credentials"],"resource_server":"yes"}`), status: 400, code: "invalid_client_metadata"},
		{name: "register/gzip body", req: raw("POST", "/v1/register", jsonType, zipped(`{"redirect_uris":["`+liveRedirect+`"]}`), "Content-Encoding", "gzip"), status: 415, code: "invalid_request"},
		{name: "register/body over the limit", req: raw("POST", "/v1/register", jsonType, `{"client_name":"`+strings.Repeat("a", l.cfg.Server.BodyLimit)+`"}`), status: 413, code: "invalid_request"},

		// Client configuration endpoint (RFC 7592 §2).
		{name: "manage/read without token", req: raw("GET", "/v1/register/"+regID, "", ""), status: 401, code: "invalid_token", challenge: bearerChallenge},
		{name: "manage/read wrong token", req: raw("GET", "/v1/register/"+regID, "", "", "Authorization", "Bearer wrong"), status: 401, code: "invalid_token", challenge: bearerChallenge},
		{name: "manage/read unknown client", req: raw("GET", "/v1/register/nobody", "", "", "Authorization", "Bearer "+regToken), status: 401, code: "invalid_token", challenge: bearerChallenge},
		{name: "manage/update other client_id", req: raw("PUT", "/v1/register/"+regID, jsonType, `{"client_id":"web","redirect_uris":["`+liveRedirect+`"]}`, "Authorization", "Bearer "+regToken), status: 400, code: "invalid_request"},
		{name: "manage/update chosen secret", req: raw("PUT", "/v1/register/"+regID, jsonType, `{"client_id":"`+regID+`","client_secret":"mine","redirect_uris":["`+liveRedirect+`"]}`, "Authorization", "Bearer "+regToken), status: 400, code: "invalid_client_metadata"},
		{name: "manage/update bad redirect_uri", req: raw("PUT", "/v1/register/"+regID, jsonType, `{"client_id":"`+regID+`","redirect_uris":["javascript:alert(1)"]}`, "Authorization", "Bearer "+regToken), status: 400, code: "invalid_redirect_uri"},
		{name: "manage/update not UTF-8", req: raw("PUT", "/v1/register/"+regID, jsonType, "{\"client_id\":\""+regID+"\",\"client_name\":\"\xc3\"}", "Authorization", "Bearer "+regToken), status: 400, code: "invalid_client_metadata"},
		{name: "manage/update adding resource_server", req: raw("PUT", "/v1/register/"+regID, jsonType, `{"client_id":"`+regID+`","redirect_uris":["`+liveRedirect+`"],"resource_server":true}`, "Authorization", "Bearer "+regToken), status: 400, code: "invalid_client_metadata"},
		{name: "manage/update wrong token", req: raw("PUT", "/v1/register/"+regID, jsonType, `{"client_id":"`+regID+`"}`, "Authorization", "Bearer wrong"), status: 401, code: "invalid_token", challenge: bearerChallenge},
		{name: "manage/delete wrong token", req: raw("DELETE", "/v1/register/"+regID, "", "", "Authorization", "Bearer wrong"), status: 401, code: "invalid_token", challenge: bearerChallenge},

		// Userinfo (OIDC Core §5.3.3, RFC 6750 §3.1).
		{name: "userinfo/no token", req: raw("GET", "/v1/userinfo", "", ""), status: 401, code: "invalid_token", challenge: bearerChallenge},
		{name: "userinfo/basic scheme", req: raw("GET", "/v1/userinfo", "", "", "Authorization", machineAuth), status: 400, code: "invalid_request", challenge: bearerChallenge},
		{name: "userinfo/garbage token", req: raw("GET", "/v1/userinfo", "", "", "Authorization", "Bearer a.b.c"), status: 401, code: "invalid_token", challenge: bearerChallenge},
		{name: "userinfo/unsigned token", req: raw("GET", "/v1/userinfo", "", "", "Authorization", "Bearer "+noneJWT), status: 401, code: "invalid_token", challenge: bearerChallenge},
		{name: "userinfo/token of a deleted client", req: raw("GET", "/v1/userinfo", "", "", "Authorization", "Bearer "+goneToken), status: 401, code: "invalid_token", challenge: bearerChallenge},
		{name: "userinfo/token without openid", req: raw("GET", "/v1/userinfo", "", "", "Authorization", "Bearer "+machineToken), status: 403, code: "insufficient_scope", challenge: bearerChallenge},
		{name: "userinfo/br body", req: raw("POST", "/v1/userinfo", formType, "access_token="+first.str("access_token"), "Content-Encoding", "br"), status: 415, code: "invalid_request"},
		{name: "userinfo/token twice", req: raw("POST", "/v1/userinfo", formType, "access_token="+first.str("access_token"), "Authorization", "Bearer "+first.str("access_token")), status: 400, code: "invalid_request", challenge: bearerChallenge},

		// Revocation (RFC 7009 §2.1, §2.2.1).
		{name: "revoke/no client authentication", req: form("/v1/revoke", url.Values{"token": {refresh}}, "", ""), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "revoke/wrong secret", req: form("/v1/revoke", url.Values{"token": {refresh}}, "web", "wrong"), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "revoke/missing token", req: form("/v1/revoke", url.Values{}, "web", liveSecret), status: 400, code: "invalid_request"},
		{name: "revoke/repeated token", req: raw("POST", "/v1/revoke", formType, "token="+refresh+"&token=x", "Authorization", basicAuth("web", liveSecret)), status: 400, code: "invalid_request"},
		{name: "revoke/deflate body", req: raw("POST", "/v1/revoke", formType, "token="+refresh, "Authorization", basicAuth("web", liveSecret), "Content-Encoding", "deflate"), status: 415, code: "invalid_request"},
		{name: "revoke/wrong content type", req: raw("POST", "/v1/revoke", "text/xml", "<token/>", "Authorization", basicAuth("web", liveSecret)), status: 415, code: "invalid_request"},

		// Introspection (RFC 7662 §2.1).
		{name: "introspect/no client authentication", req: form("/v1/introspect", url.Values{"token": {machineToken}}, "", ""), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "introspect/public client", req: form("/v1/introspect", url.Values{"token": {machineToken}, "client_id": {"spa"}}, "", ""), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "introspect/wrong secret", req: form("/v1/introspect", url.Values{"token": {machineToken}}, "machine", "wrong"), status: 401, code: "invalid_client", challenge: basicChallenge},
		{name: "introspect/gzip body", req: raw("POST", "/v1/introspect", formType, zipped("token="+machineToken), "Authorization", machineAuth, "Content-Encoding", "gzip"), status: 415, code: "invalid_request"},
		{name: "introspect/missing token", req: form("/v1/introspect", url.Values{}, "machine", liveSecret), status: 400, code: "invalid_request"},
		// Another client's token is answered as if it did not exist
		// (RFC 7662 §2.2, §4): 200 {"active": false}, pinned in the golden file.
		{name: "introspect/another client's access token", req: form("/v1/introspect", url.Values{"token": {machineToken}}, "web", liveSecret), status: 200},
		{name: "introspect/another client's refresh token", req: form("/v1/introspect", url.Values{"token": {refresh}}, "machine", liveSecret), status: 200},

		// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2,
		// §3): the browser never goes anywhere a client did not register,
		// and a refused request ends no session: the error page.
		{name: "logout/unregistered post_logout_redirect_uri", req: raw("GET", "/v1/logout?"+url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {"https://evil.example/bye"}}.Encode(), "", ""), status: 400, code: "invalid_request", page: true},
		{name: "logout/post_logout_redirect_uri without a client", req: raw("GET", "/v1/logout?"+url.Values{"post_logout_redirect_uri": {liveRedirect}}.Encode(), "", ""), status: 400, code: "invalid_request", page: true},
		{name: "logout/garbage id_token_hint", req: raw("GET", "/v1/logout?"+url.Values{"id_token_hint": {"a.b.c"}}.Encode(), "", ""), status: 400, code: "invalid_request", page: true},
		// (Tokens go in POST bodies: the golden file records the request line.)
		{name: "logout/access token as id_token_hint", req: raw("POST", "/v1/logout", formType, url.Values{"id_token_hint": {machineToken}}.Encode()), status: 400, code: "invalid_request", page: true},
		{name: "logout/id_token_hint of another client_id", req: raw("POST", "/v1/logout", formType, url.Values{"id_token_hint": {first.str("id_token")}, "client_id": {"other"}}.Encode()), status: 400, code: "invalid_request", page: true},
		{name: "logout/unknown client_id", req: raw("POST", "/v1/logout", formType, url.Values{"client_id": {"nobody"}}.Encode()), status: 400, code: "invalid_request", page: true},
		{name: "logout/repeated parameter", req: raw("GET", "/v1/logout?client_id=web&client_id=other", "", ""), status: 400, code: "invalid_request", page: true},
		{name: "logout/PUT", req: raw("PUT", "/v1/logout", formType, "client_id=web"), status: 405, code: "invalid_request", allow: "GET, HEAD, POST"},

		// Anything else.
		{name: "unknown endpoint", req: raw("GET", "/v1/nothing-here", "", ""), status: 404, code: "not_found"},
		{name: "token/GET", req: raw("GET", "/v1/token", "", ""), status: 405, code: "invalid_request", allow: "POST"},
		{name: "register/PATCH with id", req: raw("PATCH", "/v1/register/"+regID, jsonType, `{}`), status: 405, code: "invalid_request", allow: "DELETE, GET, HEAD, PUT"},
		{name: "jwks/POST", req: raw("POST", "/.well-known/jwks.json", jsonType, `{}`), status: 405, code: "invalid_request", allow: "GET, HEAD"},
	}

	var answers []exchange
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := l.snapshot(t)
			a := l.do(t, tc.req)
			ex := record(tc.req, a, nil)
			ex.Request = strings.ReplaceAll(ex.Request, regID, "{client_id}") // random per run
			answers = append(answers, ex)
			if a.status >= 500 {
				t.Fatalf("server error %d: %s", a.status, a.raw)
			}
			switch {
			case tc.page:
				if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("Content-Type %q, want the error page", ct)
				}
				if a.status != tc.status || !strings.Contains(string(a.raw), ">"+tc.code+"<") || a.header.Get("Location") != "" {
					t.Errorf("got %d Location %q %s, want %d and a page showing %s", a.status, a.header.Get("Location"), a.raw, tc.status, tc.code)
				}
			case a.status != tc.status || a.str("error") != tc.code:
				t.Errorf("got %d %s, want %d %s", a.status, a.raw, tc.status, tc.code)
			}
			if ct := a.header.Get("Content-Type"); !tc.page && !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			if cc := a.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if got := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tc.challenge) || (tc.challenge == "" && got != "") {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			// RFC 9110 §15.5.2: every 401 carries a challenge.
			if a.status == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if got := a.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if !tc.mutates {
				unchanged(t, before, l.snapshot(t))
			}
		})
	}

	// The replayed code revoked what its first redemption produced.
	if g, err := l.st.Grants.Get(ctx, usedGrant); err != nil || !g.Revoked {
		t.Errorf("grant of the replayed code: %+v, %v; want revoked", g, err)
	}
	if _, err := l.srv.Issuer().VerifyAccessToken(ctx, first.str("access_token")); err == nil {
		t.Error("the access token of a replayed code still verifies")
	}
	golden(t, "errors.json", answers)
}

func mustCode(t *testing.T, l *live, raw string) store.AuthCode {
	t.Helper()
	c, err := l.st.Codes.Get(context.Background(), store.HashID(raw))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
