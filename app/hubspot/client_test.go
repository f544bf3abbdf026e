package hubspot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
)

const testToken = "pat-na1-test-token-0123456789"

// newPair starts a double and a client wired to it, with fast retries so
// tests never wait on production backoff.
func newPair(t *testing.T, opts hubspottest.Options, cfg Config) (*hubspottest.Server, *Client) {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	srv := hubspottest.New(opts)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = 2 * time.Millisecond
	}
	if cfg.RetryMaxDelay == 0 {
		cfg.RetryMaxDelay = 20 * time.Millisecond
	}
	return srv, New(cfg)
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAuthFailure(t *testing.T) {
	tests := []struct {
		name         string
		clientToken  string
		wantRequests int
	}{
		{"wrong token", "pat-na1-wrong", 1},
		{"no token", " ", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newPair(t, hubspottest.Options{}, Config{})
			c.SetToken(tt.clientToken)
			_, err := c.AccountDetails(ctxT(t))
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			if got := srv.Requests(); got != tt.wantRequests {
				t.Errorf("server saw %d requests, want %d (a 401 is never retried)", got, tt.wantRequests)
			}
			var apiErr *APIError
			if tt.wantRequests > 0 {
				if !errors.As(err, &apiErr) || apiErr.Category != "INVALID_AUTHENTICATION" || apiErr.CorrelationID == "" {
					t.Errorf("APIError = %+v, want INVALID_AUTHENTICATION with a correlationId", apiErr)
				}
			}
			c.SetToken(testToken)
			if _, err := c.AccountDetails(ctxT(t)); err != nil {
				t.Fatalf("after SetToken: %v", err)
			}
		})
	}
}

func TestTokenRevokedAndHasToken(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{})
	if !c.HasToken() {
		t.Fatal("HasToken = false with a token configured")
	}
	srv.SetToken("pat-na1-rotated")
	if _, err := c.AccountDetails(ctxT(t)); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized after the token was rotated", err)
	}
	c.SetToken("")
	if c.HasToken() {
		t.Fatal("HasToken = true after SetToken(\"\")")
	}
}

