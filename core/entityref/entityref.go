// Package entityref checks Backstage entity references (`kind:namespace/name`),
// the form of every subject and ownership reference Gatehouse issues.
package entityref

import (
	"fmt"
	"regexp"
	"strings"
)

// Ref is a parsed, complete entity reference.
type Ref struct {
	Kind, Namespace, Name string
}

// String is the reference as Backstage writes it: kind:namespace/name.
func (r Ref) String() string { return r.Kind + ":" + r.Namespace + "/" + r.Name }

// The formats of Backstage's default entity policy
// (@backstage/catalog-model KubernetesValidatorFunctions): kind isValidKind,
// namespace isValidNamespace (a DNS label), name isValidObjectName; each at
// most 63 characters.
var (
	kindFormat      = regexp.MustCompile(`^[a-zA-Z][a-z0-9A-Z]*$`)
	namespaceFormat = regexp.MustCompile(`^[a-z0-9]+(?:-+[a-z0-9]+)*$`)
	nameFormat      = regexp.MustCompile(`^(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
)

const maxPart = 63

// Parse splits ref as Backstage's parseEntityRef does (the kind ends at the
// first ':', unless a '/' comes before it; the namespace ends at the first
// '/'; the name is the rest) and requires all three parts, each in the
// format of Backstage's default entity policy. Gatehouse takes no default
// kind or namespace: a subject it signs is always complete.
func Parse(ref string) (Ref, error) {
	colon := strings.IndexByte(ref, ':')
	slash := strings.IndexByte(ref, '/')
	if slash >= 0 && slash < colon {
		colon = -1
	}
	if colon < 0 || slash < 0 {
		return Ref{}, fmt.Errorf("entity ref %.100q is not of the form kind:namespace/name", ref)
	}
	r := Ref{Kind: ref[:colon], Namespace: ref[colon+1 : slash], Name: ref[slash+1:]}
	for _, p := range []struct {
		what, v string
		format  *regexp.Regexp
		want    string
	}{
		{"kind", r.Kind, kindFormat, "a letter then letters and digits"},
		{"namespace", r.Namespace, namespaceFormat, "lower-case letters and digits, joined by dashes"},
		{"name", r.Name, nameFormat, "letters and digits, with -, _ or . between them"},
	} {
		if len(p.v) > maxPart || !p.format.MatchString(p.v) {
			return Ref{}, fmt.Errorf("entity ref %.100q: the %s %.70q is not %s, at most %d characters", ref, p.what, p.v, p.want, maxPart)
		}
	}
	return r, nil
}

// Valid reports whether ref parses.
func Valid(ref string) bool {
	_, err := Parse(ref)
	return err == nil
}
