// Package server runs linehub's listeners and their lifecycle: plain HTTP
// on `listen`, or, with a domain, HTTPS with an automatic ACME certificate
// plus a plain-HTTP listener for challenges and redirects.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/config"
)

// ShutdownTimeout bounds how long in-flight requests may take after a stop.
const ShutdownTimeout = 15 * time.Second

const (
	readTimeout = 30 * time.Second
	idleTimeout = 2 * time.Minute
)

// Options wires Serve.
type Options struct {
	App    *fiber.App
	Config *config.Config
	Logger *slog.Logger
	// Ready, if set, is called once every listener is bound and serving.
	Ready func(addrs []net.Addr)
}

// Serve listens until ctx ends, then stops accepting and lets in-flight
// requests (webhooks waiting on their commit) finish. Without a domain it
// serves plain HTTP on Config.Listen; with one, see serveTLS.
func Serve(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Config.Domain != "" {
		return serveTLS(ctx, o)
	}
	ln, err := listen(o.Config.Listen, "listen")
	if err != nil {
		return err
	}
	o.Logger.Info("listening", "addr", ln.Addr().String(), "tls", false)
	if o.Ready != nil {
		o.Ready([]net.Addr{ln.Addr()})
	}
	return runFiber(ctx, o, ln)
}

// runFiber serves the app on ln until ctx ends, then shuts it down
// gracefully: the listener closes at once, open requests get
// ShutdownTimeout to finish.
func runFiber(ctx context.Context, o Options, ln net.Listener) error {
	// Without timeouts a client that sends nothing holds a connection
	// forever; these bound reading a request and keeping an idle one.
	srv := o.App.Server()
	if srv.ReadTimeout == 0 {
		srv.ReadTimeout = readTimeout
	}
	if srv.IdleTimeout == 0 {
		srv.IdleTimeout = idleTimeout
	}
	errc := make(chan error, 1)
	go func() { errc <- o.App.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	o.Logger.Info("shutting down: finishing in-flight requests")
	if err := o.App.ShutdownWithTimeout(ShutdownTimeout); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// listen binds a TCP address and turns the usual failures into advice
// naming the config key.
func listen(addr, key string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	hint := ""
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = "; another program (a web server such as nginx or apache?) already uses this port: stop it, or change " + key
	case errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission):
		hint = "; ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (the systemd unit written by install.sh grants it)"
	}
	return nil, fmt.Errorf("listen on %s (config key %s): %w%s", addr, key, err, hint)
}
