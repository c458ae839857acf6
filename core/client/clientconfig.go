package client

import (
	"encoding/json"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
)

// Client configuration paths of doorkeeper-ciba's device API.
const (
	ClientConfigPath           = "/v1/backchannel/clientconfig"
	DoorkeeperClientConfigPath = "/backchannel/clientconfig"
)

// clientConfig is doorkeeper-ciba's POST /backchannel/clientconfig as a thin
// mapping onto the RFC 7592 update: a form with client_id, ciba_notify_type
// (the token delivery mode, any case) and ciba_notify_endpoint (the
// notification endpoint; empty removes it) becomes the client's current
// metadata with backchannel_token_delivery_mode and
// backchannel_client_notification_endpoint replaced, authenticated by the
// registration access token and validated exactly as PUT /v1/register/{id}.
// The answer is the RFC 7592 client information response.
func (h *Handler) clientConfig(c *fiber.Ctx) error {
	params, err := oauth.ParseBody(c)
	if err != nil {
		return oauth.WriteError(c, err)
	}
	id := params.Get("client_id")
	if id == "" {
		return oauth.WriteError(c, oauth.ErrInvalidRequest().WithDescription("client_id is required"))
	}
	cl, token, oerr := h.manageID(c, id)
	if oerr != nil {
		return oauth.WriteError(c, oerr)
	}
	mode := params.Get("ciba_notify_type")
	if mode == "" {
		return oauth.WriteError(c, oauth.ErrInvalidRequest().WithDescription("ciba_notify_type is required (poll, ping or push)"))
	}
	body, err := configBody(cl.ID, cl.ClientMetadata, mode, params.Get("ciba_notify_endpoint"))
	if err != nil {
		return oauth.WriteError(c, oauth.ErrServerError().WithParent(err))
	}
	reg, oerr := parseRegistration(body, h.policy)
	if oerr != nil {
		return oauth.WriteError(c, oerr)
	}
	return h.apply(c, cl, token, reg)
}

// configBody is the RFC 7592 update body that sets meta's delivery mode and
// notification endpoint: the stored metadata, as a read would return it.
func configBody(id string, meta any, mode, endpoint string) ([]byte, error) {
	raw, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("client: encode metadata: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("client: decode metadata: %w", err)
	}
	m["client_id"] = id
	m["backchannel_token_delivery_mode"] = mode
	delete(m, "backchannel_client_notification_endpoint")
	if endpoint != "" {
		m["backchannel_client_notification_endpoint"] = endpoint
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("client: encode update: %w", err)
	}
	return body, nil
}
