package hubspotproject

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

const testBase = "https://line.example.com/lh"

var testProps = []string{"line_user_id_1", "line_follow_1", "line_name_2"}

func testFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := Files(Options{PublicURL: testBase + "/", Properties: testProps, SupportEmail: "ops@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func decode(t *testing.T, files map[string][]byte, name string) map[string]any {
	t.Helper()
	b, ok := files[name]
	if !ok {
		t.Fatalf("no %s in the project; files: %v", name, sortedNames(files))
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, b)
	}
	return m
}

// get walks a decoded JSON value by object keys and array indexes.
func get(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not an object: %v", k, v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("required field %q missing in %v", k, m)
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at [%d]: not an array that long: %v", k, v)
			}
			v = a[k]
		}
	}
	return v
}

func str(t *testing.T, v any, keys ...any) string {
	t.Helper()
	s, ok := get(t, v, keys...).(string)
	if !ok || s == "" {
		t.Fatalf("%v: want a non-empty string, got %v", keys, get(t, v, keys...))
	}
	return s
}

func strs(t *testing.T, v any, keys ...any) []string {
	t.Helper()
	a, ok := get(t, v, keys...).([]any)
	if !ok {
		t.Fatalf("%v: want an array, got %v", keys, get(t, v, keys...))
	}
	out := make([]string, len(a))
	for i, x := range a {
		if out[i], ok = x.(string); !ok {
			t.Fatalf("%v[%d]: want a string, got %v", keys, i, x)
		}
	}
	return out
}

// uidRe and the 64-character limit are HubSpot's project parser's uid
// rule (@hubspot/project-parsing-lib, lib/uid.js).
var uidRe = regexp.MustCompile(`^[a-zA-Z0-9_\-.]+$`)

// componentDirs maps each component type used here to the directory its
// *-hsmeta.json must sit in (app configuration reference: "These files
// must live at the root level of their respective folder"; the parser's
// Components table gives the same directories).
var componentDirs = map[string]string{
	"app":             "src/app",
	"card":            "src/app/cards",
	"workflow-action": "src/app/workflow-actions",
	"webhooks":        "src/app/webhooks",
}

