package hubspottest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Notes, as the 2026-03 reference documents them:
//
//	POST /crm/objects/2026-03/notes/batch/create   ≤ 100 inputs, hs_timestamp required,
//	                                               associations to live contacts only (type 202)
//	POST /crm/objects/2026-03/notes/batch/read     ≤ 100 inputs, the properties asked for;
//	                                               unknown ids: 207 with OBJECT_NOT_FOUND
//	                                               (crm/objects/objects/batch/get-objects)
//	POST /crm/associations/2026-03/contacts/notes/batch/read
//	                                               ≤ 1000 inputs {id, after}; per contact the
//	                                               ids of its notes, a page at a time, with
//	                                               "paging.next.after" only while more remain;
//	                                               unknown contacts: 207 with OBJECT_NOT_FOUND
//	                                               (crm/associations/associate-records/batch/
//	                                               get-associations; the 1000 from the changelog
//	                                               "Batch Read Limit for HubSpot Associations API")
//
// Both reads go to the records themselves, not to the search index, so a
// note is found by them as soon as its batch create answered. HubSpot does
// not document the page size of the associations read; Options.AssociationsPage
// sets it (default 500).

// Note is a note as stored by the double.
type Note struct {
	ID         string
	Body       string
	Timestamp  string
	ContactIDs []string
	CreatedAt  time.Time
}

// Notes returns the notes associated with a contact, oldest first.
func (s *Server) Notes(contactID string) []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Note
	for _, n := range s.lists.notes {
		if slices.Contains(n.ContactIDs, contactID) {
			out = append(out, n)
		}
	}
	return out
}

// AllNotes returns every note created.
func (s *Server) AllNotes() []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lists.notes)
}

// SetAfterNotes installs f, called with the notes of each batch create
// once they are stored and before HubSpot answers: a test can kill the
// client there, or return true to cut the connection, so the answer never
// arrives although the notes exist. nil clears it.
func (s *Server) SetAfterNotes(f func(created []Note) (cut bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists.afterNotes = f
}

func (s *Server) notesRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /crm/objects/"+version+"/notes/batch/create", s.batchCreateNotes)
	m.HandleFunc("POST /crm/objects/"+version+"/notes/batch/read", s.batchReadNotes)
	m.HandleFunc("POST /crm/associations/"+version+"/contacts/notes/batch/read", s.readContactNotes)
}

func (s *Server) batchCreateNotes(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	var in struct {
		Inputs []struct {
			Properties   map[string]string `json:"properties"`
			TraceID      string            `json:"objectWriteTraceId"`
			Associations []struct {
				To struct {
					ID string `json:"id"`
				} `json:"to"`
				Types []struct {
					Category string `json:"associationCategory"`
					TypeID   int    `json:"associationTypeId"`
				} `json:"types"`
			} `json:"associations"`
		} `json:"inputs"`
	}
	if !s.decode(w, r, &in) || !s.checkInputCount(w, len(in.Inputs)) {
		return
	}
	refuse := func(msg string) {
		s.mu.Unlock()
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg, nil)
	}
	s.mu.Lock()
	s.lists.noteCalls++
	for _, x := range in.Inputs {
		if x.Properties["hs_timestamp"] == "" {
			refuse("Property values were not valid: hs_timestamp is required")
			return
		}
		if len(x.Properties["hs_note_body"]) > 65536 {
			refuse("Property values were not valid: hs_note_body is longer than 65536 characters")
			return
		}
		for _, a := range x.Associations {
			// HubSpot documents reads of a merged-away id, not
			// associations to one: with RefuseMergedWrites such an id is
			// refused like a deleted one, as writes are (merge.go).
			if s.liveLocked(a.To.ID) == nil || (s.opts.RefuseMergedWrites && s.mergedAwayLocked(a.To.ID)) {
				refuse("One or more associations are invalid: contact " + a.To.ID + " does not exist")
				return
			}
			for _, t := range a.Types {
				if t.TypeID != 202 || t.Category != "HUBSPOT_DEFINED" {
					refuse("invalid association type for note to contact")
					return
				}
			}
		}
	}
	var results []map[string]any
	var created []Note
	for _, x := range in.Inputs {
		s.lists.nextNote++
		n := Note{ID: strconv.FormatInt(90000+s.lists.nextNote, 10), Body: x.Properties["hs_note_body"], Timestamp: x.Properties["hs_timestamp"], CreatedAt: time.Now()}
		for _, a := range x.Associations {
			n.ContactIDs = append(n.ContactIDs, s.canonicalLocked(a.To.ID)) // a merged-away id means the merged record
		}
		s.lists.notes = append(s.lists.notes, n)
		created = append(created, n)
		res := map[string]any{
			"id": n.ID, "archived": false, "createdAt": hsTime(n.CreatedAt), "updatedAt": hsTime(n.CreatedAt),
			"properties": map[string]string{"hs_note_body": n.Body, "hs_timestamp": n.Timestamp},
		}
		if x.TraceID != "" {
			res["objectWriteTraceId"] = x.TraceID
		}
		results = append(results, res)
	}
	after := s.lists.afterNotes
	s.mu.Unlock()
	if after != nil && after(created) {
		cutConnection(w)
		return
	}
	writeJSON(w, http.StatusCreated, batchBody(results, nil, started))
}

