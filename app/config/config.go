// Package config loads linehub's configuration: defaults, then an optional
// YAML file, then LINEHUB_* environment variables, then validation.
//
// The YAML keys (see config.example.yaml and docs/design.md §6) are the public
// contract; the Go field names are not. Every leaf key is also settable from
// the environment as LINEHUB_<SECTION>_<KEY>, derived from the yaml tags, so
// a field added here is documented, loadable and overridable without further
// wiring.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// Config is the complete runtime configuration. Field tags are the YAML keys;
// every exported field except Warnings must carry one.
type Config struct {
	// Listen is the plain-HTTP listener (used without a domain, or behind a proxy).
	Listen string `yaml:"listen"`
	// PublicURL is the base of webhook URLs. Empty means derived; use
	// WebhookBaseURL rather than reading it directly.
	PublicURL string `yaml:"public_url"`
	// Domain, when set, turns on automatic TLS (ACME) on HTTPSListen.
	Domain string `yaml:"domain"`
	// HTTPSListen and HTTPListen are used instead of Listen when Domain is
	// set: HTTPS with the ACME certificate, and plain HTTP that answers
	// ACME HTTP-01 challenges and redirects everything else to HTTPS. Public
	// CAs validate on 443 and 80; other ports are for tests and private CAs.
	HTTPSListen string  `yaml:"https_listen"`
	HTTPListen  string  `yaml:"http_listen"`
	ACME        ACME    `yaml:"acme"`
	DataDir     string  `yaml:"data_dir"`
	HubSpot     HubSpot `yaml:"hubspot"`
	LINE        LINE    `yaml:"line"`
	Limits      Limits  `yaml:"limits"`
	Log         Log     `yaml:"log"`
	Sync        Sync    `yaml:"sync"`
	Webhook     Webhook `yaml:"webhook"`
	Jobs        Jobs    `yaml:"jobs"`

	// Warnings are non-fatal findings of Load (unknown LINEHUB_* variables,
	// settings that have no effect, a world-readable file holding a token).
	// main should log them: they are the only trace of a mistyped variable.
	Warnings []string `yaml:"-"`

	// wizardURL is the public URL saved in the setup wizard. It changes
	// while linehub runs, so it is read atomically; a pointer keeps Config
	// copyable.
	wizardURL *atomic.Pointer[string]
}

// SetWizardPublicURL sets the public URL saved in the setup wizard (""
// clears it). It applies only while neither public_url nor domain is
// configured: those are explicit and win. The first call makes the holder
// and must come before concurrent use (web.New does it at start-up).
func (c *Config) SetWizardPublicURL(u string) {
	if c.wizardURL == nil {
		c.wizardURL = new(atomic.Pointer[string])
	}
	u = strings.TrimRight(u, "/")
	c.wizardURL.Store(&u)
}

func (c *Config) wizardPublicURL() string {
	if c.wizardURL == nil {
		return ""
	}
	if p := c.wizardURL.Load(); p != nil {
		return *p
	}
	return ""
}

// EffectivePublicURL is the public URL in use: public_url, else the one
// saved in the wizard (when no domain is set), else "".
func (c *Config) EffectivePublicURL() string {
	switch {
	case c.PublicURL != "":
		return strings.TrimRight(c.PublicURL, "/")
	case c.Domain != "":
		return ""
	}
	return c.wizardPublicURL()
}

// ACME configures certificate issuance when Domain is set.
type ACME struct {
	// Email is the contact address given to the certificate authority.
	Email string `yaml:"email"`
	// CA is the directory URL of a non-default ACME CA.
	CA string `yaml:"ca"`
	// CARoot is the path of a PEM file with CA's root certificate, for
	// private or test CAs whose root is not in the system pool.
	CARoot string `yaml:"ca_root"`
}