// TestProjectMatchesHubSpotSchema checks the exported project against
// HubSpot's documented developer-platform schema (see the package
// comment for the pages): every required field, the component layout,
// uids, and that every URL is https under linehub's public URL at the
// paths linehub serves.
func TestProjectMatchesHubSpotSchema(t *testing.T) {
	files := testFiles(t)

	proj := decode(t, files, "hsproject.json")
	if str(t, proj, "name") == "" || str(t, proj, "srcDir") != "src" {
		t.Errorf("hsproject.json: want a name and srcDir src, got %v", proj)
	}
	// Versions HubSpot's CLI accepts for a new-platform project (2023.2
	// and 2025.1 are legacy: `hs project validate` refuses them).
	if v := str(t, proj, "platformVersion"); v != "2025.2" && v != "2026.03" {
		t.Errorf("platformVersion %q: want 2025.2 or 2026.03", v)
	}

	// Every component: uid, type, config; uid valid and unique; type in
	// its directory; no top-level field the parser does not allow.
	uids := map[string]string{}
	types := map[string][]string{}
	for _, name := range sortedNames(files) {
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		if !json.Valid(files[name]) {
			t.Errorf("%s is not valid JSON", name)
		}
		if !strings.HasSuffix(name, "-hsmeta.json") {
			continue
		}
		m := decode(t, files, name)
		for k := range m {
			if !slices.Contains([]string{"uid", "type", "config", "dependencies", "permissions"}, k) {
				t.Errorf("%s: top-level field %q is not allowed", name, k)
			}
		}
		uid, typ := str(t, m, "uid"), str(t, m, "type")
		get(t, m, "config")
		if len(uid) > 64 || !uidRe.MatchString(uid) {
			t.Errorf("%s: uid %q breaks HubSpot's rule (letters, digits, _ - ., at most 64)", name, uid)
		}
		if other, dup := uids[uid]; dup {
			t.Errorf("uid %q in both %s and %s", uid, other, name)
		}
		uids[uid] = name
		dir, ok := componentDirs[typ]
		if !ok {
			t.Errorf("%s: unexpected component type %q", name, typ)
		} else if path.Dir(name) != dir {
			t.Errorf("%s: a %s component belongs in %s/", name, typ, dir)
		}
		types[typ] = append(types[typ], name)
	}
	for typ := range componentDirs {
		if len(types[typ]) == 0 {
			t.Errorf("no %s component", typ)
		}
	}
	// app and webhooks are singular components.
	if len(types["app"]) != 1 || len(types["webhooks"]) != 1 {
		t.Errorf("want exactly one app and one webhooks component, got %v", types)
	}

	app := get(t, decode(t, files, types["app"][0]), "config")
	str(t, app, "name")
	str(t, app, "description")
	if d := str(t, app, "distribution"); d != "private" {
		t.Errorf("distribution %q, want private", d)
	}
	if a := str(t, app, "auth", "type"); a != "static" {
		t.Errorf("auth.type %q, want static", a)
	}
	if got := strs(t, app, "auth", "requiredScopes"); !slices.Equal(got, Scopes) {
		t.Errorf("requiredScopes %v, want linehub's %v", got, Scopes)
	}
	strs(t, app, "auth", "optionalScopes")
	strs(t, app, "auth", "conditionallyRequiredScopes")
	if got := strs(t, app, "permittedUrls", "fetch"); !slices.Equal(got, []string{testBase + FetchPrefix}) {
		t.Errorf("permittedUrls.fetch %v, want only %s", got, testBase+FetchPrefix)
	}
	strs(t, app, "permittedUrls", "iframe")
	strs(t, app, "permittedUrls", "img")
	if e := str(t, app, "support", "supportEmail"); e != "ops@example.com" {
		t.Errorf("supportEmail %q", e)
	}

	card := get(t, decode(t, files, types["card"][0]), "config")
	str(t, card, "name")
	if loc := str(t, card, "location"); loc != "crm.record.tab" && loc != "crm.record.sidebar" {
		t.Errorf("card location %q: want a contact-record location", loc)
	}
	if got := strs(t, card, "objectTypes"); !slices.Equal(got, []string{"contacts"}) {
		t.Errorf("card objectTypes %v, want [contacts]", got)
	}
	if e := str(t, card, "entrypoint"); e != "/app/cards/LineCard.jsx" {
		t.Errorf("card entrypoint %q, want /app/cards/LineCard.jsx", e)
	}
	// Once the card's code is in the tree, the entry file and the
	// package.json HubSpot builds it with ship with the project.
	for name := range files {
		if path.Dir(name) == "src/app/cards" && !strings.HasSuffix(name, "-hsmeta.json") {
			for _, need := range []string{"src/app/cards/LineCard.jsx", "src/app/cards/package.json"} {
				if _, ok := files[need]; !ok {
					t.Errorf("the card's code is exported without %s", need)
				}
			}
			break
		}
	}

	action := get(t, decode(t, files, types["workflow-action"][0]), "config")
	if u := str(t, action, "actionUrl"); u != testBase+ActionPath {
		t.Errorf("actionUrl %q, want %s", u, testBase+ActionPath)
	}
	if got := strs(t, action, "objectTypes"); !slices.Equal(got, []string{"CONTACT"}) {
		t.Errorf("action objectTypes %v, want [CONTACT]", got)
	}
	if p, _ := get(t, action, "isPublished").(bool); !p {
		t.Error("isPublished must be true, or the action is hidden in workflows")
	}
	if c := str(t, action, "supportedClients", 0, "client"); c != "WORKFLOWS" {
		t.Errorf("supportedClients %q", c)
	}
	var inputs []string
	for i := range get(t, action, "inputFields").([]any) {
		f := get(t, action, "inputFields", i)
		name := str(t, f, "typeDefinition", "name")
		inputs = append(inputs, name)
		str(t, f, "typeDefinition", "type")
		str(t, f, "typeDefinition", "fieldType")
		if len(strs(t, f, "supportedValueTypes")) == 0 {
			t.Errorf("input %s: no supportedValueTypes", name)
		}
		if name == FieldTemplate {
			if u := str(t, f, "typeDefinition", "optionsUrl"); u != testBase+TemplatesPath {
				t.Errorf("template optionsUrl %q, want %s", u, testBase+TemplatesPath)
			}
		}
		if name == FieldConnection {
			if u := str(t, f, "typeDefinition", "optionsUrl"); u != testBase+OptionsPath {
				t.Errorf("connection optionsUrl %q, want %s", u, testBase+OptionsPath)
			}
			if r, _ := get(t, f, "isRequired").(bool); !r {
				t.Error("the connection field must be required")
			}
		}
	}
	if !slices.Equal(inputs, []string{FieldConnection, FieldTemplate, FieldText}) {
		t.Errorf("input fields %v", inputs)
	}
	if got := str(t, action, "outputFields", 0, "typeDefinition", "name"); got != OutputResult {
		t.Errorf("output field %q, want %s", got, OutputResult)
	}
	for _, lang := range []string{"en", "ja"} {
		l := get(t, action, "labels", lang)
		str(t, l, "actionName")
		str(t, l, "actionDescription")
		for _, in := range inputs {
			str(t, l, "inputFieldLabels", in)
		}
		if n := len(get(t, l, "inputFieldLabels").(map[string]any)); n != len(inputs) {
			t.Errorf("labels.%s: %d input labels for %d inputs", lang, n, len(inputs))
		}
	}

	hooks := get(t, decode(t, files, types["webhooks"][0]), "config")
	if u := str(t, hooks, "settings", "targetUrl"); u != testBase+WebhooksPath {
		t.Errorf("targetUrl %q, want %s", u, testBase+WebhooksPath)
	}
	if n, _ := get(t, hooks, "settings", "maxConcurrentRequests").(float64); n < 1 {
		t.Errorf("maxConcurrentRequests %v", n)
	}
	var kinds, changed []string
	for i := range get(t, hooks, "subscriptions", "legacyCrmObjects").([]any) {
		s := get(t, hooks, "subscriptions", "legacyCrmObjects", i)
		kind := str(t, s, "subscriptionType")
		if a, _ := get(t, s, "active").(bool); !a {
			t.Errorf("subscription %d (%s) is not active", i, kind)
		}
		// The legacy contact subscription types HubSpot documents.
		if !slices.Contains([]string{"contact.creation", "contact.deletion", "contact.merge", "contact.restore", "contact.propertyChange", "contact.associationChange"}, kind) {
			t.Errorf("subscription type %q is not one of HubSpot's contact types", kind)
		}
		kinds = append(kinds, kind)
		if kind == "contact.propertyChange" {
			changed = append(changed, str(t, s, "propertyName"))
		}
	}
	for _, want := range []string{"contact.deletion", "contact.merge"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("no %s subscription", want)
		}
	}
	wantProps := slices.Clone(testProps)
	sort.Strings(wantProps)
	if !slices.Equal(changed, wantProps) {
		t.Errorf("propertyChange subscriptions %v, want linehub's %v", changed, wantProps)
	}

	// Every URL anywhere is https and under the public URL, except the
	// LINE image hosts of permittedUrls.img, and the npm registry's in
	// the card's package-lock.json (where its packages come from).
	for _, name := range sortedNames(files) {
		if !strings.HasSuffix(name, ".json") || strings.HasSuffix(name, "/package-lock.json") {
			continue
		}
		var v any
		_ = json.Unmarshal(files[name], &v)
		walkStrings(v, func(s string) {
			if !strings.Contains(s, "://") || strings.Contains(s, " ") {
				return
			}
			if !strings.HasPrefix(s, testBase+"/") && s != testBase && !slices.Contains(ImageHosts, s) {
				t.Errorf("%s: URL %q is not under %s", name, s, testBase)
			}
		})
	}
	readme := string(files["README.md"])
	for _, want := range []string{"npm install -g @hubspot/cli", "hs account auth", "hs project upload", "Auth", testBase + ActionPath} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
}

