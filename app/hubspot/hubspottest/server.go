// Package hubspottest is an in-memory HubSpot for tests and development: a
// real HTTP server that speaks the 2026-03 date-versioned CRM API the way
// HubSpot documents it, for the endpoints linehub uses.
//
// What it reproduces, and where that was checked
// (developers.hubspot.com/docs/api-reference/2026-03/... unless noted):
//
//   - Bearer auth; 401 INVALID_AUTHENTICATION body for a missing or wrong token
//     (error-handling).
//   - Error bodies {"status":"error","message","correlationId","category",
//     "context","errors"} (error-handling).
//   - GET /account-info/2026-03/details (account/account-information/get-account-details).
//   - Property groups and properties: create, read, list, batch create, batch
//     read under /crm/properties/2026-03/contacts; 409 for a name that exists
//     (crm/properties/..., legacy property docs for the 409).
//   - Contacts: create, read, batch create/update/upsert/read, search under
//     /crm/objects/2026-03/contacts (crm/objects/contacts/guide, batch/*,
//     crm/search-the-crm). Batches over 100 inputs are refused with 400.
//   - Property values are validated against the definitions; one bad value
//     rejects the whole batch with 400 VALIDATION_ERROR "Property values were
//     not valid: [...]" (INVALID_OPTION, PROPERTY_DOESNT_EXIST, ...), as
//     HubSpot's batch endpoints do.
//   - Batch create with an objectWriteTraceId on every input answers 207
//     multi-status with per-input errors (error-handling, "Multi-status
//     errors"); without trace ids a conflict is 409 CONFLICT "Contact already
//     exists. Existing ID: N" naming only the first one (HubSpot SDK issues
//     hubspot-api-python#51, hubspot-api-nodejs#545).
//   - Deleted (archived) contacts are OBJECT_NOT_FOUND: batch read and update
//     answer 207 with an error {"category":"OBJECT_NOT_FOUND","message":"Could
//     not get some CONTACT objects, they may be deleted or not exist. Check
//     that ids are valid.","context":{"ids":[...]}} (HubSpot community thread
//     "Question about using batch read API"); the other inputs are written.
//     HubSpot does not document the update case; Options.RejectMissingIDs
//     makes the double refuse the whole batch instead, so clients can be
//     tested against both readings.
//   - Emails are stored lowercased and unique among live contacts; datetime
//     values are accepted as epoch milliseconds or ISO-8601 and returned as
//     ISO-8601 UTC with milliseconds; date values as YYYY-MM-DD.
//   - Rate limits (developer-tooling/platform/usage-guidelines; changelog
//     "Increasing our API limits"): a rolling window of RatePer10s requests with
//     X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds on every
//     response (-Daily/-Daily-Remaining when a daily limit is set), 429 bodies
//     with errorType RATE_LIMIT and policyName TEN_SECONDLY_ROLLING, SECONDLY
//     (search) or DAILY; the daily count resets at midnight in the account's
//     time zone.
//   - Batch read with propertiesWithHistory (crm/objects/objects/batch/get-objects):
//     each property's versions newest first as {"value","timestamp",
//     "sourceType","sourceId"}; API writes are recorded as INTEGRATION,
//     EditContact as CRM_UI (EditContactAs picks another source).
//
// Lists (search, memberships): see lists.go. Notes with their contact
// association, read back by id and through the contact's associations:
// see notes.go. Merges (the merge endpoint, old ids reading as the merged
// record, MergeContacts for a person's merge in the UI): see merge.go.
//
// Not reproduced: associations other than note ↔ contact,
// sorts, the exact wording of messages
// HubSpot does not document.
package hubspottest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Server.
type Options struct {
	Token    string // the only accepted bearer token
	PortalID int64  // default 1234567
	// RatePer10s is the burst limit: requests per Window. 0 keeps the
	// default of 100, -1 disables the limit.
	RatePer10s int
	// SearchPerSec is the search limit per SearchWindow; 0 keeps the
	// default of 5, -1 disables it.
	SearchPerSec int
	DailyLimit   int    // requests per day; 0 = none
	TimeZone     string // account time zone, default "UTC"

	// Window is the rolling window of RatePer10s (default 10 s) and
	// SearchWindow that of SearchPerSec (default 1 s); tests shorten them.
	Window       time.Duration
	SearchWindow time.Duration
	// RejectMissingIDs makes a batch update that names a deleted or unknown
	// id fail as a whole (404 OBJECT_NOT_FOUND listing the ids) instead of
	// answering 207 and writing the others.
	RejectMissingIDs bool
	// RefuseMergedWrites makes a batch update refuse an id merged into
	// another contact as OBJECT_NOT_FOUND (HubSpot documents reads of such
	// ids, not writes; see merge.go) instead of writing the merged record,
	// and a note batch associating a note with such an id as it refuses
	// one with a deleted contact.
	RefuseMergedWrites bool
	// DisableMultiStatus makes batch create ignore objectWriteTraceId and
	// refuse the whole batch for one bad input (400) or one existing email
	// (409), as HubSpot does for clients that do not opt in.
	DisableMultiStatus bool
	// AssociationsPage is how many associations of one object an
	// associations batch read returns before it pages (default 500; tests
	// make it small to exercise paging).
	AssociationsPage int
	// Scopes, when not nil, are the scopes the token was granted: calls
	// to the lists API without crm.lists.read answer 403 MISSING_SCOPES.
	Scopes []string
}