// HubSpot configures the HubSpot client.
type HubSpot struct {
	BaseURL string `yaml:"base_url"`
	// Token may be empty: the setup wizard can store one instead.
	Token string `yaml:"token"`
	// Tier is one of the Tier* constants after Load ("free" becomes starter).
	Tier string `yaml:"tier"`
	// DummyEmailDomain overrides the domain of placeholder contact emails;
	// use EmailDomain for the effective value.
	DummyEmailDomain string `yaml:"dummy_email_domain"`
}

// LINE configures the LINE Messaging API client.
type LINE struct {
	APIBaseURL     string `yaml:"api_base_url"`
	DataAPIBaseURL string `yaml:"data_api_base_url"`
	// LoginBaseURL is where LINE Login's authorization page lives
	// (https://access.line.me); LoginAPIBaseURL answers its token,
	// verify and profile calls (https://api.line.me). Tests point both at
	// linetest.
	LoginBaseURL    string `yaml:"login_base_url"`
	LoginAPIBaseURL string `yaml:"login_api_base_url"`
}

// Limits caps resources beyond what the tier implies.
type Limits struct {
	// MaxConnections of 0 means the tier's default; use Config.MaxConnections.
	MaxConnections int `yaml:"max_connections"`
}

// Log configures the process logger.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Sync tunes the HubSpot sync worker.
type Sync struct {
	BatchSize int `yaml:"batch_size"`
	// Interval is how long the worker waits for a batch to fill before it
	// sends a partial one.
	Interval        time.Duration `yaml:"interval"`
	ProfileCacheTTL time.Duration `yaml:"profile_cache_ttl"`
}

// Webhook tunes the LINE webhook endpoint.
type Webhook struct {
	MaxBodyBytes int `yaml:"max_body_bytes"`
}

// Jobs schedules the background jobs (robfig/cron syntax: five fields,
// or six with leading seconds, or @every 1h / @daily; "off" disables a job).
type Jobs struct {
	// TimeZone the schedules are read in, e.g. Asia/Tokyo (default UTC).
	TimeZone string `yaml:"time_zone"`
	// Reconcile checks follow status, names and sync dates with LINE.
	Reconcile string `yaml:"reconcile"`
	// ReconcileSpread staggers the connections' reconciles over this span
	// so that many connections do not hit LINE at the same moment.
	ReconcileSpread time.Duration `yaml:"reconcile_spread"`
	// DriftRepair re-reads linehub's contacts in HubSpot.
	DriftRepair string `yaml:"drift_repair"`
	// DeadLetters parks items that keep failing and retries old ones.
	DeadLetters string `yaml:"dead_letters"`
	// PruneInbox deletes applied webhook events older than InboxRetention.
	PruneInbox     string        `yaml:"prune_inbox"`
	InboxRetention time.Duration `yaml:"inbox_retention"`
	// ChatRetention is how long the dashboard's chat history is kept (the
	// same messages stay as notes in HubSpot); 0 keeps it forever.
	ChatRetention time.Duration `yaml:"chat_retention"`
	// ImportCheck looks for verified connections whose friends were never
	// imported (a new connection, or a token added later).
	ImportCheck string `yaml:"import_check"`
	// LINERate caps LINE API calls per second per connection made by jobs.
	LINERate int `yaml:"line_rate"`
	// DriftReadsPerMinute caps the HubSpot batch reads of drift repair, so
	// that it leaves the request budget to the sync worker.
	DriftReadsPerMinute int `yaml:"drift_reads_per_minute"`
}

// HubSpot subscription tiers.
const (
	TierStarter      = "starter"
	TierProfessional = "professional"
	TierEnterprise   = "enterprise"
)

