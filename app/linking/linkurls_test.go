package linking

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"linehub/app/store"
)

// The link URL job writes every member of a list in batches of 100, and a
// restart in the middle resumes at the page it was on.
func TestLinkURLJobResumes(t *testing.T) {
	fx := newFixture(t)
	var ids []string
	for i := range 260 { // two pages of list memberships (250 + 10)
		ids = append(ids, fx.customer(fmt.Sprintf("c%d@customer.example", i), "C"))
	}
	list := fx.hs.AddList("Newsletter", ids)

	var pages, updates int
	fx.hs.SetFault(func(r *http.Request) (int, string, bool) {
		switch {
		case strings.Contains(r.URL.Path, "/memberships"):
			pages++
			if pages == 2 {
				return 503, `{"status":"error","message":"down","category":"SERVICE_UNAVAILABLE"}`, true
			}
		case strings.HasSuffix(r.URL.Path, "/contacts/batch/update"):
			updates++
		}
		return 0, "", false
	})
	if _, err := fx.svc.StartLinkURLs(fx.ctx, fx.conn.ID, list, "Newsletter"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.StartLinkURLs(fx.ctx, fx.conn.ID, list, "Newsletter"); err != store.ErrJobRunning {
		t.Fatalf("second job while one runs: %v", err)
	}
	fx.svc.RunOnce(fx.ctx)
	j, _ := fx.svc.LastLinkURLJob(fx.ctx, fx.conn.ID)
	if j.State != store.LinkJobRunning || j.Written != 250 || j.After == "" || updates != 3 {
		t.Fatalf("after the outage: job %+v, %d update requests", j, updates)
	}
	svc := fx.newService() // restarted
	svc.RunOnce(fx.ctx)
	j, _ = svc.LastLinkURLJob(fx.ctx, fx.conn.ID)
	if j.State != store.LinkJobDone || j.Written != 260 || j.Failed != 0 || updates != 4 {
		t.Fatalf("after the restart: job %+v, %d update requests (want 4: 100+100+50, then 10)", j, updates)
	}
	prop := fx.prop("line_link_url")
	prefix := "https://hub.example.com/link/" + itoa(fx.conn.ID) + "/"
	for _, id := range ids {
		u := fx.contact(id)[prop]
		if !strings.HasPrefix(u, prefix) {
			t.Fatalf("contact %s link URL %q", id, u)
		}
		if got, err := svc.CheckToken(fx.ctx, fx.conn.ID, strings.TrimPrefix(u, prefix)); err != nil || got != id {
			t.Fatalf("contact %s: its link names %q (%v)", id, got, err)
		}
	}
}

// The link URL property exists only where linking was turned on.
func TestLinkURLPropertyOnlyWhenOn(t *testing.T) {
	fx := newFixture(t)
	if _, ok := fx.hs.Property(fx.prop("line_link_url")); !ok {
		t.Fatal("no link URL property after linking was turned on")
	}
	c2, err := fx.conns.CreateConnection(fx.ctx, connectionsNew("Second"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fx.hs.Property(fmt.Sprintf("line_link_url_%d", c2.Serial)); ok {
		t.Fatal("link URL property made for a connection without linking")
	}
	if _, ok := fx.hs.Property(fmt.Sprintf("line_user_id_%d", c2.Serial)); !ok {
		t.Fatal("the seven properties are missing")
	}
	if err := fx.svc.SetSettings(fx.ctx, c2.ID, true, 0); err == nil {
		t.Fatal("expiry of 0 days accepted")
	}
	if _, err := fx.svc.StartLinkURLs(fx.ctx, c2.ID, "1", ""); err == nil {
		t.Fatal("link URL job for a connection without linking")
	}
}
