package ciba

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/client"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/plugin"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/token"
)

// authorizeErrors are the errors the parsing and validation of a
// backchannel authentication request may answer (CIBA Core §13), each with
// its status.
var authorizeErrors = map[string]int{
	"invalid_request": 400, "invalid_scope": 400, "invalid_binding_message": 400,
	"missing_user_code": 400, "invalid_user_code": 400, "unknown_user_id": 400,
	"expired_login_hint_token": 400, "access_denied": 403,
}

// FuzzBackchannelAuthorize feeds arbitrary bodies (form or JSON) through
// what POST /v1/backchannel/authorize does before it stores anything:
// oauth.ParseBody, validate (CIBA Core §7.1, §7.2) and the mapping of the
// resolve_user answer (its refusal code taken from the body too). Nothing
// panics; an error is always a 4xx *oauth.Error of CIBA Core §13; an
// accepted request always satisfies §7.1.
func FuzzBackchannelAuthorize(f *testing.F) {
	cfg, err := config.Load(gatehouse.DefaultConfig, "")
	if err != nil {
		f.Fatal(err)
	}
	app := fiber.New()
	for _, seed := range []struct {
		body     string
		json     bool
		mode     uint8
		userCode bool
		refusal  string
	}{
		{"scope=openid&login_hint=alice", false, 0, false, ""},
		{"scope=openid+profile&login_hint=alice&binding_message=W4SCT&user_code=1234&requested_expiry=120", false, 0, true, ""},
		{"scope=openid&login_hint=alice&client_notification_token=abc.def", false, 1, false, ""},
		{"scope=openid&id_token_hint=a.b.c&login_hint=x", false, 2, false, ""},
		{"scope=openid&login_hint=alice&user_code=%00", false, 0, true, "invalid_user_code"},
		{"scope=openid&login_hint=alice&requested_expiry=%2B5", false, 0, false, "unknown_user_id"},
		{`{"scope":"openid","login_hint":"alice","requested_expiry":300}`, true, 0, false, "something_else"},
		{`{"scope":"openid","login_hint_token":"t","binding_message":"\u0085"}`, true, 2, false, "expired_login_hint_token"},
		{"scope=openid&scope=email&login_hint=a", false, 0, false, ""},
	} {
		f.Add([]byte(seed.body), seed.json, seed.mode, seed.userCode, seed.refusal)
	}
	modes := []string{client.DeliveryPoll, client.DeliveryPing, client.DeliveryPush}
	// verifies: the client registered backchannel_user_code_parameter, and
	// the plugin reports a user_code verified (else it answers as a module
	// that predates user_code_verified).
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool, mode uint8, verifies bool, refusal string) {
		fctx := &fasthttp.RequestCtx{}
		fctx.Request.Header.SetMethod(fiber.MethodPost)
		if asJSON {
			fctx.Request.Header.SetContentType("application/json")
		} else {
			fctx.Request.Header.SetContentType("application/x-www-form-urlencoded")
		}
		fctx.Request.SetBody(body)
		c := app.AcquireCtx(fctx)
		defer app.ReleaseCtx(c)

		cl := &store.Client{ID: "c1"}
		cl.Scope = "openid profile email"
		cl.BackchannelTokenDeliveryMode = modes[int(mode)%len(modes)]
		cl.BackchannelUserCodeParameter = verifies
		hooks := &fakeHooks{}
		if verifies {
			hooks.answer = `{"sub":"user:default/alice","user_code_verified":true}`
		}
		if refusal != "" {
			hooks.err = &plugin.Refusal{Code: refusal}
		}
		s := &Service{cfg: cfg, hooks: hooks, now: time.Now}

		params, err := oauth.ParseBody(c)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		req, err := s.validate(params, cl)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		checkValid(t, cfg, cl, req)
		unverified := req.userCode != "" && !verifies
		if _, err := s.resolveUser(context.Background(), cl, req); err != nil {
			checkRefusal(t, err)
			if refusal == "" && !(unverified && oauth.AsError(err).Code == "invalid_user_code") {
				t.Fatalf("resolve_user accepted, yet %v", err)
			}
			if want, ok := refusalErrors[refusal]; ok && oauth.AsError(err).Code != want().Code {
				t.Fatalf("refusal %q answered %v", refusal, err)
			}
		} else if refusal != "" {
			t.Fatalf("refusal %q accepted", refusal)
		} else if unverified {
			t.Fatal("a user_code nothing verified was accepted")
		}
	})
}

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		t.Fatalf("not an *oauth.Error: %v", err)
	}
	if want, ok := authorizeErrors[oe.Code]; !ok || oe.Status != want {
		t.Fatalf("error %s with status %d", oe.Code, oe.Status)
	}
}

// checkValid: an accepted request is what CIBA Core §7.1 and the config
// allow.
func checkValid(t *testing.T, cfg *config.Config, cl *store.Client, req *authRequest) {
	t.Helper()
	switch {
	case !token.HasScope(req.scope, "openid"):
		t.Fatalf("scope %q without openid", req.scope)
	case req.hintKind != "login_hint" && req.hintKind != "id_token_hint" && req.hintKind != "login_hint_token":
		t.Fatalf("hint kind %q", req.hintKind)
	case req.hint == "" || len(req.hint) > maxHint:
		t.Fatalf("hint of %d bytes", len(req.hint))
	case utf8.RuneCountInString(req.bindingMessage) > cfg.CIBA.MaxBindingMessage || hasControl(req.bindingMessage):
		t.Fatalf("binding_message %q", req.bindingMessage)
	case utf8.RuneCountInString(req.userCode) > maxUserCode || hasControl(req.userCode):
		t.Fatalf("user_code %q", req.userCode)
	case req.expiry <= 0 || req.expiry > cfg.CIBA.MaxExpiry:
		t.Fatalf("expiry %s", req.expiry)
	case cl.BackchannelTokenDeliveryMode != client.DeliveryPoll &&
		(req.notificationToken == "" || len(req.notificationToken) > maxNotificationToken || !isToken68(req.notificationToken)):
		t.Fatalf("client_notification_token %q in %s mode", req.notificationToken, cl.BackchannelTokenDeliveryMode)
	case len(req.acrValues) > maxACRValues || hasControl(req.acrValues):
		t.Fatalf("acr_values %q", req.acrValues)
	}
	for v := range strings.FieldsSeq(req.scope) {
		if v != "openid" && !token.HasScope(cl.Scope, v) {
			t.Fatalf("scope %q not registered", v)
		}
	}
}