// Default returns the configuration used when nothing is set.
func Default() *Config {
	return &Config{
		Listen:      ":8080",
		HTTPSListen: ":443",
		HTTPListen:  ":80",
		DataDir:     "./data",
		HubSpot: HubSpot{
			BaseURL: "https://api.hubapi.com",
			Tier:    TierStarter,
		},
		LINE: LINE{
			APIBaseURL:      "https://api.line.me",
			DataAPIBaseURL:  "https://api-data.line.me",
			LoginBaseURL:    "https://access.line.me",
			LoginAPIBaseURL: "https://api.line.me",
		},
		Log: Log{Level: "info", Format: "text"},
		Sync: Sync{
			BatchSize:       100,
			Interval:        time.Second,
			ProfileCacheTTL: 24 * time.Hour,
		},
		Webhook: Webhook{MaxBodyBytes: 1 << 20},
		Jobs: Jobs{
			TimeZone:            "UTC",
			Reconcile:           "0 */6 * * *",
			ReconcileSpread:     time.Hour,
			DriftRepair:         "30 3 * * *",
			DeadLetters:         "@hourly",
			PruneInbox:          "15 4 * * *",
			InboxRetention:      30 * 24 * time.Hour,
			ChatRetention:       365 * 24 * time.Hour,
			ImportCheck:         "@every 1m",
			LINERate:            50,
			DriftReadsPerMinute: 60,
		},
	}
}

// Load reads the YAML file at path ("" = no file, defaults only), applies
// environment overrides from environ (os.Environ format) and validates the
// result. All problems are reported together (errors.Join), each naming the
// key as written in YAML and where its value came from (file line or
// variable name). A path that does not exist is an error: a mistyped
// --config must not silently fall back to defaults. Non-fatal findings are
// returned in Config.Warnings for the caller to log.
func Load(path string, environ []string) (*Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
		data = b
	}
	c, origins, err := load(path, data, environ)
	if err != nil {
		return nil, err
	}
	if origins["hubspot.token"].fileValue != "" {
		if w := permissionWarning(path); w != "" {
			c.Warnings = append(c.Warnings, w)
		}
	}
	return c, nil
}

// load is Load without the file system, so the fuzz target can drive it. It
// also returns where each key's value came from.
func load(name string, data []byte, environ []string) (*Config, map[string]origin, error) {
	c := Default()
	origins := map[string]origin{}

	errs, err := decodeYAML(name, data, c, origins)
	if err != nil {
		return nil, nil, err
	}
	envErrs, warnings := applyEnv(c, environ, origins)
	errs = append(errs, envErrs...)

	c.normalize()
	for _, p := range c.problems() {
		errs = append(errs, origins[p.key].errorf(p.key, p.msg))
	}
	if len(errs) > 0 {
		// A mistyped variable may be the very fix the user attempted for
		// one of these errors, so its warning must not be lost with c.
		for _, w := range warnings {
			errs = append(errs, errors.New("warning: "+w))
		}
		return nil, nil, errors.Join(errs...)
	}
	c.Warnings = append(warnings, c.effectWarnings()...)
	return c, origins, nil
}

// normalize folds spellings that mean the same thing into the one form the
// rest of linehub compares against.
func (c *Config) normalize() {
	if t, err := ParseTier(c.HubSpot.Tier); err == nil {
		c.HubSpot.Tier = t
	}
	c.Log.Level = strings.ToLower(c.Log.Level)
	c.Log.Format = strings.ToLower(c.Log.Format)
	c.Domain = strings.TrimSuffix(strings.ToLower(c.Domain), ".")
	c.HubSpot.DummyEmailDomain = strings.TrimSuffix(strings.ToLower(c.HubSpot.DummyEmailDomain), ".")
}

// effectWarnings reports settings that are valid but do nothing.
func (c *Config) effectWarnings() []string {
	var w []string
	if c.Domain == "" && (c.ACME.Email != "" || c.ACME.CA != "" || c.ACME.CARoot != "") {
		w = append(w, "acme.* is set but domain is empty, so no certificate is requested")
	}
	if c.Domain != "" && c.Listen != Default().Listen {
		w = append(w, "listen is not used when domain is set: linehub serves HTTPS on https_listen and redirects on http_listen (leave domain empty to run behind a reverse proxy)")
	}
	if c.ACME.CARoot != "" && c.ACME.CA == "" {
		w = append(w, "acme.ca_root is set without acme.ca; it only applies to that CA")
	}
	return w
}

