package hubspottest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot"
)

// The caller signs every attempt as HubSpot does (v3 over the full URL,
// fresh timestamp; v2 alongside), sends the documented body, retries
// 5xx and 429 (honouring Retry-After in seconds) and stops on 2xx and
// other 4xx, and gives up after three days of waits.
func TestActionCallerSignsAndRetries(t *testing.T) {
	const secret = "11111111-2222-3333-4444-555555555555"
	var mu sync.Mutex
	var statuses []int
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		uri := "http://" + r.Host + r.URL.RequestURI()
		if err := hubspot.VerifySignatureV3(secret, r.Method, uri, raw, r.Header.Get("X-HubSpot-Request-Timestamp"), r.Header.Get("X-HubSpot-Signature-v3"), time.Now()); err != nil {
			t.Errorf("v3: %v", err)
		}
		v2 := sha256.Sum256([]byte(secret + r.Method + uri + string(raw)))
		if r.Header.Get("X-HubSpot-Signature") != hex.EncodeToString(v2[:]) || r.Header.Get("X-HubSpot-Signature-Version") != "v2" {
			t.Error("v2 signature wrong")
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		mu.Lock()
		bodies = append(bodies, m)
		st := 200
		if len(statuses) > 0 {
			st, statuses = statuses[0], statuses[1:]
		}
		mu.Unlock()
		if st == 429 {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(st)
		_, _ = io.WriteString(w, `{"outputFields":{"hs_execution_state":"SUCCESS"}}`)
	}))
	defer srv.Close()
	a := &ActionCaller{ClientSecret: secret, PortalID: 4242, ActionDefinitionID: 7}
	x := ActionExecution{CallbackID: NewCallbackID(4242), WorkflowID: 3, ObjectID: "901", Properties: map[string]string{"firstname": "A"},
		InputFields: map[string]string{"connection": "1"}}
	run := func(st ...int) ([]ActionResponse, []time.Duration) {
		mu.Lock()
		statuses, bodies = st, nil
		mu.Unlock()
		var waits []time.Duration
		out := a.Execute(context.Background(), srv.URL+"/hook?x=1", x, Retry{Sleep: func(d time.Duration) { waits = append(waits, d) }})
		return out, waits
	}
	got, waits := run(500, 429, 200)
	if len(got) != 3 || got[2].State() != "SUCCESS" || len(waits) != 2 || waits[0] != time.Minute || waits[1] != 7*time.Second {
		t.Fatalf("attempts %d, waits %v", len(got), waits)
	}
	b := bodies[0]
	obj, _ := b["object"].(map[string]any)
	origin, _ := b["origin"].(map[string]any)
	if b["callbackId"] != x.CallbackID || obj["objectType"] != "CONTACT" || obj["objectId"] != float64(901) || origin["portalId"] != float64(4242) {
		t.Fatalf("body %v", b)
	}
	if got, _ := run(400); len(got) != 1 {
		t.Fatalf("a 400 was retried: %d attempts", len(got))
	}
	many := make([]int, 100)
	for i := range many {
		many[i] = 503
	}
	got, waits = run(many...)
	var total time.Duration
	for _, w := range waits {
		total += w
		if w > 8*time.Hour {
			t.Errorf("a wait of %v, more than HubSpot's eight hours", w)
		}
	}
	if total > 72*time.Hour || total+8*time.Hour <= 72*time.Hour || len(got) != len(waits)+1 {
		t.Fatalf("%d attempts over %v", len(got), total)
	}
}
