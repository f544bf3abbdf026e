package hubspot

import (
	"context"
	"fmt"
	"strings"
)

// A merge in HubSpot makes a new contact with a new id; the ids of both
// merged contacts keep reading as it: a read of an old id answers the
// merged contact (with its new id), not OBJECT_NOT_FOUND, and the merged
// contact's hs_merged_object_ids lists the old ids (changelog "Updated
// merge functionality for contacts and companies"; knowledge base "Merge
// records"). A deleted id is OBJECT_NOT_FOUND. What a batch update of an
// old id does is not documented: it may write the merged contact and answer
// with the new id, or refuse the id as not found.

// PropMergedIDs is the contact property listing, semicolon-separated, the
// ids of the contacts merged into it.
const PropMergedIDs = "hs_merged_object_ids"

// MergedIDs are the ids of the contacts merged into c, when the read asked
// for PropMergedIDs.
func (c Contact) MergedIDs() []string {
	var out []string
	for _, id := range strings.Split(c.Properties[PropMergedIDs], ";") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// ContactFor finds, among contacts read by id and keyed by the id HubSpot
// answered, the one the requested id reads as: itself, or the contact it
// was merged into (for which PropMergedIDs must have been read).
func ContactFor[C interface{ MergedIDs() []string }](found map[string]C, id string) (C, bool) {
	if c, ok := found[id]; ok {
		return c, true
	}
	for _, c := range found {
		for _, m := range c.MergedIDs() {
			if m == id {
				return c, true
			}
		}
	}
	var zero C
	return zero, false
}

// IDResolution says what became of contact ids: Live ids read as
// themselves, Merged maps an id to the id of the contact it was merged
// into, Gone lists ids deleted or never existing. An id in none of them
// was read as a contact that does not say it holds it (retry later).
type IDResolution struct {
	Live   map[string]bool
	Merged map[string]string
	Gone   map[string]bool
}

// ResolveContactIDs reads contact ids to tell a merged contact from a
// deleted one, in requests of at most 100.
func (c *Client) ResolveContactIDs(ctx context.Context, ids []string) (IDResolution, error) {
	res := IDResolution{Live: map[string]bool{}, Merged: map[string]string{}, Gone: map[string]bool{}}
	found, notFound, err := c.BatchReadContacts(ctx, ids, []string{PropMergedIDs})
	if err != nil {
		return res, fmt.Errorf("resolve contact ids: %w", err)
	}
	for _, id := range notFound {
		res.Gone[id] = true
	}
	for _, id := range ids {
		if res.Gone[id] {
			continue
		}
		ct, ok := ContactFor(found, id)
		switch {
		case !ok:
		case ct.ID == id:
			res.Live[id] = true
		default:
			res.Merged[id] = ct.ID
		}
	}
	return res, nil
}
