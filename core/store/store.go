package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// Store is the typed view of a KV backend that endpoints use.
type Store struct {
	KV            KV
	Clients       Collection[Client]
	AuthRequests  Collection[AuthRequest]
	Codes         Collection[AuthCode]
	Grants        Collection[Grant]
	RefreshTokens Collection[RefreshToken]
	Revocations   Collection[Revocation]
	SigningKeys   Collection[SigningKey]
	LoginSessions Collection[LoginSession]
	// CIBA: backchannel requests, the delivery queue, consent history.
	Backchannel Collection[BackchannelRequest]
	Deliveries  Collection[Delivery]
	Consents    Collection[ConsentRecord]
	// BackchannelGrants: CIBA request id → its grant.
	BackchannelGrants Collection[BackchannelGrant]
}

// New wraps kv in typed collections.
func New(kv KV) *Store {
	return &Store{
		KV:                kv,
		Clients:           NewCollection[Client](kv, "client"),
		AuthRequests:      NewCollection[AuthRequest](kv, "authreq"),
		Codes:             NewCollection[AuthCode](kv, "code"),
		Grants:            NewCollection[Grant](kv, "grant"),
		RefreshTokens:     NewCollection[RefreshToken](kv, "refresh"),
		Revocations:       NewCollection[Revocation](kv, "revoked"),
		SigningKeys:       NewCollection[SigningKey](kv, "key"),
		LoginSessions:     NewCollection[LoginSession](kv, "login"),
		Backchannel:       NewCollection[BackchannelRequest](kv, "ciba"),
		Deliveries:        NewCollection[Delivery](kv, "delivery"),
		Consents:          NewCollection[ConsentRecord](kv, "consent"),
		BackchannelGrants: NewCollection[BackchannelGrant](kv, "cibagrant"),
	}
}

// Apply commits writes made with the collections' CreateWrite and
// UpdateWrite atomically (KV.Apply).
func (s *Store) Apply(ctx context.Context, writes ...Write) error {
	return s.KV.Apply(ctx, writes...)
}

// Close closes the backend.
func (s *Store) Close() error { return s.KV.Close() }

// HashID returns the id under which a bearer secret (code, refresh token,
// session cookie) is stored, so that a copy of the database holds no usable
// secret.
func HashID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
