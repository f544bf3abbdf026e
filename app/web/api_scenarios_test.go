package web_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// apiScenario is one request against a fresh app, PocketBase style: set up
// state, send, compare status and body, then look deeper if needed.
type apiScenario struct {
	name  string
	opts  envOpts
	setup func(t *testing.T, e *env)

	method string
	path   string            // {var} placeholders come from env.vars
	auth   string            // Authorization header; "" = the test token, "-" = none
	header map[string]string // extra headers ({var} placeholders allowed)
	body   string            // sent as application/json unless header says otherwise
	// sign adds X-Line-Signature over body with the secret in vars["secret"].
	sign bool

	wantStatus int
	// want5xx accepts any server-side error (how an outage is reported).
	want5xx      bool
	wantContains []string
	wantMissing  []string
	check        func(t *testing.T, e *env, h http.Header, body []byte)
}

func (sc apiScenario) run(t *testing.T) {
	e := newEnv(t, sc.opts)
	if sc.setup != nil {
		sc.setup(t, e)
	}
	hdr := map[string]string{}
	switch sc.auth {
	case "":
		hdr["Authorization"] = "Bearer " + e.apiToken
	case "-":
	default:
		hdr["Authorization"] = e.expand(sc.auth)
	}
	var body []byte
	if sc.body != "" {
		body = []byte(e.expand(sc.body))
		hdr["Content-Type"] = "application/json"
	}
	for k, v := range sc.header {
		hdr[k] = e.expand(v)
	}
	if sc.sign {
		hdr["X-Line-Signature"] = line.Sign(e.vars["secret"], body)
	}
	status, h, out := e.do(sc.method, e.expand(sc.path), hdr, body)
	if sc.want5xx {
		if status < 500 {
			t.Fatalf("%s %s: status %d, want a 5xx; body %s", sc.method, sc.path, status, out)
		}
	} else if status != sc.wantStatus {
		t.Fatalf("%s %s: status %d, want %d; body %s", sc.method, sc.path, status, sc.wantStatus, out)
	}
	for _, s := range sc.wantContains {
		if !bytes.Contains(out, []byte(e.expand(s))) {
			t.Errorf("body lacks %q: %s", s, out)
		}
	}
	for _, s := range sc.wantMissing {
		if bytes.Contains(out, []byte(e.expand(s))) {
			t.Errorf("body has %q: %s", s, out)
		}
	}
	if sc.check != nil {
		sc.check(t, e, h, out)
	}
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not a JSON object: %q", body)
	}
	return m
}

// configured is the setup most scenarios share: HubSpot set, one connection
// with secret and token.
func withConnection(t *testing.T, e *env) { e.createConn("Shop", true, true) }

func hubspotSaved(t *testing.T, e *env) bool {
	t.Helper()
	return e.conns.HubSpotInfo(e.ctx).Configured
}

var configured = envOpts{HubSpotConfigured: true}

// sevenProperties are serial N's property names (docs/design.md §2).
func sevenProperties(n int) []string {
	var out []string
	for _, k := range []string{"line_user_id", "line_user_name", "line_user_picture", "line_follow", "line_id_sync_date", "line_unanswered", "line_last_response"} {
		out = append(out, fmt.Sprintf("%s_%d", k, n))
	}
	return out
}

