package messaging

import (
	"encoding/json"
	"net/url"
	"testing"
)

func TestParseWorkflowRequest(t *testing.T) {
	body := []byte(`{"vid": 501, "properties": {"firstname": {"value": "Mei"}, "age": 30, "vip": true,
		"line_user_id_2": "U0123456789abcdef0123456789abcdef"}, "enrolledAt": "2026-11-25T00:00:00Z"}`)
	r, err := ParseWorkflowRequest(body, url.Values{"template": {"welcome"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ContactID != "501" || r.Template != "welcome" || r.Properties["firstname"] != "Mei" || r.Properties["age"] != "30" ||
		r.Properties["vip"] != "true" || r.EnrolledAt == "" {
		t.Fatalf("%+v", r)
	}
	// Custom workflow action shape.
	r, err = ParseWorkflowRequest([]byte(`{"callbackId":"ap-9","object":{"objectId":77,"objectType":"CONTACT"},"inputFields":{"text":"Hi {{firstname}}"},"fields":{"firstname":"Yu"}}`), nil)
	if err != nil || r.ContactID != "77" || r.CallbackID != "ap-9" || r.Input.Text != "Hi {{firstname}}" {
		t.Fatalf("%+v %v", r, err)
	}
	for name, b := range map[string]string{
		"not JSON":            `nope`,
		"no message":          `{"objectId":1}`,
		"template and text":   `{"objectId":1,"template":"a","text":"b"}`,
		"array instead of {}": `[1,2]`,
	} {
		if _, err := ParseWorkflowRequest([]byte(b), nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWorkflowIdemKey(t *testing.T) {
	src := []byte("template:7")
	k1, renew := workflowIdemKey(WorkflowRequest{ContactID: "1"}, "U1", src)
	k2, _ := workflowIdemKey(WorkflowRequest{ContactID: "1", Properties: map[string]string{"firstname": "edited"}}, "U1", src)
	k3, renew3 := workflowIdemKey(WorkflowRequest{ContactID: "1", EnrolledAt: "t2"}, "U1", src)
	k4, _ := workflowIdemKey(WorkflowRequest{ContactID: "1"}, "U1", []byte("template:8"))
	if k1 != k2 || k1 == k3 || k1 == k4 || renew != retryWindow || renew3 != 0 {
		t.Fatalf("%s %s %s %s %v %v", k1, k2, k3, k4, renew, renew3)
	}
	if k, _ := workflowIdemKey(WorkflowRequest{ContactID: "1", CallbackID: "cb"}, "U1", src); k != "cb:cb" {
		t.Fatal(k)
	}
}

func TestRender(t *testing.T) {
	msgs := []json.RawMessage{
		json.RawMessage(`{"type":"text","text":"Hi {{ contact.firstname }}, {{company|friend}} \"quoted\""}`),
		json.RawMessage(`{"type":"flex","altText":"Offer for {{firstname}}","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"{{firstname}}"}]}}}`),
	}
	out, err := Render(msgs, map[string]string{"firstname": `Ann "A" <b>`})
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Text string }
	_ = json.Unmarshal(out[0], &m)
	if m.Text != `Hi Ann "A" <b>, friend "quoted"` {
		t.Fatalf("%q", m.Text)
	}
	if !json.Valid(out[1]) {
		t.Fatal("flex not valid JSON")
	}
	// A text that renders empty is refused, not sent.
	if _, err := Render([]json.RawMessage{json.RawMessage(`{"type":"text","text":"{{firstname}}"}`)}, nil); err == nil {
		t.Fatal("empty text accepted")
	}
}

// FuzzParseWorkflowRequest: the body comes from HubSpot (or anyone holding
// the URL). Whatever it is, parsing returns an error or a request that
// names a message.
func FuzzParseWorkflowRequest(f *testing.F) {
	for _, s := range []string{
		`{"objectId":1,"properties":{"firstname":"A"},"text":"hi"}`,
		`{"vid":2,"properties":{"firstname":{"value":"B","versions":[]}},"template":"t"}`,
		`{"callbackId":"x","object":{"objectId":"3"},"inputFields":{"messages":"[]"}}`,
		`{"messages":[{"type":"text","text":"{{a}}"}]}`, `{}`, `null`, `"s"`,
	} {
		f.Add([]byte(s), "template=a")
	}
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		q, _ := url.ParseQuery(query)
		r, err := ParseWorkflowRequest(body, q)
		if err != nil {
			return
		}
		if r.Template == "" && r.Input.Text == "" && len(r.Input.Messages) == 0 {
			t.Fatalf("accepted without a message: %+v", r)
		}
		if r.Properties == nil {
			t.Fatal("nil properties")
		}
	})
}

func TestWorkflowMessageNeverFromContactProperties(t *testing.T) {
	// A form's "message" property arrives with "include all contact
	// properties"; the LINE message still comes from the template.
	body := []byte(`{"objectId":9,"properties":{"message":"I want a refund","template":"x","firstname":"Ann"}}`)
	r, err := ParseWorkflowRequest(body, url.Values{"template": {"welcome"}})
	if err != nil || r.Template != "welcome" || r.Input.Text != "" || r.Properties["message"] != "I want a refund" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseWorkflowRequest(body, nil); err == nil {
		t.Fatal("a contact property was taken as the message")
	}
}
