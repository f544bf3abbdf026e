package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// List is a HubSpot list (segment) of contacts.
type List struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	ProcessingType string `json:"processing_type"` // MANUAL, DYNAMIC, SNAPSHOT
	Size           int    `json:"size"`            // hs_list_size, -1 if HubSpot did not say
}

// SearchLists finds contact lists whose name contains query ("" pages
// through all), up to count (1..500) from offset. It returns the next offset
// and whether there are more.
func (c *Client) SearchLists(ctx context.Context, query string, offset, count int) (lists []List, next int, more bool, err error) {
	if count <= 0 || count > 500 {
		count = 100
	}
	in := map[string]any{
		"query":                query,
		"offset":               max(offset, 0),
		"count":                count,
		"objectTypeId":         contactObjectTypeID,
		"additionalProperties": []string{"hs_list_size"},
	}
	path := listsSearchPath()
	resp, err := c.do(ctx, http.MethodPost, path, in, callOpts{})
	if err != nil {
		return nil, 0, false, fmt.Errorf("search lists: %w", err)
	}
	if err := expect(resp, http.MethodPost, path); err != nil {
		return nil, 0, false, fmt.Errorf("search lists: %w", err)
	}
	var out struct {
		Lists []struct {
			ListID               json.Number       `json:"listId"`
			Name                 string            `json:"name"`
			ObjectTypeID         string            `json:"objectTypeId"`
			ProcessingType       string            `json:"processingType"`
			AdditionalProperties map[string]string `json:"additionalProperties"`
		} `json:"lists"`
		HasMore bool `json:"hasMore"`
		Offset  int  `json:"offset"`
	}
	if err := resp.decode(&out); err != nil {
		return nil, 0, false, fmt.Errorf("search lists: %w", err)
	}
	for _, l := range out.Lists {
		if l.ObjectTypeID != "" && l.ObjectTypeID != contactObjectTypeID {
			continue
		}
		size := -1
		if v, err := strconv.Atoi(l.AdditionalProperties["hs_list_size"]); err == nil {
			size = v
		}
		lists = append(lists, List{ID: l.ListID.String(), Name: l.Name, ProcessingType: l.ProcessingType, Size: size})
	}
	return lists, out.Offset, out.HasMore, nil
}

// ListMembers returns one page (up to 250) of the record ids in a list, and
// the cursor of the next page ("" on the last).
func (c *Client) ListMembers(ctx context.Context, listID, after string) (ids []string, next string, err error) {
	if strings.TrimSpace(listID) == "" {
		return nil, "", fmt.Errorf("list members: empty list id")
	}
	q := url.Values{"limit": {strconv.Itoa(maxMembershipsPage)}}
	if after != "" {
		q.Set("after", after)
	}
	path := listMembershipsPath(listID) + "?" + q.Encode()
	resp, err := c.do(ctx, http.MethodGet, path, nil, callOpts{})
	if err != nil {
		return nil, "", fmt.Errorf("list members: %w", err)
	}
	if err := expect(resp, http.MethodGet, listMembershipsPath(listID)); err != nil {
		return nil, "", fmt.Errorf("list members: %w", err)
	}
	var out struct {
		Results []struct {
			RecordID json.Number `json:"recordId"`
		} `json:"results"`
		Paging *struct {
			Next *struct {
				After string `json:"after"`
			} `json:"next"`
		} `json:"paging"`
	}
	if err := resp.decode(&out); err != nil {
		return nil, "", fmt.Errorf("list members: %w", err)
	}
	for _, r := range out.Results {
		ids = append(ids, r.RecordID.String())
	}
	if out.Paging != nil && out.Paging.Next != nil {
		next = out.Paging.Next.After
	}
	return ids, next, nil
}
