package store

import (
	"fmt"
	"time"
)

// Status of a backchannel authentication request (CIBA Core 1.0).
const (
	BackchannelPending  = "pending"
	BackchannelApproved = "approved"
	BackchannelDenied   = "denied"
	// BackchannelRedeemed: the tokens were handed out (token endpoint or
	// push); the request answers nothing more.
	BackchannelRedeemed = "redeemed"
)

// BackchannelRequest is a CIBA authentication request (CIBA Core §7),
// stored under the SHA-256 of its auth_req_id so that a copy of the
// database holds no handle a client could poll with.
type BackchannelRequest struct {
	ClientID string `json:"client_id"`
	// Confirmation is the x5t#S256 of the client certificate the request
	// came with when the client's tokens are bound (RFC 8705 §3): a push
	// delivery's tokens, minted at approval, are bound to it.
	Confirmation string `json:"cnf_x5t_s256,omitempty"`
	// Subject, Ownership and Profile are the user resolve_user named.
	Subject   string   `json:"sub"`
	Ownership []string `json:"ent,omitempty"`
	Profile   Profile  `json:"profile"`
	Scope     string   `json:"scope"`
	// Resource are the RFC 8707 resources the request named, on the
	// server's allow-list: the grant's and its access tokens' audience.
	Resource       []string `json:"resource,omitempty"`
	BindingMessage string   `json:"binding_message,omitempty"`
	// UserCodeVerified: the request carried a user_code (CIBA Core §7.1)
	// and resolve_user accepted it for this user. The code itself is a
	// secret the user knows: it is never stored.
	UserCodeVerified bool   `json:"user_code_verified,omitempty"`
	ACRValues        string `json:"acr_values,omitempty"`
	// DeliveryMode is poll, ping or push (CIBA Core §5), as the client
	// registered it when the request was made.
	DeliveryMode string `json:"delivery_mode"`
	// NotificationToken is the client_notification_token (CIBA Core §7.1):
	// the bearer the server presents to the client's notification
	// endpoint. It is the client's secret for its own endpoint, kept only
	// until the request ends.
	NotificationToken    string `json:"client_notification_token,omitempty"`
	NotificationEndpoint string `json:"client_notification_endpoint,omitempty"`
	// NotificationTokenSealed: NotificationToken is sealed under
	// keys.secret (core/ciba/seal.go), base64url.
	NotificationTokenSealed bool `json:"client_notification_token_sealed,omitempty"`
	// AuthReqID is the auth_req_id itself, sealed under keys.secret
	// (AuthReqIDSealed; unsealed without one, as NotificationToken), so
	// that the signed-in user's pending requests can be listed with the
	// handle that answers them (core/ciba authinfo).
	AuthReqID       string `json:"auth_req_id,omitempty"`
	AuthReqIDSealed bool   `json:"auth_req_id_sealed,omitempty"`
	// Interval is the current minimum time between polls, in seconds; a
	// poll that comes sooner answers slow_down and adds 5 (CIBA Core §11).
	Interval int       `json:"interval"`
	LastPoll time.Time `json:"last_poll,omitempty"`
	Status   string    `json:"status"`
	// DecidedAt and AuthTime are set by the decision; AuthTime is when the
	// approving user authenticated.
	DecidedAt time.Time `json:"decided_at,omitempty"`
	AuthTime  time.Time `json:"auth_time,omitempty"`
	// GrantID is drawn by the approval: the grant the tokens are minted
	// in, also named in the consent history.
	GrantID string `json:"grant_id,omitempty"`
	// Claims are the approving user's sign_in hook claims (identity.User),
	// carried into the grant's tokens as the code flow carries them.
	Claims    map[string]any `json:"claims,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	ExpiresAt time.Time      `json:"expires_at"`
}

// Expiry keeps a request for a while past its lifetime, so that a late
// poll is told expired_token rather than invalid_grant.
func (r *BackchannelRequest) Expiry() time.Time { return r.ExpiresAt.Add(10 * time.Minute) }

// BackchannelUserEntry names a CIBA request under the user it is for
// (BackchannelByUser, by BackchannelUserID), so that the user's requests
// are read without reading anyone else's. It expires with the request.
type BackchannelUserEntry struct {
	RequestID string    `json:"request_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (e *BackchannelUserEntry) Expiry() time.Time { return e.ExpiresAt }

// BackchannelUserPrefix is what the ids of subject's entries in
// BackchannelByUser start with: the SHA-256 of the subject and "/".
func BackchannelUserPrefix(subject string) string { return HashID(subject) + "/" }

// BackchannelUserID is the id in BackchannelByUser of the request with
// id made at created for subject: in key order, a user's requests are in
// the order they were made.
func BackchannelUserID(subject string, created time.Time, id string) string {
	return fmt.Sprintf("%s%020d-%s", BackchannelUserPrefix(subject), created.UnixNano(), id)
}

// Delivery kinds of the queue.
const (
	DeliveryPing    = "ping"
	DeliveryPush    = "push"
	DeliveryWebhook = "webhook"
	DeliveryEmail   = "email"
)

// Delivery is one message waiting in the durable delivery queue: an HTTP
// POST of a CIBA ping or push callback (CIBA Core §10.2, §10.3) or of a
// notify plugin's webhook, or a notify plugin's e-mail sent over SMTP. It stays until it is delivered or has used its attempts (then
// it is kept, Dead, until ExpiresAt for operators to see).
type Delivery struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	ClientID string `json:"client_id,omitempty"`
	URL      string `json:"url"`
	// To is an email delivery's recipient (a bare address).
	To string `json:"to,omitempty"`
	// Bearer, when set, is sent as Authorization: Bearer (the
	// client_notification_token).
	Bearer string `json:"bearer,omitempty"`
	// Body is the JSON document to POST, or the whole e-mail message.
	Body []byte `json:"body"`
	// Sealed: Bearer (base64url) and Body are sealed under keys.secret
	// (core/ciba/seal.go), as they may hold tokens.
	Sealed      bool      `json:"sealed,omitempty"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	Dead        bool      `json:"dead,omitempty"`
	// LeaseOwner is the queue (one per process) attempting the item until
	// LeaseUntil: no other queue sharing the store attempts it meanwhile.
	// A lease is taken by compare-and-swap; once it has run out (its
	// owner died) another queue may take it.
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// LeasedToOther tells whether a queue other than owner holds the item's
// lease at now.
func (d *Delivery) LeasedToOther(owner string, now time.Time) bool {
	return d.LeaseOwner != "" && d.LeaseOwner != owner && now.Before(d.LeaseUntil)
}

func (d *Delivery) Expiry() time.Time { return d.ExpiresAt }

// Consent decisions recorded in the consent history.
const (
	ConsentApproved = "approved"
	ConsentDenied   = "denied"
)

// ConsentRecord is one decision on a CIBA request: who decided, when,
// what, for which client and scope. Records are stored under a key that
// sorts by time, and kept for good.
type ConsentRecord struct {
	ID             string `json:"id"`
	Subject        string `json:"sub"`
	ClientID       string `json:"client_id"`
	ClientName     string `json:"client_name,omitempty"`
	Scope          string `json:"scope"`
	BindingMessage string `json:"binding_message,omitempty"`
	Decision       string `json:"decision"`
	// Via is how the decision came: "page" or "api".
	Via string    `json:"via"`
	At  time.Time `json:"at"`
	// Request is the first 12 hex digits of the stored request id, to tie
	// the record to logs without revealing the auth_req_id.
	Request string `json:"request"`
	// GrantID is the grant an approval is redeemed as (its tokens revoke
	// with it); no grant exists under it until the client gets the tokens.
	GrantID string `json:"grant_id,omitempty"`
}
