package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linehub/app/store"
	"linehub/app/web"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		out     string // in stdout
		errText string // in the error; "" = success
	}{
		{[]string{"version"}, "linehub 1.2.3", ""},
		{[]string{"help"}, "linehub backup FILE", ""},
		{[]string{"frobnicate"}, "", `unknown command "frobnicate"`},
		{[]string{"token"}, "", "usage: linehub token create"},
		{[]string{"token", "create", "--config", cfg}, "", "--name is required"},
		{[]string{"token", "create", "--name", "ci", "--config", cfg}, "lhk_", ""},
		{[]string{"backup", "--config", cfg}, "", "usage: linehub backup FILE"},
		{[]string{"dev"}, "", "usage: linehub dev doubles"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := Run(tt.args, &out, &errOut, "1.2.3")
			switch {
			case tt.errText == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Fatalf("error %v, want one containing %q", err, tt.errText)
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("stdout %q does not contain %q", out.String(), tt.out)
			}
		})
	}
}

// TestAdminResetPassword: the supported way back in when the admin's
// password is lost. The new password works, the old one does not, every
// session ends, and nothing secret is printed.
func TestAdminResetPassword(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+dataDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const email, oldPW, newPW = "owner@example.com", "Tr0ub4dor&3-horse", "correct horse battery staple"
	ctx := context.Background()
	st, err := store.Open(dataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := web.HashNewPassword(oldPW, email)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateFirstAdmin(ctx, email, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, "session-cookie-value", a.ID, "csrf", time.Hour); err != nil {
		t.Fatal(err)
	}
	st.Close()

	run := func(in string, args ...string) (string, string, error) {
		t.Helper()
		stdin = strings.NewReader(in)
		t.Cleanup(func() { stdin = os.Stdin })
		var out, errOut bytes.Buffer
		err := Run(append([]string{"admin"}, append(args, "--config", cfg)...), &out, &errOut, "test")
		return out.String(), errOut.String(), err
	}
	hashNow := func() string {
		st, err := store.Open(dataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a, err := st.AdminByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		return a.PasswordHash
	}

	for name, tc := range map[string]struct {
		in      string
		args    []string
		errText string
	}{
		"unknown email":  {newPW + "\n", []string{"reset-password", "--email", "nobody@example.com"}, `no admin account has the email "nobody@example.com"`},
		"no email":       {newPW + "\n", []string{"reset-password"}, "usage: linehub admin reset-password --email EMAIL"},
		"no subcommand":  {"", nil, "usage: linehub admin reset-password"},
		"weak password":  {"short\n", []string{"reset-password", "--email", email}, "at least 12 characters"},
		"empty stdin":    {"", []string{"reset-password", "--email", email}, "no password on stdin"},
		"too long stdin": {strings.Repeat("x", 5000), []string{"reset-password", "--email", email}, "longer than 1024 bytes"},
	} {
		_, _, err := run(tc.in, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.errText) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.errText)
		}
	}
	if hashNow() != h {
		t.Fatal("a refused reset changed the password")
	}

	out, errOut, err := run(newPW+"\n", "reset-password", "--email", "Owner@Example.com")
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	if !strings.Contains(out, "password of owner@example.com reset") {
		t.Errorf("stdout %q", out)
	}
	if strings.Contains(out+errOut, newPW) || strings.Contains(out+errOut, "argon2") {
		t.Errorf("the reset printed something secret: %q %q", out, errOut)
	}
	now := hashNow()
	if !web.PasswordMatches(now, newPW) || web.PasswordMatches(now, oldPW) {
		t.Error("after the reset the new password must work and the old one not")
	}
	st, err = store.Open(dataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Session(ctx, "session-cookie-value"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a session survived the reset: %v", err)
	}
}

// TestSetupLink: `linehub setup-link` prints a one-time link while no
// admin exists, stored so that a running server accepts it, and refuses
// once one does.
func TestSetupLink(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+dataDir+"\npublic_url: https://crm.example.jp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := Run([]string{"setup-link", "--config", cfg}, &out, &errOut, "test"); err != nil {
		t.Fatalf("setup-link: %v", err)
	}
	if !strings.Contains(out.String(), "https://crm.example.jp/setup?token=") {
		t.Fatalf("setup-link printed %q, want a link to /setup with a token", out.String())
	}
	st, err := store.Open(dataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Setting(context.Background(), "setup_claim"); v == "" {
		t.Error("the link was not stored for the running server")
	}
	h, _ := web.HashNewPassword("Tr0ub4dor&3-horse", "owner@example.com")
	if _, err := st.CreateFirstAdmin(context.Background(), "owner@example.com", h); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out.Reset()
	err = Run([]string{"setup-link", "--config", cfg}, &out, &errOut, "test")
	if err == nil || !strings.Contains(err.Error(), "admin account exists") || strings.Contains(out.String(), "token=") {
		t.Errorf("setup-link with an admin: %v, printed %q; want a refusal and no link", err, out.String())
	}
}
