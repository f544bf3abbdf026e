package hubspot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// HubSpot's app webhooks POST a JSON array of events to the app's target
// URL, signed like every request of the app (X-HubSpot-Signature-v3 with
// X-HubSpot-Request-Timestamp; the older X-HubSpot-Signature v1 is sent
// beside it for backward compatibility):
// https://developers.hubspot.com/docs/apps/developer-platform/add-features/configure-webhooks
// https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation
// https://developers.hubspot.com/docs/api-reference/legacy/webhooks/guide (payload fields, merge fields,
// retries: up to 10 over the next 24 hours on a connection failure, a
// response slower than five seconds, or any 4xx/5xx status).
//
// The guide warns that eventId "is not guaranteed to be unique", that a
// notification may arrive more than once, and that events are not sent in
// the order they occurred (occurredAt says when).

// Contact subscription types linehub subscribes to (legacyCrmObjects), and
// their generic equivalents (crmObjects, objectTypeId "0-1").
const (
	EventContactDeletion       = "contact.deletion"
	EventContactMerge          = "contact.merge"
	EventContactPropertyChange = "contact.propertyChange"
)

// WebhookEvent is one event of a webhook batch. Ids are numbers in
// HubSpot's JSON; the fields linehub does not use are kept for the log.
type WebhookEvent struct {
	EventID          int64  `json:"eventId"`
	SubscriptionID   int64  `json:"subscriptionId"`
	PortalID         int64  `json:"portalId"`
	AppID            int64  `json:"appId"`
	OccurredAt       int64  `json:"occurredAt"`
	SubscriptionType string `json:"subscriptionType"`
	AttemptNumber    int    `json:"attemptNumber"`
	ObjectID         int64  `json:"objectId"`
	ObjectTypeID     string `json:"objectTypeId,omitempty"`
	PropertyName     string `json:"propertyName,omitempty"`
	PropertyValue    string `json:"propertyValue,omitempty"`
	ChangeSource     string `json:"changeSource,omitempty"`
	SourceID         string `json:"sourceId,omitempty"`
	ChangeFlag       string `json:"changeFlag,omitempty"`
	// Merge events: the record that remains (primaryObjectId), the records
	// merged into it, and the id of the record the merge created, which
	// differs from the primary's when the merge made a new record.
	PrimaryObjectID         int64   `json:"primaryObjectId,omitempty"`
	MergedObjectIDs         []int64 `json:"mergedObjectIds,omitempty"`
	NewObjectID             int64   `json:"newObjectId,omitempty"`
	NumberOfPropertiesMoved int     `json:"numberOfPropertiesMoved,omitempty"`
}

// Kind is the event's contact subscription type (the generic
// object.deletion etc. of a contact read as contact.deletion etc.); ""
// for anything else.
func (e WebhookEvent) Kind() string {
	switch e.SubscriptionType {
	case EventContactDeletion, EventContactMerge, EventContactPropertyChange:
		return e.SubscriptionType
	case "object.deletion", "object.merge", "object.propertyChange":
		if e.ObjectTypeID == contactObjectTypeID {
			return "contact." + e.SubscriptionType[len("object."):]
		}
	}
	return ""
}

// DedupeKey names a notification across HubSpot's redeliveries, which
// repeat it with only attemptNumber changed. The event id alone is not
// documented as unique, so the subscription, object and property that
// it came with are part of the key.
func (e WebhookEvent) DedupeKey() string {
	return fmt.Sprintf("%d/%d/%s/%d/%s", e.SubscriptionID, e.EventID, e.SubscriptionType, e.ObjectID, e.PropertyName)
}

// SurvivorID is the contact a merge leaves: the new record when the
// merge made one, else the primary.
func (e WebhookEvent) SurvivorID() int64 {
	if e.NewObjectID != 0 {
		return e.NewObjectID
	}
	return e.PrimaryObjectID
}

// FormatID is a contact id as the REST API spells it.
func FormatID(id int64) string { return strconv.FormatInt(id, 10) }

// MaxWebhookEvents bounds a batch; HubSpot sends at most 100 events per
// request, the rest is room for a change of that figure.
const MaxWebhookEvents = 1000

// ParseWebhookEvents reads a webhook batch: a JSON array of event
// objects. Anything else (an object, trailing data, an event without an
// id, portal or type) is refused whole, so nothing of a bad batch is kept.
func ParseWebhookEvents(body []byte) ([]WebhookEvent, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return nil, fmt.Errorf("webhook body: want a JSON array of events")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var evs []WebhookEvent
	if err := dec.Decode(&evs); err != nil {
		return nil, fmt.Errorf("webhook body: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("webhook body: data after the array")
	}
	if len(evs) > MaxWebhookEvents {
		return nil, fmt.Errorf("webhook body: %d events, at most %d", len(evs), MaxWebhookEvents)
	}
	for i, e := range evs {
		if e.EventID == 0 || e.PortalID == 0 || e.SubscriptionType == "" {
			return nil, fmt.Errorf("webhook event %d: eventId, portalId and subscriptionType are required", i)
		}
		if e.Kind() == EventContactMerge && e.SurvivorID() == 0 {
			return nil, fmt.Errorf("webhook event %d: a merge without primaryObjectId or newObjectId", i)
		}
	}
	return evs, nil
}