func TestAccountDetails(t *testing.T) {
	_, c := newPair(t, hubspottest.Options{PortalID: 4242, TimeZone: "Asia/Tokyo"}, Config{})
	a, err := c.AccountDetails(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if a.PortalID != 4242 || a.TimeZone != "Asia/Tokyo" || a.AccountType != "STANDARD" || a.UIDomain == "" {
		t.Errorf("account = %+v", a)
	}
	if c.loc.String() != "Asia/Tokyo" {
		t.Errorf("client time zone = %s, want Asia/Tokyo (the daily limit resets at its midnight)", c.loc)
	}
}

func TestDailyResetIsMidnightInAccountZone(t *testing.T) {
	c := New(Config{Token: "x"})
	c.SetTimeZone("Asia/Tokyo")
	until := c.blockUntilMidnight()
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	u := until.In(tokyo)
	if u.Hour() != 0 || u.Minute() != 0 || !until.After(time.Now()) || time.Until(until) > 24*time.Hour {
		t.Errorf("blocked until %s, want the next midnight in Tokyo", u)
	}
	if err := c.checkDaily(); !errors.Is(err, ErrDailyLimit) || !strings.Contains(err.Error(), "until") {
		t.Errorf("checkDaily = %v, want ErrDailyLimit saying until when", err)
	}
}

// linehubProps mirrors docs/design.md §2 for connection serial 1.
func linehubProps(n int) []Property {
	yesNo := []Option{{Label: "Yes", Value: "Yes", DisplayOrder: 0}, {Label: "No", Value: "No", DisplayOrder: 1}}
	g := fmt.Sprintf("linehub_%d", n)
	return []Property{
		{Name: fmt.Sprintf("line_user_id_%d", n), Label: fmt.Sprintf("LINE User ID _ %d", n), Type: "string", FieldType: "text", GroupName: g},
		{Name: fmt.Sprintf("line_user_name_%d", n), Label: fmt.Sprintf("LINE User Name _ %d", n), Type: "string", FieldType: "text", GroupName: g},
		{Name: fmt.Sprintf("line_user_picture_%d", n), Label: fmt.Sprintf("LINE User Picture _ %d", n), Type: "string", FieldType: "text", GroupName: g},
		{Name: fmt.Sprintf("line_follow_%d", n), Label: fmt.Sprintf("LINE Follow _ %d", n), Type: "enumeration", FieldType: "radio", GroupName: g, Options: yesNo},
		{Name: fmt.Sprintf("line_id_sync_date_%d", n), Label: fmt.Sprintf("LINE ID Sync Date _ %d", n), Type: "datetime", FieldType: "date", GroupName: g},
		{Name: fmt.Sprintf("line_unanswered_%d", n), Label: fmt.Sprintf("LINE Unanswered _ %d", n), Type: "enumeration", FieldType: "radio", GroupName: g, Options: yesNo},
		{Name: fmt.Sprintf("line_last_response_%d", n), Label: fmt.Sprintf("LINE Last Response _ %d", n), Type: "string", FieldType: "textarea", GroupName: g},
	}
}

func setupProps(t *testing.T, c *Client, n int) {
	t.Helper()
	ctx := ctxT(t)
	if err := c.EnsurePropertyGroup(ctx, PropertyGroup{Name: fmt.Sprintf("linehub_%d", n), Label: fmt.Sprintf("LINE %d", n)}); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureProperties(ctx, linehubProps(n)); err != nil {
		t.Fatal(err)
	}
}

func TestEnsurePropertiesIdempotent(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{})
	ctx := ctxT(t)

	setupProps(t, c, 1)
	byPath := srv.RequestsByPath()
	if got := byPath["POST /crm/properties/2026-03/contacts/batch/create"]; got != 1 {
		t.Errorf("first run: %d batch creates, want 1", got)
	}
	p, ok := srv.Property("line_follow_1")
	if !ok || p.Type != "enumeration" || p.FieldType != "radio" || len(p.Options) != 2 || p.GroupName != "linehub_1" {
		t.Fatalf("line_follow_1 in HubSpot = %+v", p)
	}

	srv.ResetCounters()
	setupProps(t, c, 1)
	byPath = srv.RequestsByPath()
	want := map[string]int{
		"POST /crm/properties/2026-03/contacts/groups":       1,
		"POST /crm/properties/2026-03/contacts/batch/create": 1,
		"POST /crm/properties/2026-03/contacts/batch/read":   1,
	}
	for k, v := range want {
		if byPath[k] != v {
			t.Errorf("re-run: %s = %d, want %d (all: %v)", k, byPath[k], v, byPath)
		}
	}
	if n := len(srv.Properties()); n != 8+7 {
		t.Errorf("%d properties in HubSpot, want 15 (8 default + 7)", n)
	}

	got, err := c.GetProperty(ctx, "line_unanswered_1")
	if err != nil || got.Type != "enumeration" || got.Label != "LINE Unanswered _ 1" {
		t.Errorf("GetProperty = %+v, %v", got, err)
	}
	if _, err := c.GetProperty(ctx, "no_such_property"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetProperty(missing) err = %v, want ErrNotFound", err)
	}
}

func TestEnsurePropertiesMismatch(t *testing.T) {
	tests := []struct {
		name    string
		change  func(p *Property)
		wantMsg string
	}{
		{"type differs", func(p *Property) { p.Type, p.FieldType, p.Options = "string", "text", nil }, "string/text"},
		{"option missing", func(p *Property) { p.Options = p.Options[:1] }, "lacks option values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newPair(t, hubspottest.Options{}, Config{})
			ctx := ctxT(t)
			if err := c.EnsurePropertyGroup(ctx, PropertyGroup{Name: "linehub_2", Label: "LINE 2"}); err != nil {
				t.Fatal(err)
			}
			props := linehubProps(2)
			// Someone created line_follow_2 by hand, differently.
			other := props[3]
			tt.change(&other)
			if err := c.EnsureProperties(ctx, []Property{other}); err != nil {
				t.Fatal(err)
			}
			err := c.EnsureProperties(ctx, props)
			if !errors.Is(err, ErrPropertyMismatch) || !strings.Contains(err.Error(), "line_follow_2") || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want ErrPropertyMismatch naming line_follow_2 (%s)", err, tt.wantMsg)
			}
			// The properties that did not exist were still created.
			for _, p := range props {
				if _, ok := srv.Property(p.Name); !ok {
					t.Errorf("%s was not created", p.Name)
				}
			}
		})
	}
}