// permissionWarning flags a file holding the HubSpot token that every local
// user can read. Group access is left alone: root:linehub 0640 is the
// intended installation. Windows has no such mode bits to judge by.
func permissionWarning(path string) string {
	if runtime.GOOS == "windows" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return ""
	}
	return fmt.Sprintf("%s is readable by all users and holds hubspot.token; run chmod o-r on it", path)
}

// ParseTier maps a tier as a user may write it (any case, "free" for the
// free trial) to one of the Tier* constants.
func ParseTier(s string) (string, error) {
	switch t := strings.ToLower(strings.TrimSpace(s)); t {
	case TierStarter, "free":
		return TierStarter, nil
	case TierProfessional, TierEnterprise:
		return t, nil
	}
	return "", fmt.Errorf("%s is not one of starter, professional, enterprise", show(s))
}

// TierMaxConnections is the number of LINE connections a HubSpot tier
// allows. An unknown tier gets the smallest limit rather than none, so a bad
// value degrades the service instead of blocking it.
func TierMaxConnections(tier string) int {
	t, _ := ParseTier(tier)
	switch t {
	case TierProfessional:
		return 10
	case TierEnterprise:
		return 50
	}
	return 2
}

// MaxConnections is the effective connection limit: limits.max_connections
// when set, otherwise the tier's default.
func (c *Config) MaxConnections() int {
	if c.Limits.MaxConnections > 0 {
		return c.Limits.MaxConnections
	}
	return TierMaxConnections(c.HubSpot.Tier)
}

// WebhookBaseURL is the base that webhook paths are appended to, without a
// trailing slash: public_url if set, else https://<domain>, else the URL
// saved in the wizard, else the local listener (good enough for
// development with a tunnel in front).
func (c *Config) WebhookBaseURL() string {
	if u := c.EffectivePublicURL(); u != "" {
		return u
	}
	if c.Domain != "" {
		return "https://" + c.Domain
	}
	_, port, err := net.SplitHostPort(c.Listen)
	if err != nil || port == "" || port == "80" {
		return "http://localhost"
	}
	return "http://localhost:" + port
}

// EmailDomain is the domain of placeholder emails for new contacts. It must
// be a name the business controls, so no mail can reach a stranger; with no
// such name known it falls back to the reserved "line.invalid", which can
// never receive mail. Lower case because HubSpot stores emails that way.
func (c *Config) EmailDomain() string {
	switch {
	case c.HubSpot.DummyEmailDomain != "":
		return strings.ToLower(c.HubSpot.DummyEmailDomain)
	case c.Domain != "":
		return "line." + strings.ToLower(c.Domain)
	}
	if u, err := url.Parse(c.EffectivePublicURL()); err == nil && isPublicHostName(u.Hostname()) {
		return "line." + strings.ToLower(u.Hostname())
	}
	return "line.invalid"
}

// isPublicHostName reports whether h is a multi-label DNS name that could
// belong to the business: not an IP, not localhost, not a bare intranet name.
func isPublicHostName(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" || net.ParseIP(h) != nil || checkHostName(h) != nil {
		return false
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return false
	}
	return strings.Contains(h, ".")
}

// Path returns the configuration file to load: the last --config value in
// args ("--config x", "--config=x", or the single-dash forms the flag
// package also accepts), else LINEHUB_CONFIG, else "". It scans all of args
// up to "--", so the flag also works after a subcommand
// ("linehub token create --config x").
func Path(args []string, environ []string) string {
	path, found := "", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(a, "=")
		if name != "--config" && name != "-config" {
			continue
		}
		switch {
		case hasValue:
			path, found = value, true
		case i+1 < len(args):
			i++
			path, found = args[i], true
		}
	}
	if found {
		return path
	}
	v, _ := lookupEnv(environ, "LINEHUB_CONFIG")
	return v
}

// lookupEnv finds name in environ; the last entry wins, as with exec.Cmd.
func lookupEnv(environ []string, name string) (string, bool) {
	value, ok := "", false
	for _, kv := range environ {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			value, ok = v, true
		}
	}
	return value, ok
}
