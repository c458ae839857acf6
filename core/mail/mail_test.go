package mail_test

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/core/mail"
)

func TestAddress(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"alice@example.com", true},
		{"alice+ciba@sub.example.com", true},
		{"", false},
		{"alice", false},
		{"Alice <alice@example.com>", false},
		{"alice@example.com\r\nBcc: mallory@evil.test", false},
		{"alice@example.com>\r\nBcc: <mallory@evil.test", false},
		{"alice@example.com, mallory@evil.test", false},
		{"alice@example.com\n", false},
	} {
		got, err := mail.Address(tc.in)
		if tc.ok != (err == nil) || (tc.ok && got != tc.in) {
			t.Errorf("Address(%q) = %q, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, mail.ErrHeader) {
			t.Errorf("Address(%q): %v is not ErrHeader", tc.in, err)
		}
	}
}

func message(subject, to string) mail.Message {
	return mail.Message{
		From: "Gatehouse <auth@example.com>", To: to, Subject: subject,
		Text: "line one\nline two: https://gatehouse.example.com/oauth2/backchannel/abc", HTML: "<p>é</p>",
		Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestMessage(t *testing.T) {
	raw, err := message("Approve the sign-in to Ünïcode app", "alice@example.com").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	m, err := netmail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var dec mime.WordDecoder
	if s, _ := dec.DecodeHeader(m.Header.Get("Subject")); s != "Approve the sign-in to Ünïcode app" {
		t.Errorf("subject %q (raw %q)", s, m.Header.Get("Subject"))
	}
	if strings.ContainsFunc(m.Header.Get("Subject"), func(r rune) bool { return r > 0x7e }) {
		t.Errorf("subject not encoded: %q", m.Header.Get("Subject"))
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("date %v %v", d, err)
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	r := multipart.NewReader(m.Body, params["boundary"])
	var bodies []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		bodies = append(bodies, string(b))
	}
	if len(bodies) != 2 || bodies[0] != "line one\r\nline two: https://gatehouse.example.com/oauth2/backchannel/abc" || bodies[1] != "<p>é</p>" {
		t.Errorf("parts %q", bodies)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line over 998 octets (RFC 5322 §2.1.1): %d", len(line))
		}
	}
}

func TestMessageRefusesHeaderInjection(t *testing.T) {
	for _, tc := range []struct{ subject, to string }{
		{"Approve\r\nBcc: mallory@evil.test", "alice@example.com"},
		{"Approve\nBcc: mallory@evil.test", "alice@example.com"},
		{"Approve", "alice@example.com\r\nBcc: mallory@evil.test"},
		{"Approve", "Alice <alice@example.com>"},
	} {
		if _, err := message(tc.subject, tc.to).Bytes(); !errors.Is(err, mail.ErrHeader) {
			t.Errorf("subject %q to %q: %v, want ErrHeader", tc.subject, tc.to, err)
		}
	}
}

// FuzzMessage: whatever the subject and recipient, a message either is
// refused or has exactly its own headers (no injected one) and the
// recipient and subject it was given.
func FuzzMessage(f *testing.F) {
	f.Add("Approve", "alice@example.com")
	f.Add("Approve\r\nBcc: x@y", "alice@example.com")
	f.Add("=?utf-8?q?x?=", "a@b")
	f.Fuzz(func(t *testing.T, subject, to string) {
		raw, err := message(subject, to).Bytes()
		if err != nil {
			return
		}
		m, err := netmail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatalf("unreadable message: %v", err)
		}
		if len(m.Header) != 8 {
			t.Fatalf("headers %v", m.Header)
		}
		got, err := m.Header.AddressList("To")
		if err != nil || len(got) != 1 || got[0].Address != to {
			t.Fatalf("To %v %v, want %q", got, err, to)
		}
	})
}