func createInputs(n int, prefix string) []ContactInput {
	in := make([]ContactInput, n)
	for i := range in {
		in[i] = ContactInput{
			Ref:   fmt.Sprintf("%s%03d", prefix, i),
			Email: fmt.Sprintf("U%032d@line.example.com", i),
			Properties: map[string]string{
				"firstname":      fmt.Sprintf("Friend %d", i),
				"line_user_id_1": fmt.Sprintf("U%032d", i),
				"line_follow_1":  "Yes",
			},
		}
	}
	return in
}

func TestBatchCreate250(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{})
	setupProps(t, c, 1)
	srv.ResetCounters()

	res, err := c.BatchCreateContacts(ctxT(t), createInputs(250, "r"))
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.RequestsByPath()["POST /crm/objects/2026-03/contacts/batch/create"]; got != 3 {
		t.Errorf("%d batch create requests, want 3", got)
	}
	if len(res.Contacts) != 250 || len(res.Failed)+len(res.NotFound)+len(res.Conflicts) != 0 {
		t.Fatalf("result: %d contacts, failed %v, conflicts %v", len(res.Contacts), res.Failed, res.Conflicts)
	}
	ct := res.Contacts["r007"]
	stored, ok := srv.Contact(ct.ID)
	if !ok || !ct.New || stored.Properties["email"] != strings.ToLower("U00000000000000000000000000000007@line.example.com") {
		t.Errorf("r007 → %+v, stored %+v", ct, stored)
	}
	if ct.CreatedAt.IsZero() || ct.Properties["hs_object_id"] != ct.ID {
		t.Errorf("contact not fully decoded: %+v", ct)
	}
	if n := len(srv.Contacts()); n != 250 {
		t.Errorf("%d contacts in HubSpot, want 250", n)
	}
}

