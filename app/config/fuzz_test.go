package config

import (
	"os"
	"testing"
)

// FuzzLoadYAML feeds arbitrary bytes to the file decoder. Beyond not
// panicking, whatever it accepts must be a valid configuration whose derived
// values are usable.
func FuzzLoadYAML(f *testing.F) {
	if example, err := os.ReadFile("../../config.example.yaml"); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		"",
		"listen: \":9000\"\nhubspot: {tier: free, token: x}\n",
		"sync:\n  interval: 1h\n  batch_size: 1\n",
		"a: &a {b: *a}\n",
		"hubspot: &h {tier: starter}\nline: *h\n",
		"<<: {listen: \":1\"}\n",
		"? [x]\n: y\n",
		"public_url: https://x.example.com/\ndomain: x.example.com.\n",
		"---\n---\n",
		"listen: !!binary aGVsbG8=\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := load("fuzz.yaml", data, nil)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
		if c.WebhookBaseURL() == "" || c.EmailDomain() == "" || c.MaxConnections() <= 0 {
			t.Fatalf("unusable derived values: %q %q %d", c.WebhookBaseURL(), c.EmailDomain(), c.MaxConnections())
		}
	})
}
