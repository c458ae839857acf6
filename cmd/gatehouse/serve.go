package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/gatehouse-auth/gatehouse/core/server"
)

func runServe(ctx context.Context, args []string, _ io.Writer) error {
	cfg, _, err := loadConfig("serve", args, nil)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			slog.Error("closing storage", "error", err)
		}
	}()
	srv, err := server.New(ctx, cfg, st)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return srv.Serve(ctx, ln)
}
