package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/hubspot"
	"linehub/app/server"
	"linehub/app/store"
)

const opsUsage = `  linehub backup FILE                  write a consistent backup of the live database
                                       (and its secret key) to FILE
  linehub restore FILE                 replace the database with a backup; linehub
                                       must be stopped; the old files are kept aside
  linehub check                        check config, database, HubSpot and LINE
                                       tokens and the domain's DNS; exit 1 on failure
`

// parseOps parses "--config FILE" and one positional argument, in any order.
func parseOps(name string, args []string, positional string) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("config", "", "config file")
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	switch {
	case positional == "" && len(pos) == 0:
		return "", nil
	case positional != "" && len(pos) == 1:
		return pos[0], nil
	case positional == "":
		return "", fmt.Errorf("usage: linehub %s [--config FILE]", name)
	}
	return "", fmt.Errorf("usage: linehub %s %s [--config FILE]", name, positional)
}

func backupCmd(args []string, stdout io.Writer) error {
	file, err := parseOps("backup", args, "FILE")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(args)
	if err != nil {
		return err
	}
	start := time.Now()
	// The certificates and ACME account go along: a restore on a new
	// server serves HTTPS at once instead of asking the CA again.
	info, err := store.Backup(context.Background(), cfg.DataDir, file, server.CertDir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s (%d bytes, schema version %d, %d certificate files, %.1fs)\nit holds the secret key: keep it as private as the server itself\n",
		file, info.Bytes, info.SchemaVersion, info.Files, time.Since(start).Seconds())
	return nil
}

func restoreCmd(args []string, stdout io.Writer) error {
	file, err := parseOps("restore", args, "FILE")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(args)
	if err != nil {
		return err
	}
	// Holding the lock keeps a server from starting halfway through.
	unlock, err := store.LockDataDir(cfg.DataDir)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("restore: %w; stop it first (systemctl stop linehub), then run restore again", err)
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer unlock()
	res, err := store.Restore(context.Background(), cfg.DataDir, file, server.CertDir)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s (made %s, schema version %d) into %s\n",
		file, res.Info.CreatedAt.Format(time.RFC3339), res.Info.SchemaVersion, cfg.DataDir)
	for _, a := range res.Aside {
		fmt.Fprintf(stdout, "previous file kept as %s\n", a)
	}
	fmt.Fprintln(stdout, "start linehub again (systemctl start linehub); pending migrations run at start")
	return nil
}

// report collects the lines of `linehub check`.
type report struct {
	w      io.Writer
	failed int
}

func (r *report) line(status, what, detail string) {
	if status == "FAIL" {
		r.failed++
	}
	fmt.Fprintf(r.w, "%-4s  %-22s %s\n", status, what, detail)
}

