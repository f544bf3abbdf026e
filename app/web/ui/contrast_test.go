package ui

import (
	"io/fs"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"linehub/assets"
)

// TestStylesheetContrast reads the colours of app.css and checks them
// against WCAG 2.x: 4.5:1 for text, 3:1 for the parts of controls and
// graphics a person must see (the current-page underline, focus ring).
func TestStylesheetContrast(t *testing.T) {
	css, err := fs.ReadFile(assets.UI, "static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	rules := parseCSS(string(css))
	get := func(sel, prop string) string {
		t.Helper()
		v := rules[sel][prop]
		if v == "" {
			t.Fatalf("app.css: no %s in %q", prop, sel)
		}
		return v
	}
	page := get("body", "background")
	header := get("header.top", "background")
	for _, tc := range []struct {
		what   string
		fg, bg string
		min    float64
	}{
		{"body text", get("body", "color"), page, 4.5},
		{"primary button", get("button,.button", "color"), get("button,.button", "background"), 4.5},
		{"secondary button", get("button.secondary,.button.secondary", "color"), get("button.secondary,.button.secondary", "background"), 4.5},
		{"danger button", "#fff", get("button.danger", "background"), 4.5},
		{"disabled button", "#fff", get("button:disabled", "background"), 4.5},
		{"brand", get(".brand", "color"), header, 4.5},
		{"current menu underline", borderColor(get("nav a[aria-current]", "border-bottom")), header, 3},
		{"footer", get("footer", "color"), page, 4.5},
		{"muted text on the page", get(".muted", "color"), page, 4.5},
		{"connection initial", get(".icon.placeholder", "color"), get(".icon.placeholder", "background"), 4.5},
		{"flash", get(".flash,.ok", "color"), get(".flash", "background"), 4.5},
		{"error", get(".error", "color"), get("p.error", "background"), 4.5},
		{"chart axis labels", get(".chart .axis", "fill"), "#fff", 4.5},
		{"skip link", get(".skip", "color"), get(".skip", "background"), 4.5},
	} {
		if r := contrast(t, tc.fg, tc.bg); r < tc.min {
			t.Errorf("%s: %s on %s has contrast %.2f:1, want at least %.1f:1", tc.what, tc.fg, tc.bg, r, tc.min)
		}
	}
}

// parseCSS maps each selector list (as written, without spaces after
// commas) to its declarations; later rules win, as in the browser. Rules
// inside @media blocks are read too.
func parseCSS(css string) map[string]map[string]string {
	css = regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(css, "")
	out := map[string]map[string]string{}
	for _, m := range regexp.MustCompile(`([^{}]+)\{([^{}]*)\}`).FindAllStringSubmatch(css, -1) {
		sel := strings.TrimSpace(m[1])
		if i := strings.LastIndex(sel, "{"); i >= 0 {
			sel = strings.TrimSpace(sel[i+1:])
		}
		sel = regexp.MustCompile(`\s*,\s*`).ReplaceAllString(sel, ",")
		if out[sel] == nil {
			out[sel] = map[string]string{}
		}
		for _, d := range strings.Split(m[2], ";") {
			k, v, ok := strings.Cut(d, ":")
			if ok {
				out[sel][strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

func borderColor(shorthand string) string {
	for _, f := range strings.Fields(shorthand) {
		if strings.HasPrefix(f, "#") {
			return f
		}
	}
	return shorthand
}

// contrast is the WCAG contrast ratio of two #rgb or #rrggbb colours.
func contrast(t *testing.T, a, b string) float64 {
	t.Helper()
	la, lb := luminance(t, a), luminance(t, b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(t *testing.T, hex string) float64 {
	t.Helper()
	h := strings.TrimPrefix(strings.ToLower(hex), "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	n, err := strconv.ParseUint(h, 16, 32)
	if len(h) != 6 || err != nil {
		t.Fatalf("not a colour: %q", hex)
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		c := float64(n>>(16-8*i)&0xff) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

func TestContrastFormula(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{{"#000", "#fff", 21}, {"#fff", "#fff", 1}, {"#fff", "#06c755", 2.26}, {"#777", "#fff", 4.48}} {
		if got := contrast(t, tc.a, tc.b); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.2f, want %.2f", tc.a, tc.b, got, tc.want)
		}
	}
}