func walkStrings(v any, f func(string)) {
	switch v := v.(type) {
	case string:
		f(v)
	case []any:
		for _, x := range v {
			walkStrings(x, f)
		}
	case map[string]any:
		for _, x := range v {
			walkStrings(x, f)
		}
	}
}

// TestNoPropertiesNoChangeSubscriptions: before any LINE account exists
// the webhooks still cover deletion and merge, and the JSON stays valid.
func TestNoPropertiesNoChangeSubscriptions(t *testing.T) {
	files, err := Files(Options{PublicURL: "https://line.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	subs := get(t, decode(t, files, "src/app/webhooks/webhooks-hsmeta.json"), "config", "subscriptions", "legacyCrmObjects").([]any)
	if len(subs) != 2 {
		t.Errorf("want deletion and merge only, got %v", subs)
	}
	if !strings.Contains(string(files["README.md"]), "no LINE account is connected") {
		t.Error("README does not say to export again after connecting an account")
	}
}

func TestPublicURLMustBeHTTPS(t *testing.T) {
	for _, u := range []string{"", "http://line.example.com", "line.example.com", "ftp://x", "https://", "https://u:p@line.example.com", "https://line.example.com/?a=1", "https://line.example.com/#x"} {
		if _, err := Files(Options{PublicURL: u}); err == nil {
			t.Errorf("public URL %q accepted", u)
		}
	}
	_, err := Files(Options{PublicURL: "http://line.example.com"})
	if !errors.Is(err, ErrNotHTTPS) || !strings.Contains(err.Error(), "https://") {
		t.Errorf("http URL: want a clear ErrNotHTTPS, got %v", err)
	}
	if _, err := Files(Options{PublicURL: "https://x.example", Properties: []string{"firstname"}}); err == nil {
		t.Error("a property that is not linehub's was accepted")
	}
}

// TestValuesAreJSONEscaped: an app name with quotes or braces cannot
// break the JSON (the templates marshal every filled value).
func TestValuesAreJSONEscaped(t *testing.T) {
	name := `My "LINE" {{shop}} \ 店`
	files, err := Files(Options{PublicURL: "https://x.example", AppName: name})
	if err != nil {
		t.Fatal(err)
	}
	if got := str(t, decode(t, files, "src/app/app-hsmeta.json"), "config", "name"); got != name {
		t.Errorf("app name %q, want %q", got, name)
	}
	if got := str(t, decode(t, files, "src/app/workflow-actions/send-line-message-hsmeta.json"), "config", "labels", "ja", "appDisplayName"); got != name {
		t.Errorf("appDisplayName %q", got)
	}
}

func TestExport(t *testing.T) {
	o := Options{PublicURL: testBase, Properties: testProps}
	want, err := Files(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "app")
	if err := Export(dir, o); err != nil {
		t.Fatal(err)
	}
	for name, b := range want {
		p := filepath.Join(dir, filepath.FromSlash(name))
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: %v, content equal: %v", name, err, bytes.Equal(got, b))
		}
		if st, _ := os.Stat(p); st == nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, st.Mode())
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, "src", "app")} {
		if st, _ := os.Stat(d); st == nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, want 0700", d, st.Mode())
		}
	}

	// A second export into the same (now non-empty) directory is refused
	// and changes nothing.
	marker := filepath.Join(dir, "hsproject.json")
	_ = os.WriteFile(marker, []byte("mine"), 0o644)
	if err := Export(dir, o); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("export into a non-empty directory: %v", err)
	}
	if b, _ := os.ReadFile(marker); string(b) != "mine" {
		t.Error("a refused export changed a file")
	}
	o.Force = true
	if err := Export(dir, o); err != nil {
		t.Fatalf("forced export: %v", err)
	}
	if b, _ := os.ReadFile(marker); !bytes.Equal(b, want["hsproject.json"]) {
		t.Error("forced export did not rewrite hsproject.json")
	}

	// An empty directory is fine; a file in the way is not; a bad URL
	// writes nothing.
	empty := t.TempDir()
	if err := Export(empty, Options{PublicURL: testBase}); err != nil {
		t.Errorf("empty directory: %v", err)
	}
	file := filepath.Join(t.TempDir(), "f")
	_ = os.WriteFile(file, nil, 0o644)
	if err := Export(file, Options{PublicURL: testBase, Force: true}); err == nil {
		t.Error("export onto a file succeeded")
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if err := Export(bad, Options{PublicURL: "http://x.example"}); err == nil {
		t.Error("http URL exported")
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a refused export created the directory")
	}
}

