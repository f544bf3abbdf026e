package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"linehub/app/store"
	"linehub/app/web"
)

const setupLinkUsage = `  linehub setup-link                   print a new one-time setup link (valid 30
                                       minutes) while no admin account exists; a
                                       running linehub accepts it, earlier links stop
`

// setupLinkCmd mints a fresh first-run link. The link is stored in the
// database, which a running server reads on every setup request, so it
// works without a restart; it retires every earlier link.
func setupLinkCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("setup-link", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errors.New("usage: linehub setup-link [--config FILE]")
	}
	cfg, err := loadConfig(args)
	if err != nil {
		return err
	}
	st, err := store.Open(cfg.DataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	link, err := web.MintSetupLink(context.Background(), st, cfg)
	if errors.Is(err, store.ErrAdminExists) {
		return fmt.Errorf("no setup link: an admin account exists already (in %s); sign in, or set a new password with linehub admin reset-password --email EMAIL", cfg.DataDir)
	}
	if err != nil {
		return fmt.Errorf("setup link: %w", err)
	}
	fmt.Fprintf(stdout, "Open this one-time link within 30 minutes to create the admin account\n(earlier setup links no longer work):\n\n    %s\n", link)
	return nil
}