// Server is the fake HubSpot. All methods are safe for concurrent use.
type Server struct {
	opts Options
	loc  *time.Location
	mux  *http.ServeMux

	ln   net.Listener
	http *http.Server
	url  string

	mu          sync.Mutex
	token       string
	fault       func(*http.Request) (int, string, bool)
	requests    int
	byPath      map[string]int
	rateLimited int
	arrivals    []time.Time
	searches    []time.Time
	day         string
	dayCount    int

	groups     map[string]*PropertyGroup
	groupOrder []string
	props      map[string]*Property
	propOrder  []string
	contacts   map[string]*contactRec
	byEmail    map[string]string
	nextID     int64
	lists      listsState // lists.go
	merges     mergeState // merge.go
}

// New starts a Server on 127.0.0.1 on a free port. It panics if it cannot
// listen, like httptest.NewServer.
func New(opts Options) *Server {
	s, err := NewOn("127.0.0.1:0", opts)
	if err != nil {
		panic(fmt.Sprintf("hubspottest: %v", err))
	}
	return s
}

// NewOn starts a Server listening on addr (e.g. "127.0.0.1:8090").
func NewOn(addr string, opts Options) (*Server, error) {
	s := newServer(opts)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

func newServer(opts Options) *Server {
	if opts.PortalID == 0 {
		opts.PortalID = 1234567
	}
	if opts.RatePer10s == 0 {
		opts.RatePer10s = 100
	}
	if opts.SearchPerSec == 0 {
		opts.SearchPerSec = 5
	}
	if opts.Window <= 0 {
		opts.Window = 10 * time.Second
	}
	if opts.SearchWindow <= 0 {
		opts.SearchWindow = time.Second
	}
	if opts.TimeZone == "" {
		opts.TimeZone = "UTC"
	}
	loc, err := time.LoadLocation(opts.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	s := &Server{
		opts:     opts,
		loc:      loc,
		token:    opts.Token,
		byPath:   map[string]int{},
		groups:   map[string]*PropertyGroup{},
		props:    map[string]*Property{},
		contacts: map[string]*contactRec{},
		byEmail:  map[string]string{},
		merges:   mergeState{into: map[string]string{}},
		nextID:   1001,
	}
	s.seedDefaults()
	s.routes()
	return s
}

// URL is the base URL to give a client, e.g. "http://127.0.0.1:41234".
func (s *Server) URL() string { return s.url }

// Handler serves the fake API without the network, e.g. for httptest.
func (s *Server) Handler() http.Handler { return s }

// Close stops the server at once, dropping open connections: a test double
// has no requests worth draining.
func (s *Server) Close() {
	if s.http != nil {
		_ = s.http.Close()
	}
}

// SetToken changes the accepted bearer token (a rotated or revoked token).
func (s *Server) SetToken(t string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = t
}

// SetFault installs f, consulted first for every request: when it returns
// ok, the request is answered with status and body and goes no further. nil
// clears it.
func (s *Server) SetFault(f func(r *http.Request) (status int, body string, ok bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Requests is the number of requests received, rejected ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RequestsByPath counts requests by "METHOD /path".
func (s *Server) RequestsByPath() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.byPath))
	for k, v := range s.byPath {
		out[k] = v
	}
	return out
}

// RateLimited is the number of 429 answers sent.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited
}

