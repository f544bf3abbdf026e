package hubspotproject_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"

	"linehub/app/hubspotproject"
)

// importPattern finds the modules a card file imports (static imports
// and re-exports; the card uses no dynamic import).
var importPattern = regexp.MustCompile(`(?m)^\s*(?:import|export)\s(?:[^'";]*?\sfrom\s)?['"]([^'"]+)['"]`)

// The exported card holds what HubSpot's build needs and nothing of the
// card's development: no tests, no stand-in of linehub, no .gitignore
// (HubSpot's CLI leaves hidden files out of an upload anyway). What is
// left must still build: every file the card imports ships with it, every
// package it imports is a dependency in its package.json, and package.json
// and package-lock.json ship unchanged, so that npm's install in HubSpot's
// build finds the lock consistent.
func TestExportedCardHasNoDevFiles(t *testing.T) {
	files, err := hubspotproject.Files(hubspotproject.Options{PublicURL: "https://line.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var card []string
	for name := range files {
		if path.Dir(name) == "src/app/cards" {
			card = append(card, path.Base(name))
		}
	}
	sort.Strings(card)
	want := []string{"LineCard.jsx", "line-card-hsmeta.json", "package-lock.json", "package.json"}
	if strings.Join(card, " ") != strings.Join(want, " ") {
		t.Errorf("exported card files %v, want %v", card, want)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(files["src/app/cards/package.json"], &pkg); err != nil {
		t.Fatal(err)
	}
	for _, name := range card {
		if !strings.HasSuffix(name, ".js") && !strings.HasSuffix(name, ".jsx") {
			continue
		}
		for _, m := range importPattern.FindAllStringSubmatch(string(files["src/app/cards/"+name]), -1) {
			mod := m[1]
			if strings.HasPrefix(mod, ".") {
				if _, ok := files[path.Join("src/app/cards", mod)]; !ok {
					t.Errorf("%s imports %s, which is not exported", name, mod)
				}
				continue
			}
			parts := strings.Split(mod, "/")
			pk := parts[0]
			if strings.HasPrefix(pk, "@") && len(parts) > 1 {
				pk += "/" + parts[1]
			}
			if _, ok := pkg.Dependencies[pk]; !ok {
				t.Errorf("%s imports %s, which is not a dependency in package.json", name, mod)
			}
		}
	}
	for _, name := range []string{"package.json", "package-lock.json"} {
		src, err := os.ReadFile(cardDir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(files["src/app/cards/"+name], src) {
			t.Errorf("%s is exported changed: the lock would no longer match", name)
		}
	}
}
