package linkpage

import (
	"net/url"
	"testing"
)

// FuzzParseCallback feeds the callback's query (written by whoever sends
// the browser there) to its parser: it must never panic, must bound
// what it takes, and anything it accepts has a state and a code or error
// that the query really holds once.
func FuzzParseCallback(f *testing.F) {
	f.Add("code=abc&state=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "&friendship_status_changed=true")
	f.Add("error=access_denied&error_description=The+resource+owner+denied+the+request.&state=s")
	f.Add("state=a&state=b&code=c")
	f.Add("code=%zz&state=s")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		cb, err := parseCallback(raw)
		if err != nil {
			return
		}
		if len(raw) > maxQuery || cb.State == "" || (cb.Code == "" && cb.Error == "") {
			t.Fatalf("accepted %q as %+v", raw, cb)
		}
		q, err := url.ParseQuery(raw)
		if err != nil || len(q["state"]) != 1 || q.Get("state") != cb.State || q.Get("code") != cb.Code {
			t.Fatalf("%q parsed as %+v, query %v", raw, cb, q)
		}
	})
}
