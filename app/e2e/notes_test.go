package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestNotesOnceAcrossKillAndLostAnswer kills linehub (SIGKILL) after
// HubSpot stored a batch of timeline notes and before linehub saw the
// answer, then restarts it; later it cuts the connection of another batch
// after HubSpot stored it (a timeout, as in a workflow storm). Each time
// every message ends up with exactly one note: HubSpot's notes API has no
// idempotency key, so linehub must find the notes it cannot tell exist
// before sending them again.
func TestNotesOnceAcrossKillAndLostAnswer(t *testing.T) {
	e := newEnv(t, envOptions{HubSpot: hubspottest.Options{AssociationsPage: 3}})
	e.configureHubSpot("starter")
	c := e.connect("Notes Shop")

	// Some notes on the contacts already: the lookup has to page past them.
	deliver := func(round int, n int) map[string]string {
		texts := map[string]string{}
		var evs []json.RawMessage
		for i := range n {
			uid := linetest.NewUserID()
			e.LINE.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: fmt.Sprintf("R%d F%d", round, i)})
			texts[uid] = fmt.Sprintf("round %d message %d", round, i)
			evs = append(evs, linetest.FollowEvent(uid, false, time.Now()), linetest.TextMessageEvent(uid, texts[uid], time.Now()))
		}
		if st := e.deliver(c, evs...); st != 200 {
			t.Fatalf("webhook: %d", st)
		}
		return texts
	}
	exactlyOne := func(phase string, texts map[string]string) {
		t.Helper()
		for uid, text := range texts {
			ct := mustContact(t, e.HS, uid)
			var got []string
			for _, n := range e.HS.Notes(ct.ID) {
				got = append(got, n.Body)
			}
			if len(got) != 1 || !strings.Contains(got[0], text) {
				t.Errorf("%s: %s has %d notes, want exactly one with %q: %q", phase, uid, len(got), text, got)
			}
		}
	}

	// Phase 1: kill -9 between HubSpot storing the batch and linehub
	// recording it.
	var once sync.Once
	stored, resume := make(chan int), make(chan struct{})
	e.HS.SetAfterNotes(func(created []hubspottest.Note) bool {
		cut := false
		once.Do(func() {
			stored <- len(created)
			<-resume // linehub is dead: the answer goes nowhere
			cut = true
		})
		return cut
	})
	texts := deliver(1, 10)
	var n int
	select {
	case n = <-stored:
	case <-time.After(60 * time.Second):
		t.Fatalf("no note batch:\n%s", e.logs.tail(50))
	}
	e.kill()
	close(resume)
	t.Logf("killed after HubSpot stored a batch of %d notes", n)
	e.HS.SetAfterNotes(nil)
	e.start()
	e.settled()
	e.notesLogged(90 * time.Second)
	exactlyOne("after the kill", texts)

	// Phase 2: HubSpot stores a batch and the answer is lost on the way
	// back; linehub keeps running.
	var cutOnce sync.Once
	cuts := 0
	var mu sync.Mutex
	e.HS.SetAfterNotes(func([]hubspottest.Note) bool {
		cut := false
		cutOnce.Do(func() { cut = true })
		if cut {
			mu.Lock()
			cuts++
			mu.Unlock()
		}
		return cut
	})
	texts2 := deliver(2, 10)
	e.settled()
	e.notesLogged(90 * time.Second)
	mu.Lock()
	if cuts != 1 {
		t.Fatalf("%d answers cut, want 1", cuts)
	}
	mu.Unlock()
	exactlyOne("after a lost answer", texts2)
	exactlyOne("phase 1 again", texts)
	if by := e.HS.RequestsByPath(); by["POST /crm/associations/2026-03/contacts/notes/batch/read"] == 0 {
		t.Errorf("no note was looked up: %v", by)
	}
}

// TestBroadcastNotesForListMembers broadcasts to a HubSpot list whose
// members have this connection's LINE user id but never wrote to
// linehub: each delivered recipient gets one timeline note on the contact
// the list named.
func TestBroadcastNotesForListMembers(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c := e.connect("List Shop")
	hs := hubspot.New(hubspot.Config{BaseURL: e.HS.URL(), Token: hubspotToken})
	var in []hubspot.ContactInput
	for i := range 100 {
		in = append(in, hubspot.ContactInput{Ref: strconv.Itoa(i), Email: fmt.Sprintf("imported%d@example.com", i), Properties: map[string]string{
			"line_user_id_" + strconv.Itoa(c.Serial): linetest.NewUserID(),
			"line_follow_" + strconv.Itoa(c.Serial):  "Yes",
		}})
	}
	res, err := hs.BatchCreateContacts(context.Background(), in)
	if err != nil || len(res.Contacts) != 100 {
		t.Fatalf("seed: %v, %d contacts", err, len(res.Contacts))
	}
	var ids []string
	for _, ct := range res.Contacts {
		ids = append(ids, ct.ID)
	}
	listID := e.HS.AddList("Imported", ids)
	var bc struct {
		ID int64 `json:"id"`
	}
	if st := e.api("POST", fmt.Sprintf("/connections/%d/broadcasts", c.ID), map[string]string{"list_id": listID, "text": "Spring sale"}, &bc); st != 201 {
		t.Fatalf("create broadcast: %d", st)
	}
	e.eventually("broadcast done", func() bool {
		var r struct{ Status string }
		e.api("GET", fmt.Sprintf("/broadcasts/%d", bc.ID), nil, &r)
		return r.Status == "done"
	})
	e.notesLogged(60 * time.Second)
	missing := 0
	for _, id := range ids {
		ns := e.HS.Notes(id)
		if len(ns) != 1 || !strings.Contains(ns[0].Body, "Spring sale") {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of 100 recipients without exactly one note; %d notes in all", missing, len(e.HS.AllNotes()))
	}
}
