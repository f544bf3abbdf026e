package linking

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"linehub/app/contactsync"
	"linehub/app/hubspot"
)

// ContactHit is a HubSpot contact found for linking by hand.
type ContactHit struct {
	ID, Email, FirstName, LastName string
	// LineUserID is the LINE user this connection's properties name on
	// the contact ("" when none): a contact taken by another friend.
	LineUserID string
}

// maxSearchHits is how many contacts a search shows: a person picks one
// among a few, or searches more precisely.
const maxSearchHits = 20

// SearchContacts finds contacts by email (an exact address, or a word of
// it), by first or last name (a whole word, or with * as a wildcard), or
// by contact id.
func (s *Service) SearchContacts(ctx context.Context, connID int64, q string) ([]ContactHit, error) {
	q = strings.TrimSpace(q)
	if n := utf8.RuneCountInString(q); n < 2 || n > 100 {
		return nil, fmt.Errorf("%w: search with 2 to 100 characters", ErrBadRequest)
	}
	c, err := s.st.Connection(ctx, connID)
	if err != nil {
		return nil, err
	}
	lineProp := contactsync.PropertyName("line_user_id", c.Serial)
	props := []string{"email", "firstname", "lastname", lineProp}
	var req hubspot.SearchRequest
	switch {
	case isDigits(q):
		req = hubspot.SearchRequest{Filters: []hubspot.Filter{{PropertyName: "hs_object_id", Operator: "EQ", Value: q}}}
	case strings.Contains(q, "@"):
		req = hubspot.SearchRequest{Filters: []hubspot.Filter{{PropertyName: "email", Operator: "EQ", Value: strings.ToLower(q)}}}
	default:
		tok := func(p string) []hubspot.Filter {
			return []hubspot.Filter{{PropertyName: p, Operator: "CONTAINS_TOKEN", Value: q}}
		}
		req = hubspot.SearchRequest{Filters: tok("firstname"), Groups: [][]hubspot.Filter{tok("lastname"), tok("email")}}
	}
	req.Properties, req.Limit = props, maxSearchHits
	res, err := s.hs.SearchContacts(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("search HubSpot contacts: %w", err)
	}
	out := make([]ContactHit, 0, len(res.Contacts))
	for _, ct := range res.Contacts {
		p := ct.Properties
		out = append(out, ContactHit{ID: ct.ID, Email: p["email"], FirstName: p["firstname"], LastName: p["lastname"], LineUserID: p[lineProp]})
	}
	return out, nil
}

func isDigits(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}