func TestAPIScenarios(t *testing.T) {
	friendA := linetest.NewUserID()
	webhookBody := string(linetest.Body("Ubot", linetest.TextMessageEvent(friendA, "hello", time.Now())))
	scenarios := []apiScenario{
		// ---- authentication ----
		{
			name: "no bearer token", method: "GET", path: "/api/v1/status", auth: "-",
			wantStatus: 401, wantContains: []string{"missing bearer token"},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
				}
			},
		},
		{name: "basic auth is not a bearer token", method: "GET", path: "/api/v1/status", auth: "Basic dXNlcjpwYXNz", wantStatus: 401},
		{name: "empty bearer token", method: "GET", path: "/api/v1/status", auth: "Bearer ", wantStatus: 401},
		{name: "invalid bearer token", method: "GET", path: "/api/v1/status", auth: "Bearer lhk_not-a-real-token", wantStatus: 401, wantContains: []string{"invalid or revoked"}},
		{
			name: "revoked bearer token", method: "GET", path: "/api/v1/connections", auth: "Bearer {revoked}",
			setup: func(t *testing.T, e *env) {
				plain, tok, err := e.st.CreateAPIToken(e.ctx, "old")
				if err != nil {
					t.Fatal(err)
				}
				if err := e.st.RevokeAPIToken(e.ctx, tok.ID); err != nil {
					t.Fatal(err)
				}
				e.vars["revoked"] = plain
				e.secrets = append(e.secrets, plain)
			},
			wantStatus: 401, wantContains: []string{"invalid or revoked"},
		},
		{name: "auth is checked before routing under /api/v1", method: "GET", path: "/api/v1/nope", auth: "-", wantStatus: 401},
		{name: "unknown API route", method: "GET", path: "/api/v1/nope", wantStatus: 404, wantContains: []string{`"error"`, "/api/v1/nope"}},
		{name: "unknown route outside the pages", method: "GET", path: "/api/nope", auth: "-", wantStatus: 404, wantContains: []string{"no such page: GET /api/nope"}},
		{name: "wrong method on a route", method: "PUT", path: "/api/v1/connections", body: `{}`, wantStatus: 404},
		{name: "healthz needs no token", method: "GET", path: "/healthz", auth: "-", wantStatus: 200, wantContains: []string{`"ok"`}},

		// ---- status ----
		{
			name: "status shape", opts: configured, setup: withConnection, method: "GET", path: "/api/v1/status",
			wantStatus: 200,
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				m := decode(t, body)
				if m["version"] != "test-1.2.3" || m["connections"] != float64(1) {
					t.Errorf("version/connections: %v", m)
				}
				hs, _ := m["hubspot"].(map[string]any)
				if hs["configured"] != true || hs["tier"] != "starter" || hs["max_connections"] != float64(2) || hs["token_last4"] != "5150" {
					t.Errorf("hubspot: %v", hs)
				}
				for _, k := range []string{"inbox", "friends", "sync"} {
					if _, ok := m[k].(map[string]any); !ok {
						t.Errorf("%s missing or not an object: %v", k, m[k])
					}
				}
				for _, k := range []string{"pending", "total", "failed"} {
					if _, ok := m["inbox"].(map[string]any)[k].(float64); !ok {
						t.Errorf("inbox.%s missing", k)
					}
				}
				for _, k := range []string{"total", "following", "blocked", "sync_backlog", "sync_errors"} {
					if _, ok := m["friends"].(map[string]any)[k].(float64); !ok {
						t.Errorf("friends.%s missing", k)
					}
				}
				for _, k := range []string{"last_sync_at", "last_sync_error", "hubspot_paused"} {
					if _, ok := m["sync"].(map[string]any)[k]; !ok {
						t.Errorf("sync.%s missing", k)
					}
				}
			},
		},
		{
			name: "status before HubSpot is configured", method: "GET", path: "/api/v1/status", wantStatus: 200,
			wantContains: []string{`"configured":false`}, wantMissing: []string{"token_last4"},
		},

		// ---- PUT /api/v1/hubspot ----
		{
			name: "hubspot: good token", method: "PUT", path: "/api/v1/hubspot",
			body: `{"token":"` + hubspotToken + `","tier":"starter"}`, wantStatus: 200,
			wantContains: []string{fmt.Sprintf(`"portal_id":%d`, portalID), `"configured":true`, `"token_last4":"5150"`, `"max_connections":2`},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if !hubspotSaved(t, e) {
					t.Fatal("token not in use after 200")
				}
				// It survives a restart: a new bridge over the same store reads it.
				st, out := e.api("GET", "/api/v1/status", nil)
				if st != 200 || out["hubspot"].(map[string]any)["portal_id"] != float64(portalID) {
					t.Fatalf("status after PUT: %d %v", st, out)
				}
			},
		},
		{
			name: "hubspot: token with surrounding spaces", method: "PUT", path: "/api/v1/hubspot",
			body: `{"token":"  ` + hubspotToken + ` \n"}`, wantStatus: 200, wantContains: []string{`"tier":"starter"`},
		},
		{
			name: "hubspot: professional tier raises the limit", method: "PUT", path: "/api/v1/hubspot",
			body: `{"token":"` + hubspotToken + `","tier":"professional"}`, wantStatus: 200,
			wantContains: []string{`"tier":"professional"`, `"max_connections":10`},
		},
		{
			name: "hubspot: free trial counts as starter", method: "PUT", path: "/api/v1/hubspot",
			body: `{"token":"` + hubspotToken + `","tier":"free"}`, wantStatus: 200,
			wantContains: []string{`"tier":"starter"`, `"max_connections":2`},
		},
		{
			name: "hubspot: wrong token", method: "PUT", path: "/api/v1/hubspot",
			body: `{"token":"pat-na1-wrong-token-0000","tier":"starter"}`, wantStatus: 400,
			wantContains: []string{"HubSpot rejected the token"},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if hubspotSaved(t, e) {
					t.Fatal("a rejected token was saved")
				}
				if v, _ := e.st.Setting(e.ctx, "hubspot.token"); v != "" {
					t.Fatal("a rejected token was stored")
				}
			},
		},
		{
			name: "hubspot: unknown tier", method: "PUT", path: "/api/v1/hubspot",
			body: `{"token":"` + hubspotToken + `","tier":"platinum"}`, wantStatus: 400,
			wantContains: []string{"platinum", "starter, professional, enterprise"},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if hubspotSaved(t, e) {
					t.Fatal("saved despite the bad tier")
				}
				if n := e.hs.Requests(); n != 0 {
					t.Fatalf("HubSpot was called %d times for a request that is wrong anyway", n)
				}
			},
		},
		{name: "hubspot: missing token", method: "PUT", path: "/api/v1/hubspot", body: `{"tier":"starter"}`, wantStatus: 400, wantContains: []string{"token is required"}},
		{
			name: "hubspot: HubSpot unreachable", method: "PUT", path: "/api/v1/hubspot", body: `{"token":"` + hubspotToken + `"}`,
			setup: func(t *testing.T, e *env) {
				e.hs.SetFault(func(r *http.Request) (int, string, bool) {
					return 503, `{"status":"error","message":"down","correlationId":"x"}`, true
				})
			},
			want5xx: true,
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if hubspotSaved(t, e) {
					t.Fatal("saved although HubSpot could not check it")
				}
			},
		},
		{name: "hubspot: wrong content type", method: "PUT", path: "/api/v1/hubspot", body: `{"token":"x"}`, header: map[string]string{"Content-Type": "text/plain"}, wantStatus: 415, wantContains: []string{"application/json"}},
		{name: "hubspot: invalid JSON", method: "PUT", path: "/api/v1/hubspot", body: `{"token":`, wantStatus: 400, wantContains: []string{"invalid JSON"}},

		// ---- POST /api/v1/connections ----
		{
			name: "create: HubSpot not configured", method: "POST", path: "/api/v1/connections",
			body: `{"name":"Shop"}`, wantStatus: 400, wantContains: []string{"HubSpot token first"},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if cs, _ := e.st.Connections(e.ctx); len(cs) != 0 {
					t.Fatal("connection stored")
				}
			},
		},
		{name: "create: missing name", opts: configured, method: "POST", path: "/api/v1/connections", body: `{"description":"x"}`, wantStatus: 400, wantContains: []string{"name is required"}},
		{name: "create: blank name", opts: configured, method: "POST", path: "/api/v1/connections", body: `{"name":"   "}`, wantStatus: 400, wantContains: []string{"name is required"}},
		{name: "create: name too long", opts: configured, method: "POST", path: "/api/v1/connections", body: `{"name":"` + strings.Repeat("n", 101) + `"}`, wantStatus: 400, wantContains: []string{"100 characters"}},
		{
			name: "create: LINE rejects the token", opts: configured, method: "POST", path: "/api/v1/connections",
			body:       `{"name":"Shop","channel_secret":"s3cret-abcd","channel_access_token":"not-a-line-token-wxyz"}`,
			wantStatus: 400, wantContains: []string{"LINE", "channel access token"}, wantMissing: []string{"not-a-line-token-wxyz", "s3cret-abcd"},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if cs, _ := e.st.Connections(e.ctx); len(cs) != 0 {
					t.Fatal("connection stored")
				}
			},
		},
		{
			name: "create: good", opts: configured, method: "POST", path: "/api/v1/connections",
			setup: func(t *testing.T, e *env) {
				ch := e.newChannel("LINE Shop")
				e.vars["secret"], e.vars["token"], e.vars["bot"] = ch.secret, ch.token, ch.bot
			},
			body:       `{"name":"Shop","description":"Main account","channel_secret":"{secret}","channel_access_token":"{token}"}`,
			wantStatus: 201,
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				var c struct {
					ID                 int64    `json:"id"`
					Serial             int      `json:"serial"`
					Name               string   `json:"name"`
					Description        string   `json:"description"`
					WebhookURL         string   `json:"webhook_url"`
					ChannelSecret      string   `json:"channel_secret"`
					ChannelAccessToken string   `json:"channel_access_token"`
					BotUserID          string   `json:"bot_user_id"`
					BotName            string   `json:"bot_name"`
					PropertyGroup      string   `json:"property_group"`
					Properties         []string `json:"properties"`
					PropertiesReady    bool     `json:"properties_ready"`
				}
				if err := json.Unmarshal(body, &c); err != nil {
					t.Fatal(err)
				}
				sec, tok := e.vars["secret"], e.vars["token"]
				if c.ID <= 0 || c.Serial != 1 || c.Name != "Shop" || c.Description != "Main account" {
					t.Errorf("identity: %+v", c)
				}
				if !strings.HasPrefix(c.WebhookURL, publicURL+"/webhook/") || len(c.WebhookURL) < len(publicURL+"/webhook/")+20 {
					t.Errorf("webhook_url %q", c.WebhookURL)
				}
				if c.ChannelSecret != "****"+sec[len(sec)-4:] || c.ChannelAccessToken != "****"+tok[len(tok)-4:] {
					t.Errorf("masks %q %q", c.ChannelSecret, c.ChannelAccessToken)
				}
				if c.BotUserID != e.vars["bot"] || c.BotName != "LINE Shop" {
					t.Errorf("bot %q %q", c.BotUserID, c.BotName)
				}
				if !slices.Equal(c.Properties, sevenProperties(1)) || c.PropertyGroup != "line_account_1" || !c.PropertiesReady {
					t.Errorf("properties %v group %q ready %v", c.Properties, c.PropertyGroup, c.PropertiesReady)
				}
				for _, p := range sevenProperties(1) {
					if hp, ok := e.hs.Property(p); !ok || hp.GroupName != "line_account_1" {
						t.Errorf("HubSpot property %s: %v %+v", p, ok, hp)
					}
				}
			},
		},
		{
			name: "create: without secret and token", opts: configured, method: "POST", path: "/api/v1/connections",
			body: `{"name":"Later"}`, wantStatus: 201,
			wantContains: []string{`"channel_secret":""`, `"channel_access_token":""`, `"serial":1`},
		},
		{
			name: "create: third on starter", opts: configured, method: "POST", path: "/api/v1/connections",
			setup: func(t *testing.T, e *env) {
				e.createConn("One", true, true)
				e.createConn("Two", true, true)
			},
			body: `{"name":"Three"}`, wantStatus: 409,
			wantContains: []string{"starter", "allows 2"},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if cs, _ := e.st.Connections(e.ctx); len(cs) != 2 {
					t.Fatalf("%d connections", len(cs))
				}
			},
		},
		{
			name: "create: third on professional", opts: envOpts{HubSpotConfigured: true, Tier: "professional"},
			method: "POST", path: "/api/v1/connections",
			setup: func(t *testing.T, e *env) {
				e.createConn("One", true, true)
				e.createConn("Two", true, true)
			},
			body: `{"name":"Three"}`, wantStatus: 201, wantContains: []string{`"serial":3`},
		},
		{
			name: "create: limits.max_connections wins over the tier", opts: envOpts{HubSpotConfigured: true, Tier: "enterprise", MaxConnections: 1},
			method: "POST", path: "/api/v1/connections", setup: withConnection,
			body: `{"name":"Two"}`, wantStatus: 409, wantContains: []string{"allows 1"},
		},
		{name: "create: wrong content type", opts: configured, method: "POST", path: "/api/v1/connections", body: `{"name":"Shop"}`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, wantStatus: 415},
		{name: "create: no content type", opts: configured, method: "POST", path: "/api/v1/connections", body: `{"name":"Shop"}`, header: map[string]string{"Content-Type": ""}, wantStatus: 415},
		{name: "create: invalid JSON", opts: configured, method: "POST", path: "/api/v1/connections", body: `{"name": "Shop",}`, wantStatus: 400, wantContains: []string{"invalid JSON"}},
		{name: "create: JSON of the wrong shape", opts: configured, method: "POST", path: "/api/v1/connections", body: `{"name": 12}`, wantStatus: 400, wantContains: []string{"invalid JSON"}},

		// ---- GET /api/v1/connections[/{id}] ----
		{
			name: "list", opts: configured, method: "GET", path: "/api/v1/connections",
			setup: func(t *testing.T, e *env) {
				e.createConn("One", true, true)
				e.createConn("Two", false, false)
			},
			wantStatus: 200, wantContains: []string{`"max_connections":2`, `"name":"One"`, `"name":"Two"`},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				cs := decode(t, body)["connections"].([]any)
				if len(cs) != 2 || cs[0].(map[string]any)["serial"] != float64(1) || cs[1].(map[string]any)["serial"] != float64(2) {
					t.Fatalf("connections %v", cs)
				}
			},
		},
		{name: "list when empty", method: "GET", path: "/api/v1/connections", wantStatus: 200, wantContains: []string{`"connections":[]`}},
		{
			name: "get one", opts: configured, setup: withConnection, method: "GET", path: "/api/v1/connections/{id}",
			wantStatus: 200, wantContains: []string{`"id":{id}`, `"friends":{`, `"inbox":{`, `"last_event_at":null`, `"channel_secret":"****`},
		},
		{name: "get unknown id", opts: configured, setup: withConnection, method: "GET", path: "/api/v1/connections/999", wantStatus: 404},
		{name: "get non-numeric id", method: "GET", path: "/api/v1/connections/abc", wantStatus: 404, wantContains: []string{"abc"}},
		{name: "get zero id", method: "GET", path: "/api/v1/connections/0", wantStatus: 404},
		{name: "get negative id", method: "GET", path: "/api/v1/connections/-3", wantStatus: 404},

		// ---- PATCH /api/v1/connections/{id} ----
		{
			name: "patch name and description", opts: configured, setup: withConnection, method: "PATCH", path: "/api/v1/connections/{id}",
			body: `{"name":"  Renamed  ","description":"new text"}`, wantStatus: 200,
			wantContains: []string{`"name":"Renamed"`, `"description":"new text"`, `"serial":1`},
		},
		{
			name: "patch secret shows only its last four", opts: configured, setup: withConnection, method: "PATCH", path: "/api/v1/connections/{id}",
			body: `{"channel_secret":"brand-new-secret-Z9y8"}`, wantStatus: 200,
			wantContains: []string{`"channel_secret":"****Z9y8"`}, wantMissing: []string{"brand-new-secret"},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				// The webhook verifies with the new secret from now on.
				b := linetest.Body("Ubot")
				if st := e.webhook(e.vars["key"], "brand-new-secret-Z9y8", b); st != 200 {
					t.Errorf("new secret: %d", st)
				}
				if st := e.webhook(e.vars["key"], e.vars["secret"], b); st != 401 {
					t.Errorf("old secret: %d, want 401", st)
				}
			},
		},
		{
			name: "patch with a token LINE rejects changes nothing", opts: configured, setup: withConnection,
			method: "PATCH", path: "/api/v1/connections/{id}",
			body:       `{"name":"Should Not Stick","channel_secret":"other-secret-1111","channel_access_token":"bad-token-9876"}`,
			wantStatus: 400, wantContains: []string{"LINE"}, wantMissing: []string{"bad-token-9876"},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				st, c := e.api("GET", "/api/v1/connections/"+e.vars["id"], nil)
				tok := e.vars["token"]
				if st != 200 || c["name"] != "Shop" || c["channel_access_token"] != "****"+tok[len(tok)-4:] || c["channel_secret"] == "****1111" {
					t.Fatalf("connection changed by a refused patch: %v", c)
				}
			},
		},
		{
			name: "patch with a new good token", opts: configured, setup: func(t *testing.T, e *env) {
				e.createConn("Shop", true, false)
				ch := e.newChannel("Second Bot")
				e.vars["token2"] = ch.token
			},
			method: "PATCH", path: "/api/v1/connections/{id}", body: `{"channel_access_token":"{token2}"}`,
			wantStatus: 200, wantContains: []string{`"bot_name":"Second Bot"`, `"channel_access_token":"****`},
		},
		{name: "patch blank name", opts: configured, setup: withConnection, method: "PATCH", path: "/api/v1/connections/{id}", body: `{"name":""}`, wantStatus: 400, wantContains: []string{"name must be"}},
		{name: "patch unknown id", opts: configured, method: "PATCH", path: "/api/v1/connections/77", body: `{"name":"x"}`, wantStatus: 404},
		{name: "patch wrong content type", opts: configured, setup: withConnection, method: "PATCH", path: "/api/v1/connections/{id}", body: `name=x`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, wantStatus: 415},

		// ---- DELETE ----
		{
			name: "delete", opts: configured, setup: withConnection, method: "DELETE", path: "/api/v1/connections/{id}", wantStatus: 204,
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if len(body) != 0 {
					t.Errorf("204 with body %q", body)
				}
				if st, _ := e.api("GET", "/api/v1/connections/"+e.vars["id"], nil); st != 404 {
					t.Errorf("GET after delete: %d", st)
				}
				if st, _ := e.api("DELETE", "/api/v1/connections/"+e.vars["id"], nil); st != 404 {
					t.Errorf("second DELETE: %d", st)
				}
				if st := e.webhook(e.vars["key"], e.vars["secret"], linetest.Body("Ubot")); st != 404 {
					t.Errorf("webhook after delete: %d", st)
				}
				c := e.createConn("Next", true, true)
				if c.serial != 2 {
					t.Errorf("serial after delete %d, want 2 (never reused)", c.serial)
				}
			},
		},
		{name: "delete unknown", method: "DELETE", path: "/api/v1/connections/5", wantStatus: 404},

		// ---- friends ----
		{name: "friends: limit 0", opts: configured, setup: withConnection, method: "GET", path: "/api/v1/connections/{id}/friends?limit=0", wantStatus: 400, wantContains: []string{"limit"}},
		{name: "friends: limit too big", opts: configured, setup: withConnection, method: "GET", path: "/api/v1/connections/{id}/friends?limit=1001", wantStatus: 400, wantContains: []string{"limit"}},
		{name: "friends: limit not a number", opts: configured, setup: withConnection, method: "GET", path: "/api/v1/connections/{id}/friends?limit=ten", wantStatus: 400, wantContains: []string{"limit"}},
		{name: "friends: bad cursor", opts: configured, setup: withConnection, method: "GET", path: "/api/v1/connections/{id}/friends?after=xyz", wantStatus: 400, wantContains: []string{"after"}},
		{name: "friends: negative cursor", opts: configured, setup: withConnection, method: "GET", path: "/api/v1/connections/{id}/friends?after=-1", wantStatus: 400},
		{name: "friends: unknown connection", method: "GET", path: "/api/v1/connections/12/friends", wantStatus: 404},
		{name: "friends: none yet", opts: configured, setup: withConnection, method: "GET", path: "/api/v1/connections/{id}/friends", wantStatus: 200, wantContains: []string{`"friends":[]`, `"next":""`}},

		// ---- messages ----
		{
			name: "send a message", opts: configured, method: "POST", path: "/api/v1/connections/{id}/messages",
			setup: func(t *testing.T, e *env) {
				c := e.createConn("Shop", true, true)
				e.ln.AddFriend(c.ch.token, line.Profile{UserID: friendA, DisplayName: "A"})
				e.deliver(c, linetest.TextMessageEvent(friendA, "question?", time.Now()))
			},
			body: `{"to":"` + friendA + `","text":"Thanks, we'll call you."}`, wantStatus: 202, wantContains: []string{`"sent":true`},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				p := e.ln.Pushes(e.vars["token"])
				if len(p) != 1 || p[0].To != friendA || len(p[0].Texts) != 1 || p[0].Texts[0] != "Thanks, we'll call you." {
					t.Fatalf("pushes %+v", p)
				}
				_, fl := e.api("GET", "/api/v1/connections/"+e.vars["id"]+"/friends", nil)
				f := fl["friends"].([]any)[0].(map[string]any)
				if f["unanswered"] != false || f["last_response"] != "question?" {
					t.Fatalf("friend after push: %v", f)
				}
			},
		},
		{name: "send: missing text", opts: configured, setup: withConnection, method: "POST", path: "/api/v1/connections/{id}/messages", body: `{"to":"` + friendA + `"}`, wantStatus: 400, wantContains: []string{"required"}},
		{name: "send: missing to", opts: configured, setup: withConnection, method: "POST", path: "/api/v1/connections/{id}/messages", body: `{"text":"hi"}`, wantStatus: 400, wantContains: []string{"required"}},
		{
			name: "send: 2000 Japanese characters are within LINE's 5000", opts: configured, setup: withConnection,
			method: "POST", path: "/api/v1/connections/{id}/messages",
			body: `{"to":"` + friendA + `","text":"` + strings.Repeat("あ", 2000) + `"}`, wantStatus: 202,
		},
		{name: "send: text too long", opts: configured, setup: withConnection, method: "POST", path: "/api/v1/connections/{id}/messages", body: `{"to":"` + friendA + `","text":"` + strings.Repeat("x", 5001) + `"}`, wantStatus: 400, wantContains: []string{"5000"}},
		{
			name: "send: to is not a LINE user id", opts: configured, setup: withConnection, method: "POST", path: "/api/v1/connections/{id}/messages",
			body: `{"to":"someone@example.com","text":"hi"}`, wantStatus: 400, wantContains: []string{"to"},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if p := e.ln.Pushes(e.vars["token"]); len(p) != 0 {
					t.Fatalf("pushed: %+v", p)
				}
			},
		},
		{
			name: "send: connection without access token", opts: configured, method: "POST", path: "/api/v1/connections/{id}/messages",
			setup: func(t *testing.T, e *env) { e.createConn("Shop", true, false) },
			body:  `{"to":"` + friendA + `","text":"hi"}`, wantStatus: 400, wantContains: []string{"channel access token"},
		},
		{name: "send: unknown connection", method: "POST", path: "/api/v1/connections/31/messages", body: `{"to":"` + friendA + `","text":"hi"}`, wantStatus: 404},
		{name: "send: wrong content type", opts: configured, setup: withConnection, method: "POST", path: "/api/v1/connections/{id}/messages", body: `{"to":"x","text":"y"}`, header: map[string]string{"Content-Type": "text/plain"}, wantStatus: 415},
		{name: "send: invalid JSON", opts: configured, setup: withConnection, method: "POST", path: "/api/v1/connections/{id}/messages", body: `{"to":`, wantStatus: 400, wantContains: []string{"invalid JSON"}},

		// ---- webhook ----
		{
			name: "webhook: valid", opts: configured, setup: withConnection, method: "POST", path: "/webhook/{key}", auth: "-",
			body: webhookBody, sign: true, wantStatus: 200,
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				is, _ := e.st.InboxStats(e.ctx, 0)
				if is.Total != 1 || is.Pending != 1 {
					t.Fatalf("inbox %+v", is)
				}
			},
		},
		{
			name: "webhook: redelivery is stored once", opts: configured, method: "POST", path: "/webhook/{key}", auth: "-",
			setup: func(t *testing.T, e *env) {
				withConnection(t, e)
				if st := e.webhook(e.vars["key"], e.vars["secret"], []byte(webhookBody)); st != 200 {
					t.Fatalf("first delivery %d", st)
				}
			},
			body: webhookBody, sign: true, wantStatus: 200,
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if is, _ := e.st.InboxStats(e.ctx, 0); is.Total != 1 {
					t.Fatalf("inbox %+v, want 1 event", is)
				}
			},
		},
		{
			name: "webhook: LINE's verify request (no events)", opts: configured, setup: withConnection, method: "POST", path: "/webhook/{key}", auth: "-",
			body: `{"destination":"Ubot","events":[]}`, sign: true, wantStatus: 200,
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if is, _ := e.st.InboxStats(e.ctx, 0); is.Total != 0 {
					t.Fatalf("inbox %+v", is)
				}
			},
		},
		{name: "webhook: missing signature", opts: configured, setup: withConnection, method: "POST", path: "/webhook/{key}", auth: "-", body: webhookBody, wantStatus: 400, wantContains: []string{"X-Line-Signature"}},
		{
			name: "webhook: bad signature", opts: configured, setup: withConnection, method: "POST", path: "/webhook/{key}", auth: "-",
			body: webhookBody, header: map[string]string{"X-Line-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, wantStatus: 401,
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if is, _ := e.st.InboxStats(e.ctx, 0); is.Total != 0 {
					t.Fatalf("stored an unverified event: %+v", is)
				}
			},
		},
		{
			name: "webhook: signature made with another secret", opts: configured, setup: withConnection, method: "POST", path: "/webhook/{key}", auth: "-",
			body: webhookBody, header: map[string]string{"X-Line-Signature": line.Sign("some-other-secret", []byte(webhookBody))}, wantStatus: 401,
		},
		{name: "webhook: signed but not JSON", opts: configured, setup: withConnection, method: "POST", path: "/webhook/{key}", auth: "-", body: `events=1`, sign: true, wantStatus: 400},
		{
			name: "webhook: body over 1 MiB", opts: configured, setup: withConnection, method: "POST", path: "/webhook/{key}", auth: "-",
			body: `{"destination":"Ubot","events":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`, sign: true, wantStatus: 413,
		},
		{
			name: "webhook: body of exactly 1 MiB is accepted", opts: configured, setup: withConnection, method: "POST", path: "/webhook/{key}", auth: "-",
			body: `{"destination":"Ubot","events":[],"pad":"` + strings.Repeat("x", 1<<20-len(`{"destination":"Ubot","events":[],"pad":""}`)) + `"}`, sign: true, wantStatus: 200,
		},
		{name: "webhook: unknown key", opts: configured, setup: withConnection, method: "POST", path: "/webhook/not-a-key", auth: "-", body: webhookBody, sign: true, wantStatus: 404},
		{
			name: "webhook: connection without channel secret", opts: configured, method: "POST", path: "/webhook/{key}", auth: "-",
			setup: func(t *testing.T, e *env) { e.createConn("No Secret", false, true) },
			body:  webhookBody, sign: true, wantStatus: 503, wantContains: []string{"channel secret"},
			check: func(t *testing.T, e *env, h http.Header, body []byte) {
				if is, _ := e.st.InboxStats(e.ctx, 0); is.Total != 0 {
					t.Fatalf("inbox %+v", is)
				}
			},
		},
		{name: "webhook: GET is not a webhook", opts: configured, setup: withConnection, method: "GET", path: "/webhook/{key}", auth: "-", wantStatus: 404},
	}

	names := map[string]bool{}
	for _, sc := range scenarios {
		if names[sc.name] {
			t.Fatalf("duplicate scenario name %q", sc.name)
		}
		names[sc.name] = true
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t)
		})
	}
}

