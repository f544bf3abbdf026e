package hubspot

import (
	"encoding/json"
	"fmt"
	"time"
)

// objectJSON is a CRM object as HubSpot returns it ("simple public object").
type objectJSON struct {
	ID                 string             `json:"id"`
	Properties         map[string]*string `json:"properties"`
	CreatedAt          string             `json:"createdAt"`
	UpdatedAt          string             `json:"updatedAt"`
	Archived           bool               `json:"archived"`
	New                bool               `json:"new"`
	ObjectWriteTraceID string             `json:"objectWriteTraceId"`
}

type batchErrorJSON struct {
	Status      string          `json:"status"`
	Category    string          `json:"category"`
	SubCategory json.RawMessage `json:"subCategory"`
	Message     string          `json:"message"`
	Context     json.RawMessage `json:"context"`
	ID          string          `json:"id"`
}

type batchResponseJSON struct {
	Status    string            `json:"status"`
	Results   []json.RawMessage `json:"results"`
	NumErrors int               `json:"numErrors"`
	Errors    []batchErrorJSON  `json:"errors"`
}

// batchResponse is a decoded 2xx batch answer (200, 201 or 207).
type batchResponse struct {
	Results []parsedObject
	Errors  []batchError
}

type parsedObject struct {
	contact Contact
	isNew   bool
	traceID string
}

type batchError struct {
	Category string
	Message  string
	Context  map[string][]string
}

func parseBatchResponse(body []byte) (batchResponse, error) {
	var raw batchResponseJSON
	if err := json.Unmarshal(body, &raw); err != nil {
		return batchResponse{}, fmt.Errorf("decode batch response: %w", err)
	}
	var out batchResponse
	for _, r := range raw.Results {
		o, err := parseObject(r)
		if err != nil {
			return batchResponse{}, err
		}
		out.Results = append(out.Results, o)
	}
	for _, e := range raw.Errors {
		out.Errors = append(out.Errors, batchError{
			Category: e.Category,
			Message:  e.Message,
			Context:  lenientContext(e.Context),
		})
	}
	return out, nil
}

func parseObject(raw []byte) (parsedObject, error) {
	var o objectJSON
	if err := json.Unmarshal(raw, &o); err != nil {
		return parsedObject{}, fmt.Errorf("decode object: %w", err)
	}
	props := make(map[string]string, len(o.Properties))
	for k, v := range o.Properties {
		if v != nil {
			props[k] = *v
		}
	}
	return parsedObject{
		contact: Contact{
			ID:         o.ID,
			Properties: props,
			CreatedAt:  parseTime(o.CreatedAt),
			UpdatedAt:  parseTime(o.UpdatedAt),
			Archived:   o.Archived,
		},
		isNew:   o.New,
		traceID: o.ObjectWriteTraceID,
	}, nil
}

// parseTime reads HubSpot's ISO-8601 timestamps; anything else is the zero
// time rather than a failed batch, since no decision here depends on it.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
