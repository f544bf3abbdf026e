// Package hubspotproject writes the HubSpot developer project linehub
// offers an admin for their own portal: a privately distributed app with
// static auth holding the LINE card for contact records, the "Send LINE
// message" workflow action and the contact webhooks, every URL pointing
// at linehub's public HTTPS address. The admin uploads it once with the
// HubSpot CLI (`hs project upload`) and pastes the app's access token and
// client secret back into linehub. The project holds no secret.
//
// The format follows HubSpot's developer platform, version 2026.03 (GA on
// 30 March 2026, same component schemas as 2025.2):
//   - project layout, hsproject.json, app-hsmeta.json (distribution,
//     auth, scopes, permittedUrls, support):
//     https://developers.hubspot.com/docs/apps/developer-platform/build-apps/app-configuration
//   - static auth for a single account:
//     https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/overview
//   - app cards (cards/*-hsmeta.json, entrypoint, package.json beside it):
//     https://developers.hubspot.com/docs/apps/developer-platform/add-features/ui-extensibility/app-cards/reference
//   - custom workflow actions (workflow-actions/*-hsmeta.json, labels per
//     language, optionsUrl, outputFields):
//     https://developers.hubspot.com/docs/apps/developer-platform/add-features/custom-workflow-actions
//     https://developers.hubspot.com/docs/api-reference/automation-actions-v4-v4/custom-action-guide
//   - webhooks (webhooks/*-hsmeta.json, legacyCrmObjects contact.*):
//     https://developers.hubspot.com/docs/apps/developer-platform/add-features/configure-webhooks
//     https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks (contact.merge)
//   - where the token and secret are shown (Development → Projects → app →
//     Auth): https://developers.hubspot.com/docs/apps/developer-platform/build-apps/manage-apps-in-hubspot
//   - platform version 2026.03:
//     https://developers.hubspot.com/changelog/spring-2026-spotlight
//
// HubSpot's own templates (github.com/HubSpot/hubspot-project-components,
// 2025.2/ and 2026.03/) and HubSpot's project parser
// (@hubspot/project-parsing-lib: uid rule, component directories) were
// read alongside.
package hubspotproject

import (
	"archive/zip"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"time"
)

// PlatformVersion is the developer-platform version the project is
// written for (hsproject.json "platformVersion").
const PlatformVersion = "2026.03"

// The paths under linehub's public URL that the app's parts call. They
// are the contract with app/web/hubspotapp, which serves them.
const (
	// FetchPrefix is the permitted fetch URL of the card (hubspot.fetch
	// may call only URLs under it).
	FetchPrefix = "/hubspot/app/"
	// ActionPath receives the workflow action's executions.
	ActionPath = "/hubspot/app/actions/send"
	// OptionsPath answers the connection field's option fetches.
	OptionsPath = "/hubspot/app/actions/connections"
	// TemplatesPath answers the template field's option fetches.
	TemplatesPath = "/hubspot/app/actions/templates"
	// WebhooksPath receives the app's webhook batches.
	WebhooksPath = "/hubspot/app/webhooks"
)

// The workflow action's input and output field names, as the action
// handler reads and answers them.
const (
	FieldConnection = "connection"
	FieldTemplate   = "template"
	FieldText       = "text"
	OutputResult    = "result"
)

// Scopes are the scopes linehub's REST calls need (the setup wizard lists
// the same for a service key): contacts and their schema, `oauth` for the
// account-details check, lists for broadcasts to HubSpot lists. The card
// and the webhooks on contacts need contacts.read as well.
var Scopes = []string{
	"crm.objects.contacts.read",
	"crm.objects.contacts.write",
	"crm.schemas.contacts.read",
	"crm.schemas.contacts.write",
	"oauth",
	"crm.lists.read",
}

// ImageHosts are where the card's images come from besides linehub: LINE
// profile pictures and stickers (permittedUrls.img).
var ImageHosts = []string{
	"https://profile.line-scdn.net",
	"https://stickershop.line-scdn.net",
}