func checkCmd(args []string, stdout io.Writer) error {
	if _, err := parseOps("check", args, ""); err != nil {
		return err
	}
	r := &report{w: stdout}
	path := config.Path(args, os.Environ())
	cfg, err := loadConfig(args)
	if err != nil {
		r.line("FAIL", "config", err.Error())
		return errors.New("check failed")
	}
	src := path
	if src == "" {
		src = "defaults and LINEHUB_* variables (no file)"
	}
	r.line("ok", "config", src)
	for _, w := range cfg.Warnings {
		r.line("warn", "config", w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if _, err := os.Stat(cfg.DataDir); err != nil {
		// Locking would create it (as whoever runs check).
		r.line("warn", "data directory", cfg.DataDir+" does not exist yet; linehub creates it at its first start")
		checkNetwork(ctx, r, cfg, false)
		return r.finish()
	}
	running := false
	if unlock, err := store.LockDataDir(cfg.DataDir); errors.Is(err, store.ErrLocked) {
		running = true
		r.line("ok", "server", "running ("+err.Error()+")")
	} else if err != nil {
		r.line("FAIL", "data directory", err.Error())
		return errors.New("check failed")
	} else {
		unlock()
		r.line("warn", "server", "not running on "+cfg.DataDir)
	}
	checkNetwork(ctx, r, cfg, running)

	dbPath := filepath.Join(cfg.DataDir, store.DBFile)
	if _, err := os.Stat(dbPath); err != nil {
		// Opening would create it (as whoever runs check): leave that to
		// the first start.
		r.line("warn", "database", "no database at "+dbPath+" yet; linehub creates it at its first start")
		return r.finish()
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(cfg.DataDir, store.Options{Logger: quiet})
	if err != nil {
		r.line("FAIL", "database", err.Error())
		return errors.New("check failed")
	}
	defer st.Close()
	if err := st.CheckWritable(ctx); err != nil {
		r.line("FAIL", "database", "not writable: "+err.Error())
	} else {
		v, _ := st.SchemaVersion(ctx)
		r.line("ok", "database", fmt.Sprintf("%s (schema version %d, writable)", st.Path(), v))
	}

	hs := hubspot.New(hubspot.Config{BaseURL: cfg.HubSpot.BaseURL, Token: cfg.HubSpot.Token, Tier: cfg.HubSpot.Tier, Logger: quiet, MaxRetries: 1})
	reg, err := connections.New(connections.Options{Store: st, HubSpot: hs, Config: cfg, Logger: quiet})
	if err != nil {
		r.line("FAIL", "hubspot", err.Error())
	} else {
		checkUpstreams(ctx, r, reg, st)
	}

	return r.finish()
}

// checkNetwork reports on the listeners (free, unless linehub holds them)
// and, with a domain, its DNS and stored certificates.
func checkNetwork(ctx context.Context, r *report, cfg *config.Config, running bool) {
	if cfg.Domain == "" {
		r.line("ok", "listen", cfg.Listen+" (plain HTTP, no domain set)")
		if !running {
			checkPort(r, "listen", cfg.Listen)
		}
	} else {
		dns := server.CheckDNS(ctx, cfg.Domain)
		if dns.OK() {
			r.line("ok", "dns", dns.String())
		} else {
			// Split-horizon DNS or a NAT in front can make this look wrong
			// while certificates work: warn, don't fail.
			r.line("warn", "dns", dns.String())
		}
		if !running {
			checkPort(r, "https_listen", cfg.HTTPSListen)
			checkPort(r, "http_listen", cfg.HTTPListen)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.CertDir)); err == nil {
			r.line("ok", "certificates", filepath.Join(cfg.DataDir, server.CertDir))
		} else {
			r.line("warn", "certificates", "none stored yet; obtained at the first start with the domain")
		}
	}
}

func (r *report) finish() error {
	if r.failed > 0 {
		return fmt.Errorf("check failed: %d problem(s)", r.failed)
	}
	fmt.Fprintln(r.w, "all checks passed")
	return nil
}

func checkUpstreams(ctx context.Context, r *report, reg *connections.Registry, st *store.Store) {
	switch err := reg.CheckHubSpot(ctx); {
	case errors.Is(err, connections.ErrHubSpotNotConfigured):
		r.line("warn", "hubspot", "no token yet: finish the setup wizard or set hubspot.token")
	case errors.Is(err, hubspot.ErrUnauthorized):
		r.line("FAIL", "hubspot", "HubSpot rejects the access token (expired or revoked?)")
	case err != nil:
		r.line("FAIL", "hubspot", err.Error())
	default:
		info := reg.HubSpotInfo(ctx)
		r.line("ok", "hubspot", fmt.Sprintf("token …%s accepted (portal %d, tier %s)", info.TokenLast4, info.PortalID, info.Tier))
	}
	conns, err := st.Connections(ctx)
	if err != nil {
		r.line("FAIL", "connections", err.Error())
		return
	}
	if len(conns) == 0 {
		r.line("ok", "connections", "none yet")
	}
	for _, c := range conns {
		what := fmt.Sprintf("line #%d", c.Serial)
		bot, err := reg.CheckLINE(ctx, c.ID)
		switch {
		case errors.Is(err, connections.ErrNoChannelToken):
			r.line("warn", what, c.Name+": no channel access token set")
		case err != nil:
			r.line("FAIL", what, c.Name+": "+err.Error())
		default:
			r.line("ok", what, fmt.Sprintf("%s: token works for bot %q (%s)", c.Name, bot.DisplayName, bot.BasicID))
		}
	}
}

func checkPort(r *report, key, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "permission denied") {
			msg += " (ports below 1024 need root or CAP_NET_BIND_SERVICE; the systemd unit grants it, so this may be fine)"
			r.line("warn", key, msg)
			return
		}
		r.line("FAIL", key, msg)
		return
	}
	ln.Close()
	r.line("ok", key, addr+" is free")
}
