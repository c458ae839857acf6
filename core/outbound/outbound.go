// Package outbound is the one HTTP client for everything the server fetches
// or posts: CIBA ping and push callbacks and notify webhooks, clients'
// jwks_uri, upstream sign-in providers and plugins' http_request.
//
// Its dialer checks the address it is about to connect to, after name
// resolution (net.Dialer.Control), and refuses loopback, private,
// link-local, unspecified, multicast and every other special-purpose
// address of the IANA registries (code.dny.dev/ssrf), so that a hostname
// resolving to 127.0.0.1, an IPv4-mapped ::ffff:127.0.0.1, a decimal or
// octal form and a DNS answer that changes between two lookups are all
// caught where the connection is made. Only Options.AllowPrivate (the
// development setting outbound.allow_private) lifts that. Every use has a
// timeout, a bounded number of redirects (each re-dialled through the same
// check) and a cap on the response body.
package outbound

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"code.dny.dev/ssrf"

	"github.com/gatehouse-auth/gatehouse/core/config"
)

// Defaults of the zero Options.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultMaxRedirects     = 5
)

// ErrResponseTooLarge is returned by a response body read past its cap.
var ErrResponseTooLarge = errors.New("outbound: response body over the size limit")

// ErrNotHTTPS is returned for a plain http URL of a use that requires https.
var ErrNotHTTPS = errors.New("outbound: https is required")

// Options configure the client; zero fields take the defaults.
type Options struct {
	// AllowPrivate lets the client reach loopback, private and other
	// special-purpose addresses: for local development only.
	AllowPrivate bool
	// Timeout bounds one exchange, redirects and body included.
	Timeout time.Duration
	// MaxResponseBytes caps a response body.
	MaxResponseBytes int64
	// MaxRedirects bounds the redirects one exchange follows.
	MaxRedirects int
	// RootCAs are the certificate authorities of https; nil: the system's.
	RootCAs *x509.CertPool
}

// FromConfig reads the options of the configuration's outbound section.
// config.Validate has checked ca_file; a file that became unreadable
// since leaves the system's authorities alone.
func FromConfig(c config.Outbound) Options {
	roots, _ := c.RootCAs()
	return Options{AllowPrivate: c.AllowPrivate, Timeout: c.Timeout, MaxResponseBytes: c.MaxResponseBytes,
		MaxRedirects: c.MaxRedirects, RootCAs: roots}
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	return o
}

// Client is the guarded transport and its defaults; each use takes an
// *http.Client from HTTP. Safe for concurrent use.
type Client struct {
	opts      Options
	transport *http.Transport
}

// New returns a client with its own connection pool.
func New(o Options) *Client {
	o = o.withDefaults()
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		guard := ssrf.New(ssrf.WithAnyPort())
		dialer.Control = func(network, address string, c syscall.RawConn) error {
			if err := guard.Safe(network, address, c); err != nil {
				return &RefusedError{Address: address, Err: err}
			}
			return nil
		}
	}
	return &Client{opts: o, transport: &http.Transport{
		// No proxy from the environment: the guard checks the address
		// dialled, which would then be the proxy's.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
	}}
}

var (
	defaultOnce   sync.Once
	defaultClient *Client
)

// Default is the client with the zero Options (private addresses refused),
// shared by the uses not given one.
func Default() *Client {
	defaultOnce.Do(func() { defaultClient = New(Options{}) })
	return defaultClient
}

// AllowsPrivate reports whether the development setting is on.
func (c *Client) AllowsPrivate() bool { return c.opts.AllowPrivate }

// RefusedError is a connection the guard refused.
type RefusedError struct {
	Address string // ip:port after resolution
	Err     error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("outbound: refused to connect to %s: %v", e.Address, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Policy adjusts one use of the client; zero fields take the client's.
type Policy struct {
	// Timeout bounds one exchange.
	Timeout time.Duration
	// MaxResponseBytes caps the response body.
	MaxResponseBytes int64
	// MaxRedirects bounds the redirects followed.
	MaxRedirects int
	// NoRedirects answers a redirect as the response itself: the URL
	// given is where the request may go, nowhere else.
	NoRedirects bool
	// CheckRedirect, when set, may refuse a redirect (an allow-list).
	CheckRedirect func(*http.Request) error
	// HTTPSOnly refuses plain http, redirects included, unless
	// AllowPrivate is on.
	HTTPSOnly bool
}

// HTTP returns an *http.Client for one use.
func (c *Client) HTTP(p Policy) *http.Client {
	if p.Timeout <= 0 {
		p.Timeout = c.opts.Timeout
	}
	if p.MaxResponseBytes <= 0 {
		p.MaxResponseBytes = c.opts.MaxResponseBytes
	}
	if p.MaxRedirects <= 0 {
		p.MaxRedirects = c.opts.MaxRedirects
	}
	httpsOnly := p.HTTPSOnly && !c.opts.AllowPrivate
	return &http.Client{
		Transport: &guarded{base: c.transport, max: p.MaxResponseBytes, httpsOnly: httpsOnly},
		Timeout:   p.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if p.NoRedirects {
				return http.ErrUseLastResponse
			}
			if len(via) >= p.MaxRedirects {
				return fmt.Errorf("outbound: stopped after %d redirects", p.MaxRedirects)
			}
			if p.CheckRedirect != nil {
				return p.CheckRedirect(req)
			}
			return nil
		},
	}
}

// guarded applies a use's scheme rule to every request (redirects too)
// and caps every response body.
type guarded struct {
	base      http.RoundTripper
	max       int64
	httpsOnly bool
}

func (g *guarded) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.URL.Scheme {
	case "https":
	case "http":
		if g.httpsOnly {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, fmt.Errorf("%w: %s", ErrNotHTTPS, req.URL.Redacted())
		}
	default:
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("outbound: scheme %q is not http(s)", req.URL.Scheme)
	}
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: g.max}
	return resp, nil
}

// cappedBody fails a read past its cap instead of truncating silently.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body exactly at the cap from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
