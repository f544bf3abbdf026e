package hubspottest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Search limits from crm/search-the-crm.
const (
	maxSearchLimit   = 200
	maxSearchResults = 10000
	maxFilterGroups  = 5
	maxGroupFilters  = 6
)

type searchFilter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        *string  `json:"value"`
	Values       []string `json:"values"`
}

type searchIn struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Properties []string `json:"properties"`
	Limit      *int     `json:"limit"`
	After      string   `json:"after"`
}

// searchContacts supports the string operators linehub relies on (EQ, NEQ,
// IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN); filter groups
// are ORed, filters within a group ANDed, results come in id order, and
// "after" is an offset, as HubSpot's cursors are in practice.
func (s *Server) searchContacts(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	var in searchIn
	if !s.decode(w, r, &in) {
		return
	}
	limit := 10
	if in.Limit != nil {
		limit = *in.Limit
	}
	if limit < 1 || limit > maxSearchLimit {
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("limit must be between 1 and %d", maxSearchLimit), nil)
		return
	}
	offset := 0
	if in.After != "" {
		n, err := strconv.Atoi(in.After)
		if err != nil || n < 0 {
			s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "after must be a paging cursor from a previous response", nil)
			return
		}
		offset = n
	}
	if offset+limit > maxSearchResults {
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("Search results are limited to %d; cannot page past them", maxSearchResults), nil)
		return
	}
	if len(in.FilterGroups) > maxFilterGroups {
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("At most %d filterGroups are allowed", maxFilterGroups), nil)
		return
	}
	for _, g := range in.FilterGroups {
		if len(g.Filters) > maxGroupFilters {
			s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("At most %d filters per filterGroup are allowed", maxGroupFilters), nil)
			return
		}
		for _, f := range g.Filters {
			if msg := checkFilter(f); msg != "" {
				s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg, nil)
				return
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*contactRec
	for _, c := range s.sortedContactsLocked() {
		if matchesAny(c, in.FilterGroups) {
			matched = append(matched, c)
		}
	}
	want := in.Properties
	if len(want) == 0 {
		want = nil
	}
	results := []map[string]any{}
	end := min(offset+limit, len(matched))
	for i := offset; i < end; i++ {
		results = append(results, objectOut(matched[i], want))
	}
	body := map[string]any{"total": len(matched), "results": results}
	if end < len(matched) && end < maxSearchResults {
		body["paging"] = map[string]any{"next": map[string]any{"after": strconv.Itoa(end)}}
	}
	writeJSON(w, http.StatusOK, body)
}

func checkFilter(f searchFilter) string {
	switch f.Operator {
	case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
		return ""
	case "EQ", "NEQ", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
		if f.Value == nil {
			return fmt.Sprintf("filter on %s with %s needs a value", f.PropertyName, f.Operator)
		}
		return ""
	case "IN", "NOT_IN":
		if len(f.Values) == 0 {
			return fmt.Sprintf("filter on %s with %s needs values", f.PropertyName, f.Operator)
		}
		return ""
	}
	return fmt.Sprintf("operator %q is not supported by hubspottest", f.Operator)
}

func matchesAny(c *contactRec, groups []struct {
	Filters []searchFilter `json:"filters"`
}) bool {
	if len(groups) == 0 {
		return true
	}
	for _, g := range groups {
		all := true
		for _, f := range g.Filters {
			if !matches(c, f) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// matches compares strings case-insensitively, as HubSpot's search does.
func matches(c *contactRec, f searchFilter) bool {
	v, has := c.props[f.PropertyName]
	switch f.Operator {
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	case "EQ":
		return has && strings.EqualFold(v, *f.Value)
	case "NEQ":
		return !has || !strings.EqualFold(v, *f.Value)
	case "IN":
		return has && slices.ContainsFunc(f.Values, func(x string) bool { return strings.EqualFold(v, x) })
	case "NOT_IN":
		return !has || !slices.ContainsFunc(f.Values, func(x string) bool { return strings.EqualFold(v, x) })
	case "CONTAINS_TOKEN":
		return has && containsToken(v, *f.Value)
	case "NOT_CONTAINS_TOKEN":
		return !has || !containsToken(v, *f.Value)
	}
	return false
}

// containsToken approximates HubSpot's token match: a whole word, or a
// pattern with * wildcards.
func containsToken(v, token string) bool {
	v, token = strings.ToLower(v), strings.ToLower(token)
	if strings.Contains(token, "*") {
		parts := strings.Split(token, "*")
		rest := v
		for i, p := range parts {
			idx := strings.Index(rest, p)
			if idx < 0 || (i == 0 && p != "" && idx != 0) {
				return false
			}
			rest = rest[idx+len(p):]
		}
		return parts[len(parts)-1] == "" || strings.HasSuffix(v, parts[len(parts)-1])
	}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool {
		return r == ' ' || r == '@' || r == '.' || r == ',' || r == '-' || r == '_'
	}) {
		if f == token {
			return true
		}
	}
	return false
}
