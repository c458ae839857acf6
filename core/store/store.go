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
	// BackchannelByUser: CIBA requests by user (BackchannelUserID).
	BackchannelByUser Collection[BackchannelUserEntry]
	// Sign-in through upstream providers, and the bridge's grants.
	UpstreamStates   Collection[UpstreamState]
	UpstreamSessions Collection[UpstreamSession]
	BridgeGrants     Collection[BridgeGrant]
	// Raw spaces: CIBA request objects' spent jtis, wrong CIBA user_codes
	// per hint, the pages' CSRF tokens.
	RequestObjectJTIs Space
	UserCodeFailures  Space
	CSRF              Space
}

// New wraps kv in typed collections, one per key space (keys.go).
func New(kv KV) *Store {
	return &Store{
		KV:                kv,
		Clients:           NewCollection[Client](kv, ClientsPrefix),
		AuthRequests:      NewCollection[AuthRequest](kv, AuthRequestsPrefix),
		Codes:             NewCollection[AuthCode](kv, CodesPrefix),
		Grants:            NewCollection[Grant](kv, GrantsPrefix),
		RefreshTokens:     NewCollection[RefreshToken](kv, RefreshTokensPrefix),
		Revocations:       NewCollection[Revocation](kv, RevocationsPrefix),
		SigningKeys:       NewCollection[SigningKey](kv, SigningKeysPrefix),
		LoginSessions:     NewCollection[LoginSession](kv, LoginSessionsPrefix),
		Backchannel:       NewCollection[BackchannelRequest](kv, BackchannelPrefix),
		Deliveries:        NewCollection[Delivery](kv, DeliveriesPrefix),
		Consents:          NewCollection[ConsentRecord](kv, ConsentsPrefix),
		BackchannelGrants: NewCollection[BackchannelGrant](kv, BackchannelGrantsPrefix),
		BackchannelByUser: NewCollection[BackchannelUserEntry](kv, BackchannelByUserPrefix),
		UpstreamStates:    NewCollection[UpstreamState](kv, UpstreamStatesPrefix),
		UpstreamSessions:  NewCollection[UpstreamSession](kv, UpstreamSessionsPrefix),
		BridgeGrants:      NewCollection[BridgeGrant](kv, BridgeGrantsPrefix),
		RequestObjectJTIs: NewSpace(kv, RequestObjectJTIsPrefix),
		UserCodeFailures:  NewSpace(kv, UserCodeFailuresPrefix),
		CSRF:              NewSpace(kv, CSRFPrefix),
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
