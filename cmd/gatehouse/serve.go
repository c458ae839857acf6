package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

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
	ln, err := server.Listen(ctx, cfg.Server.Addr)
	if err != nil {
		return err
	}
	// SIGHUP and POST /admin/plugins/reload read the configuration again
	// exactly as above: embedded defaults, --config file, environment.
	srv.Plugins().SetConfigSource(cfg, func() (*config.Config, error) {
		return config.Load(gatehouse.DefaultConfig, path)
	})
	go reloadOnHangup(ctx, hup, srv)
	return srv.Serve(ctx, ln)
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
