package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

const (
	appClientSecret  = "6c7a0a4e-1b1f-4c47-9a56-0d1a2b3c4d5e"
	appWebhooksRoute = "/hubspot/app/webhooks"
)

// setUpHubSpotApp saves the HubSpot key and the app's secret, and returns
// HubSpot's sender of the app's webhooks to this linehub (signed for its
// public URL, retries a moment apart instead of minutes).
func (e *env) setUpHubSpotApp() *hubspottest.AppWebhooks {
	e.t.Helper()
	e.configureHubSpot("starter")
	var out map[string]any
	if st := e.api("PUT", "/hubspot/app", map[string]string{"app_id": "77", "client_secret": appClientSecret}, &out); st != 200 {
		e.t.Fatalf("PUT /hubspot/app: %d %v", st, out)
	}
	hooks := e.HS.AppWebhooks(e.url(appWebhooksRoute), "http://"+e.addr+appWebhooksRoute, appClientSecret, 77)
	hooks.Backoff = func(int) time.Duration { return 100 * time.Millisecond }
	return hooks
}

// deliverHook sends events as HubSpot does and wants them acknowledged on
// the first attempt.
func (e *env) deliverHook(hooks *hubspottest.AppWebhooks, evs ...hubspottest.AppWebhookEvent) {
	e.t.Helper()
	tries, err := hooks.Deliver(context.Background(), evs...)
	if err != nil || len(tries) != 1 || tries[0].Status != 200 {
		e.t.Fatalf("webhook delivery: %+v %v", tries, err)
	}
}

func (e *env) hubspotEventsPending() int64 {
	var st struct {
		Events struct{ Pending, Total int64 } `json:"hubspot_events"`
	}
	e.api("GET", "/status", nil, &st)
	return st.Events.Pending
}

// friendContact is the contact id linehub holds for a friend.
func (e *env) friendContact(c connection, uid string) string {
	e.t.Helper()
	for _, f := range listAllFriends(e.t, e, c.ID) {
		if f.UserID == uid {
			return f.ContactID
		}
	}
	e.t.Fatalf("friend %s not listed", uid)
	return ""
}

// contactWrites records the contact ids named by HubSpot batch writes.
type contactWrites struct {
	mu  sync.Mutex
	ids []string
	// hold, when set, makes batch updates wait until it is closed.
	hold chan struct{}
	held chan struct{}
}

func (w *contactWrites) install(hs *hubspottest.Server) {
	hs.SetFault(func(r *http.Request) (int, string, bool) {
		if !strings.Contains(r.URL.Path, "/contacts/batch/") {
			return 0, "", false
		}
		var in struct {
			Inputs []struct {
				ID string `json:"id"`
			} `json:"inputs"`
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		_ = json.Unmarshal(body, &in)
		w.mu.Lock()
		for _, x := range in.Inputs {
			w.ids = append(w.ids, r.URL.Path+" "+x.ID)
		}
		hold, held := w.hold, w.held
		w.mu.Unlock()
		if hold != nil && strings.HasSuffix(r.URL.Path, "/batch/update") {
			select {
			case held <- struct{}{}:
			default:
			}
			<-hold
			return http.StatusServiceUnavailable, `{"status":"error","message":"held"}`, true
		}
		return 0, "", false
	})
}

func (w *contactWrites) naming(id string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, x := range w.ids {
		if strings.HasSuffix(x, " "+id) {
			out = append(out, x)
		}
	}
	return out
}

// A contact deleted in HubSpot is given up as soon as the app's webhook
// says so: the friend's next LINE event (a block) writes nothing to it and
// creates nothing; a re-follow creates a new contact.
func TestHubSpotAppDeletionWebhookStopsUpdates(t *testing.T) {
	e := newEnv(t, envOptions{})
	hooks := e.setUpHubSpotApp()
	c := e.connect("Shop")
	alice := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: alice, DisplayName: "Alice"})
	e.deliver(c, linetest.FollowEvent(alice, false, time.Now().Add(-time.Hour)))
	e.settled()
	ct := mustContact(t, e.HS, alice)
	writes := &contactWrites{}
	writes.install(e.HS)

	e.HS.DeleteContact(ct.ID)
	e.deliverHook(hooks, hooks.Deletion(ct.ID))
	e.eventually("the deletion applied", func() bool { return e.hubspotEventsPending() == 0 && e.friendContact(c, alice) == "" })

	e.LINE.Block(c.token, alice)
	e.deliver(c, linetest.UnfollowEvent(alice, time.Now()))
	e.settled()
	if w := writes.naming(ct.ID); len(w) != 0 {
		t.Fatalf("the deleted contact was written after the webhook: %v", w)
	}
	if n := len(e.HS.Contacts()); n != 0 {
		t.Fatalf("%d live contacts after a block of a deleted contact's friend", n)
	}

	e.LINE.Unblock(c.token, alice)
	e.deliver(c, linetest.FollowEvent(alice, true, time.Now().Add(time.Second)))
	e.settled()
	if again := mustContact(t, e.HS, alice); again.ID == ct.ID || again.Properties["line_follow_1"] != "Yes" {
		t.Fatalf("re-follow: contact %s %v", again.ID, again.Properties)
	}
}