// DirName is the folder WriteZip puts the project in.
const DirName = "linehub-hubspot-app"

// Options fill the project.
type Options struct {
	// PublicURL is linehub's public base URL; it must be https (HubSpot
	// calls only HTTPS URLs and permits only HTTPS fetches).
	PublicURL string
	// AppName is the app's name in HubSpot; "linehub" when empty.
	AppName string
	// Properties are linehub's contact properties (line_*_N of every
	// connection) whose changes the webhooks report.
	Properties []string
	// SupportEmail, optional, is shown as the app's support contact.
	SupportEmail string
	// Force lets Export write into a directory that exists and is not
	// empty (files of the same name are replaced).
	Force bool
}

//go:embed project/*.tmpl project/src/app/*.tmpl project/src/app/workflow-actions/*.tmpl project/src/app/webhooks/*.tmpl project/src/app/cards/*.*
var projectFS embed.FS

// ErrNotHTTPS is returned for a public URL HubSpot would not call.
var ErrNotHTTPS = errors.New("linehub's public URL must start with https:// (HubSpot calls apps and permits card fetches over HTTPS only)")

type view struct {
	ProjectName, AppName, PlatformVersion, Description                   string
	PublicURL, FetchURL, ActionURL, OptionsURL, TemplatesURL, WebhookURL string
	Scopes, ImageURLs, Properties                                        []string
	Support                                                              map[string]string
}

// PublicBase checks a public URL and returns it without a trailing slash.
func PublicBase(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", fmt.Errorf("no public URL set: %w", ErrNotHTTPS)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("public URL %q: %w", raw, err)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("public URL %q: %w", raw, ErrNotHTTPS)
	}
	if u.Host == "" || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("public URL %q: want https://host[:port][/path], nothing else", raw)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

func newView(o Options) (*view, error) {
	base, err := PublicBase(o.PublicURL)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(o.AppName)
	if name == "" {
		name = "linehub"
	}
	props := append([]string(nil), o.Properties...)
	sort.Strings(props)
	for i, p := range props {
		if !strings.HasPrefix(p, "line_") {
			return nil, fmt.Errorf("property %q is not one of linehub's (line_*)", p)
		}
		if i > 0 && props[i-1] == p {
			return nil, fmt.Errorf("property %q given twice", p)
		}
	}
	support := map[string]string{"documentationUrl": base + "/", "supportUrl": base + "/"}
	if e := strings.TrimSpace(o.SupportEmail); e != "" {
		support["supportEmail"] = e
	}
	return &view{
		ProjectName:     name,
		AppName:         name,
		PlatformVersion: PlatformVersion,
		Description:     "LINE Official Accounts in HubSpot, served by the self-hosted linehub at " + base + ": a LINE card on contact records, a \"Send LINE message\" workflow action and contact webhooks.",
		PublicURL:       base,
		FetchURL:        base + FetchPrefix,
		ActionURL:       base + ActionPath,
		OptionsURL:      base + OptionsPath,
		TemplatesURL:    base + TemplatesPath,
		WebhookURL:      base + WebhooksPath,
		Scopes:          append([]string(nil), Scopes...),
		ImageURLs:       append([]string{base}, ImageHosts...),
		Properties:      props,
		Support:         support,
	}, nil
}

// CardURLPlaceholder stands in the card's code (LINEHUB_URL in
// LineCard.jsx) for linehub's public URL, which Files fills in.
const CardURLPlaceholder = "__LINEHUB_PUBLIC_URL__"

const cardEntry = "src/app/cards/LineCard.jsx"

// devOnly are files of the card's development that ship in its folder:
// linehub's stand-in its tests answer from, and git's ignore list (the
// HubSpot CLI leaves hidden files out of an upload anyway).
var devOnly = map[string]bool{"testdata.js": true, ".gitignore": true}

