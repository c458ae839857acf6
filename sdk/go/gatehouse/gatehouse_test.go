package gatehouse_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/sdk/go/gatehouse"
)

// envelope is a response document as the host reads it (ABI v1): exactly one
// of result and error.
type envelope struct {
	Result json.RawMessage  `json:"result"`
	Error  *gatehouse.Error `json:"error"`
}

func decode(t *testing.T, resp []byte) envelope {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(resp, &keys); err != nil {
		t.Fatalf("response %s is not a JSON object: %v", resp, err)
	}
	if len(keys) != 1 {
		t.Fatalf("response %s: want exactly one of result/error", resp)
	}
	var e envelope
	if err := json.Unmarshal(resp, &e); err != nil {
		t.Fatalf("response %s: %v", resp, err)
	}
	if (e.Result == nil) == (e.Error == nil) {
		t.Fatalf("response %s: want exactly one of result/error", resp)
	}
	return e
}

type echoInput struct {
	Name string `json:"name"`
}

type echoResult struct {
	Greeting string `json:"greeting"`
	Prefix   string `json:"prefix,omitempty"`
}

// The handlers live under test-only hook names so that they cannot collide
// with a real plugin's registration.
func init() {
	gatehouse.HandleFunc("test_echo", func(_ context.Context, in echoInput, cfg json.RawMessage) (echoResult, error) {
		c := struct {
			Prefix string `json:"prefix"`
		}{Prefix: "hello"}
		if err := gatehouse.DecodeConfig(cfg, &c); err != nil {
			return echoResult{}, err
		}
		switch in.Name {
		case "":
			return echoResult{}, gatehouse.AccessDenied("a name is required")
		case "wrapped":
			return echoResult{}, fmt.Errorf("looking up: %w", gatehouse.UnknownUser("nobody called wrapped"))
		case "plain":
			return echoResult{}, errors.New("backend down")
		case "panic":
			panic("boom")
		}
		return echoResult{Greeting: c.Prefix + " " + in.Name}, nil
	})
	gatehouse.Handle("test_nil", func(context.Context, gatehouse.Request) (any, error) { return nil, nil })
	gatehouse.Handle("test_unencodable", func(context.Context, gatehouse.Request) (any, error) {
		return map[string]any{"f": func() {}}, nil
	})
	gatehouse.Handle("test_raw", func(_ context.Context, req gatehouse.Request) (any, error) {
		return map[string]any{"abi": req.ABI, "hook": req.Hook, "input": req.Input}, nil
	})
}

func TestCallEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		hook    string
		request string
		result  string // compared as JSON when set
		code    string // error code when set
		message string // error message when set
	}{
		{"typed result", "test_echo", `{"abi":1,"hook":"test_echo","config":{},"input":{"name":"ada"}}`, `{"greeting":"hello ada"}`, "", ""},
		{"config used", "test_echo", `{"abi":1,"hook":"test_echo","config":{"prefix":"hi"},"input":{"name":"ada"}}`, `{"greeting":"hi ada"}`, "", ""},
		{"null config keeps defaults", "test_echo", `{"abi":1,"hook":"test_echo","config":null,"input":{"name":"ada"}}`, `{"greeting":"hello ada"}`, "", ""},
		{"missing hook name is the export's", "test_echo", `{"input":{"name":"ada"}}`, `{"greeting":"hello ada"}`, "", ""},
		{"refusal keeps code and message", "test_echo", `{"abi":1,"hook":"test_echo","config":{},"input":{}}`, "", "access_denied", "a name is required"},
		{"wrapped refusal keeps its code", "test_echo", `{"abi":1,"hook":"test_echo","input":{"name":"wrapped"}}`, "", "unknown_user_id", "nobody called wrapped"},
		{"plain error is server_error", "test_echo", `{"abi":1,"hook":"test_echo","input":{"name":"plain"}}`, "", "server_error", "backend down"},
		{"panic is server_error", "test_echo", `{"abi":1,"hook":"test_echo","input":{"name":"panic"}}`, "", "server_error", "test_echo handler panicked: boom"},
		{"bad config is server_error", "test_echo", `{"abi":1,"hook":"test_echo","config":{"prefix":7},"input":{"name":"ada"}}`, "", "server_error", ""},
		{"bad input is invalid_request", "test_echo", `{"abi":1,"hook":"test_echo","input":{"name":["x"]}}`, "", "invalid_request", ""},
		{"malformed request", "test_echo", `{"abi":1,`, "", "invalid_request", ""},
		{"empty request", "test_echo", ``, "", "invalid_request", ""},
		{"wrong ABI version", "test_echo", `{"abi":2,"hook":"test_echo","input":{"name":"ada"}}`, "", "invalid_request", "request is ABI version 2, this plugin speaks 1"},
		{"hook mismatch", "test_echo", `{"abi":1,"hook":"sign_in","input":{"name":"ada"}}`, "", "invalid_request", "request for hook sign_in reached the test_echo export"},
		{"no handler", "test_missing", `{"abi":1,"hook":"test_missing","input":{}}`, "", "server_error", "no handler registered for hook test_missing"},
		{"nil result is an empty object", "test_nil", `{"abi":1,"hook":"test_nil","input":{}}`, `{}`, "", ""},
		{"unencodable result", "test_unencodable", `{"abi":1,"hook":"test_unencodable","input":{}}`, "", "server_error", ""},
		{"raw handler sees the envelope", "test_raw", `{"abi":1,"hook":"test_raw","config":{},"input":{"a":[1,2]}}`, `{"abi":1,"hook":"test_raw","input":{"a":[1,2]}}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := gatehouse.Call(tt.hook, []byte(tt.request))
			e := decode(t, resp)
			if tt.code != "" {
				if e.Error == nil {
					t.Fatalf("response %s: want error %s", resp, tt.code)
				}
				if e.Error.Code != tt.code {
					t.Errorf("code = %q, want %q (%s)", e.Error.Code, tt.code, resp)
				}
				if tt.message != "" && e.Error.Message != tt.message {
					t.Errorf("message = %q, want %q", e.Error.Message, tt.message)
				}
				if e.Error.Message == "" {
					t.Errorf("response %s: an error needs a message", resp)
				}
				return
			}
			if e.Result == nil {
				t.Fatalf("response %s: want a result", resp)
			}
			var got, want any
			if err := json.Unmarshal(e.Result, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.result), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("result = %s, want %s", e.Result, tt.result)
			}
		})
	}
}

func TestErrorMessageEscaping(t *testing.T) {
	t.Parallel()
	gatehouse.Handle("test_quote", func(context.Context, gatehouse.Request) (any, error) {
		return nil, gatehouse.AccessDenied("say \"no\"\n\u2603")
	})
	e := decode(t, gatehouse.Call("test_quote", []byte(`{}`)))
	if e.Error == nil || e.Error.Message != "say \"no\"\n\u2603" {
		t.Fatalf("error = %+v", e.Error)
	}
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("wrap: %w", gatehouse.Refuse("access_denied", "no"))
	var e *gatehouse.Error
	if !errors.As(err, &e) || e.Code != "access_denied" || e.Message != "no" {
		t.Fatalf("errors.As = %v, %+v", err, e)
	}
	if got := e.Error(); got != "access_denied: no" {
		t.Errorf("Error() = %q", got)
	}
}

func TestTimestamp(t *testing.T) {
	t.Parallel()
	instant := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in, out string
		want    time.Time
		wantErr bool
	}{
		{in: `1767323045`, out: `1767323045`, want: instant},
		{in: `"2026-01-02T03:04:05Z"`, out: `"2026-01-02T03:04:05Z"`, want: instant},
		{in: `null`, out: `null`},
		{in: `"yesterday"`, wantErr: true},
		{in: `1.5`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var ts gatehouse.Timestamp
			err := json.Unmarshal([]byte(tt.in), &ts)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %v, want an error", tt.in, ts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ts.Equal(tt.want) {
				t.Errorf("time = %v, want %v", ts.Time, tt.want)
			}
			out, err := json.Marshal(ts)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.out {
				t.Errorf("Marshal = %s, want %s", out, tt.out)
			}
		})
	}
}

func TestNativeKV(t *testing.T) {
	t.Parallel()
	if _, ok := gatehouse.KVGet("test/absent"); ok {
		t.Fatal("absent key found")
	}
	if err := gatehouse.KVPut("test/k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	v, ok := gatehouse.KVGet("test/k")
	if !ok || string(v) != "v1" {
		t.Fatalf("KVGet = %q, %v", v, ok)
	}
	if _, err := gatehouse.HTTP(gatehouse.HTTPRequest{Method: "GET", URL: "http://127.0.0.1/"}); !errors.Is(err, gatehouse.ErrNoHost) {
		t.Fatalf("native HTTP error = %v, want ErrNoHost", err)
	}
}

func TestDecodeConfig(t *testing.T) {
	t.Parallel()
	type cfg struct {
		Mode string `json:"mode"`
	}
	tests := []struct {
		raw        string
		want       string
		lenientErr bool
		strictErr  bool
	}{
		{raw: ``, want: "default"},
		{raw: `null`, want: "default"},
		{raw: `{}`, want: "default"},
		{raw: `{"mode":"x"}`, want: "x"},
		{raw: `{"mode":"x","extra":1}`, want: "x", strictErr: true},
		{raw: `{"mode":7}`, lenientErr: true, strictErr: true},
		{raw: `[1]`, lenientErr: true, strictErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			for _, strict := range []bool{false, true} {
				c := cfg{Mode: "default"}
				decode, wantErr := gatehouse.DecodeConfig, tt.lenientErr
				if strict {
					decode, wantErr = gatehouse.DecodeConfigStrict, tt.strictErr
				}
				err := decode(json.RawMessage(tt.raw), &c)
				if wantErr {
					if err == nil {
						t.Errorf("strict=%v: want an error, got %+v", strict, c)
					}
					continue
				}
				if err != nil {
					t.Errorf("strict=%v: %v", strict, err)
				} else if c.Mode != tt.want {
					t.Errorf("strict=%v: mode = %q, want %q", strict, c.Mode, tt.want)
				}
			}
		})
	}
}

// FuzzCall: whatever the host sends, the answer is one well-formed response
// document (exactly one of result/error, an error with a code) and never a
// panic.
func FuzzCall(f *testing.F) {
	for _, seed := range []string{
		`{"abi":1,"hook":"test_echo","config":{},"input":{"name":"ada"}}`,
		`{"abi":1,"hook":"test_echo","config":{"prefix":"x"},"input":{"name":"panic"}}`,
		`{"abi":1,"hook":"test_echo","input":{"name":"wrapped"}}`,
		`{"abi":2}`, `{"input":null}`, `[]`, `"`, ``, "\xff",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, request string) {
		e := decode(t, gatehouse.Call("test_echo", []byte(request)))
		if e.Error != nil && e.Error.Code == "" {
			t.Fatalf("error without a code for %q", request)
		}
	})
}

