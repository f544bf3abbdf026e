package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/line/linetest"
)

// TestLinkKilledAfterMerge kills linehub (SIGKILL) in the middle of a
// link: HubSpot has merged the friend's dummy contact into the customer's,
// but linehub has not heard so, let alone recorded it. The HubSpot double
// carries out the merge request and then holds its answer until linehub is
// dead, so the kill lands there every time. After the restart the link is
// finished once: one merge, the friend following the merged contact, no
// duplicate contact, one timeline note; the person opening the link again
// is told it is already linked.
func TestLinkKilledAfterMerge(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{})
	b := newBrowser(t, e, chromium)
	b.setUp("owner@example.com", "Tr0ub4dor&3-horse")
	shop := e.connect("Shop Tokyo")
	e.addLoginChannel(shop)
	p := func(k string) string { return fmt.Sprintf("%s_%d", k, shop.Serial) }
	hanako := linetest.NewUserID()
	dummy := e.friendWithDummy(shop, hanako, "Yamada Hanako", "")
	real, err := e.HS.AddContact(map[string]string{"email": "hanako.yamada@customer.example", "firstname": "花子"})
	if err != nil {
		t.Fatal(err)
	}
	e.HS.AddList("Newsletter", []string{real})
	link := b.setUpLinking(shop, "Newsletter", real)
	e.settled()
	contacts := len(e.HS.Contacts())

	mergedByHubSpot := make(chan string, 1)
	release := make(chan struct{})
	var once sync.Once
	e.HS.SetFault(func(r *http.Request) (int, string, bool) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/contacts/merge") {
			return 0, "", false
		}
		var in struct{ PrimaryObjectID, ObjectIDToMerge string }
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &in); err != nil {
			return 400, `{"status":"error","category":"VALIDATION_ERROR","message":"bad body"}`, true
		}
		id, ok := e.HS.MergeContacts(in.PrimaryObjectID, in.ObjectIDToMerge)
		if !ok {
			return 400, `{"status":"error","category":"VALIDATION_ERROR","message":"merge refused"}`, true
		}
		once.Do(func() { mergedByHubSpot <- id })
		<-release // linehub dies waiting for this answer
		return 503, `{"status":"error","category":"SERVICE_UNAVAILABLE","message":"answer lost"}`, true
	})

	v := newVisitor(t)
	cb := v.loginAt(v.toLINE(link), hanako)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("GET", cb, nil)
		if res, err := v.c.Do(req); err == nil { // the kill cuts it short
			res.Body.Close()
		}
	}()
	var merged string
	select {
	case merged = <-mergedByHubSpot:
	case <-time.After(30 * time.Second):
		t.Fatalf("linehub never asked HubSpot to merge:\n%s", e.logs.tail(40))
	}
	e.kill()
	close(release)
	<-done
	e.HS.SetFault(nil)
	if e.HS.MergedInto(real) != merged || e.HS.MergedInto(dummy) != merged {
		t.Fatalf("HubSpot did not merge %s and %s into %s", real, dummy, merged)
	}
	// What the kill left: the link recorded as pending, the friend still
	// on the dummy, no note.
	if n := e.queryDB("SELECT count(*) FROM link_records WHERE state = 'pending'"); n != 1 {
		t.Fatalf("%d pending link records after the kill, want 1", n)
	}
	if n := e.queryDB("SELECT count(*) FROM friends WHERE user_id = ? AND contact_id = ?", hanako, dummy); n != 1 {
		t.Fatalf("the friend's contact changed before HubSpot's answer was recorded")
	}

	e.start()
	e.eventually("the link finished after the restart", func() bool {
		return e.queryDB("SELECT count(*) FROM link_records WHERE state = 'done' AND result_id = ?", merged) == 1
	})
	e.eventually("the link's note", func() bool { return linkNotes(e, merged) == 1 })
	if st := e.deliver(shop, linetest.TextMessageEvent(hanako, "Did it work?", time.Now())); st != 200 {
		t.Fatalf("deliver: %d", st)
	}
	e.settled()
	if st, kind := newVisitor(t).link(link, hanako); st != 200 || kind != "already" {
		t.Errorf("the link opened again: %d %q", st, kind)
	}
	e.stop() // a graceful stop flushes whatever is left
	if n := e.queryDB("SELECT count(*) FROM link_records"); n != 1 {
		t.Errorf("%d link records, want 1", n)
	}
	if n := e.queryDB("SELECT count(*) FROM link_records WHERE note_pending"); n != 0 {
		t.Errorf("%d link notes still pending", n)
	}
	if n := e.HS.RequestsByPath()[mergePath]; n != 1 {
		t.Errorf("%d merge requests, want 1", n)
	}
	if n := linkNotes(e, merged); n != 1 {
		t.Errorf("%d link notes on the merged contact, want 1: %+v", n, e.HS.Notes(merged))
	}
	if n := len(e.HS.Contacts()); n != contacts-1 {
		t.Errorf("%d contacts, want %d (the dummy merged away, nothing new)", n, contacts-1)
	}
	if n := countContacts(e.HS, hanako); n != 0 {
		t.Errorf("%d contacts with the dummy email", n)
	}
	c, _ := e.HS.Contact(merged)
	expectProps(t, c, map[string]string{"email": "hanako.yamada@customer.example", "firstname": "花子",
		p("line_user_id"): hanako, p("line_last_response"): "Did it work?", p("line_follow"): "Yes"})
}

// linkNotes counts the timeline notes of links on a contact.
func linkNotes(e *env, contactID string) int {
	n := 0
	for _, note := range e.HS.Notes(contactID) {
		if strings.Contains(note.Body, "LINE account linked") {
			n++
		}
	}
	return n
}
