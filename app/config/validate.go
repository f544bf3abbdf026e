package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
)

// Bounds enforced by Validate.
const (
	// maxConnectionsLimit catches a unit slip (an extra zero) rather than
	// encoding any real ceiling.
	maxConnectionsLimit = 1000
	// maxBatchSize is the most inputs HubSpot's batch endpoints accept.
	maxBatchSize = 100
	// maxWebhookBody bounds what one request may make linehub buffer.
	maxWebhookBody = 64 << 20
)

// problem is one validation failure; Load decorates it with the origin of
// the key's value, Validate reports it bare.
type problem struct{ key, msg string }

// Validate checks every key and reports all problems at once, each naming
// the key as written in YAML.
func (c *Config) Validate() error {
	var errs []error
	for _, p := range c.problems() {
		errs = append(errs, fmt.Errorf("%s: %s", p.key, p.msg))
	}
	return errors.Join(errs...)
}

func (c *Config) problems() []problem {
	var ps []problem
	check := func(key, msg string) {
		if msg != "" {
			ps = append(ps, problem{key, msg})
		}
	}

	check("listen", checkListen(c.Listen))
	check("https_listen", checkListen(c.HTTPSListen))
	check("http_listen", checkListen(c.HTTPListen))
	if c.Domain != "" && c.HTTPSListen == c.HTTPListen {
		check("http_listen", "must differ from https_listen")
	}
	if c.PublicURL != "" {
		check("public_url", checkHTTPURL(c.PublicURL, "https://line.example.com"))
	}
	if c.Domain != "" {
		check("domain", checkDomain(c.Domain))
	}
	if c.ACME.Email != "" {
		if a, err := mail.ParseAddress(c.ACME.Email); err != nil || a.Address != c.ACME.Email {
			check("acme.email", fmt.Sprintf("%s is not an email address", show(c.ACME.Email)))
		}
	}
	if c.ACME.CA != "" {
		check("acme.ca", checkHTTPURL(c.ACME.CA, "https://acme.example.com/directory"))
	}
	if strings.TrimSpace(c.DataDir) == "" {
		check("data_dir", "must not be empty")
	}

	check("hubspot.base_url", checkHTTPURL(c.HubSpot.BaseURL, "https://api.hubapi.com"))
	if _, err := ParseTier(c.HubSpot.Tier); err != nil {
		check("hubspot.tier", err.Error())
	}
	if d := c.HubSpot.DummyEmailDomain; d != "" {
		if strings.Contains(d, "@") {
			check("hubspot.dummy_email_domain", fmt.Sprintf("give only the domain, without @, got %s", show(d)))
		} else {
			check("hubspot.dummy_email_domain", checkDomain(d))
		}
	}

	check("line.api_base_url", checkHTTPURL(c.LINE.APIBaseURL, "https://api.line.me"))
	check("line.data_api_base_url", checkHTTPURL(c.LINE.DataAPIBaseURL, "https://api-data.line.me"))
	check("line.login_base_url", checkHTTPURL(c.LINE.LoginBaseURL, "https://access.line.me"))
	check("line.login_api_base_url", checkHTTPURL(c.LINE.LoginAPIBaseURL, "https://api.line.me"))

	if n := c.Limits.MaxConnections; n < 0 || n > maxConnectionsLimit {
		check("limits.max_connections", fmt.Sprintf("must be 0..%d (0 = the tier's default), got %d", maxConnectionsLimit, n))
	}

	check("log.level", checkOneOf(c.Log.Level, "debug", "info", "warn", "error"))
	check("log.format", checkOneOf(c.Log.Format, "text", "json"))

	if n := c.Sync.BatchSize; n < 1 || n > maxBatchSize {
		check("sync.batch_size", fmt.Sprintf("must be 1..%d, got %d", maxBatchSize, n))
	}
	if d := c.Sync.Interval; d <= 0 {
		check("sync.interval", fmt.Sprintf("must be a positive duration such as 1s, got %s", d))
	}
	if d := c.Sync.ProfileCacheTTL; d <= 0 {
		check("sync.profile_cache_ttl", fmt.Sprintf("must be a positive duration such as 24h, got %s", d))
	}

	if n := c.Webhook.MaxBodyBytes; n < 1 || n > maxWebhookBody {
		check("webhook.max_body_bytes", fmt.Sprintf("must be 1..%d, got %d", maxWebhookBody, n))
	}
	ps = append(ps, c.Jobs.problems()...)
	return ps
}

func checkListen(s string) string {
	bad := fmt.Sprintf(`must be host:port such as ":8080" or "127.0.0.1:8080", got %s`, show(s))
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return bad
	}
	// Numeric only: a service name would depend on /etc/services.
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return bad
	}
	return ""
}

// checkHTTPURL requires an absolute http(s) URL that paths can be appended
// to, so it must carry no query, fragment or credentials.
func checkHTTPURL(s, example string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return fmt.Sprintf("must be an absolute http(s) URL such as %s, got %s", example, show(s))
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#") {
		return fmt.Sprintf("must not contain a query or fragment, got %s", show(s))
	}
	if u.User != nil {
		return "must not contain user credentials"
	}
	return ""
}

func checkDomain(s string) string {
	if net.ParseIP(s) != nil {
		return fmt.Sprintf("must be a DNS name, not an IP address, got %s", show(s))
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/:") {
		return fmt.Sprintf("must be a bare DNS name such as line.example.com (no scheme, port or path), got %s", show(s))
	}
	if err := checkHostName(s); err != nil {
		return fmt.Sprintf("%s is not a valid DNS name: %v", show(s), err)
	}
	return ""
}

// checkHostName applies the RFC 1123 host name rules in ASCII; an
// internationalized name must be given in its xn-- form.
func checkHostName(s string) error {
	if len(s) > 253 {
		return errors.New("longer than 253 characters")
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("each dot-separated part must be 1 to 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("a part may not start or end with a hyphen")
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-') {
				return errors.New("only letters, digits, hyphens and dots are allowed (use the xn-- form for international names)")
			}
		}
	}
	return nil
}

func checkOneOf(s string, allowed ...string) string {
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			return ""
		}
	}
	return fmt.Sprintf("%s is not one of %s", show(s), strings.Join(allowed, ", "))
}