// TestWebhookSignatureIsOverTheRawBody: LINE signs the bytes it sends,
// uncompressed. A body with Content-Encoding is refused (415) before
// anything looks at it: never decompressed, never verified, never stored,
// whatever it was signed over.
func TestWebhookSignatureIsOverTheRawBody(t *testing.T) {
	e := newEnv(t, configured)
	c := e.createConn("Shop", true, true)
	plain := linetest.Body(c.ch.bot, linetest.TextMessageEvent(linetest.NewUserID(), "zipped", time.Now()))
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(plain)
	zw.Close()
	hdr := map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}

	// Signed over the decompressed JSON: that is not what was sent.
	hdr["X-Line-Signature"] = line.Sign(c.ch.secret, plain)
	if st, _, body := e.do("POST", "/webhook/"+c.key, hdr, zb.Bytes()); st != 415 {
		t.Fatalf("gzip body signed over its JSON: %d %s, want 415", st, body)
	}
	// Signed over the gzip bytes.
	hdr["X-Line-Signature"] = line.Sign(c.ch.secret, zb.Bytes())
	if st, _, body := e.do("POST", "/webhook/"+c.key, hdr, zb.Bytes()); st != 415 {
		t.Fatalf("gzip body signed as sent: %d %s, want 415", st, body)
	}

	// A small body that would inflate past the webhook limit.
	var bomb bytes.Buffer
	bw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	bw.Write(bytes.Repeat([]byte{' '}, 4<<20))
	bw.Close()
	hdr["X-Line-Signature"] = line.Sign("wrong", bomb.Bytes())
	if st, _, body := e.do("POST", "/webhook/"+c.key, hdr, bomb.Bytes()); st != 415 {
		t.Fatalf("gzip bomb: %d %s, want 415", st, body)
	}
	if is := e.inbox(c); is.Total != 0 {
		t.Fatalf("stored %d events from compressed bodies", is.Total)
	}
	// The same event uncompressed is taken.
	if st := e.webhook(c.key, c.ch.secret, plain); st != 200 {
		t.Fatalf("the same body uncompressed: %d", st)
	}
}

