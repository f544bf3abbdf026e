package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// writeConfig writes content to a config.yaml in a fresh directory.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t *testing.T, path string, environ []string) *Config {
	t.Helper()
	c, err := Load(path, environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// withoutWarnings lets a loaded config be compared with Default().
func withoutWarnings(c *Config) *Config {
	cp := *c
	cp.Warnings = nil
	return &cp
}

func TestDefaults(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	for _, tc := range []struct {
		name    string
		content string // "" with noFile means no file at all
		noFile  bool
	}{
		{name: "no file", noFile: true},
		{name: "empty file", content: ""},
		{name: "comments only", content: "# nothing here\n"},
		{name: "null document", content: "~\n"},
		{name: "null values keep defaults", content: "listen:\nhubspot:\n  tier: ~\nsync:\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if !tc.noFile {
				path = writeConfig(t, tc.content)
			}
			c := mustLoad(t, path, []string{"HOME=/root", "PATH=/bin"})
			if len(c.Warnings) != 0 {
				t.Errorf("Warnings = %q, want none", c.Warnings)
			}
			if got := withoutWarnings(c); !reflect.DeepEqual(got, Default()) {
				t.Errorf("Load = %+v\nwant %+v", got, Default())
			}
		})
	}
}

func TestLoadFileValues(t *testing.T) {
	path := writeConfig(t, `
listen: "127.0.0.1:9000"
public_url: https://hooks.example.com/linehub/
domain: Line.Example.com
acme: {email: ops@example.com, ca: "https://acme.test/dir", ca_root: /etc/ssl/test-root.pem}
data_dir: /var/lib/linehub
hubspot:
  base_url: http://127.0.0.1:4010
  token: "  pat-na1-0123  "
  tier: Free
  dummy_email_domain: contacts.example.com
line:
  api_base_url: http://127.0.0.1:4020
  data_api_base_url: http://127.0.0.1:4021
  login_base_url: http://127.0.0.1:4022
  login_api_base_url: http://127.0.0.1:4023
limits:
  max_connections: 7
log:
  level: DEBUG
  format: json
sync:
  batch_size: 25
  interval: 250ms
  profile_cache_ttl: 1h30m
webhook:
  max_body_bytes: 2048
`)
	want := &Config{
		Listen:      "127.0.0.1:9000",
		PublicURL:   "https://hooks.example.com/linehub/",
		Domain:      "line.example.com",
		HTTPSListen: ":443",
		HTTPListen:  ":80",
		ACME:        ACME{Email: "ops@example.com", CA: "https://acme.test/dir", CARoot: "/etc/ssl/test-root.pem"},
		DataDir:     "/var/lib/linehub",
		HubSpot: HubSpot{
			BaseURL:          "http://127.0.0.1:4010",
			Token:            "pat-na1-0123",
			Tier:             TierStarter,
			DummyEmailDomain: "contacts.example.com",
		},
		LINE: LINE{APIBaseURL: "http://127.0.0.1:4020", DataAPIBaseURL: "http://127.0.0.1:4021",
			LoginBaseURL: "http://127.0.0.1:4022", LoginAPIBaseURL: "http://127.0.0.1:4023"},
		Limits:  Limits{MaxConnections: 7},
		Log:     Log{Level: "debug", Format: "json"},
		Sync:    Sync{BatchSize: 25, Interval: 250 * time.Millisecond, ProfileCacheTTL: 90 * time.Minute},
		Webhook: Webhook{MaxBodyBytes: 2048},
		Jobs:    Default().Jobs,
	}
	c := mustLoad(t, path, nil)
	if got := withoutWarnings(c); !reflect.DeepEqual(got, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
	}
}

func TestYAMLAnchorsAndFlowStyle(t *testing.T) {
	path := writeConfig(t, "x: &u http://127.0.0.1:1\n")
	if _, err := Load(path, nil); err == nil {
		t.Fatal("unknown top-level key x accepted")
	}
	path = writeConfig(t, "line: {api_base_url: &u \"http://127.0.0.1:1\", data_api_base_url: *u}\n")
	c := mustLoad(t, path, nil)
	if c.LINE.DataAPIBaseURL != "http://127.0.0.1:1" {
		t.Errorf("alias not followed: %q", c.LINE.DataAPIBaseURL)
	}
}

