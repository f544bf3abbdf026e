package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// PropertyVersion is one entry of a property's history as HubSpot returns
// it with propertiesWithHistory (crm/objects/.../batch/get-objects):
// {"value","timestamp","sourceType","sourceId","sourceLabel","updatedByUserId"}.
type PropertyVersion struct {
	Value      string
	Timestamp  time.Time
	SourceType string // e.g. CRM_UI (a person), INTEGRATION or API (an app), IMPORT, WORKFLOW
	SourceID   string
}

// ContactHistory is a contact with the history of some properties, newest
// version first.
type ContactHistory struct {
	Contact
	History map[string][]PropertyVersion
}

type versionJSON struct {
	Value      *string `json:"value"`
	Timestamp  string  `json:"timestamp"`
	SourceType string  `json:"sourceType"`
	SourceID   string  `json:"sourceId"`
}

type objectHistoryJSON struct {
	PropertiesWithHistory map[string][]versionJSON `json:"propertiesWithHistory"`
}

// BatchReadContactsWithHistory reads contacts by id, in requests of at most
// 100, with the current value and the history of props. found is keyed by
// the id HubSpot returns; notFound lists ids that are deleted or never
// existed.
func (c *Client) BatchReadContactsWithHistory(ctx context.Context, ids, props []string) (found map[string]ContactHistory, notFound []string, err error) {
	found = map[string]ContactHistory{}
	for chunk := range slices.Chunk(ids, maxBatchInputs) {
		nf, err := c.readHistoryChunk(ctx, chunk, props, found)
		if err != nil {
			return found, notFound, err
		}
		notFound = append(notFound, nf...)
	}
	return found, notFound, nil
}

func (c *Client) readHistoryChunk(ctx context.Context, ids, props []string, found map[string]ContactHistory) ([]string, error) {
	return c.batchRead(ctx, "batch read contacts with history", ids, func(ids []string) any {
		return struct {
			Inputs                []idJSON `json:"inputs"`
			Properties            []string `json:"properties"`
			PropertiesWithHistory []string `json:"propertiesWithHistory"`
		}{Inputs: idInputs(ids), Properties: props, PropertiesWithHistory: props}
	}, func(body []byte) ([]string, error) {
		return parseHistoryBatch(body, found)
	})
}

// parseHistoryBatch decodes a 2xx batch read answer with
// propertiesWithHistory into found and returns the ids it reports missing.
func parseHistoryBatch(body []byte, found map[string]ContactHistory) ([]string, error) {
	var raw batchResponseJSON
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	for _, r := range raw.Results {
		o, err := parseObject(r)
		if err != nil {
			return nil, err
		}
		var h objectHistoryJSON
		if err := json.Unmarshal(r, &h); err != nil {
			return nil, fmt.Errorf("decode history: %w", err)
		}
		ch := ContactHistory{Contact: o.contact, History: map[string][]PropertyVersion{}}
		for name, vs := range h.PropertiesWithHistory {
			out := make([]PropertyVersion, 0, len(vs))
			for _, v := range vs {
				pv := PropertyVersion{Timestamp: parseTime(v.Timestamp), SourceType: v.SourceType, SourceID: v.SourceID}
				if v.Value != nil {
					pv.Value = *v.Value
				}
				out = append(out, pv)
			}
			// Newest first whatever order the answer used.
			slices.SortStableFunc(out, func(a, b PropertyVersion) int { return b.Timestamp.Compare(a.Timestamp) })
			ch.History[name] = out
		}
		found[o.contact.ID] = ch
	}
	var notFound []string
	for _, e := range raw.Errors {
		if e.Category == categoryObjectNotFound {
			notFound = append(notFound, lenientContext(e.Context)["ids"]...)
		}
	}
	return notFound, nil
}
