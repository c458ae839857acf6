package mtls

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// attributeTypes are the RFC 4514 §3 keywords, plus the ones certificates
// commonly carry (RFC 4519), by OID.
var attributeTypes = map[string]asn1.ObjectIdentifier{
	"CN":           {2, 5, 4, 3},
	"SERIALNUMBER": {2, 5, 4, 5},
	"C":            {2, 5, 4, 6},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"STREET":       {2, 5, 4, 9},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"POSTALCODE":   {2, 5, 4, 17},
	"DC":           {0, 9, 2342, 19200300, 100, 1, 25},
	"UID":          {0, 9, 2342, 19200300, 100, 1, 1},
	"EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
}

// ParseDN reads an RFC 4514 distinguished name (tls_client_auth_subject_dn,
// RFC 8705 §2.1.2) into an RDN sequence in certificate order (RFC 4514
// writes the most specific RDN first). Attribute types are keywords or
// dotted OIDs; values may use RFC 4514 §2.4 escapes; #hex values are
// refused.
func ParseDN(s string) (pkix.RDNSequence, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("mtls: empty distinguished name")
	}
	var seq pkix.RDNSequence
	for _, rdnText := range splitUnescaped(s, ',') {
		var rdn pkix.RelativeDistinguishedNameSET
		for _, atv := range splitUnescaped(rdnText, '+') {
			typ, val, ok := strings.Cut(atv, "=")
			if !ok {
				return nil, fmt.Errorf("mtls: %q is not type=value", atv)
			}
			typ = strings.TrimSpace(typ)
			oid, err := attributeType(typ)
			if err != nil {
				return nil, err
			}
			v, err := unescapeValue(strings.TrimSpace(val))
			if err != nil {
				return nil, err
			}
			rdn = append(rdn, pkix.AttributeTypeAndValue{Type: oid, Value: v})
		}
		seq = append(seq, rdn)
	}
	for i, j := 0, len(seq)-1; i < j; i, j = i+1, j-1 {
		seq[i], seq[j] = seq[j], seq[i]
	}
	return seq, nil
}

func attributeType(typ string) (asn1.ObjectIdentifier, error) {
	if oid, ok := attributeTypes[strings.ToUpper(typ)]; ok {
		return oid, nil
	}
	var oid asn1.ObjectIdentifier
	for _, part := range strings.Split(typ, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("mtls: unknown attribute type %q", typ)
		}
		oid = append(oid, n)
	}
	if len(oid) < 2 {
		return nil, fmt.Errorf("mtls: unknown attribute type %q", typ)
	}
	return oid, nil
}

// splitUnescaped splits s at sep where it is not escaped by a backslash.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unescapeValue undoes RFC 4514 §2.4: a backslash before a special
// character, or before two hex digits.
func unescapeValue(v string) (string, error) {
	if strings.HasPrefix(v, "#") {
		return "", errors.New("mtls: #hex attribute values are not supported")
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 >= len(v) {
			return "", errors.New("mtls: a distinguished name ends in a lone backslash")
		}
		if i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			n, _ := strconv.ParseUint(v[i+1:i+3], 16, 8)
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(v[i+1])
		i++
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// equalDN compares RDN sequences: the same RDNs in the same order, each
// with the same attributes in any order, values compared without regard
// to case (the caseIgnoreMatch of the usual name attributes).
func equalDN(a, b pkix.RDNSequence) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for _, x := range a[i] {
			found := false
			for _, y := range b[i] {
				ys, ok := y.Value.(string)
				if x.Type.Equal(y.Type) && ok && strings.EqualFold(x.Value.(string), ys) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}
