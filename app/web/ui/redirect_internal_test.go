package ui

import (
	"net/url"
	"strings"
	"testing"
)

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "/",
		"/":                             "/",
		"/settings":                     "/settings",
		"/connections/3?ok=x#top":       "/connections/3?ok=x#top",
		"/friends?q=%E6%97%A5":          "/friends?q=%E6%97%A5",
		"/a//b":                         "/a//b",
		"/%2F%2Fevil.com":               "/%2F%2Fevil.com", // a path on this host
		"//evil.com":                    "/",
		"///evil.com":                   "/",
		"/\\evil.com":                   "/",
		"/a\\b":                         "/",
		"\\\\evil.com":                  "/",
		"/\t/evil.com":                  "/",
		"/\n/evil.com":                  "/",
		"/\r/evil.com":                  "/",
		"/ /evil.com":                   "/",
		"/\x00x":                        "/",
		"/\x7fx":                        "/",
		"/\u3000/evil.com":              "/",
		"/\uff0fevil.com":               "/",
		"https://evil.com/":             "/",
		"javascript:alert(1)":           "/",
		"evil.com":                      "/",
		"?next=//evil.com":              "/",
		"#frag":                         "/",
		"/" + strings.Repeat("a", 3000): "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzLocalPath: whatever localPath lets through, resolved against the
// site's address by net/url and by a browser's lenient reading (a
// backslash as a slash, tabs and newlines dropped, surrounding spaces and
// controls trimmed), stays on the site's host.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/settings?ok=1", "//evil.com", "/\\evil.com", "/\t/evil.com", "/%09/evil.com", "https://evil.com", "/a/../..//evil.com"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://linehub.example/")
	f.Fuzz(func(t *testing.T, in string) {
		out := localPath(in)
		if out != in && out != "/" {
			t.Fatalf("localPath(%q) = %q: neither the input nor the fallback", in, out)
		}
		for _, ref := range []string{browserish(out), out} {
			u, err := url.Parse(ref)
			if err != nil {
				t.Fatalf("accepted %q does not parse: %v", in, err)
			}
			if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme || r.User != nil {
				t.Fatalf("accepted %q leads to %s", in, r)
			}
		}
	})
}

// browserish reads a Location value the way the URL standard lets a
// browser: leading and trailing C0 controls and spaces trimmed, tabs and
// newlines removed, backslashes taken as slashes.
func browserish(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(s)
	return s
}