// cutConnection drops the client's connection without an answer.
func cutConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) batchReadNotes(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	var in struct {
		Inputs []struct {
			ID string `json:"id"`
		} `json:"inputs"`
		Properties []string `json:"properties"`
	}
	if !s.decode(w, r, &in) || !s.checkInputCount(w, len(in.Inputs)) {
		return
	}
	s.mu.Lock()
	byID := make(map[string]Note, len(s.lists.notes))
	for _, n := range s.lists.notes {
		byID[n.ID] = n
	}
	s.mu.Unlock()
	var results, errs []map[string]any
	var missing []string
	for _, x := range in.Inputs {
		n, ok := byID[x.ID]
		if !ok {
			missing = append(missing, x.ID)
			continue
		}
		props := map[string]any{"hs_object_id": n.ID, "hs_createdate": hsTime(n.CreatedAt), "hs_lastmodifieddate": hsTime(n.CreatedAt)}
		for _, p := range in.Properties {
			switch p {
			case "hs_note_body":
				props[p] = n.Body
			case "hs_timestamp":
				props[p] = n.Timestamp
			default:
				if _, set := props[p]; !set {
					props[p] = nil
				}
			}
		}
		results = append(results, map[string]any{"id": n.ID, "archived": false,
			"createdAt": hsTime(n.CreatedAt), "updatedAt": hsTime(n.CreatedAt), "properties": props})
	}
	if len(missing) > 0 {
		errs = append(errs, map[string]any{
			"status": "error", "category": "OBJECT_NOT_FOUND",
			"message": "Could not get some NOTE objects, they may be deleted or not exist. Check that ids are valid.",
			"context": map[string][]string{"ids": missing},
		})
	}
	writeJSON(w, batchStatus(http.StatusOK, errs), batchBody(results, errs, started))
}

// maxAssocInputs is HubSpot's limit on an associations batch read.
const maxAssocInputs = 1000

func (s *Server) readContactNotes(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	var in struct {
		Inputs []struct {
			ID    string `json:"id"`
			After string `json:"after"`
		} `json:"inputs"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	if len(in.Inputs) == 0 || len(in.Inputs) > maxAssocInputs {
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR",
			fmt.Sprintf("Batch size of %d is not between 1 and the limit of %d inputs", len(in.Inputs), maxAssocInputs), nil)
		return
	}
	page := s.opts.AssociationsPage
	if page <= 0 {
		page = 500
	}
	s.mu.Lock()
	var results, errs []map[string]any
	var missing []string
	for _, x := range in.Inputs {
		if s.liveLocked(x.ID) == nil {
			missing = append(missing, x.ID)
			continue
		}
		var ids []string
		for _, n := range s.lists.notes {
			if slices.Contains(n.ContactIDs, s.canonicalLocked(x.ID)) {
				ids = append(ids, n.ID)
			}
		}
		off := 0
		if x.After != "" {
			n, err := strconv.Atoi(x.After)
			if err != nil || n < 0 {
				s.mu.Unlock()
				s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "invalid after cursor "+x.After, nil)
				return
			}
			off = n
		}
		to := []map[string]any{}
		end := min(off+page, len(ids))
		for _, id := range ids[min(off, len(ids)):end] {
			to = append(to, map[string]any{"toObjectId": json.Number(id), "associationTypes": []map[string]any{
				{"category": "HUBSPOT_DEFINED", "typeId": 202, "label": nil}}})
		}
		res := map[string]any{"from": map[string]any{"id": x.ID}, "to": to}
		if end < len(ids) {
			res["paging"] = map[string]any{"next": map[string]any{"after": strconv.Itoa(end)}}
		}
		results = append(results, res)
	}
	s.mu.Unlock()
	if len(missing) > 0 {
		errs = append(errs, map[string]any{
			"status": "error", "category": "OBJECT_NOT_FOUND",
			"message": "Could not get some CONTACT objects, they may be deleted or not exist.",
			"context": map[string][]string{"ids": missing},
		})
	}
	writeJSON(w, batchStatus(http.StatusOK, errs), batchBody(results, errs, started))
}
