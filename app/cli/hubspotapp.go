package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"linehub/app/hubspotproject"
	"linehub/app/store"
	"linehub/app/web"
)

const hubspotAppUsage = `  linehub hubspot-app export DIR      write the HubSpot app project for your portal
                                       (LINE card, workflow action, webhooks) to DIR;
                                       upload it with the HubSpot CLI (see DIR/README.md)
`

const hubspotAppHelp = `usage: linehub hubspot-app export DIR [--force] [--name NAME] [--config FILE]

Writes the HubSpot developer project (platform ` + hubspotproject.PlatformVersion + `) of a private app for
your own HubSpot portal: a "LINE" card on contact records, the workflow
action "Send LINE message" and webhooks for contact deletion, merge and
changes of linehub's LINE properties. Every URL in it is linehub's public
URL (public_url, domain, or the one saved in the setup wizard), which must
start with https://. The project holds no secret.

Then, in DIR (Node.js 20 or newer):
  npm install -g @hubspot/cli
  hs account auth
  hs project upload
and paste the app's access token and client secret (HubSpot: Development →
Projects → the project → the app → Auth) into linehub's Settings.

  --force       write into DIR even if it is not empty
  --name NAME   the app's name in HubSpot (default linehub)
`

// hubspotAppCmd writes the HubSpot project. It reads the public URL and
// the connections from the database as the server does, and never
// creates a database: before the first start only the configuration
// counts.
func hubspotAppCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		return errors.New(strings.TrimSpace(hubspotAppHelp))
	}
	fs := flag.NewFlagSet("hubspot-app export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("config", "", "config file")
	force := fs.Bool("force", false, "write into a non-empty directory")
	name := fs.String("name", "", "the app's name in HubSpot")
	var dirs []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, hubspotAppHelp)
				return nil
			}
			return fmt.Errorf("%w\n\n%s", err, hubspotAppHelp)
		}
		if fs.NArg() == 0 {
			break
		}
		dirs, rest = append(dirs, fs.Arg(0)), fs.Args()[1:]
	}
	if len(dirs) != 1 {
		return errors.New(strings.TrimSpace(hubspotAppHelp))
	}
	cfg, err := loadConfig(args[1:])
	if err != nil {
		return err
	}
	ctx := context.Background()
	o := hubspotproject.Options{PublicURL: cfg.WebhookBaseURL()}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, store.DBFile)); err == nil {
		st, err := store.Open(cfg.DataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		defer st.Close()
		if o, err = web.HubSpotAppOptions(ctx, st, cfg); err != nil {
			return fmt.Errorf("hubspot app: %w", err)
		}
	}
	o.AppName, o.Force = *name, *force
	if err := hubspotproject.Export(dirs[0], o); err != nil {
		if errors.Is(err, hubspotproject.ErrNotHTTPS) {
			return fmt.Errorf("%w\nset public_url (or domain) in the configuration, or the public URL in the setup wizard / Settings", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "HubSpot app project written to %s (%d LINE properties watched)\nnext, in that directory: npm install -g @hubspot/cli && hs account auth && hs project upload\nthen paste the app's access token and client secret into linehub's Settings (see %s)\n",
		dirs[0], len(o.Properties), filepath.Join(dirs[0], "README.md"))
	return nil
}
