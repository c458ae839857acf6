package mtls_test

import (
	"net/url"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/mtls"
)

// FuzzParseDN: any registered tls_client_auth_subject_dn parses or is
// refused, without panicking.
func FuzzParseDN(f *testing.F) {
	for _, s := range []string{`CN=a,O=b\, c`, `cn=x+ou=y`, `2.5.4.3=a`, `CN=\41`, `CN=a\`, `=,+`, `CN=#00`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = mtls.ParseDN(s)
	})
}

// FuzzProxyHeader: whatever a trusted proxy's header holds is a
// certificate or ErrMalformed, never a panic.
func FuzzProxyHeader(f *testing.F) {
	f.Add(url.PathEscape("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add("%zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := mtls.ParseHeader(s); err == nil && c.Leaf == nil {
			t.Fatal("no error and no certificate")
		}
	})
}