// skip leaves out what a card developer's tools leave in src/app/cards
// but HubSpot's build does not need: tests and devOnly. package.json
// stays whole (devDependencies included): package-lock.json is made from
// it, and HubSpot's install wants the two to agree.
func skip(name string) bool {
	base := path.Base(name)
	return strings.Contains(base, ".test.") || strings.Contains(base, ".spec.") || devOnly[base]
}

// Files returns the project's files, path (slash-separated, relative to
// the project folder) to content.
func Files(o Options) (map[string][]byte, error) {
	v, err := newView(o)
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"json": func(x any) (string, error) {
		b, err := json.Marshal(x)
		return string(b), err
	}}
	out := map[string][]byte{}
	err = fs.WalkDir(projectFS, "project", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || skip(p) {
			return err
		}
		raw, err := projectFS.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "project/")
		if strings.HasSuffix(rel, ".tmpl") {
			t, err := template.New(rel).Funcs(funcs).Option("missingkey=error").Parse(string(raw))
			if err != nil {
				return fmt.Errorf("template %s: %w", rel, err)
			}
			var b bytes.Buffer
			if err := t.Execute(&b, v); err != nil {
				return fmt.Errorf("template %s: %w", rel, err)
			}
			rel, raw = strings.TrimSuffix(rel, ".tmpl"), b.Bytes()
		}
		if rel == cardEntry {
			// The card calls linehub at the URL it is exported for.
			if bytes.Count(raw, []byte(CardURLPlaceholder)) != 1 {
				return fmt.Errorf("%s must hold %s once, where linehub's public URL goes", rel, CardURLPlaceholder)
			}
			raw = bytes.Replace(raw, []byte(CardURLPlaceholder), []byte(v.PublicURL), 1)
		}
		if strings.HasSuffix(rel, ".json") && !json.Valid(raw) {
			return fmt.Errorf("%s is not valid JSON", rel)
		}
		out[rel] = raw
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hubspot project: %w", err)
	}
	return out, nil
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Export writes the project into dir. It refuses a dir that exists and
// is not an empty directory unless o.Force. Files are 0600 and
// directories 0700 from the moment they exist (the project names the
// connections and linehub's address, and is often written under /tmp);
// a file is always created anew, never opened through a link someone
// put in its place.
func Export(dir string, o Options) error {
	files, err := Files(o)
	if err != nil {
		return err
	}
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("export to %s: it exists and is not a directory", dir)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("export to %s: %w", dir, err)
		}
		if len(entries) > 0 && !o.Force {
			return fmt.Errorf("export to %s: the directory is not empty (choose a new one, or --force to overwrite the project's files)", dir)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("export to %s: %w", dir, err)
	} else {
		// Mkdir, not MkdirAll: a directory someone else made in the
		// meantime is refused, not written into.
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return fmt.Errorf("export to %s: %w", dir, err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("export to %s: %w", dir, err)
		}
	}
	for _, name := range sortedNames(files) {
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return fmt.Errorf("export %s: %w", name, err)
		}
		if err := writeNew(dst, files[name]); err != nil {
			return fmt.Errorf("export %s: %w", name, err)
		}
	}
	return nil
}

// writeNew writes data to a new 0600 file at path, removing what was
// there first (a symbolic link is removed, not followed).
func writeNew(path string, data []byte) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteZip writes the project as a zip archive with everything in one
// folder, DirName.
func WriteZip(w io.Writer, o Options) error {
	files, err := Files(o)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	now := time.Now()
	for _, name := range sortedNames(files) {
		h := &zip.FileHeader{Name: DirName + "/" + name, Method: zip.Deflate, Modified: now}
		h.SetMode(0o644)
		f, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("zip %s: %w", name, err)
		}
		if _, err := f.Write(files[name]); err != nil {
			return fmt.Errorf("zip %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	return nil
}