func TestBatchCreateConflict(t *testing.T) {
	tests := []struct {
		name         string
		multiStatus  bool
		wantRequests int // batch create + batch read
	}{
		// Trace ids: HubSpot names the conflicting inputs in a 207.
		{"multi-status", true, 1},
		// No multi-status: 409 for the batch, one read by email finds the
		// existing ones, the rest is created.
		{"whole-batch 409", false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newPair(t, hubspottest.Options{DisableMultiStatus: !tt.multiStatus}, Config{})
			ctx := ctxT(t)
			setupProps(t, c, 1)
			existing, err := c.CreateContact(ctx, map[string]string{"email": "u00000000000000000000000000000003@line.example.com", "firstname": "Taken"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.CreateContact(ctx, map[string]string{"email": "U00000000000000000000000000000003@LINE.example.com"}); err == nil {
				t.Fatal("second CreateContact with the same email (other case) succeeded")
			} else if id, ok := ConflictID(err); !ok || id != existing.ID {
				t.Fatalf("ConflictID(%v) = %q, %v; want %s", err, id, ok, existing.ID)
			}
			srv.ResetCounters()

			in := createInputs(10, "c")
			res, err := c.BatchCreateContacts(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Conflicts["c003"] != existing.ID {
				t.Errorf("Conflicts = %v, want c003 → %s", res.Conflicts, existing.ID)
			}
			if len(res.Contacts) != 9 || len(res.Failed) != 0 {
				t.Errorf("%d created, failed %v; want 9 created", len(res.Contacts), res.Failed)
			}
			if got := srv.Requests(); got != tt.wantRequests {
				t.Errorf("%d requests, want %d (%v)", got, tt.wantRequests, srv.RequestsByPath())
			}
			if c, _ := srv.ContactByEmail("u00000000000000000000000000000003@line.example.com"); c.Properties["firstname"] != "Taken" {
				t.Errorf("existing contact was overwritten: %+v", c)
			}
		})
	}
}

func TestBatchCreateDuplicateEmailsInOneCall(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{})
	setupProps(t, c, 1)
	in := createInputs(3, "d")
	dup := in[1]
	dup.Ref = "dup"
	dup.Email = strings.ToUpper(dup.Email)
	res, err := c.BatchCreateContacts(ctxT(t), append(in, dup))
	if err != nil {
		t.Fatal(err)
	}
	if res.Conflicts["dup"] == "" || res.Conflicts["dup"] != res.Contacts["d001"].ID {
		t.Errorf("dup → %q, d001 → %q; want the same contact", res.Conflicts["dup"], res.Contacts["d001"].ID)
	}
	if n := len(srv.Contacts()); n != 3 {
		t.Errorf("%d contacts, want 3", n)
	}
}

func TestUpsertNewFlag(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{})
	ctx := ctxT(t)
	setupProps(t, c, 1)
	old, err := c.CreateContact(ctx, map[string]string{"email": "old@line.example.com", "firstname": "Human edit"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.BatchUpsertContactsByEmail(ctx, []ContactInput{
		{Ref: "old", Email: "OLD@line.example.com", Properties: map[string]string{"line_follow_1": "No"}},
		{Ref: "new", Email: "new@line.example.com", Properties: map[string]string{"line_follow_1": "Yes", "firstname": "Newbie"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Contacts["old"]; got.ID != old.ID || got.New {
		t.Errorf("old → %+v, want id %s and New=false", got, old.ID)
	}
	if got := res.Contacts["new"]; got.ID == "" || !got.New {
		t.Errorf("new → %+v, want New=true", got)
	}
	stored, _ := srv.Contact(old.ID)
	if stored.Properties["line_follow_1"] != "No" || stored.Properties["firstname"] != "Human edit" {
		t.Errorf("upserted contact = %v", stored.Properties)
	}
}

func TestUpdateWithDeletedContact(t *testing.T) {
	tests := []struct {
		name         string
		reject       bool
		wantRequests int
	}{
		{"207 multi-status", false, 1},
		{"whole batch refused", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newPair(t, hubspottest.Options{RejectMissingIDs: tt.reject}, Config{})
			ctx := ctxT(t)
			setupProps(t, c, 1)
			created, err := c.BatchCreateContacts(ctx, createInputs(5, "u"))
			if err != nil {
				t.Fatal(err)
			}
			gone := created.Contacts["u002"].ID
			srv.DeleteContact(gone)
			srv.ResetCounters()

			var in []ContactInput
			for ref, ct := range created.Contacts {
				in = append(in, ContactInput{Ref: ref, ID: ct.ID, Properties: map[string]string{"line_follow_1": "No"}})
			}
			res, err := c.BatchUpdateContacts(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.NotFound) != 1 || res.NotFound[0] != "u002" {
				t.Errorf("NotFound = %v, want [u002]", res.NotFound)
			}
			if len(res.Contacts) != 4 || len(res.Failed) != 0 {
				t.Errorf("%d updated, failed %v; want 4 updated", len(res.Contacts), res.Failed)
			}
			for ref, ct := range res.Contacts {
				if s, _ := srv.Contact(ct.ID); s.Properties["line_follow_1"] != "No" {
					t.Errorf("%s not updated: %v", ref, s.Properties)
				}
			}
			if _, ok := srv.Contact(gone); ok {
				t.Error("deleted contact came back")
			}
			if got := srv.Requests(); got != tt.wantRequests {
				t.Errorf("%d requests, want %d", got, tt.wantRequests)
			}
		})
	}
}

func TestInvalidEnumValueBisection(t *testing.T) {
	tests := []struct {
		name         string
		op           string
		multiStatus  bool
		wantRequests int
	}{
		// One bad input among 100: the halves that hold it are split again,
		// 1 + 2·7 requests for 100 inputs.
		{"update", "update", true, 15},
		{"upsert", "upsert", true, 15},
		{"create without multi-status", "create", false, 15},
		// HubSpot names the bad input itself.
		{"create with multi-status", "create", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newPair(t, hubspottest.Options{DisableMultiStatus: !tt.multiStatus}, Config{})
			ctx := ctxT(t)
			setupProps(t, c, 1)
			in := createInputs(100, "e")
			if tt.op == "update" {
				created, err := c.BatchCreateContacts(ctx, in)
				if err != nil || len(created.Contacts) != 100 {
					t.Fatalf("setup: %v, %d contacts", err, len(created.Contacts))
				}
				for i := range in {
					in[i].ID = created.Contacts[in[i].Ref].ID
					in[i].Email = ""
				}
			}
			for i := range in {
				in[i].Properties = map[string]string{"line_unanswered_1": "Yes"}
			}
			in[61].Properties["line_unanswered_1"] = "Maybe"
			srv.ResetCounters()

			var res BatchResult
			var err error
			switch tt.op {
			case "update":
				res, err = c.BatchUpdateContacts(ctx, in)
			case "upsert":
				res, err = c.BatchUpsertContactsByEmail(ctx, in)
			default:
				res, err = c.BatchCreateContacts(ctx, in)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Failed) != 1 || res.Failed[0].Ref != "e061" || res.Failed[0].Category != "VALIDATION_ERROR" || res.Failed[0].Status != 400 {
				t.Fatalf("Failed = %+v, want only e061 with 400 VALIDATION_ERROR", res.Failed)
			}
			if !strings.Contains(res.Failed[0].Message, "Maybe") {
				t.Errorf("failure message %q does not say what was wrong", res.Failed[0].Message)
			}
			if len(res.Contacts) != 99 {
				t.Errorf("%d written, want 99", len(res.Contacts))
			}
			written := 0
			for _, ct := range srv.Contacts() {
				if ct.Properties["line_unanswered_1"] == "Yes" {
					written++
				}
			}
			if written != 99 {
				t.Errorf("%d contacts have the value in HubSpot, want 99", written)
			}
			if got := srv.Requests(); got != tt.wantRequests {
				t.Errorf("%d requests for 100 inputs with one bad value, want %d", got, tt.wantRequests)
			}
			t.Logf("%s: %d requests", tt.name, srv.Requests())
		})
	}
}

func TestRetryOn429WithBackoff(t *testing.T) {
	const tenSecondly = `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"x","policyName":"TEN_SECONDLY_ROLLING"}`
	t.Run("injected 429s", func(t *testing.T) {
		srv, c := newPair(t, hubspottest.Options{}, Config{})
		var left atomic.Int32
		left.Store(2)
		srv.SetFault(func(*http.Request) (int, string, bool) {
			return 429, tenSecondly, left.Add(-1) >= 0
		})
		if _, err := c.AccountDetails(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		st := c.Stats()
		if st.RateLimited != 2 || st.Retries != 2 || st.Requests != 3 || st.ByStatus[200] != 1 {
			t.Errorf("stats = %+v, want 2 rate-limited retries then success", st)
		}
	})
	t.Run("budget used up by another app", func(t *testing.T) {
		// HubSpot counts per account: another app has just used the window,
		// so this client's first request meets a real 429, and it waits the
		// interval the headers announce before retrying.
		srv, c := newPair(t, hubspottest.Options{RatePer10s: 3, Window: time.Second}, Config{})
		ctx := ctxT(t)
		other := New(Config{BaseURL: srv.URL(), Token: testToken})
		for i := 0; i < 3; i++ {
			if _, err := other.AccountDetails(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.AccountDetails(ctx); err != nil {
			t.Fatal(err)
		}
		st := c.Stats()
		if srv.RateLimited() == 0 || st.RateLimited != int64(srv.RateLimited()) || st.ByStatus[429] != st.RateLimited {
			t.Errorf("client stats %+v, server sent %d 429s", st, srv.RateLimited())
		}
		if st.Retries != st.RateLimited || st.ByStatus[200] != 1 {
			t.Errorf("stats %+v, want one retry per 429 and one success", st)
		}
	})
}

func TestRetriesExhausted(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{MaxRetries: 2})
	srv.SetFault(func(*http.Request) (int, string, bool) {
		return 429, `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}`, true
	})
	_, err := c.AccountDetails(ctxT(t))
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 429 || errors.Is(err, ErrDailyLimit) {
		t.Fatalf("err = %v, want the 429 APIError", err)
	}
	if srv.Requests() != 3 {
		t.Errorf("%d attempts, want 3 (1 + MaxRetries)", srv.Requests())
	}
}

func TestNeverExceedsBudget(t *testing.T) {
	const window = 100 * time.Millisecond
	srv, c := newPair(t,
		hubspottest.Options{RatePer10s: 20, Window: window},
		Config{Budget: 20, Window: window})
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	work := make(chan int)
	for w := 0; w < 25; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if _, err := c.GetProperty(ctx, "email"); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < 300; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := srv.RateLimited(); got != 0 {
		t.Errorf("double answered %d requests with 429; the client exceeded its budget", got)
	}
	if got := srv.Requests(); got != 300 {
		t.Errorf("%d requests, want 300", got)
	}
}

func TestSetTierChangesBudget(t *testing.T) {
	c := New(Config{Token: "x"})
	if got := c.general.currentLimit(); got != TierBudget("starter")-budgetMargin {
		t.Errorf("starter limit %d", got)
	}
	c.SetTier("Professional")
	if got := c.general.currentLimit(); got != 190-budgetMargin {
		t.Errorf("professional limit %d, want %d", got, 190-budgetMargin)
	}
	for tier, want := range map[string]int{"": 100, "starter": 100, "professional": 190, "enterprise": 190} {
		if got := TierBudget(tier); got != want {
			t.Errorf("TierBudget(%q) = %d, want %d", tier, got, want)
		}
	}
}

func TestRateLimitHeadersLowerTheBudget(t *testing.T) {
	// The account allows 20 per 10 s; the client was told "professional".
	_, c := newPair(t, hubspottest.Options{RatePer10s: 20}, Config{Tier: "professional"})
	if _, err := c.AccountDetails(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := c.general.currentLimit(); got != 18 {
		t.Errorf("limit after X-HubSpot-RateLimit-Max: 20 is %d, want 18", got)
	}
}

func TestWaitingHonoursContext(t *testing.T) {
	// Budget 3 leaves 2 requests per 10 s: the third call must wait and
	// give up when its context does.
	_, c := newPair(t, hubspottest.Options{RatePer10s: -1}, Config{Budget: 3})
	for i := 0; i < 2; i++ {
		if _, err := c.AccountDetails(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.AccountDetails(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestDailyLimit(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{DailyLimit: 3}, Config{})
	ctx := ctxT(t)
	for i := 0; i < 3; i++ {
		if !c.PausedUntil().IsZero() {
			t.Fatalf("paused before the limit, at call %d", i)
		}
		if _, err := c.AccountDetails(ctx); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if until := c.PausedUntil(); !until.After(time.Now()) || time.Until(until) > 24*time.Hour {
		t.Errorf("PausedUntil = %v, want the next midnight", until)
	}
	// The third answer said Daily-Remaining: 0; the client stops by itself.
	_, err := c.AccountDetails(ctx)
	if !errors.Is(err, ErrDailyLimit) || !strings.Contains(err.Error(), "until") {
		t.Fatalf("err = %v, want ErrDailyLimit saying until when", err)
	}
	if srv.Requests() != 3 {
		t.Errorf("server saw %d requests, want 3", srv.Requests())
	}

	// A client that did not see the headers gets HubSpot's DAILY 429, and
	// from then on fails fast without asking.
	other := New(Config{BaseURL: srv.URL(), Token: testToken, RetryBaseDelay: time.Millisecond})
	_, err = other.AccountDetails(ctx)
	var apiErr *APIError
	if !errors.Is(err, ErrDailyLimit) || !errors.As(err, &apiErr) || apiErr.PolicyName != "DAILY" {
		t.Fatalf("err = %v, want ErrDailyLimit from a DAILY 429", err)
	}
	before := srv.Requests()
	for i := 0; i < 3; i++ {
		if _, err := other.BatchCreateContacts(ctx, createInputs(2, "x")); !errors.Is(err, ErrDailyLimit) {
			t.Fatalf("err = %v, want ErrDailyLimit", err)
		}
	}
	if srv.Requests() != before {
		t.Errorf("blocked client still sent %d requests", srv.Requests()-before)
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		failures    int
		maxRetries  int
		wantErr     bool
		wantRetries int64
	}{
		{"503 twice then ok", 503, 2, 0, false, 2},
		{"502 once then ok", 502, 1, 0, false, 1},
		{"503 until retries run out", 503, 100, 3, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newPair(t, hubspottest.Options{}, Config{MaxRetries: tt.maxRetries})
			var mu sync.Mutex
			left := tt.failures
			srv.SetFault(func(*http.Request) (int, string, bool) {
				mu.Lock()
				defer mu.Unlock()
				if left == 0 {
					return 0, "", false
				}
				left--
				return tt.status, "<html>Service Unavailable</html>", true
			})
			_, err := c.AccountDetails(ctxT(t))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			st := c.Stats()
			if st.Retries != tt.wantRetries || st.ByStatus[tt.status] != min(int64(tt.failures), tt.wantRetries+1) {
				t.Errorf("stats = %+v", st)
			}
			srv.SetFault(nil)
			if _, err := c.AccountDetails(ctxT(t)); err != nil {
				t.Errorf("after the fault cleared: %v", err)
			}
		})
	}
}

func TestBatchReadContacts(t *testing.T) {
	srv, c := newPair(t, hubspottest.Options{}, Config{})
	ctx := ctxT(t)
	setupProps(t, c, 1)
	created, err := c.BatchCreateContacts(ctx, createInputs(4, "b"))
	if err != nil {
		t.Fatal(err)
	}
	gone := created.Contacts["b001"].ID
	srv.DeleteContact(gone)
	ids := []string{created.Contacts["b000"].ID, gone, created.Contacts["b002"].ID, "999999"}
	found, notFound, err := c.BatchReadContacts(ctx, ids, []string{"line_follow_1", "email"})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[ids[0]].Properties["line_follow_1"] != "Yes" {
		t.Errorf("found = %v", found)
	}
	if len(notFound) != 2 || !containsAll(notFound, gone, "999999") {
		t.Errorf("notFound = %v, want [%s 999999]", notFound, gone)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		ok := false
		for _, l := range list {
			ok = ok || l == w
		}
		if !ok {
			return false
		}
	}
	return true
}

func TestSearchContacts(t *testing.T) {
	_, c := newPair(t,
		hubspottest.Options{SearchPerSec: 5, SearchWindow: 100 * time.Millisecond},
		Config{SearchWindow: 100 * time.Millisecond})
	ctx := ctxT(t)
	setupProps(t, c, 1)
	in := createInputs(7, "s")
	in[2].Properties["line_follow_1"] = "No"
	delete(in[5].Properties, "line_user_id_1")
	if _, err := c.BatchCreateContacts(ctx, in); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		filters []Filter
		want    int
	}{
		{"EQ is case-insensitive", []Filter{{PropertyName: "line_user_id_1", Operator: "EQ", Value: "u00000000000000000000000000000003"}}, 1},
		{"IN", []Filter{{PropertyName: "line_user_id_1", Operator: "IN", Values: []string{"U00000000000000000000000000000001", "U00000000000000000000000000000004"}}}, 2},
		{"IN comma-separated", []Filter{{PropertyName: "line_follow_1", Operator: "IN", Value: "No,Maybe"}}, 1},
		{"HAS_PROPERTY", []Filter{{PropertyName: "line_user_id_1", Operator: "HAS_PROPERTY"}}, 6},
		{"NOT_HAS_PROPERTY", []Filter{{PropertyName: "line_user_id_1", Operator: "NOT_HAS_PROPERTY"}}, 1},
		{"AND", []Filter{{PropertyName: "line_user_id_1", Operator: "HAS_PROPERTY"}, {PropertyName: "line_follow_1", Operator: "EQ", Value: "Yes"}}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.SearchContacts(ctx, SearchRequest{Filters: tt.filters, Properties: []string{"line_user_id_1"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != tt.want || len(res.Contacts) != tt.want || res.After != "" {
				t.Errorf("total %d, %d contacts, after %q; want %d", res.Total, len(res.Contacts), res.After, tt.want)
			}
		})
	}

	t.Run("paging", func(t *testing.T) {
		seen := map[string]bool{}
		req := SearchRequest{Limit: 2}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			res, err := c.SearchContacts(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, ct := range res.Contacts {
				seen[ct.ID] = true
			}
			if res.After == "" {
				break
			}
			req.After = res.After
		}
		if len(seen) != 7 {
			t.Errorf("paged through %d contacts, want 7", len(seen))
		}
	})

	t.Run("past 10000 refused locally", func(t *testing.T) {
		before := c.Stats().Requests
		if _, err := c.SearchContacts(ctx, SearchRequest{After: "10000"}); err == nil {
			t.Fatal("no error")
		}
		if c.Stats().Requests != before {
			t.Error("a request was sent")
		}
	})
}

func TestSearchRateLimit(t *testing.T) {
	const window = 100 * time.Millisecond
	srv, c := newPair(t,
		hubspottest.Options{SearchPerSec: 5, SearchWindow: window},
		Config{SearchPerWindow: 5, SearchWindow: window})
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.SearchContacts(ctx, SearchRequest{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if srv.RateLimited() != 0 {
		t.Errorf("%d searches were rate limited", srv.RateLimited())
	}
}

func TestTokenIsNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, c := newPair(t, hubspottest.Options{DailyLimit: 2}, Config{Logger: logger})
	var n atomic.Int32
	srv.SetFault(func(*http.Request) (int, string, bool) {
		return 503, "", n.Add(1) == 1
	})
	for i := 0; i < 3; i++ {
		_, _ = c.AccountDetails(ctxT(t))
	}
	if buf.Len() == 0 {
		t.Fatal("nothing was logged; the test checks nothing")
	}
	if strings.Contains(buf.String(), testToken) {
		t.Fatalf("token in log:\n%s", buf.String())
	}
}

func TestRetryDelay(t *testing.T) {
	c := New(Config{Token: "x", RetryBaseDelay: 100 * time.Millisecond, RetryMaxDelay: 3 * time.Second})
	tests := []struct {
		name       string
		attempt    int
		retryAfter string
		lo, hi     time.Duration
	}{
		{"first backoff", 0, "", 50 * time.Millisecond, 100 * time.Millisecond},
		{"third backoff", 2, "", 200 * time.Millisecond, 400 * time.Millisecond},
		{"capped", 20, "", 1500 * time.Millisecond, 3 * time.Second},
		{"Retry-After seconds", 0, "2", 2 * time.Second, 2 * time.Second},
		{"Retry-After capped", 0, "120", 3 * time.Second, 3 * time.Second},
		{"Retry-After garbage", 1, "soon", 100 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.retryAfter != "" {
				h.Set("Retry-After", tt.retryAfter)
			}
			for i := 0; i < 50; i++ {
				if d := c.retryDelay(tt.attempt, h); d < tt.lo || d > tt.hi {
					t.Fatalf("delay %v outside [%v, %v]", d, tt.lo, tt.hi)
				}
			}
		})
	}
}

// TestOutageCallsFailFast: a down HubSpot (5xx, or no answer at all) is
// reported as ErrUnavailable; Probe asks once and FailFast calls retry only
// briefly, while a 429 is still waited out as in any call.
func TestOutageCallsFailFast(t *testing.T) {
	down := func(*http.Request) (int, string, bool) {
		return 503, `{"status":"error","message":"Service Unavailable","category":"INTERNAL_ERROR"}`, true
	}
	t.Run("probe of a 503 is one request", func(t *testing.T) {
		srv, c := newPair(t, hubspottest.Options{}, Config{})
		srv.SetFault(down)
		if err := c.Probe(ctxT(t)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Probe = %v, want ErrUnavailable", err)
		}
		if n := srv.Requests(); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
		srv.SetFault(nil)
		if err := c.Probe(ctxT(t)); err != nil {
			t.Errorf("Probe of a working HubSpot = %v", err)
		}
	})
	t.Run("fail-fast call retries twice", func(t *testing.T) {
		srv, c := newPair(t, hubspottest.Options{}, Config{})
		srv.SetFault(down)
		_, err := c.BatchCreateContacts(FailFast(ctxT(t)), []ContactInput{{Ref: "1", Email: "a@example.com"}})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if n := srv.Requests(); n != 1+failFastRetries {
			t.Errorf("%d requests, want %d", n, 1+failFastRetries)
		}
		srv.ResetCounters()
		if _, err := c.AccountDetails(ctxT(t)); !errors.Is(err, ErrUnavailable) || srv.Requests() != 1+DefaultMaxRetries {
			t.Errorf("ordinary call: err %v after %d requests, want ErrUnavailable after %d", err, srv.Requests(), 1+DefaultMaxRetries)
		}
	})
	t.Run("no answer is unavailable", func(t *testing.T) {
		srv, c := newPair(t, hubspottest.Options{}, Config{})
		srv.Close()
		if err := c.Probe(ctxT(t)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Probe of a closed port = %v, want ErrUnavailable", err)
		}
	})
	t.Run("a 429 is not an outage", func(t *testing.T) {
		srv, c := newPair(t, hubspottest.Options{}, Config{})
		var n atomic.Int64
		srv.SetFault(func(*http.Request) (int, string, bool) {
			if n.Add(1) == 1 {
				return 429, `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}`, true
			}
			return 0, "", false
		})
		if err := c.Probe(ctxT(t)); err != nil {
			t.Fatalf("Probe after one 429 = %v, want it retried and answered", err)
		}
		if srv.Requests() != 2 || c.Stats().RateLimited != 1 {
			t.Errorf("%d requests, stats %+v; want the 429 and its retry", srv.Requests(), c.Stats())
		}
	})
}
