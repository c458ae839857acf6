package gatehouse

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc    string
		fast         bool // the structural scan handles it (no fallback)
		abi          int
		hook         string
		config, inpt string
		wantErr      bool
	}{
		{name: "host envelope", doc: `{"abi":1,"hook":"sign_in","config":{"a":[1,{"b":"}"}]},"input":{"s":"x\"}y"}}`, fast: true,
			abi: 1, hook: "sign_in", config: `{"a":[1,{"b":"}"}]}`, inpt: `{"s":"x\"}y"}`},
		{name: "whitespace and order", doc: " {\n\t\"input\" : [1, 2] ,\"config\":null, \"hook\":\"notify\",\"abi\": 1 }\r\n", fast: true,
			abi: 1, hook: "notify", config: `null`, inpt: `[1, 2]`},
		{name: "unknown members skipped", doc: `{"x":{"y":[true,false,null]},"abi":1,"z":-1.5e3,"input":"s"}`, fast: true,
			abi: 1, inpt: `"s"`},
		{name: "last duplicate wins", doc: `{"input":1,"input":2}`, fast: true, inpt: `2`},
		{name: "empty object", doc: `{}`, fast: true},
		{name: "escaped key falls back", doc: `{"\u0069nput":3}`, inpt: `3`},
		{name: "cased name falls back", doc: `{"Input":3,"HOOK":"sign_in"}`, hook: "sign_in", inpt: `3`},
		{name: "escaped hook falls back", doc: `{"hook":"sign\u005fin"}`, hook: "sign_in"},
		{name: "non-integer abi", doc: `{"abi":1.0}`, wantErr: true},
		{name: "truncated", doc: `{"abi":1,"input":{"a":1}`, wantErr: true},
		{name: "trailing data", doc: `{"abi":1} {}`, wantErr: true},
		{name: "not an object", doc: `[1]`, wantErr: true},
		{name: "empty", doc: ``, wantErr: true},
		{name: "missing colon", doc: `{"abi" 1}`, wantErr: true},
		{name: "control character in string", doc: "{\"hook\":\"a\nb\"}", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, fast := scanRequest([]byte(tt.doc))
			if fast != tt.fast {
				t.Errorf("scanRequest ok = %v, want %v", fast, tt.fast)
			}
			req, err := parseRequest([]byte(tt.doc))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseRequest = %+v, want an error", req)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.ABI != tt.abi || req.Hook != tt.hook || string(req.Config) != tt.config || string(req.Input) != tt.inpt {
				t.Fatalf("parseRequest = {%d %q %s %s}, want {%d %q %s %s}", req.ABI, req.Hook, req.Config, req.Input, tt.abi, tt.hook, tt.config, tt.inpt)
			}
		})
	}
}

// FuzzParseRequest: on every well-formed document the structural scan
// either declines or finds exactly what encoding/json finds.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		`{"abi":1,"hook":"sign_in","config":{},"input":{"profile":{"email":"a@example.com"}}}`,
		`{"abi":1,"hook":"x","config":null,"input":[1,"]",{"}":"\\"}]}`,
		`{"Abi":2,"hook":"\u00e9"}`, `{"input":1,"input":2}`, `{}`, ` { } `, `{"a":"\""}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, ok := scanRequest(doc)
		if !ok || !json.Valid(doc) {
			return
		}
		var want Request
		if err := json.Unmarshal(doc, &want); err != nil {
			return // a member of the wrong type: the handler's decode reports it
		}
		if got.ABI != want.ABI || got.Hook != want.Hook || !bytes.Equal(got.Config, want.Config) || !bytes.Equal(got.Input, want.Input) {
			t.Fatalf("%q: scan %+v, encoding/json %+v", doc, got, want)
		}
	})
}
