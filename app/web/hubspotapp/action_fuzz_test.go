package hubspotapp

import (
	"strings"
	"testing"
)

// FuzzParseAction: the execution body comes from HubSpot, or from anyone
// who can reach the URL before the signature is checked upstream.
// Whatever it is, parsing answers an error or an action that names its
// execution and contact; it never panics.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{
		`{"callbackId":"ap-4242-1-2-0","origin":{"portalId":4242,"actionDefinitionId":501,"actionDefinitionVersion":1},"context":{"source":"WORKFLOWS","workflowId":9},"object":{"objectId":901,"objectType":"CONTACT","properties":{"firstname":"Hanako"}},"inputFields":{"connection":"1","text":"Hi {{firstname}}"}}`,
		`{"callbackId":"x","origin":{"portalId":"4242"},"object":{"objectId":"77"},"inputFields":{"connection":{"type":"STATIC_VALUE","value":"2"},"template":"welcome"}}`,
		`{"callbackId":"x","object":{"objectId":1,"objectType":"DEAL"}}`,
		`{}`, `null`, `[]`, `"s"`, `{"object":{"properties":{"a":{"value":{"x":1}}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, a, err := parseAction(body)
		if err != nil {
			return
		}
		if strings.TrimSpace(a.CallbackID) == "" || a.ContactID == "" || a.Properties == nil {
			t.Fatalf("accepted %q as %+v", body, a)
		}
	})
}
