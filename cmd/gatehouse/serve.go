package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/server"
)

func runServe(ctx context.Context, args []string, _ io.Writer) error {
	cfg, fs, err := loadConfig("serve", args, nil)
	if err != nil {
		return err
	}
	path := fs.Lookup("config").Value.String()
	applyMemoryLimit(cfg.Server.MemoryLimitMiB)
	// Caught from now on: SIGHUP's default action would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	grace := cfg.Server.ShutdownGrace
	// The grace counts from the signal: Serve drains requests within part
	// of it, and the store closes within what is left.
	stopped := make(chan time.Time, 1)
	defer context.AfterFunc(ctx, func() { stopped <- time.Now() })()
	closeStore := func() error {
		deadline := time.Now().Add(grace)
		select {
		case at := <-stopped:
			deadline = at.Add(grace)
		default:
		}
		return closeWithin(st, deadline, grace)
	}
	srv, err := server.New(ctx, cfg, st)
	if err != nil {
		return errors.Join(err, closeStore())
	}
	ln, err := server.Listen(ctx, cfg.Server.Addr)
	if err != nil {
		return errors.Join(err, closeStore())
	}
	// SIGHUP and POST /admin/plugins/reload read the configuration again
	// exactly as above: embedded defaults, --config file, environment.
	srv.Plugins().SetConfigSource(cfg, func() (*config.Config, error) {
		return config.Load(gatehouse.DefaultConfig, path)
	})
	go reloadOnHangup(ctx, hup, srv)
	err = srv.Serve(ctx, ln)
	return errors.Join(err, closeStore())
}

// closeWithin closes the store, or gives up at deadline: a store that
// cannot close (Badger retries a flush to a data directory that is gone,
// forever) must not keep the process from exiting. With
// storage.sync_writes (the default) every write the server acknowledged is
// on disk already.
func closeWithin(st io.Closer, deadline time.Time, grace time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- st.Close() }()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("closing storage: %w", err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("storage did not close within server.shutdown_grace (%s): exiting without closing it", grace)
	}
}

// applyMemoryLimit sets the runtime's soft memory limit from the
// configuration, unless GOMEMLIMIT is set: the runtime has applied that one
// already, and the environment is how an operator overrides a file.
func applyMemoryLimit(mib int) {
	if mib <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(int64(mib) << 20)
}

// reloadOnHangup reloads on every SIGHUP, the operator's way to reload
// without the watcher or the admin API: the configuration is read again and
// its plugin defaults, settings and hook bindings applied (an invalid one
// changes nothing), then the plugin directory rescanned. Other keys need a
// restart; the reload logs which of them changed.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, srv *server.Server) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			slog.Info("SIGHUP: reloading the configuration's plugin settings and hook bindings, and the plugin directory",
				"reloads", config.Reloadable())
			// Refusals and load failures are logged by the host, each with
			// every problem.
			_, _ = srv.Plugins().ReloadConfig(ctx)
		}
	}
}