// TestConnectionLifecycle walks one connection through the API, checking
// every answer for secrets (env.do) on the way.
func TestConnectionLifecycle(t *testing.T) {
	e := newEnv(t, envOpts{})
	// HubSpot first, through the API.
	if st, out := e.api("PUT", "/api/v1/hubspot", map[string]string{"token": hubspotToken, "tier": "starter"}); st != 200 {
		t.Fatalf("PUT hubspot: %d %v", st, out)
	}
	a := e.createConn("A", true, true)
	b := e.createConn("B", true, true)
	if a.serial != 1 || b.serial != 2 {
		t.Fatalf("serials %d %d", a.serial, b.serial)
	}
	if st, out := e.api("POST", "/api/v1/connections", map[string]string{"name": "C"}); st != 409 {
		t.Fatalf("third: %d %v", st, out)
	}
	// Raising the tier lifts the limit at once.
	if st, out := e.api("PUT", "/api/v1/hubspot", map[string]string{"token": hubspotToken, "tier": "professional"}); st != 200 || out["max_connections"] != float64(10) {
		t.Fatalf("PUT professional: %d %v", st, out)
	}
	c := e.createConn("C", true, true)
	if c.serial != 3 {
		t.Fatalf("serial %d", c.serial)
	}
	if st, _ := e.api("DELETE", "/api/v1/connections/"+c.id, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st, _ := e.api("DELETE", "/api/v1/connections/"+b.id, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	d := e.createConn("D", true, true)
	if d.serial != 4 {
		t.Fatalf("serial after deleting 2 and 3: %d, want 4", d.serial)
	}
	st, out := e.api("GET", "/api/v1/connections", nil)
	if st != 200 {
		t.Fatal(st)
	}
	var serials []float64
	for _, x := range out["connections"].([]any) {
		serials = append(serials, x.(map[string]any)["serial"].(float64))
	}
	if !slices.Equal(serials, []float64{1, 4}) {
		t.Fatalf("serials listed %v", serials)
	}
	// The properties of deleted serials stay in HubSpot.
	for _, n := range []int{1, 2, 3, 4} {
		if _, ok := e.hs.Property(fmt.Sprintf("line_follow_%d", n)); !ok {
			t.Errorf("line_follow_%d missing in HubSpot", n)
		}
	}
}

// TestFriendsPaging makes friends by delivering signed webhooks through the
// app, applies them, and pages through them.
func TestFriendsPaging(t *testing.T) {
	e := newEnv(t, configured)
	c := e.createConn("Shop", true, true)
	other := e.createConn("Other", true, true)
	var ids []string
	now := time.Now().Add(-time.Hour)
	var evs []json.RawMessage
	for i := range 5 {
		uid := linetest.NewUserID()
		ids = append(ids, uid)
		e.ln.AddFriend(c.ch.token, line.Profile{UserID: uid, DisplayName: fmt.Sprintf("Friend %d", i)})
		evs = append(evs, linetest.FollowEvent(uid, false, now.Add(time.Duration(i)*time.Second)))
	}
	e.deliver(c, evs...)
	e.deliver(other, linetest.FollowEvent(linetest.NewUserID(), false, now))

	var seen []string
	after := ""
	pages := 0
	for {
		path := "/api/v1/connections/" + c.id + "/friends?limit=2"
		if after != "" {
			path += "&after=" + after
		}
		st, out := e.api("GET", path, nil)
		if st != 200 {
			t.Fatalf("%s: %d %v", path, st, out)
		}
		pages++
		fs := out["friends"].([]any)
		for _, f := range fs {
			m := f.(map[string]any)
			seen = append(seen, m["user_id"].(string))
			if m["following"] != true || !strings.HasPrefix(m["display_name"].(string), "Friend ") || m["synced"] != false {
				t.Errorf("friend %v", m)
			}
		}
		after = out["next"].(string)
		if after == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	// Pages follow the friend id; friends applied in one batch may get
	// their ids in any order, so compare as sets without repeats.
	if pages != 3 || !slices.Equal(slices.Sorted(slices.Values(seen)), slices.Sorted(slices.Values(ids))) {
		t.Fatalf("%d pages, friends %v, want %v", pages, seen, ids)
	}
	// An exact last page ends with a cursor that then gives an empty page.
	st, out := e.api("GET", "/api/v1/connections/"+c.id+"/friends?limit=5", nil)
	if st != 200 || len(out["friends"].([]any)) != 5 {
		t.Fatalf("limit=5: %d %v", st, out)
	}
	if next := out["next"].(string); next != "" {
		st, out = e.api("GET", "/api/v1/connections/"+c.id+"/friends?limit=5&after="+next, nil)
		if st != 200 || len(out["friends"].([]any)) != 0 || out["next"] != "" {
			t.Fatalf("after the last page: %d %v", st, out)
		}
	}
	// Connection detail counts them.
	_, detail := e.api("GET", "/api/v1/connections/"+c.id, nil)
	if fr := detail["friends"].(map[string]any); fr["total"] != float64(5) || fr["following"] != float64(5) {
		t.Fatalf("friend stats %v", fr)
	}
	if detail["last_event_at"] == nil {
		t.Fatal("last_event_at not set after webhooks")
	}
}
