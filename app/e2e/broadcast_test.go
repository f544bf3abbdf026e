package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/line/linetest"
)

// TestBroadcastSurvivesKill sends a broadcast to a 1,200-member HubSpot
// list and kills linehub (SIGKILL) right after LINE accepted the second
// multicast, before linehub saw the answer. After a restart on the same
// data directory the broadcast finishes: three multicasts in all, nobody
// gets the message twice, blocked and LINE-less members are skipped, and
// the report counts every recipient once.
func TestBroadcastSurvivesKill(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.configureHubSpot("starter")
	c := e.connect("Broadcast Shop")
	if !c.PropertiesReady {
		t.Fatalf("properties not ready: %+v", c)
	}

	// 1,200 members: 1,100 with this connection's LINE id, of whom 50
	// blocked the account; 100 without a LINE id.
	hs := hubspot.New(hubspot.Config{BaseURL: e.HS.URL(), Token: hubspotToken})
	var in []hubspot.ContactInput
	recipients := map[string]bool{}
	for i := range 1200 {
		props := map[string]string{"firstname": fmt.Sprintf("Member %d", i)}
		if i < 1100 {
			uid := linetest.NewUserID()
			props["line_user_id_"+strconv.Itoa(c.Serial)] = uid
			props["line_follow_"+strconv.Itoa(c.Serial)] = "Yes"
			if i < 50 {
				props["line_follow_"+strconv.Itoa(c.Serial)] = "No"
			} else {
				recipients[uid] = true
			}
		}
		in = append(in, hubspot.ContactInput{Ref: strconv.Itoa(i), Email: fmt.Sprintf("member%d@example.com", i), Properties: props})
	}
	res, err := hs.BatchCreateContacts(context.Background(), in)
	if err != nil || len(res.Contacts) != 1200 {
		t.Fatalf("seed: %v, %d contacts", err, len(res.Contacts))
	}
	var ids []string
	for _, ct := range res.Contacts {
		ids = append(ids, ct.ID)
	}
	listID := e.HS.AddList("VIP customers", ids)

	accepted := make(chan struct{})
	killed := make(chan struct{})
	n := 0
	e.LINE.SetMulticastHook(c.token, func(linetest.Multicast) {
		n++
		if n == 2 {
			close(accepted)
			<-killed // LINE has the request; linehub never gets the answer
		}
	})

	var bc struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if st := e.api("POST", fmt.Sprintf("/connections/%d/broadcasts", c.ID), map[string]string{"list_id": listID, "text": "Members-only sale this weekend"}, &bc); st != 201 {
		t.Fatalf("create broadcast: %d %+v", st, bc)
	}
	select {
	case <-accepted:
	case <-time.After(60 * time.Second):
		t.Fatalf("second multicast never came:\n%s", e.logs.tail(50))
	}
	e.kill()
	close(killed)
	e.LINE.SetMulticastHook(c.token, nil)
	if got := len(e.LINE.Multicasts(c.token)); got != 2 {
		t.Fatalf("%d multicasts before the kill, want 2", got)
	}

	e.start()
	var report struct {
		Status       string `json:"status"`
		Members      int    `json:"members"`
		Recipients   int    `json:"recipients"`
		SkippedNoID  int    `json:"skipped_no_line_id"`
		SkippedBlock int    `json:"skipped_blocked"`
		Progress     struct {
			Sent, Failed, Pending int
		} `json:"progress"`
	}
	e.eventually("broadcast done after restart", func() bool {
		e.api("GET", fmt.Sprintf("/broadcasts/%d", bc.ID), nil, &report)
		return report.Status == "done" || report.Status == "failed"
	})
	ms := e.LINE.Multicasts(c.token)
	if len(ms) != 3 {
		t.Fatalf("%d multicasts, want 3", len(ms))
	}
	got := map[string]int{}
	for _, m := range ms {
		for _, u := range m.To {
			got[u]++
		}
	}
	for u, k := range got {
		if k != 1 {
			t.Fatalf("%s got the message %d times", u, k)
		}
		if !recipients[u] {
			t.Fatalf("%s is not a recipient (blocked or unknown)", u)
		}
	}
	if len(got) != len(recipients) {
		t.Fatalf("%d recipients reached, want %d", len(got), len(recipients))
	}
	if report.Status != "done" || report.Members != 1200 || report.Recipients != 1050 || report.SkippedNoID != 100 ||
		report.SkippedBlock != 50 || report.Progress.Sent != 1050 || report.Progress.Failed != 0 || report.Progress.Pending != 0 {
		t.Fatalf("report %+v", report)
	}
}