func TestWriteZip(t *testing.T) {
	o := Options{PublicURL: testBase, Properties: testProps}
	want, _ := Files(o)
	var b bytes.Buffer
	if err := WriteZip(&b, o); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, DirName+"/") {
			t.Errorf("%s is outside %s/", f.Name, DirName)
		}
		r, _ := f.Open()
		got[strings.TrimPrefix(f.Name, DirName+"/")], _ = io.ReadAll(r)
		r.Close()
	}
	if len(got) != len(want) {
		t.Errorf("zip has %d files, want %d", len(got), len(want))
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s differs in the zip", name)
		}
	}
	if err := WriteZip(io.Discard, Options{PublicURL: "http://x"}); err == nil {
		t.Error("zip of an http URL")
	}
}

// A forced export replaces a symbolic link planted where a project file
// goes, rather than writing through it to the file it points at, and
// the files it writes are the owner's alone.
func TestForcedExportWritesNoFileThroughALink(t *testing.T) {
	o := Options{PublicURL: testBase, Properties: testProps, Force: true}
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "hsproject.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Export(dir, o); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the export wrote through the link: victim now %q", b)
	}
	for _, name := range []string{"hsproject.json", "README.md"} {
		st, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v, want a regular 0600 file", name, err, st.Mode())
		}
	}
}
