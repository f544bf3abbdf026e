package hubspotproject

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// parsingLib is HubSpot's own project parser, which the HubSpot CLI
// (`hs project upload`, `hs project validate`) runs before anything is
// sent. Pinned so that the test does not change under us.
const parsingLib = "@hubspot/project-parsing-lib@0.23.0"

// checkScript runs the parser's offline part on a project: the project
// config check, the platform version, finding every *-hsmeta.json in an
// allowed component directory, turning each into its component, and the
// uid rule. The JSON-schema check of each component's config is not
// offline: `hs project validate` fetches those schemas from HubSpot with
// the signed-in account's key (project-components-external/
// project-schemas/v3/{platformVersion}); TestProjectMatchesHubSpotSchema
// checks the documented fields instead.
const checkScript = `import fs from 'node:fs';
import path from 'node:path';
import { translate } from '@hubspot/project-parsing-lib/translate';
import { validateUid } from '@hubspot/project-parsing-lib/uid';
import { validateProjectConfig, isKnownPlatformVersion, isLegacyProject } from '@hubspot/project-parsing-lib/projects';
const dir = process.argv[2];
const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'hsproject.json'), 'utf8'));
validateProjectConfig(cfg, dir);
const res = await translate({ projectSourceDir: path.join(dir, cfg.srcDir), platformVersion: cfg.platformVersion }, { skipValidation: true });
console.log(JSON.stringify({
  known: isKnownPlatformVersion(cfg.platformVersion),
  legacy: isLegacyProject(cfg.platformVersion),
  skipped: res.skippedHsMetaFiles,
  nodes: Object.values(res.intermediateRepresentation.intermediateNodesIndexedByUid)
    .map(n => ({ uid: n.uid, type: n.componentType, uidError: validateUid(n.uid) || '' })),
}));
`

// needNode skips without node and npm, except under CI=true, where the
// test must run (.ci/run installs them).
func needNode(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found; install the Debian packages nodejs and npm", tool)
			}
			t.Skipf("%s not found; install the Debian packages nodejs and npm to run HubSpot's project parser", tool)
		}
	}
}

// TestHubSpotParserAcceptsProject runs HubSpot's project parser on the
// exported project: a known, non-legacy platform version, every
// component found where HubSpot looks for it, of the expected type, with
// a valid uid.
func TestHubSpotParserAcceptsProject(t *testing.T) {
	needNode(t)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	tools := filepath.Join(cache, "linehub-test", "project-parsing-lib-0.23.0")
	if _, err := os.Stat(filepath.Join(tools, "node_modules", "@hubspot", "project-parsing-lib", "package.json")); err != nil {
		if err := os.MkdirAll(tools, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(tools, "package.json"), []byte(`{"private":true,"type":"module"}`), 0o644)
		start := time.Now()
		cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--loglevel=error", parsingLib)
		cmd.Dir = tools
		if out, err := cmd.CombinedOutput(); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("npm install %s: %v\n%s", parsingLib, err, out)
			}
			t.Skipf("npm install %s failed (offline?): %v\n%s", parsingLib, err, out)
		}
		t.Logf("installed %s in %s (%.0fs)", parsingLib, tools, time.Since(start).Seconds())
	}
	script := filepath.Join(tools, "check.mjs")
	if err := os.WriteFile(script, []byte(checkScript), 0o644); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "project")
	if err := Export(dir, Options{PublicURL: "https://line.example.com", Properties: testProps}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("node", script, dir).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("HubSpot's parser refused the project: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var res struct {
		Known, Legacy bool
		Skipped       []string
		Nodes         []struct{ UID, Type, UIDError string }
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("parser output %q: %v", out, err)
	}
	if !res.Known || res.Legacy {
		t.Errorf("platform version %s: known %v, legacy %v", PlatformVersion, res.Known, res.Legacy)
	}
	if len(res.Skipped) > 0 {
		t.Errorf("HubSpot ignores these files (not in a component directory): %v", res.Skipped)
	}
	var types []string
	for _, n := range res.Nodes {
		types = append(types, n.Type)
		if n.UIDError != "" {
			t.Errorf("uid %q: %s", n.UID, n.UIDError)
		}
	}
	slices.Sort(types)
	if want := []string{"APPLICATION", "CARD", "WEBHOOKS", "WORKFLOW_ACTION"}; !slices.Equal(types, want) {
		t.Errorf("components %v, want %v", types, want)
	}
}
