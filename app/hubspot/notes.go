package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Timeline notes and finding them again.
//
// HubSpot's notes API has no idempotency key: a batch create whose answer
// is lost (a timeout, a 502 from a proxy, a crash before the answer was
// recorded) may or may not have created the notes, and sending it again
// creates them twice. So every note carries a marker, a random token
// written into its body, and a batch with an unknown outcome is first
// looked for by marker before it is sent again.
//
// Why the body and the contact's associations, and not the alternatives
// the documentation offers:
//
//   - Batch upsert by idProperty (crm/activities/notes/batch/upsert-notes)
//     needs a property with unique values on notes. HubSpot documents
//     unique properties for contacts, companies, deals, tickets and custom
//     objects only (changelog "Unique Properties support for newly created
//     Contact properties"), not for notes, so it cannot be relied on.
//   - The search API (crm/search-the-crm) reads an index that lags writes:
//     a note created a moment ago may not be found, and "not found" would
//     send it again.
//   - The associations batch read (crm/associations/associate-records/
//     batch/get-associations, POST /crm/associations/2026-03/contacts/
//     notes/batch/read, ≤ 1000 inputs, "paging" per input while there are
//     more) and the notes batch read (crm/objects/objects/batch/get-objects
//     for notes) read the records themselves, not the search index: the
//     note ids of a contact and their bodies.
//
// The marker is plain text at the end of the body, so HubSpot's HTML
// sanitising cannot drop it, and is kept when a long body is cut to
// hs_note_body's 65,536 characters.

// Note is one timeline note to create on a contact.
type Note struct {
	ContactID string
	Body      string
	Timestamp time.Time
	// Marker, when set, is written into the body so FindNotes can tell
	// whether the note exists. It must be unique and need no HTML escaping.
	Marker string
}

// maxNoteBody is HubSpot's limit on hs_note_body.
const maxNoteBody = 65536

// noteBody is the body sent: n.Body, cut to fit, then the marker.
func noteBody(n Note) string {
	suffix := ""
	if n.Marker != "" {
		suffix = "<br>linehub ref " + n.Marker
	}
	body := n.Body
	if limit := maxNoteBody - len(suffix); len(body) > limit {
		body = body[:limit]
		for !utf8.ValidString(body) {
			body = body[:len(body)-1]
		}
	}
	return body + suffix
}

