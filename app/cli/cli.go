// Package cli is linehub's command line: serve (the appliance), token,
// admin, version, backup, restore, check and the development doubles.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"linehub/app/config"
	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

const usageFormat = `linehub connects LINE Official Accounts to HubSpot.

Usage:
  linehub [serve]                      run the appliance (default)
  linehub token create --name NAME     create an admin API token (printed once)
  linehub version                      print the version
%s%s%s%s  linehub dev doubles [--empty]       run LINE and HubSpot doubles with a demo
                                       and a control page (see README)

Every command takes --config FILE (or LINEHUB_CONFIG); without one the
defaults apply (SQLite in ./data, plain HTTP on :8080).
`

var usage = fmt.Sprintf(usageFormat, opsUsage, adminUsage, setupLinkUsage, hubspotAppUsage)

// Run runs the command named by args[0] (serve when none is given);
// version is the build's version string.
func Run(args []string, stdout, stderr io.Writer, version string) error {
	cmd, rest := "serve", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(rest, stderr, version)
	case "token":
		return tokenCmd(rest, stdout)
	case "admin":
		return adminCmd(rest, stdout, stderr)
	case "setup-link":
		return setupLinkCmd(rest, stdout)
	case "version":
		fmt.Fprintln(stdout, "linehub", version)
		return nil
	case "dev":
		return devCmd(rest, stdout)
	case "backup":
		return backupCmd(rest, stdout)
	case "restore":
		return restoreCmd(rest, stdout)
	case "check":
		return checkCmd(rest, stdout)
	case "hubspot-app":
		return hubspotAppCmd(rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}

func loadConfig(args []string) (*config.Config, error) {
	cfg, err := config.Load(config.Path(args, os.Environ()), os.Environ())
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func tokenCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: linehub token create --name NAME")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	name := fs.String("name", "", "a name to recognise the token by")
	fs.String("config", "", "config file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("--name is required")
	}
	cfg, err := loadConfig(args[1:])
	if err != nil {
		return err
	}
	st, err := store.Open(cfg.DataDir, store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer st.Close()
	plain, _, err := st.CreateAPIToken(context.Background(), *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, plain)
	return nil
}

// devCmd runs the LINE and HubSpot doubles, seeded with a demo, and the
// control page that plays the friends' side, for trying linehub on a laptop.
func devCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "doubles" {
		return errors.New(devUsage)
	}
	fs := flag.NewFlagSet("dev doubles", flag.ContinueOnError)
	fs.SetOutput(stdout)
	hsAddr := fs.String("hubspot", "127.0.0.1:9101", "HubSpot double address")
	lineAddr := fs.String("line", "127.0.0.1:9102", "LINE double address")
	controlAddr := fs.String("control", "127.0.0.1:9103", "control page address (loopback only)")
	empty := fs.Bool("empty", false, "no friends, contacts or lists, only the two LINE accounts")
	linehub := fs.String("linehub", "http://localhost:8080", "linehub's public URL (LINE Login's callback URL is under it)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runDevDoubles(ctx, *hsAddr, *lineAddr, *controlAddr, *linehub, *empty, stdout)
}

const devUsage = "usage: linehub dev doubles [--hubspot ADDR] [--line ADDR] [--control ADDR] [--linehub URL] [--empty]"

func runDevDoubles(ctx context.Context, hsAddr, lineAddr, controlAddr, linehub string, empty bool, stdout io.Writer) error {
	log := slog.New(slog.NewTextHandler(stdout, nil))
	cl, err := listenLoopback(controlAddr)
	if err != nil {
		return err
	}
	defer cl.Close()
	hs, err := hubspottest.NewOn(hsAddr, hubspottest.Options{Token: devHubSpotToken, PortalID: devPortalID})
	if err != nil {
		return fmt.Errorf("start the HubSpot double: %w", err)
	}
	defer hs.Close()
	ln, err := linetest.NewOn(lineAddr, linetest.Options{})
	if err != nil {
		return fmt.Errorf("start the LINE double: %w", err)
	}
	defer ln.Close()
	demo, err := seedDevDemo(hs, ln, empty, linehub, log)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: demo.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(cl) }()
	printDevNextSteps(stdout, hs.URL(), ln.URL(), "http://"+cl.Addr().String()+"/", linehub, empty)
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("control page: %w", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return nil
}
