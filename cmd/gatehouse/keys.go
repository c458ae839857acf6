package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gatehouse-auth/gatehouse/core/keyset"
)

func runKeys(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return errors.New("usage: gatehouse keys rotate [--config FILE]")
	}
	cfg, _, err := loadConfig("keys rotate", args[1:], nil)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := keyset.Open(ctx, cfg, st)
	if err != nil {
		return err
	}
	kid, err := keys.Rotate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "new signing key:", kid)
	return nil
}