// BatchCreateNotes creates notes on contacts, in requests of at most 100,
// and returns the new note ids in input order. On an error the ids of the
// batches that went through are returned with it.
//
// A batch is sent once: rate limits are waited out and retried (HubSpot
// applied nothing), but a lost answer, a network error or a 5xx is returned
// as an error, because HubSpot may have created the notes and a second
// request would create them again. The caller resolves such a batch with
// FindNotes.
func (c *Client) BatchCreateNotes(ctx context.Context, notes []Note) ([]string, error) {
	ids := make([]string, 0, len(notes))
	path := objectsBatchPath(notesObject, "create")
	for start := 0; start < len(notes); start += maxBatchInputs {
		group := notes[start:min(start+maxBatchInputs, len(notes))]
		type assoc struct {
			To    map[string]string `json:"to"`
			Types []map[string]any  `json:"types"`
		}
		type input struct {
			Properties   map[string]string `json:"properties"`
			Associations []assoc           `json:"associations"`
			TraceID      string            `json:"objectWriteTraceId"`
		}
		in := struct {
			Inputs []input `json:"inputs"`
		}{}
		traces := make(map[string]int, len(group))
		for i, n := range group {
			tr := c.nextTrace()
			traces[tr] = i
			in.Inputs = append(in.Inputs, input{
				Properties: map[string]string{"hs_note_body": noteBody(n), "hs_timestamp": strconv.FormatInt(n.Timestamp.UnixMilli(), 10)},
				Associations: []assoc{{
					To:    map[string]string{"id": n.ContactID},
					Types: []map[string]any{{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": noteToContactAssocID}},
				}},
				TraceID: tr,
			})
		}
		// Timeline notes wait for contact writes: the LINE properties are
		// the promise, the notes the history.
		resp, err := c.do(ctx, http.MethodPost, path, in, callOpts{background: true, once: true})
		if err != nil {
			return ids, fmt.Errorf("create notes: %w", err)
		}
		if err := expect(resp, http.MethodPost, path); err != nil {
			return ids, fmt.Errorf("create notes: %w", err)
		}
		var out struct {
			Results []struct {
				ID      string `json:"id"`
				TraceID string `json:"objectWriteTraceId"`
			} `json:"results"`
		}
		if err := resp.decode(&out); err != nil {
			return ids, fmt.Errorf("create notes: %w", err)
		}
		got := make([]string, len(group))
		for k, r := range out.Results {
			if i, ok := traces[r.TraceID]; ok {
				got[i] = r.ID
			} else if k < len(got) && got[k] == "" {
				got[k] = r.ID
			}
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// maxAssocInputs is how many objects one associations batch read asks
// about; HubSpot accepts up to 1000, the notes of 100 contacts are plenty.
const maxAssocInputs = 100

// ContactNoteIDs returns the ids of the notes associated with each contact
// (HUBSPOT_DEFINED contact → note), every page of them. A contact HubSpot
// does not know has none.
func (c *Client) ContactNoteIDs(ctx context.Context, contactIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	path := associationsBatchReadPath(contactsObject, notesObject)
	type input struct {
		ID    string `json:"id"`
		After string `json:"after,omitempty"`
	}
	var todo []input
	for _, id := range contactIDs {
		todo = append(todo, input{ID: id})
	}
	for len(todo) > 0 {
		chunk := todo[:min(maxAssocInputs, len(todo))]
		todo = todo[len(chunk):]
		resp, err := c.do(ctx, http.MethodPost, path, map[string]any{"inputs": chunk}, callOpts{background: true})
		if err != nil {
			return out, fmt.Errorf("read contacts' notes: %w", err)
		}
		if !resp.ok() {
			// Every input unknown answers 404 with the batch error body.
			if apiErr := resp.apiError(); apiErr.Category == categoryObjectNotFound {
				continue
			}
			return out, fmt.Errorf("read contacts' notes: %w", expect(resp, http.MethodPost, path))
		}
		var body struct {
			Results []struct {
				From struct {
					ID json.Number `json:"id"`
				} `json:"from"`
				To []struct {
					ToObjectID json.Number `json:"toObjectId"`
				} `json:"to"`
				Paging *struct {
					Next *struct {
						After string `json:"after"`
					} `json:"next"`
				} `json:"paging"`
			} `json:"results"`
		}
		if err := resp.decode(&body); err != nil {
			return out, fmt.Errorf("read contacts' notes: %w", err)
		}
		for _, r := range body.Results {
			from := r.From.ID.String()
			for _, t := range r.To {
				out[from] = append(out[from], t.ToObjectID.String())
			}
			if r.Paging != nil && r.Paging.Next != nil && r.Paging.Next.After != "" {
				todo = append(todo, input{ID: from, After: r.Paging.Next.After})
			}
		}
	}
	return out, nil
}

// NoteBodies reads hs_note_body of notes by id, in requests of at most
// 100; ids HubSpot does not know (deleted notes) are left out.
func (c *Client) NoteBodies(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	path := objectsBatchPath(notesObject, "read")
	for start := 0; start < len(ids); start += maxBatchInputs {
		chunk := ids[start:min(start+maxBatchInputs, len(ids))]
		resp, err := c.do(ctx, http.MethodPost, path, map[string]any{
			"inputs":     idInputs(chunk),
			"properties": []string{"hs_note_body"},
		}, callOpts{background: true})
		if err != nil {
			return out, fmt.Errorf("read notes: %w", err)
		}
		if !resp.ok() {
			if apiErr := resp.apiError(); apiErr.Category == categoryObjectNotFound {
				continue // none of them exists any more
			}
			return out, fmt.Errorf("read notes: %w", expect(resp, http.MethodPost, path))
		}
		var raw batchResponseJSON
		if err := json.Unmarshal(resp.body, &raw); err != nil {
			return out, fmt.Errorf("read notes: decode: %w", err)
		}
		for _, r := range raw.Results {
			var o struct {
				ID         string             `json:"id"`
				Properties map[string]*string `json:"properties"`
			}
			if err := json.Unmarshal(r, &o); err != nil {
				return out, fmt.Errorf("read notes: decode note: %w", err)
			}
			if v := o.Properties["hs_note_body"]; v != nil {
				out[o.ID] = *v
			} else {
				out[o.ID] = ""
			}
		}
	}
	return out, nil
}

// FindNotes looks for notes by marker on the contacts they were meant for
// (marker → contact id) and returns marker → note id for those that exist.
// Notes whose id is in known are not read: the caller already knows them.
func (c *Client) FindNotes(ctx context.Context, markers map[string]string, known func(ids []string) (map[string]bool, error)) (map[string]string, error) {
	found := map[string]string{}
	if len(markers) == 0 {
		return found, nil
	}
	byContact := map[string][]string{}
	var contacts []string
	for m, contact := range markers {
		if byContact[contact] == nil {
			contacts = append(contacts, contact)
		}
		byContact[contact] = append(byContact[contact], m)
	}
	noteIDs, err := c.ContactNoteIDs(ctx, contacts)
	if err != nil {
		return nil, err
	}
	var all []string
	owner := map[string]string{} // note id → contact
	for contact, ids := range noteIDs {
		for _, id := range ids {
			if _, dup := owner[id]; !dup {
				owner[id] = contact
				all = append(all, id)
			}
		}
	}
	if known != nil && len(all) > 0 {
		skip, err := known(all)
		if err != nil {
			return nil, err
		}
		rest := all[:0]
		for _, id := range all {
			if !skip[id] {
				rest = append(rest, id)
			}
		}
		all = rest
	}
	bodies, err := c.NoteBodies(ctx, all)
	if err != nil {
		return nil, err
	}
	for id, body := range bodies {
		for _, m := range byContact[owner[id]] {
			if strings.Contains(body, m) {
				found[m] = id
			}
		}
	}
	return found, nil
}