func TestEnvOverrides(t *testing.T) {
	path := writeConfig(t, `
listen: ":9000"
hubspot:
  token: from-file
  tier: professional
sync:
  interval: 5s
`)
	for _, tc := range []struct {
		name    string
		environ []string
		check   func(*Config) bool
	}{
		{"file value without env", nil,
			func(c *Config) bool { return c.Listen == ":9000" && c.HubSpot.Token == "from-file" }},
		{"env wins over file", []string{"LINEHUB_LISTEN=:7000", "LINEHUB_HUBSPOT_TOKEN=from-env"},
			func(c *Config) bool { return c.Listen == ":7000" && c.HubSpot.Token == "from-env" }},
		{"env sets key absent from file", []string{"LINEHUB_PUBLIC_URL=https://x.example.com"},
			func(c *Config) bool { return c.PublicURL == "https://x.example.com" }},
		{"empty env value counts as unset", []string{"LINEHUB_HUBSPOT_TOKEN="},
			func(c *Config) bool { return c.HubSpot.Token == "from-file" }},
		{"last duplicate wins", []string{"LINEHUB_LISTEN=:1", "LINEHUB_LISTEN=:2"},
			func(c *Config) bool { return c.Listen == ":2" }},
		{"int", []string{"LINEHUB_LIMITS_MAX_CONNECTIONS=12"},
			func(c *Config) bool { return c.Limits.MaxConnections == 12 && c.MaxConnections() == 12 }},
		{"duration", []string{"LINEHUB_SYNC_INTERVAL=3s", "LINEHUB_SYNC_PROFILE_CACHE_TTL=2h"},
			func(c *Config) bool { return c.Sync.Interval == 3*time.Second && c.Sync.ProfileCacheTTL == 2*time.Hour }},
		{"nested section keys", []string{"LINEHUB_ACME_CA_ROOT=/root.pem", "LINEHUB_ACME_CA=https://ca.test/dir", "LINEHUB_DOMAIN=a.example.com"},
			func(c *Config) bool { return c.ACME.CARoot == "/root.pem" && c.ACME.CA == "https://ca.test/dir" }},
		{"tier normalized", []string{"LINEHUB_HUBSPOT_TIER=Enterprise"},
			func(c *Config) bool { return c.HubSpot.Tier == TierEnterprise && c.MaxConnections() == 50 }},
		{"value with = kept whole", []string{"LINEHUB_HUBSPOT_TOKEN=a=b=c"},
			func(c *Config) bool { return c.HubSpot.Token == "a=b=c" }},
		{"LINEHUB_CONFIG is not a key", []string{"LINEHUB_CONFIG=/nowhere.yaml"},
			func(c *Config) bool { return len(c.Warnings) == 0 }},
		{"lower-case names are not ours", []string{"linehub_listen=:1"},
			func(c *Config) bool { return c.Listen == ":9000" && len(c.Warnings) == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, path, tc.environ)
			if !tc.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

// TestEveryKeyHasEnv guards the generic mapping: each leaf gets a distinct
// variable, and setting it changes exactly that key.
func TestEveryKeyHasEnv(t *testing.T) {
	seen := map[string]string{}
	for _, f := range schema().leaves() {
		if prev, dup := seen[f.env]; dup {
			t.Errorf("%s and %s both map to %s", prev, f.key, f.env)
		}
		seen[f.env] = f.key
		if f.env != "LINEHUB_"+strings.ToUpper(strings.ReplaceAll(f.key, ".", "_")) {
			t.Errorf("%s maps to %s", f.key, f.env)
		}
	}
	if len(seen) != 35 {
		t.Errorf("schema has %d keys, want 35 (update this test and config.example.yaml together)", len(seen))
	}
	for _, name := range envNotKeys {
		if _, clash := seen[name]; clash {
			t.Errorf("%s is both a key and reserved", name)
		}
	}
}

func TestUnknownEnvWarning(t *testing.T) {
	c := mustLoad(t, "", []string{"LINEHUB_HUBSPOT_TOKN=x", "LINEHUB_WHATEVER=1", "OTHER_VAR=1"})
	want := []string{
		`environment variable "LINEHUB_HUBSPOT_TOKN" is not a linehub setting and was ignored (did you mean LINEHUB_HUBSPOT_TOKEN?)`,
		`environment variable "LINEHUB_WHATEVER" is not a linehub setting and was ignored`,
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("Warnings =\n%q\nwant\n%q", c.Warnings, want)
	}
	if c.HubSpot.Token != "" {
		t.Errorf("token set from a mistyped variable: %q", c.HubSpot.Token)
	}

	// When loading fails, the warning travels with the error, since the
	// mistyped variable may have been meant as the fix.
	_, err := Load("", []string{"LINEHUB_LISTN=:9000", "LINEHUB_LISTEN=bad"})
	if err == nil || !strings.Contains(err.Error(), `warning: environment variable "LINEHUB_LISTN"`) {
		t.Errorf("err = %v, want the LINEHUB_LISTN warning", err)
	}
}

func TestEffectWarnings(t *testing.T) {
	c := mustLoad(t, "", []string{"LINEHUB_ACME_EMAIL=ops@example.com", "LINEHUB_ACME_CA_ROOT=/r.pem"})
	if len(c.Warnings) != 2 || !strings.Contains(c.Warnings[0], "domain is empty") || !strings.Contains(c.Warnings[1], "acme.ca_root") {
		t.Errorf("Warnings = %q", c.Warnings)
	}
	c = mustLoad(t, "", []string{"LINEHUB_DOMAIN=line.example.com", "LINEHUB_LISTEN=127.0.0.1:9000"})
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "listen is not used when domain is set") {
		t.Errorf("Warnings = %q", c.Warnings)
	}
	if _, err := Load("", []string{"LINEHUB_DOMAIN=line.example.com", "LINEHUB_HTTP_LISTEN=:443"}); err == nil || !strings.Contains(err.Error(), "http_listen: must differ from https_listen") {
		t.Errorf("same port for both listeners: %v", err)
	}
}

func TestPermissionWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		environ []string
		warn    bool
	}{
		{"token in world-readable file", "hubspot: {token: secret}\n", 0o644, nil, true},
		{"token in group-readable file", "hubspot: {token: secret}\n", 0o640, nil, false},
		{"no token", "listen: \":1\"\n", 0o644, nil, false},
		{"token only from env", "listen: \":1\"\n", 0o644, []string{"LINEHUB_HUBSPOT_TOKEN=s"}, false},
		{"file token overridden by env", "hubspot: {token: secret}\n", 0o644, []string{"LINEHUB_HUBSPOT_TOKEN=s"}, true},
		{"empty file token, env token", "hubspot: {token: \"\"}\n", 0o644, []string{"LINEHUB_HUBSPOT_TOKEN=s"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.content)
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			c := mustLoad(t, path, tc.environ)
			got := len(c.Warnings) == 1 && strings.Contains(c.Warnings[0], "readable by all users")
			if got != tc.warn || (!tc.warn && len(c.Warnings) != 0) {
				t.Errorf("Warnings = %q, want warning: %v", c.Warnings, tc.warn)
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // the whole error
	}{
		{"listen without port", func(c *Config) { c.Listen = "8080" },
			`listen: must be host:port such as ":8080" or "127.0.0.1:8080", got "8080"`},
		{"listen named port", func(c *Config) { c.Listen = ":http" },
			`listen: must be host:port such as ":8080" or "127.0.0.1:8080", got ":http"`},
		{"listen port out of range", func(c *Config) { c.Listen = ":70000" },
			`listen: must be host:port such as ":8080" or "127.0.0.1:8080", got ":70000"`},
		{"listen empty", func(c *Config) { c.Listen = "" },
			`listen: must be host:port such as ":8080" or "127.0.0.1:8080", got ""`},
		{"public_url relative", func(c *Config) { c.PublicURL = "line.example.com" },
			`public_url: must be an absolute http(s) URL such as https://line.example.com, got "line.example.com"`},
		{"public_url other scheme", func(c *Config) { c.PublicURL = "ftp://line.example.com" },
			`public_url: must be an absolute http(s) URL such as https://line.example.com, got "ftp://line.example.com"`},
		{"public_url query", func(c *Config) { c.PublicURL = "https://line.example.com/?a=b" },
			`public_url: must not contain a query or fragment, got "https://line.example.com/?a=b"`},
		{"public_url credentials", func(c *Config) { c.PublicURL = "https://u:p@line.example.com" },
			`public_url: must not contain user credentials`},
		{"domain as URL", func(c *Config) { c.Domain = "https://line.example.com" },
			`domain: must be a bare DNS name such as line.example.com (no scheme, port or path), got "https://line.example.com"`},
		{"domain as IP", func(c *Config) { c.Domain = "203.0.113.7" },
			`domain: must be a DNS name, not an IP address, got "203.0.113.7"`},
		{"domain bad label", func(c *Config) { c.Domain = "-x.example.com" },
			`domain: "-x.example.com" is not a valid DNS name: a part may not start or end with a hyphen`},
		{"domain bad character", func(c *Config) { c.Domain = "line_1.example.com" },
			`domain: "line_1.example.com" is not a valid DNS name: only letters, digits, hyphens and dots are allowed (use the xn-- form for international names)`},
		{"acme email", func(c *Config) { c.ACME.Email = "ops" },
			`acme.email: "ops" is not an email address`},
		{"acme ca", func(c *Config) { c.ACME.CA = "acme.test" },
			`acme.ca: must be an absolute http(s) URL such as https://acme.example.com/directory, got "acme.test"`},
		{"data_dir", func(c *Config) { c.DataDir = " " },
			`data_dir: must not be empty`},
		{"hubspot base_url", func(c *Config) { c.HubSpot.BaseURL = "" },
			`hubspot.base_url: must be an absolute http(s) URL such as https://api.hubapi.com, got ""`},
		{"hubspot tier", func(c *Config) { c.HubSpot.Tier = "gold" },
			`hubspot.tier: "gold" is not one of starter, professional, enterprise`},
		{"dummy email domain with @", func(c *Config) { c.HubSpot.DummyEmailDomain = "@example.com" },
			`hubspot.dummy_email_domain: give only the domain, without @, got "@example.com"`},
		{"line api_base_url", func(c *Config) { c.LINE.APIBaseURL = "api.line.me" },
			`line.api_base_url: must be an absolute http(s) URL such as https://api.line.me, got "api.line.me"`},
		{"line data_api_base_url", func(c *Config) { c.LINE.DataAPIBaseURL = "https://" },
			`line.data_api_base_url: must be an absolute http(s) URL such as https://api-data.line.me, got "https://"`},
		{"max_connections negative", func(c *Config) { c.Limits.MaxConnections = -1 },
			`limits.max_connections: must be 0..1000 (0 = the tier's default), got -1`},
		{"max_connections too big", func(c *Config) { c.Limits.MaxConnections = 1001 },
			`limits.max_connections: must be 0..1000 (0 = the tier's default), got 1001`},
		{"log level", func(c *Config) { c.Log.Level = "verbose" },
			`log.level: "verbose" is not one of debug, info, warn, error`},
		{"log format", func(c *Config) { c.Log.Format = "xml" },
			`log.format: "xml" is not one of text, json`},
		{"batch_size zero", func(c *Config) { c.Sync.BatchSize = 0 },
			`sync.batch_size: must be 1..100, got 0`},
		{"batch_size above HubSpot's limit", func(c *Config) { c.Sync.BatchSize = 101 },
			`sync.batch_size: must be 1..100, got 101`},
		{"interval zero", func(c *Config) { c.Sync.Interval = 0 },
			`sync.interval: must be a positive duration such as 1s, got 0s`},
		{"profile_cache_ttl negative", func(c *Config) { c.Sync.ProfileCacheTTL = -time.Hour },
			`sync.profile_cache_ttl: must be a positive duration such as 24h, got -1h0m0s`},
		{"max_body_bytes", func(c *Config) { c.Webhook.MaxBodyBytes = 0 },
			`webhook.max_body_bytes: must be 1..67108864, got 0`},
		{"values are shortened", func(c *Config) { c.HubSpot.Tier = strings.Repeat("x", 100) },
			`hubspot.tier: "` + strings.Repeat("x", 40) + `"… is not one of starter, professional, enterprise`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(c)
			err := c.Validate()
			if err == nil || err.Error() != tc.want {
				t.Errorf("Validate() = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"ipv6 listen", func(c *Config) { c.Listen = "[::1]:8080" }},
		{"random port for tests", func(c *Config) { c.Listen = "127.0.0.1:0" }},
		{"public_url with path", func(c *Config) { c.PublicURL = "https://example.com/linehub/" }},
		{"http public_url", func(c *Config) { c.PublicURL = "http://127.0.0.1:8080" }},
		{"free tier", func(c *Config) { c.HubSpot.Tier = "free" }},
		{"tier any case", func(c *Config) { c.HubSpot.Tier = "Professional" }},
		{"single-label domain", func(c *Config) { c.Domain = "linehub" }},
		{"punycode domain", func(c *Config) { c.Domain = "xn--eckwd4c7c.xn--zckzah" }},
		{"acme", func(c *Config) {
			c.Domain, c.ACME = "line.example.com", ACME{Email: "a@example.com", CA: "https://localhost:14000/dir", CARoot: "x.pem"}
		}},
		{"limits bounds", func(c *Config) { c.Limits.MaxConnections = 1000; c.Sync.BatchSize = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

// TestLoadErrors checks that Load reports every problem at once and says
// where each value came from.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		environ []string
		want    []string // each must be one line of the error
	}{
		{
			name:    "unknown key with line",
			content: "listen: \":8080\"\nhubspot:\n  tokn: abc\n",
			want:    []string{`config.yaml:3: unknown key "hubspot.tokn" (did you mean "hubspot.token"?)`},
		},
		{
			name:    "unknown top-level key names the section it belongs to",
			content: "token: abc\n",
			want:    []string{`config.yaml:1: unknown key "token" (did you mean "hubspot.token"?)`},
		},
		{
			name:    "unknown key without suggestion",
			content: "\n\nfrobnicate: true\n",
			want:    []string{`config.yaml:3: unknown key "frobnicate"`},
		},
		{
			name:    "all errors collected across sources",
			content: "hubspot:\n  tier: gold\n  tokn: x\nsync:\n  batch_size: 500\n  interval: soon\n",
			environ: []string{"LINEHUB_LOG_LEVEL=loud", "LINEHUB_LIMITS_MAX_CONNECTIONS=many"},
			want: []string{
				`config.yaml:3: unknown key "hubspot.tokn" (did you mean "hubspot.token"?)`,
				`config.yaml:6: sync.interval: "soon" is not a duration such as 500ms, 1s, 5m or 24h`,
				`limits.max_connections: "many" is not a whole number in range (from LINEHUB_LIMITS_MAX_CONNECTIONS)`,
				`config.yaml:2: hubspot.tier: "gold" is not one of starter, professional, enterprise`,
				`log.level: "loud" is not one of debug, info, warn, error (from LINEHUB_LOG_LEVEL)`,
				`config.yaml:5: sync.batch_size: must be 1..100, got 500`,
			},
		},
		{
			name:    "env error names the file key too",
			content: "sync:\n  interval: 2s\n",
			environ: []string{"LINEHUB_SYNC_INTERVAL=2"},
			want:    []string{`sync.interval: "2" is not a duration such as 500ms, 1s, 5m or 24h (from LINEHUB_SYNC_INTERVAL)`},
		},
		{
			name:    "public_url from file",
			content: "public_url: line.example.com\n",
			want:    []string{`config.yaml:1: public_url: must be an absolute http(s) URL such as https://line.example.com, got "line.example.com"`},
		},
		{
			name:    "int overflow",
			content: "limits:\n  max_connections: 99999999999999999999\n",
			want:    []string{`config.yaml:2: limits.max_connections: "99999999999999999999" is not a whole number in range`},
		},
		{
			name:    "section given a value",
			content: "hubspot: abc\n",
			want:    []string{`config.yaml:1: hubspot must be a mapping of keys, not a single value`},
		},
		{
			name:    "leaf given a mapping",
			content: "listen:\n  port: 80\n",
			want:    []string{`config.yaml:2: listen: must be a single value, not a mapping`},
		},
		{
			name:    "leaf given a list",
			content: "log:\n  level: [info]\n",
			want:    []string{`config.yaml:2: log.level: must be a single value, not a list`},
		},
		{
			name:    "top level is a list",
			content: "- listen\n",
			want:    []string{`config.yaml:1: the top level must be a mapping of keys, not a list`},
		},
		{
			name:    "duplicate key",
			content: "listen: \":1\"\nlisten: \":2\"\n",
			want:    []string{`config.yaml:2: "listen" is set twice (first on line 1)`},
		},
		{
			name:    "non-scalar key",
			content: "? [a]\n: b\n",
			want:    []string{`config.yaml:1: keys must be plain names, not a list`},
		},
		{
			name:    "second document",
			content: "listen: \":1\"\n---\nlisten: \":2\"\n",
			want:    []string{`config.yaml:2: only one YAML document is allowed`},
		},
		{
			name:    "syntax error",
			content: "listen: \":1\"\n  bad: [\n",
			want:    []string{`config.yaml: yaml: line 1: did not find expected key`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.content)
			c, err := Load(path, tc.environ)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			if c != nil {
				t.Errorf("Load returned a config with an error")
			}
			got := strings.ReplaceAll(err.Error(), path, "config.yaml")
			if lines := strings.Split(got, "\n"); !reflect.DeepEqual(lines, tc.want) {
				t.Errorf("error lines:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path, nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(missing) = %v, want a not-exist error naming %s", err, path)
	}
}

func TestWebhookBaseURL(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"public_url trailing slash trimmed", Config{PublicURL: "https://h.example.com/base/", Domain: "x.example.com"}, "https://h.example.com/base"},
		{"public_url as is", Config{PublicURL: "http://127.0.0.1:9000"}, "http://127.0.0.1:9000"},
		{"domain", Config{Domain: "line.example.com", Listen: ":8080"}, "https://line.example.com"},
		{"listen port", Config{Listen: ":8080"}, "http://localhost:8080"},
		{"listen host ignored", Config{Listen: "0.0.0.0:9000"}, "http://localhost:9000"},
		{"port 80 implied", Config{Listen: ":80"}, "http://localhost"},
		{"unparseable listen", Config{Listen: "bogus"}, "http://localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.WebhookBaseURL(); got != tc.want {
				t.Errorf("WebhookBaseURL() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEmailDomain(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"explicit wins", Config{HubSpot: HubSpot{DummyEmailDomain: "Mail.Example.com"}, Domain: "x.example.com"}, "mail.example.com"},
		{"from domain", Config{Domain: "Example.com", PublicURL: "https://other.example.org"}, "line.example.com"},
		{"from public_url host", Config{PublicURL: "https://Hooks.Example.com:8443/lh"}, "line.hooks.example.com"},
		{"public_url localhost", Config{PublicURL: "http://localhost:8080"}, "line.invalid"},
		{"public_url .localhost", Config{PublicURL: "http://linehub.localhost:8080"}, "line.invalid"},
		{"public_url IPv4", Config{PublicURL: "http://203.0.113.9"}, "line.invalid"},
		{"public_url IPv6", Config{PublicURL: "http://[2001:db8::1]:8080"}, "line.invalid"},
		{"public_url single label", Config{PublicURL: "http://intranet"}, "line.invalid"},
		{"nothing set", Config{}, "line.invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.EmailDomain(); got != tc.want {
				t.Errorf("EmailDomain() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTiers(t *testing.T) {
	for _, tc := range []struct {
		tier    string
		parsed  string
		ok      bool
		maxConn int
	}{
		{"starter", TierStarter, true, 2},
		{"free", TierStarter, true, 2},
		{"Professional", TierProfessional, true, 10},
		{"enterprise", TierEnterprise, true, 50},
		{" enterprise ", TierEnterprise, true, 50},
		{"gold", "", false, 2},
		{"", "", false, 2},
	} {
		t.Run(tc.tier, func(t *testing.T) {
			got, err := ParseTier(tc.tier)
			if got != tc.parsed || (err == nil) != tc.ok {
				t.Errorf("ParseTier(%q) = %q, %v", tc.tier, got, err)
			}
			if n := TierMaxConnections(tc.tier); n != tc.maxConn {
				t.Errorf("TierMaxConnections(%q) = %d, want %d", tc.tier, n, tc.maxConn)
			}
		})
	}

	c := Default()
	c.HubSpot.Tier = TierProfessional
	if n := c.MaxConnections(); n != 10 {
		t.Errorf("MaxConnections() with tier default = %d, want 10", n)
	}
	c.Limits.MaxConnections = 3
	if n := c.MaxConnections(); n != 3 {
		t.Errorf("MaxConnections() with explicit limit = %d, want 3", n)
	}
}

func TestPath(t *testing.T) {
	env := []string{"LINEHUB_CONFIG=/etc/linehub/config.yaml"}
	for _, tc := range []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{"nothing", nil, nil, ""},
		{"env only", []string{"serve"}, env, "/etc/linehub/config.yaml"},
		{"separate value", []string{"--config", "a.yaml"}, env, "a.yaml"},
		{"equals value", []string{"--config=b.yaml"}, env, "b.yaml"},
		{"single dash", []string{"-config", "c.yaml"}, nil, "c.yaml"},
		{"single dash equals", []string{"-config=d.yaml"}, nil, "d.yaml"},
		{"after subcommand", []string{"token", "create", "--name", "ci", "--config", "e.yaml"}, env, "e.yaml"},
		{"last wins", []string{"--config=a", "--config", "b"}, nil, "b"},
		{"explicit empty beats env", []string{"--config="}, env, ""},
		{"missing value falls back to env", []string{"--config"}, env, "/etc/linehub/config.yaml"},
		{"stops at --", []string{"--", "--config", "x"}, nil, ""},
		{"similar flag ignored", []string{"--configs", "x", "--config-dir=y"}, nil, ""},
		{"empty env", nil, []string{"LINEHUB_CONFIG="}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Path(tc.args, tc.environ); got != tc.want {
				t.Errorf("Path(%q, %q) = %q, want %q", tc.args, tc.environ, got, tc.want)
			}
		})
	}
}

// TestExampleFile keeps config.example.yaml loadable (install.sh installs it
// as the live config), equal to the defaults, and complete.
func TestExampleFile(t *testing.T) {
	const path = "../../config.example.yaml"
	c := mustLoad(t, path, nil)
	if len(c.Warnings) != 0 {
		t.Errorf("Warnings = %q", c.Warnings)
	}
	if got := withoutWarnings(c); !reflect.DeepEqual(got, Default()) {
		t.Errorf("example differs from Default():\n%+v\n%+v", got, Default())
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := joinKey(prefix, n.Content[i].Value)
			present[key] = true
			if v := n.Content[i+1]; v.Kind == yaml.MappingNode {
				walk(key, v)
			} else if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
				t.Errorf("%s: example must show a concrete default", key)
			}
			// install.sh users read this file: every key needs its comment.
			if k := n.Content[i]; k.HeadComment == "" && k.LineComment == "" && n.Content[i+1].LineComment == "" && n.Content[i+1].Kind != yaml.MappingNode {
				t.Errorf("%s: no comment in example", key)
			}
		}
	}
	walk("", doc.Content[0])
	for _, f := range schema().leaves() {
		if !present[f.key] {
			t.Errorf("config.example.yaml lacks %s", f.key)
		}
	}
}

func TestWizardPublicURLPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name, publicURL, domain, wizard string
		wantBase, wantEmail             string
	}{
		{"nothing set", "", "", "", "http://localhost:8080", "line.invalid"},
		{"wizard only", "", "", "https://line.example.com/", "https://line.example.com", "line.line.example.com"},
		{"public_url wins", "https://hooks.example.org", "", "https://line.example.com", "https://hooks.example.org", "line.hooks.example.org"},
		{"domain wins", "", "tls.example.net", "https://line.example.com", "https://tls.example.net", "line.tls.example.net"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.PublicURL, c.Domain = tc.publicURL, tc.domain
			c.SetWizardPublicURL(tc.wizard)
			if got := c.WebhookBaseURL(); got != tc.wantBase {
				t.Errorf("WebhookBaseURL = %q, want %q", got, tc.wantBase)
			}
			if got := c.EmailDomain(); got != tc.wantEmail {
				t.Errorf("EmailDomain = %q, want %q", got, tc.wantEmail)
			}
		})
	}
}
