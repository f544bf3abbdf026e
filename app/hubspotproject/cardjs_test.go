package hubspotproject_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspotproject"
)

// cardDir holds the contact card's React code and its tests.
const cardDir = "project/src/app/cards"

// TestCardJS builds and tests the card's code with HubSpot's UI-extension
// packages from npm, exactly as locked in package-lock.json: npm ci, then
// npm test (vitest on @hubspot/ui-extensions/testing). It needs node and
// npm (Debian packages nodejs npm) and the npm registry; without node it
// skips, except under CI=true where it must run.
func TestCardJS(t *testing.T) {
	if testing.Short() {
		t.Skip("npm ci downloads packages: skipped with -short")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found; CI must install the Debian packages nodejs npm", tool)
			}
			t.Skipf("%s not found: install the Debian packages nodejs npm to build and test the HubSpot card", tool)
		}
	}
	// A copy, so node_modules never lands in the source tree (the project
	// is embedded into linehub and exported as it is there).
	work := t.TempDir()
	err := filepath.WalkDir(cardDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(cardDir, p)
		if d.IsDir() {
			if d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(work, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(work, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the card: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "npm", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "CI=true", "NO_COLOR=1", "npm_config_update_notifier=false")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("ci", "--no-audit", "--no-fund")
	out := run("test")
	t.Logf("npm test:\n%s", out)
	if !strings.Contains(out, "passed") || strings.Contains(out, "failed") {
		t.Fatalf("npm test did not report passing tests:\n%s", out)
	}

	// The card as exported (its development files left out) still
	// bundles: esbuild, which vite brings, resolves every import of it
	// from the exported files and the installed packages.
	files, err := hubspotproject.Files(hubspotproject.Options{PublicURL: "https://line.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	exp := t.TempDir()
	for name, b := range files {
		if path.Dir(name) == "src/app/cards" {
			if err := os.WriteFile(filepath.Join(exp, path.Base(name)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink(filepath.Join(work, "node_modules"), filepath.Join(exp, "node_modules")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(exp, "node_modules", ".bin", "esbuild"), "LineCard.jsx", "--bundle",
		"--outfile="+filepath.Join(t.TempDir(), "card.js"), "--log-level=warning")
	cmd.Dir = exp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bundle the exported card: %v\n%s", err, out)
	}
}