func TestCachedConfig(t *testing.T) {
	t.Parallel()
	type cfg struct {
		N int `json:"n"`
	}
	parses := 0
	load := gatehouse.CachedConfig(func(raw json.RawMessage) (cfg, error) {
		parses++
		var c cfg
		if err := gatehouse.DecodeConfigStrict(raw, &c); err != nil {
			return cfg{}, err
		}
		if c.N < 0 {
			return cfg{}, errors.New("n must not be negative")
		}
		return c, nil
	})
	steps := []struct {
		raw      string
		want     int
		wantErr  bool
		parsesTo int
	}{
		{raw: `{"n":1}`, want: 1, parsesTo: 1},
		{raw: `{"n":1}`, want: 1, parsesTo: 1},
		{raw: `{"n":2}`, want: 2, parsesTo: 2},
		{raw: `{"n":-1}`, wantErr: true, parsesTo: 3},
		{raw: `{"n":-1}`, wantErr: true, parsesTo: 3},
		{raw: `{"n":1}`, want: 1, parsesTo: 4},
		{raw: ``, want: 0, parsesTo: 5},
	}
	for i, s := range steps {
		buf := []byte(s.raw) // a fresh buffer each call, as from the host
		got, err := load(buf)
		if s.wantErr != (err != nil) || got.N != s.want {
			t.Fatalf("step %d: load(%s) = %+v, %v", i, s.raw, got, err)
		}
		for j := range buf {
			buf[j] = 'x' // the cache must not alias the caller's buffer
		}
		if parses != s.parsesTo {
			t.Fatalf("step %d: %d parses, want %d", i, parses, s.parsesTo)
		}
	}
}
