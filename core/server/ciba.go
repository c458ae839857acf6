package server

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/ciba"
	"github.com/gatehouse-auth/gatehouse/core/grant"
	"github.com/gatehouse-auth/gatehouse/core/upstream"
)

// mountCIBA builds CIBA on the token endpoint's minter, adds its grant to
// tokens, and mounts its endpoints; Serve runs its delivery queue.
func (s *Server) mountCIBA(base fiber.Router, tokens *grant.Handler, providers *upstream.Providers) error {
	svc, err := ciba.New(ciba.Deps{
		Config: s.cfg, Store: s.st, Issuer: s.issuer, Keys: s.keys, Minter: tokens.Minter(), Hooks: s.plugins, Outbound: s.out,
		Pages: providers.Pages, Languages: s.langs,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := tokens.Add(svc.Flow()); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	svc.Register(base, s.admin)
	s.ciba = svc
	return nil
}

// CIBA exposes the CIBA service (tests and benchmarks).
func (s *Server) CIBA() *ciba.Service { return s.ciba }
