package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzFormBody: any POST a stranger can send to the pre-sign-in form
// routes, with any Content-Type, Content-Encoding and body. Whatever
// arrives, linehub answers with a client error or a redirect, never a 500
// or a panic; a body in a coding other than identity is refused with 415
// before anything reads it (so nothing is ever inflated); and a stranger's
// post never signs anyone in or changes what a later request sees.
func FuzzFormBody(f *testing.F) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(bytes.Repeat([]byte("email=a%40b.co&password=x&"), 200))
	_ = zw.Close()
	for _, seed := range []struct {
		route            uint8
		ctype, enc, body string
	}{
		{0, "application/x-www-form-urlencoded", "", "email=owner%40shop.co.jp&password=wrong&csrf=x&next=%2F"},
		{0, "multipart/form-data; boundary=x", "", "--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.co\r\n--x--\r\n"},
		{0, "multipart/form-data; boundary=x", "gzip", gz.String()},
		{1, "application/x-www-form-urlencoded", "deflate", "\x78\x9c\x03\x00\x00\x00\x00\x01"},
		{1, "multipart/form-data", "", "--\r\n"},
		{2, "application/x-www-form-urlencoded", "identity", "back=%2F%5Cevil.com"},
		{0, "multipart/form-data; boundary=" + strings.Repeat("b", 70), "br", "\x00\x01"},
		{1, "text/plain", "identity, gzip", gz.String()},
		{0, "application/x-www-form-urlencoded", "GZip", ""},
	} {
		f.Add(seed.route, seed.ctype, seed.enc, []byte(seed.body))
	}
	routes := []string{"/login", "/setup", "/lang/en"}
	e := newEnv(f, envOpts{HubSpotConfigured: true})
	f.Fuzz(func(t *testing.T, route uint8, ctype, enc string, body []byte) {
		if !validHeaderValue(ctype) || !validHeaderValue(enc) {
			return // not a request any client can send
		}
		path := routes[int(route)%len(routes)]
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		resp, err := e.app.Test(req, -1)
		if err != nil {
			// fasthttp refused to read the request (a malformed multipart
			// body it parses while reading); a real client gets 400.
			return
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("POST %s (Content-Type %q, Content-Encoding %q): %d %s", path, ctype, enc, resp.StatusCode, out)
		}
		if !encodingIsIdentity(enc) && resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("POST %s with Content-Encoding %q: %d, want 415", path, enc, resp.StatusCode)
		}
		for _, c := range resp.Cookies() {
			if strings.Contains(strings.ToLower(c.Name), "session") && c.Value != "" {
				t.Fatalf("POST %s: a stranger's post set the session cookie %s", path, c.Name)
			}
		}
	})
}

// validHeaderValue: what net/http would put on the wire unchanged.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			return false
		}
	}
	return strings.TrimSpace(v) == v
}

// encodingIsIdentity mirrors the rule the server must keep: no coding, or
// only "identity", case-insensitive, in a comma list.
func encodingIsIdentity(v string) bool {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && !strings.EqualFold(p, "identity") {
			return false
		}
	}
	return true
}