// ResetCounters zeroes Requests, RequestsByPath and RateLimited. The rate
// windows and the daily count are left alone: HubSpot does not forget.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.rateLimited = 0, 0
	s.byPath = map[string]int{}
}

// ServeHTTP applies what every HubSpot endpoint shares (auth, limits,
// headers) and then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	s.requests++
	s.byPath[r.Method+" "+r.URL.Path]++
	fault := s.fault
	s.mu.Unlock()

	if fault != nil {
		if status, body, ok := fault(r); ok {
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
	}
	if !s.authorized(r) {
		s.writeError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION",
			"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview", nil)
		return
	}
	search := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/search")
	if rejected := s.admit(w, now, search); rejected {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<20)
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	s.mu.Lock()
	token := s.token
	s.mu.Unlock()
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && token != "" && got == token
}

// admit counts the request against the daily limit, the search limit and
// the rolling window, sets the rate-limit headers and answers 429 when a
// limit is reached. Rejected requests are not counted, so a client that
// backs off gets through again once the window has rolled on.
func (s *Server) admit(w http.ResponseWriter, now time.Time, search bool) (rejected bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.opts
	s.arrivals = pruneBefore(s.arrivals, now.Add(-o.Window))
	s.searches = pruneBefore(s.searches, now.Add(-o.SearchWindow))
	if day := now.In(s.loc).Format(time.DateOnly); day != s.day {
		s.day, s.dayCount = day, 0
	}

	policy := ""
	switch {
	case o.DailyLimit > 0 && s.dayCount >= o.DailyLimit:
		policy = "DAILY"
	case search && o.SearchPerSec > 0 && len(s.searches) >= o.SearchPerSec:
		policy = "SECONDLY"
	case o.RatePer10s > 0 && len(s.arrivals) >= o.RatePer10s:
		policy = "TEN_SECONDLY_ROLLING"
	}
	if policy == "" {
		s.arrivals = append(s.arrivals, now)
		if search {
			s.searches = append(s.searches, now)
		}
		s.dayCount++
	}

	h := w.Header()
	if o.RatePer10s > 0 {
		h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(o.RatePer10s))
		h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(max(0, o.RatePer10s-len(s.arrivals))))
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(o.Window.Milliseconds(), 10))
	}
	if o.DailyLimit > 0 {
		h.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(o.DailyLimit))
		h.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(max(0, o.DailyLimit-s.dayCount)))
	}
	if policy == "" {
		return false
	}
	s.rateLimited++
	body := map[string]any{
		"status":        "error",
		"errorType":     "RATE_LIMIT",
		"correlationId": newCorrelationID(),
		"policyName":    policy,
		"requestId":     newCorrelationID(),
	}
	switch policy {
	case "DAILY":
		body["message"] = "You have reached your daily limit."
	case "SECONDLY":
		body["message"] = "You have reached your secondly limit."
	default:
		body["message"] = "You have reached your ten_secondly_rolling limit."
		body["groupName"] = fmt.Sprintf("privateapp:%d", o.PortalID)
	}
	writeJSON(w, http.StatusTooManyRequests, body)
	return true
}

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	return append(ts[:0], ts[i:]...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes HubSpot's error body; extra adds fields such as
// "context" or "errors".
func (s *Server) writeError(w http.ResponseWriter, status int, category, message string, extra map[string]any) {
	body := map[string]any{
		"status":        "error",
		"message":       message,
		"correlationId": newCorrelationID(),
	}
	if category != "" {
		body["category"] = category
	}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}

// decode reads a JSON request body, answering 400 as HubSpot does for
// malformed input.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeError(w, http.StatusRequestEntityTooLarge, "VALIDATION_ERROR", "Request body too large", nil)
			return false
		}
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON: "+err.Error(), nil)
		return false
	}
	return true
}

func newCorrelationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// hsTime formats times as HubSpot does: ISO-8601, UTC, milliseconds.
func hsTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
