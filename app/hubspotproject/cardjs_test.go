package hubspotproject_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
}
