package hubspottest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lists (segments), as the 2026-03 reference documents them:
//
//	POST /crm/lists/2026-03/search                 name contains query (case-insensitive),
//	                                               offset/count paging, hs_list_size
//	GET  /crm/lists/2026-03/{listId}/memberships   recordIds by id, limit ≤ 250, after cursor;
//	                                               404 for an unknown list
//
// Notes: see notes.go.

type listRec struct {
	id      string
	name    string
	members []string
}

type listsState struct {
	lists     []*listRec
	nextList  int
	notes     []Note
	nextNote  int64
	noteCalls int
	// afterNotes runs once a batch's notes are stored (notes.go).
	afterNotes func([]Note) (cut bool)
}

// AddList creates a static contact list with these member contact ids and
// returns its id.
func (s *Server) AddList(name string, contactIDs []string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists.nextList++
	id := strconv.Itoa(s.lists.nextList)
	s.lists.lists = append(s.lists.lists, &listRec{id: id, name: name, members: slices.Clone(contactIDs)})
	return id
}

func (s *Server) messagingRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /crm/lists/"+version+"/search", s.needScope("crm.lists.read", s.searchLists))
	m.HandleFunc("GET /crm/lists/"+version+"/{listId}/memberships", s.needScope("crm.lists.read", s.listMemberships))
	s.notesRoutes(m)
}

// needScope answers as HubSpot does when the token lacks scope.
func (s *Server) needScope(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Scopes != nil && !slices.Contains(s.opts.Scopes, scope) {
			s.writeError(w, http.StatusForbidden, "MISSING_SCOPES",
				"This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
				map[string]any{
					"errors": []map[string]any{{"message": "One or more of the following scopes are required.",
						"context": map[string][]string{"requiredGranularScopes": {scope}}}},
					"links": map[string]string{"scopes": "https://developers.hubspot.com/scopes"},
				})
			return
		}
		h(w, r)
	}
}

func (s *Server) searchLists(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Query        string `json:"query"`
		Offset       int    `json:"offset"`
		Count        int    `json:"count"`
		ObjectTypeID string `json:"objectTypeId"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	if in.Count <= 0 {
		in.Count = 20
	}
	if in.Count > 500 {
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "count must be at most 500", nil)
		return
	}
	s.mu.Lock()
	var match []*listRec
	for _, l := range s.lists.lists {
		if strings.Contains(strings.ToLower(l.name), strings.ToLower(in.Query)) {
			match = append(match, l)
		}
	}
	s.mu.Unlock()
	out := []map[string]any{}
	end := min(in.Offset+in.Count, len(match))
	for _, l := range match[min(in.Offset, len(match)):end] {
		out = append(out, map[string]any{
			"listId": l.id, "name": l.name, "objectTypeId": "0-1", "processingType": "MANUAL",
			"processingStatus": "COMPLETE", "listVersion": 1,
			"additionalProperties": map[string]string{"hs_list_size": strconv.Itoa(len(l.members))},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"lists": out, "hasMore": end < len(match), "offset": end, "total": len(match)})
}

func (s *Server) listMemberships(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 250 {
			s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "limit must be between 1 and 250", nil)
			return
		}
		limit = n
	}
	off := 0
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "invalid after cursor", nil)
			return
		}
		off = n
	}
	s.mu.Lock()
	var l *listRec
	for _, x := range s.lists.lists {
		if x.id == r.PathValue("listId") {
			l = x
		}
	}
	var page []string
	total := 0
	if l != nil {
		ids := slices.Clone(l.members)
		// "Ordered by ID": record ids ascending, numerically.
		slices.SortFunc(ids, func(a, b string) int {
			x, _ := strconv.ParseInt(a, 10, 64)
			y, _ := strconv.ParseInt(b, 10, 64)
			return int(x - y)
		})
		total = len(ids)
		page = ids[min(off, total):min(off+limit, total)]
	}
	s.mu.Unlock()
	if l == nil {
		s.writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "List does not exist with ID "+r.PathValue("listId"), nil)
		return
	}
	results := []map[string]any{}
	for _, id := range page {
		results = append(results, map[string]any{"recordId": id, "membershipTimestamp": hsTime(time.Now())})
	}
	body := map[string]any{"results": results}
	if off+limit < total {
		body["paging"] = map[string]any{"next": map[string]any{"after": strconv.Itoa(off + limit)}}
	}
	writeJSON(w, http.StatusOK, body)
}
