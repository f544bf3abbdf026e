package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Contact is a HubSpot contact as returned by the API.
type Contact struct {
	ID         string
	Properties map[string]string // properties HubSpot returned; null values are left out
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Archived   bool
	New        bool // created by this call (create, or upsert that found no contact)
}

// ContactInput is one contact to write. Ref is the caller's correlation key:
// it is never sent and comes back as the key of every per-input result, so
// it should be unique within one call. ID is the contact id (update); Email
// identifies the contact for create and upsert and is also written to the
// email property.
type ContactInput struct {
	Ref        string
	ID         string
	Email      string
	Properties map[string]string
}

// ItemFailure is an input HubSpot rejected on its own (the others of its
// batch went through).
type ItemFailure struct {
	Ref      string
	Status   int
	Category string
	Message  string
}

// BatchResult says what became of every input of a batch call: each Ref is
// in exactly one of Contacts, NotFound, Conflicts or Failed.
type BatchResult struct {
	Contacts  map[string]Contact // by Ref; for an update, the ID is the one HubSpot answered (a merged contact's new id when the input's was merged away)
	NotFound  []string           // Refs whose contact id no longer exists (deleted in HubSpot); update only
	Conflicts map[string]string  // Ref → id of the contact that already has the email; create only
	Failed    []ItemFailure      // inputs HubSpot rejected individually (e.g. an invalid property value)
}

func newBatchResult() BatchResult {
	return BatchResult{Contacts: map[string]Contact{}, Conflicts: map[string]string{}}
}

// BatchCreateContacts creates contacts, any number of them, in requests of at
// most 100. An email that already belongs to a contact ends up in Conflicts
// with that contact's id. The error is only for failures of the whole call
// (token, daily limit, network after retries, ctx); the result then holds
// what was written before it.
func (c *Client) BatchCreateContacts(ctx context.Context, in []ContactInput) (BatchResult, error) {
	return c.runBatch(ctx, kindCreate, in)
}

// BatchUpsertContactsByEmail creates or updates contacts by email; Contact.New
// tells which were created.
func (c *Client) BatchUpsertContactsByEmail(ctx context.Context, in []ContactInput) (BatchResult, error) {
	return c.runBatch(ctx, kindUpsert, in)
}

// BatchUpdateContacts updates contacts by id. Ids that HubSpot refuses as
// not found end up in NotFound: the contact was deleted, or (HubSpot does
// not document which) merged into another; ResolveContactIDs tells them
// apart. The others are written.
func (c *Client) BatchUpdateContacts(ctx context.Context, in []ContactInput) (BatchResult, error) {
	return c.runBatch(ctx, kindUpdate, in)
}

type batchKind int

const (
	kindCreate batchKind = iota
	kindUpsert
	kindUpdate
)

func (k batchKind) action() string {
	switch k {
	case kindCreate:
		return "create"
	case kindUpsert:
		return "upsert"
	default:
		return "update"
	}
}

type item struct {
	ref   string
	key   string // lowercased email (create, upsert) or contact id (update)
	trace string
	props map[string]string
}

type batchRun struct {
	c    *Client
	kind batchKind
	res  *BatchResult
	done map[*item]bool
}

