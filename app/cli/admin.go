package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"linehub/app/store"
	"linehub/app/web"
)

const adminUsage = `  linehub admin reset-password --email EMAIL
                                       set a new password for an admin account, read
                                       from the terminal (asked twice, not shown) or
                                       from stdin's first line; signs it out everywhere
`

// stdin is where admin reset-password reads the new password (tests
// replace it).
var stdin io.Reader = os.Stdin

// maxPasswordLen bounds what is read from stdin; the dashboard's own
// forms are bounded by the request size.
const maxPasswordLen = 1024

func adminCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "reset-password" {
		return errors.New("usage: linehub admin reset-password --email EMAIL [--config FILE]")
	}
	fs := flag.NewFlagSet("admin reset-password", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("email", "", "the admin account's email")
	fs.String("config", "", "config file")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("admin reset-password: %w", err)
	}
	if *email == "" || fs.NArg() > 0 {
		return errors.New("usage: linehub admin reset-password --email EMAIL [--config FILE]")
	}
	cfg, err := loadConfig(args[1:])
	if err != nil {
		return err
	}
	st, err := store.Open(cfg.DataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	a, err := st.AdminByEmail(ctx, *email)
	if errors.Is(err, store.ErrNotFound) {
		has, herr := st.HasAdmin(ctx)
		if herr == nil && !has {
			return fmt.Errorf("no admin account has the email %q: there is none at all; start linehub and use the one-time setup link it prints", *email)
		}
		return fmt.Errorf("no admin account has the email %q (in %s)", *email, cfg.DataDir)
	}
	if err != nil {
		return fmt.Errorf("find admin %s: %w", *email, err)
	}
	pw, err := readNewPassword(stderr)
	if err != nil {
		return err
	}
	hash, err := web.HashNewPassword(pw, a.Email)
	if err != nil {
		return fmt.Errorf("new password refused: %w", err)
	}
	// No session is kept: whoever may hold the old password is signed out.
	if err := st.SetAdminPassword(ctx, a.ID, hash, ""); err != nil {
		return fmt.Errorf("reset password of %s: %w", a.Email, err)
	}
	fmt.Fprintf(stdout, "password of %s reset; every session of this account is signed out\n", a.Email)
	return nil
}

// readNewPassword asks twice without echo on a terminal; otherwise it
// reads the first line of stdin.
func readNewPassword(prompt io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "New password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(prompt, "Repeat it: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(first) != string(second) {
			return "", errors.New("the two passwords differ; nothing changed")
		}
		return string(first), nil
	}
	line, err := bufio.NewReaderSize(io.LimitReader(stdin, maxPasswordLen+1), maxPasswordLen+1).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	if len(line) > maxPasswordLen {
		return "", fmt.Errorf("the password on stdin is longer than %d bytes", maxPasswordLen)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin (give it on the first line, or run this on a terminal to be asked)")
	}
	return pw, nil
}