// Staff merge the friend's dummy-email contact into the real customer;
// the app's merge webhook moves linehub's link to the surviving contact at
// once, later LINE events update it, and no dummy contact appears again.
func TestHubSpotAppMergeWebhookMovesTheLink(t *testing.T) {
	e := newEnv(t, envOptions{})
	hooks := e.setUpHubSpotApp()
	c := e.connect("Shop")
	alice := linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: alice, DisplayName: "Alice"})
	e.deliver(c, linetest.FollowEvent(alice, false, time.Now().Add(-time.Hour)))
	e.settled()
	dummy := mustContact(t, e.HS, alice)
	customer, err := e.HS.AddContact(map[string]string{"email": "alice@customer.example", "firstname": "Alice Real"})
	if err != nil {
		t.Fatal(err)
	}
	writes := &contactWrites{}
	writes.install(e.HS)
	// After the merge the dummy record no longer answers: a write to it is
	// refused as not found, as to a deleted contact.
	e.HS.DeleteContact(dummy.ID)
	e.deliverHook(hooks, hooks.Merge(customer, []string{dummy.ID}, customer))
	e.eventually("the merge applied", func() bool { return e.friendContact(c, alice) == customer })
	e.settled()

	e.deliver(c, linetest.TextMessageEvent(alice, "hello after the merge", time.Now()))
	e.settled()
	got, _ := e.HS.Contact(customer)
	expectProps(t, got, map[string]string{
		"email": "alice@customer.example", "firstname": "Alice Real",
		"line_user_id_1": alice, "line_follow_1": "Yes", "line_last_response_1": "hello after the merge", "line_unanswered_1": "Yes",
	})
	if n := len(e.HS.Contacts()); n != 1 {
		t.Fatalf("%d live contacts, want only the merged one", n)
	}
	if w := writes.naming(dummy.ID); len(w) != 0 {
		t.Fatalf("the merged-away contact was written: %v", w)
	}
	if e.friendContact(c, alice) != customer {
		t.Fatal("the friend left the surviving contact")
	}
}

// A batch HubSpot got its 200 for is applied even when linehub is killed
// before it could apply it: the next process applies it at start.
func TestHubSpotAppWebhookSurvivesKill(t *testing.T) {
	e := newEnv(t, envOptions{})
	hooks := e.setUpHubSpotApp()
	c := e.connect("Shop")
	alice, bob := linetest.NewUserID(), linetest.NewUserID()
	e.LINE.AddFriend(c.token, line.Profile{UserID: alice, DisplayName: "Alice"})
	e.LINE.AddFriend(c.token, line.Profile{UserID: bob, DisplayName: "Bob"})
	e.deliver(c, linetest.FollowEvent(alice, false, time.Now().Add(-time.Hour)), linetest.FollowEvent(bob, false, time.Now().Add(-time.Hour)))
	e.settled()
	ct := mustContact(t, e.HS, alice)

	// Bob's next write hangs in HubSpot: the sync round in flight holds
	// the contacts, so the deletion below waits, stored, behind it.
	writes := &contactWrites{hold: make(chan struct{}), held: make(chan struct{}, 1)}
	writes.install(e.HS)
	hold := writes.hold
	release := sync.OnceFunc(func() { close(hold) })
	defer release()
	e.deliver(c, linetest.TextMessageEvent(bob, "hi", time.Now()))
	select {
	case <-writes.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the sync round did not reach HubSpot")
	}
	e.HS.DeleteContact(ct.ID)
	e.deliverHook(hooks, hooks.Deletion(ct.ID))
	if n := e.hubspotEventsPending(); n != 1 {
		t.Fatalf("%d events pending after the 200, want the deletion", n)
	}
	e.kill()
	writes.mu.Lock()
	writes.hold = nil
	writes.mu.Unlock()
	release()

	e.start()
	e.eventually("the stored deletion applied after the restart", func() bool {
		return e.hubspotEventsPending() == 0 && e.friendContact(c, alice) == ""
	})
	e.LINE.Block(c.token, alice)
	e.deliver(c, linetest.UnfollowEvent(alice, time.Now()))
	e.settled()
	if w := writes.naming(ct.ID); len(w) != 0 {
		t.Fatalf("the deleted contact was written after the restart: %v", w)
	}
	if got := mustContact(t, e.HS, bob); got.Properties["line_last_response_1"] != "hi" {
		t.Fatalf("bob's message lost: %v", got.Properties)
	}
}