func (c *Client) runBatch(ctx context.Context, kind batchKind, in []ContactInput) (BatchResult, error) {
	res := newBatchResult()
	run := &batchRun{c: c, kind: kind, res: &res, done: map[*item]bool{}}
	var items []*item
	for _, x := range in {
		it := &item{ref: x.Ref, trace: c.nextTrace(), props: make(map[string]string, len(x.Properties)+1)}
		for k, v := range x.Properties {
			it.props[k] = v
		}
		switch kind {
		case kindUpdate:
			it.key = strings.TrimSpace(x.ID)
			if it.key == "" {
				run.fail(it, 0, "INVALID_INPUT", "contact id is required for an update")
				continue
			}
		default:
			email := strings.TrimSpace(x.Email)
			if email == "" {
				run.fail(it, 0, "INVALID_INPUT", "email is required to "+kind.action()+" a contact")
				continue
			}
			it.key = strings.ToLower(email)
			it.props["email"] = email
		}
		items = append(items, it)
	}
	// An email or id twice in one request is ambiguous at best (HubSpot
	// rejects duplicate ids), so repeats go to later rounds: a second create
	// of an email then reports the first one's contact as a conflict.
	for _, round := range rounds(items) {
		for chunk := range slices.Chunk(round, maxBatchInputs) {
			if err := run.writeGroup(ctx, chunk); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

func rounds(items []*item) [][]*item {
	var out [][]*item
	var seen []map[string]bool
	for _, it := range items {
		r := 0
		for r < len(out) && seen[r][it.key] {
			r++
		}
		if r == len(out) {
			out = append(out, nil)
			seen = append(seen, map[string]bool{})
		}
		out[r] = append(out[r], it)
		seen[r][it.key] = true
	}
	return out
}

type batchInputJSON struct {
	ID                 string            `json:"id,omitempty"`
	IDProperty         string            `json:"idProperty,omitempty"`
	Properties         map[string]string `json:"properties"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId,omitempty"`
}

func (r *batchRun) body(group []*item) any {
	in := make([]batchInputJSON, 0, len(group))
	for _, it := range group {
		b := batchInputJSON{Properties: it.props, ObjectWriteTraceID: it.trace}
		switch r.kind {
		case kindUpdate:
			b.ID = it.key
		case kindUpsert:
			b.ID, b.IDProperty = it.key, "email"
		}
		in = append(in, b)
	}
	return struct {
		Inputs []batchInputJSON `json:"inputs"`
	}{in}
}

// writeGroup sends one batch of at most 100 inputs and makes sure every input
// ends up somewhere in the result. When HubSpot rejects the batch because of
// some of its inputs, it uses what the error body names (ids not found, an
// existing email) and otherwise splits the batch in halves until the culprits
// stand alone, so one bad input costs about 2·log2(n) extra requests instead
// of the whole batch.
func (r *batchRun) writeGroup(ctx context.Context, group []*item) error {
	if len(group) == 0 {
		return nil
	}
	path := objectsBatchPath(contactsObject, r.kind.action())
	resp, err := r.c.do(ctx, http.MethodPost, path, r.body(group), callOpts{})
	if err != nil {
		return fmt.Errorf("batch %s contacts: %w", r.kind.action(), err)
	}
	if resp.ok() {
		br, err := parseBatchResponse(resp.body)
		if err != nil {
			return fmt.Errorf("batch %s contacts: %w", r.kind.action(), err)
		}
		rest := r.absorb(group, br)
		switch {
		case len(rest) == 0:
			return nil
		case len(rest) < len(group):
			return r.writeGroup(ctx, rest)
		}
		for _, it := range rest {
			r.fail(it, resp.status, "", "HubSpot's answer has no result for this input")
		}
		return nil
	}

	apiErr := resp.apiError()
	if r.kind == kindUpdate && apiErr.Category == categoryObjectNotFound {
		if rest := r.markNotFound(group, apiErr.Context["ids"]); len(rest) < len(group) {
			return r.writeGroup(ctx, rest)
		}
	}
	if r.kind == kindCreate && apiErr.isConflict() {
		rest, err := r.resolveConflicts(ctx, group)
		if err != nil {
			return err
		}
		if len(rest) < len(group) {
			return r.writeGroup(ctx, rest)
		}
	}
	if !bisectable(resp.status) {
		return fmt.Errorf("batch %s contacts: %w", r.kind.action(), apiErr)
	}
	if len(group) == 1 {
		r.recordRejected(group[0], apiErr)
		return nil
	}
	r.c.log.Debug("batch rejected; splitting", "action", r.kind.action(), "size", len(group), "status", resp.status, "category", apiErr.Category)
	mid := len(group) / 2
	if err := r.writeGroup(ctx, group[:mid]); err != nil {
		return err
	}
	return r.writeGroup(ctx, group[mid:])
}

// bisectable says whether a rejected batch may be HubSpot objecting to some
// of its inputs rather than to the call itself (a missing scope, a wrong
// path). A 404 is never split: without ids to blame it is more likely a bad
// path than a hundred deleted contacts.
func bisectable(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

func (r *batchRun) recordRejected(it *item, e *APIError) {
	switch {
	case r.kind == kindCreate && e.isConflict():
		if id, ok := e.ExistingID(); ok {
			r.conflict(it, id)
			return
		}
	case r.kind == kindUpdate && e.Category == categoryObjectNotFound:
		r.notFound(it)
		return
	}
	r.fail(it, e.Status, e.Category, e.Message)
}

// absorb records results and per-input errors of a 2xx (200, 201 or 207
// multi-status) answer and returns the inputs it says nothing about.
func (r *batchRun) absorb(group []*item, br batchResponse) []*item {
	byTrace := make(map[string]*item, len(group))
	byKey := make(map[string]*item, len(group))
	for _, it := range group {
		byTrace[it.trace] = it
		byKey[it.key] = it
	}
	for _, o := range br.Results {
		it := byTrace[o.traceID]
		if it == nil {
			if r.kind == kindUpdate {
				it = byKey[o.contact.ID]
				// A write to a merged-away id answers with the merged
				// contact's id; without a trace id only its merged ids
				// (when returned) tie it to the input.
				for _, m := range o.contact.MergedIDs() {
					if it == nil {
						it = byKey[m]
					}
				}
			} else {
				it = byKey[strings.ToLower(o.contact.Properties["email"])]
			}
		}
		if it == nil || r.done[it] {
			continue
		}
		ct := o.contact
		ct.New = r.kind == kindCreate || (r.kind == kindUpsert && o.isNew)
		r.res.Contacts[it.ref] = ct
		r.done[it] = true
	}
	for _, e := range br.Errors {
		var targets []*item
		for _, t := range e.Context["objectWriteTraceId"] {
			if it := byTrace[t]; it != nil {
				targets = append(targets, it)
			}
		}
		if r.kind == kindUpdate && e.Category == categoryObjectNotFound {
			for _, id := range e.Context["ids"] {
				if it := byKey[id]; it != nil {
					targets = append(targets, it)
				}
			}
		}
		for _, it := range targets {
			if r.done[it] {
				continue
			}
			switch {
			case r.kind == kindUpdate && e.Category == categoryObjectNotFound:
				r.notFound(it)
			case r.kind == kindCreate && isConflictCategory(e.Category):
				if id, ok := existingID(e.Message); ok {
					r.conflict(it, id)
				} else {
					r.fail(it, http.StatusConflict, e.Category, e.Message)
				}
			default:
				r.fail(it, categoryStatus(e.Category), e.Category, e.Message)
			}
		}
	}
	var rest []*item
	for _, it := range group {
		if !r.done[it] {
			rest = append(rest, it)
		}
	}
	return rest
}

func (r *batchRun) markNotFound(group []*item, ids []string) []*item {
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	var rest []*item
	for _, it := range group {
		if gone[it.key] {
			r.notFound(it)
		} else {
			rest = append(rest, it)
		}
	}
	return rest
}

// resolveConflicts finds, with one read by email, which inputs of a create
// rejected with 409 already have a contact: HubSpot's conflict message names
// only the first existing id, and not which input it belongs to.
func (r *batchRun) resolveConflicts(ctx context.Context, group []*item) ([]*item, error) {
	emails := make([]string, len(group))
	for i, it := range group {
		emails[i] = it.key
	}
	found, _, err := r.c.readContacts(ctx, emails, []string{"email"}, "email")
	if err != nil {
		return nil, fmt.Errorf("batch create contacts: look up existing emails: %w", err)
	}
	existing := make(map[string]string, len(found))
	for _, ct := range found {
		existing[strings.ToLower(ct.Properties["email"])] = ct.ID
	}
	var rest []*item
	for _, it := range group {
		if id, ok := existing[it.key]; ok {
			r.conflict(it, id)
		} else {
			rest = append(rest, it)
		}
	}
	return rest, nil
}

func (r *batchRun) fail(it *item, status int, category, msg string) {
	r.res.Failed = append(r.res.Failed, ItemFailure{Ref: it.ref, Status: status, Category: category, Message: msg})
	r.done[it] = true
}

func (r *batchRun) notFound(it *item) {
	r.res.NotFound = append(r.res.NotFound, it.ref)
	r.done[it] = true
}

func (r *batchRun) conflict(it *item, id string) {
	r.res.Conflicts[it.ref] = id
	r.done[it] = true
}

func categoryStatus(category string) int {
	switch category {
	case categoryObjectNotFound:
		return http.StatusNotFound
	case categoryConflict, categoryObjectAlreadyExists:
		return http.StatusConflict
	default:
		return http.StatusBadRequest
	}
}

// BatchReadContacts reads contacts by id, in requests of at most 100. found
// is keyed by the id HubSpot returns (for a merged contact that is the id it
// was merged into); notFound lists ids that are deleted or never existed.
func (c *Client) BatchReadContacts(ctx context.Context, ids []string, props []string) (found map[string]Contact, notFound []string, err error) {
	return c.readContacts(ctx, ids, props, "")
}

// BatchReadContactsByEmail reads contacts by email address (HubSpot's
// idProperty "email"); found is keyed by contact id.
func (c *Client) BatchReadContactsByEmail(ctx context.Context, emails []string, props []string) (found map[string]Contact, notFound []string, err error) {
	return c.readContacts(ctx, emails, props, "email")
}

func (c *Client) readContacts(ctx context.Context, ids []string, props []string, idProperty string) (map[string]Contact, []string, error) {
	found := map[string]Contact{}
	var notFound []string
	uniq := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	for chunk := range slices.Chunk(uniq, maxBatchInputs) {
		nf, err := c.readChunk(ctx, chunk, props, idProperty, found)
		if err != nil {
			return found, notFound, err
		}
		notFound = append(notFound, nf...)
	}
	return found, notFound, nil
}

func (c *Client) readChunk(ctx context.Context, ids, props []string, idProperty string, found map[string]Contact) ([]string, error) {
	if props == nil {
		props = []string{}
	}
	return c.batchRead(ctx, "batch read contacts", ids, func(ids []string) any {
		return struct {
			Inputs     []idJSON `json:"inputs"`
			Properties []string `json:"properties"`
			IDProperty string   `json:"idProperty,omitempty"`
		}{Inputs: idInputs(ids), Properties: props, IDProperty: idProperty}
	}, func(body []byte) ([]string, error) {
		br, err := parseBatchResponse(body)
		if err != nil {
			return nil, err
		}
		for _, o := range br.Results {
			found[o.contact.ID] = o.contact
		}
		var notFound []string
		for _, e := range br.Errors {
			if e.Category == categoryObjectNotFound {
				notFound = append(notFound, e.Context["ids"]...)
			}
		}
		return notFound, nil
	})
}

type idJSON struct {
	ID string `json:"id"`
}

func idInputs(ids []string) []idJSON {
	in := make([]idJSON, len(ids))
	for i, id := range ids {
		in[i] = idJSON{id}
	}
	return in
}

// batchRead posts one contacts batch read of at most 100 ids: body builds
// the request for a set of ids and parse takes a 2xx answer, returning the
// ids it reports missing. HubSpot may instead refuse the whole batch
// because it names missing ids; those are reported as not found and the
// rest is read again. what prefixes errors.
func (c *Client) batchRead(ctx context.Context, what string, ids []string, body func([]string) any, parse func([]byte) ([]string, error)) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	resp, err := c.do(ctx, http.MethodPost, objectsBatchPath(contactsObject, "read"), body(ids), callOpts{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !resp.ok() {
		apiErr := resp.apiError()
		gone := apiErr.Context["ids"]
		if apiErr.Category != categoryObjectNotFound || len(gone) == 0 {
			return nil, fmt.Errorf("%s: %w", what, apiErr)
		}
		var rest []string
		isGone := make(map[string]bool, len(gone))
		for _, id := range gone {
			isGone[id] = true
		}
		for _, id := range ids {
			if !isGone[id] {
				rest = append(rest, id)
			}
		}
		// No progress means the refusal was not about these ids after all.
		if len(rest) == len(ids) {
			return nil, fmt.Errorf("%s: %w", what, apiErr)
		}
		more, err := c.batchRead(ctx, what, rest, body, parse)
		return append(gone, more...), err
	}
	notFound, err := parse(resp.body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return notFound, nil
}

// SearchRequest is a contact search; all filters must match (one HubSpot
// filter group). Groups, when set, are further filter groups: a contact
// matches when all filters of any one group (Filters counting as one)
// match, as HubSpot ORs filterGroups (at most 5 of them, 6 filters each).
type SearchRequest struct {
	Filters    []Filter
	Groups     [][]Filter
	Properties []string
	Limit      int    // 1..200, default 100
	After      string // paging cursor from SearchResult.After
}

// Filter is one search condition. Operators: EQ, NEQ, IN, NOT_IN,
// HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, LT, LTE, GT, GTE, ...
// For IN and NOT_IN put the values in Values (or comma-separated in Value).
type Filter struct {
	PropertyName string
	Operator     string
	Value        string
	Values       []string
}

// SearchResult is one page of a search.
type SearchResult struct {
	Total    int
	Contacts []Contact
	After    string // "" on the last page
}

// HubSpot's search limits (crm/search-the-crm).
const (
	maxSearchPage    = 200
	maxSearchResults = 10000
)

type filterJSON struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        string   `json:"value,omitempty"`
	Values       []string `json:"values,omitempty"`
}

// SearchContacts runs one page of a contact search. It has its own budget of
// 5 requests per second on top of the general one. HubSpot serves at most
// 10,000 results per query; asking past that is refused here without a
// request.
func (c *Client) SearchContacts(ctx context.Context, req SearchRequest) (SearchResult, error) {
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxSearchPage)
	if off, err := strconv.Atoi(req.After); err == nil && off+limit > maxSearchResults {
		if off >= maxSearchResults {
			return SearchResult{}, fmt.Errorf("hubspot: search cannot page past %d results", maxSearchResults)
		}
		limit = maxSearchResults - off
	}
	type groupJSON struct {
		Filters []filterJSON `json:"filters"`
	}
	in := struct {
		FilterGroups []groupJSON `json:"filterGroups"`
		Properties   []string    `json:"properties,omitempty"`
		Limit        int         `json:"limit"`
		After        string      `json:"after,omitempty"`
	}{Properties: req.Properties, Limit: limit, After: req.After}
	for _, group := range append([][]Filter{req.Filters}, req.Groups...) {
		filters := make([]filterJSON, 0, len(group))
		for _, f := range group {
			fj := filterJSON(f)
			if (f.Operator == "IN" || f.Operator == "NOT_IN") && len(fj.Values) == 0 && f.Value != "" {
				fj.Values, fj.Value = strings.Split(f.Value, ","), ""
			}
			filters = append(filters, fj)
		}
		if len(filters) > 0 {
			in.FilterGroups = append(in.FilterGroups, groupJSON{filters})
		}
	}
	path := objectsSearchPath(contactsObject)
	resp, err := c.do(ctx, http.MethodPost, path, in, callOpts{search: true})
	if err != nil {
		return SearchResult{}, fmt.Errorf("search contacts: %w", err)
	}
	if err := expect(resp, http.MethodPost, path); err != nil {
		return SearchResult{}, fmt.Errorf("search contacts: %w", err)
	}
	var out struct {
		Total   int               `json:"total"`
		Results []json.RawMessage `json:"results"`
		Paging  *struct {
			Next *struct {
				After string `json:"after"`
			} `json:"next"`
		} `json:"paging"`
	}
	if err := resp.decode(&out); err != nil {
		return SearchResult{}, fmt.Errorf("search contacts: %w", err)
	}
	res := SearchResult{Total: out.Total}
	for _, raw := range out.Results {
		o, err := parseObject(raw)
		if err != nil {
			return SearchResult{}, fmt.Errorf("search contacts: %w", err)
		}
		res.Contacts = append(res.Contacts, o.contact)
	}
	if out.Paging != nil && out.Paging.Next != nil {
		res.After = out.Paging.Next.After
	}
	return res, nil
}

// CreateContact creates one contact. An email that already exists gives an
// error from which ConflictID extracts the existing contact's id.
func (c *Client) CreateContact(ctx context.Context, props map[string]string) (Contact, error) {
	path := objectsPath(contactsObject)
	in := struct {
		Properties map[string]string `json:"properties"`
	}{props}
	resp, err := c.do(ctx, http.MethodPost, path, in, callOpts{})
	if err != nil {
		return Contact{}, fmt.Errorf("create contact: %w", err)
	}
	if err := expect(resp, http.MethodPost, path); err != nil {
		return Contact{}, fmt.Errorf("create contact: %w", err)
	}
	o, err := parseObject(resp.body)
	if err != nil {
		return Contact{}, fmt.Errorf("create contact: %w", err)
	}
	o.contact.New = true
	return o.contact, nil
}

// MergeContacts merges the contact idToMerge into primaryID, as a person
// does with Actions → Merge on the primary record: the primary's email,
// name and owner stay current, the other's email becomes an additional
// one, and HubSpot gives the result a new id that both old ids read as.
// It returns the merged record. A merge cannot be undone.
func (c *Client) MergeContacts(ctx context.Context, primaryID, idToMerge string) (Contact, error) {
	path := objectsMergePath(contactsObject)
	in := struct {
		PrimaryObjectID string `json:"primaryObjectId"`
		ObjectIDToMerge string `json:"objectIdToMerge"`
	}{primaryID, idToMerge}
	// Sent once: a merge that HubSpot applied before its answer was lost
	// must not be sent again; the caller reads both ids to find out.
	resp, err := c.do(ctx, http.MethodPost, path, in, callOpts{once: true})
	if err != nil {
		return Contact{}, fmt.Errorf("merge contact %s into %s: %w", idToMerge, primaryID, err)
	}
	if err := expect(resp, http.MethodPost, path); err != nil {
		return Contact{}, fmt.Errorf("merge contact %s into %s: %w", idToMerge, primaryID, err)
	}
	o, err := parseObject(resp.body)
	if err != nil {
		return Contact{}, fmt.Errorf("merge contact %s into %s: %w", idToMerge, primaryID, err)
	}
	return o.contact, nil
}
