package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"linehub/app/store"
)

// TestHubSpotAppExport: `linehub hubspot-app export DIR` writes the
// project with the public URL saved in the wizard and the connections'
// properties, refuses an http URL and a non-empty DIR (unless --force).
func TestHubSpotAppExport(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+dataDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "app")
	var stdout, stderr bytes.Buffer

	// Before the first start: no database (none is created), no public
	// URL but the local listener's http one.
	err := Run([]string{"hubspot-app", "export", out, "--config", cfg}, &stdout, &stderr, "test")
	if err == nil || !strings.Contains(err.Error(), "https://") || !strings.Contains(err.Error(), "public_url") {
		t.Errorf("export without an https public URL: %v", err)
	}
	for _, p := range []string{out, dataDir} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refused export created %s", p)
		}
	}

	st, err := store.Open(dataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.SetSetting(ctx, "web.public_url", "https://crm.example.jp"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateConnection(ctx, &store.Connection{Name: "Shop"}, "s", "t", 0); err != nil {
		t.Fatal(err)
	}
	st.Close()

	if err := Run([]string{"hubspot-app", "export", "--config", cfg, out}, &stdout, &stderr, "test"); err != nil {
		t.Fatalf("export: %v", err)
	}
	if !strings.Contains(stdout.String(), "hs project upload") || !strings.Contains(stdout.String(), "7 LINE properties") {
		t.Errorf("export printed %q", stdout.String())
	}
	hooks, err := os.ReadFile(filepath.Join(out, "src", "app", "webhooks", "webhooks-hsmeta.json"))
	if err != nil || !bytes.Contains(hooks, []byte(`"https://crm.example.jp/hubspot/app/webhooks"`)) || !bytes.Contains(hooks, []byte(`"line_follow_1"`)) {
		t.Errorf("webhooks: %v\n%s", err, hooks)
	}
	if _, err := os.Stat(filepath.Join(out, "hsproject.json")); err != nil {
		t.Error(err)
	}

	err = Run([]string{"hubspot-app", "export", out, "--config", cfg}, &stdout, &stderr, "test")
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("export into a non-empty directory: %v", err)
	}
	if err := Run([]string{"hubspot-app", "export", out, "--force", "--name", "LINE for Shop", "--config", cfg}, &stdout, &stderr, "test"); err != nil {
		t.Errorf("export --force: %v", err)
	}
	if app, _ := os.ReadFile(filepath.Join(out, "src", "app", "app-hsmeta.json")); !bytes.Contains(app, []byte(`"LINE for Shop"`)) {
		t.Errorf("--name not used:\n%s", app)
	}

	for _, args := range [][]string{{"hubspot-app"}, {"hubspot-app", "export"}, {"hubspot-app", "export", "a", "b"}} {
		if err := Run(args, &stdout, &stderr, "test"); err == nil || !strings.Contains(err.Error(), "usage: linehub hubspot-app export DIR") {
			t.Errorf("%v: %v", args, err)
		}
	}
	stdout.Reset()
	_ = Run([]string{"help"}, &stdout, &stderr, "test")
	if !strings.Contains(stdout.String(), "hubspot-app export DIR") {
		t.Error("help does not list hubspot-app export")
	}
}
