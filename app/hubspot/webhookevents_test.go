package hubspot

import (
	"encoding/json"
	"strings"
	"testing"
)

// The events of HubSpot's documented example batch, plus a merge with
// the merge fields the guide lists.
const docBatch = `[
 {"objectId":1246965,"propertyName":"lifecyclestage","propertyValue":"subscriber","changeSource":"ACADEMY","eventId":3816279340,"subscriptionId":25,"portalId":33,"appId":1160452,"occurredAt":1462216307945,"subscriptionType":"contact.propertyChange","attemptNumber":0},
 {"objectId":1246978,"changeSource":"IMPORT","eventId":3816279480,"subscriptionId":22,"portalId":33,"appId":1160452,"occurredAt":1462216307945,"subscriptionType":"contact.deletion","attemptNumber":0},
 {"objectId":101,"eventId":7,"subscriptionId":23,"portalId":33,"appId":1160452,"occurredAt":1462216307945,"subscriptionType":"contact.merge","attemptNumber":1,
  "primaryObjectId":101,"mergedObjectIds":[202],"newObjectId":303,"numberOfPropertiesMoved":12,"changeSource":"CRM_UI","sourceId":"userId:45678"}
]`

func TestParseWebhookEvents(t *testing.T) {
	evs, err := ParseWebhookEvents([]byte(docBatch))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Kind() != EventContactPropertyChange || evs[0].PropertyValue != "subscriber" || evs[1].Kind() != EventContactDeletion {
		t.Fatalf("parsed %+v", evs)
	}
	m := evs[2]
	if m.Kind() != EventContactMerge || m.SurvivorID() != 303 || len(m.MergedObjectIDs) != 1 || m.MergedObjectIDs[0] != 202 || m.SourceID != "userId:45678" {
		t.Fatalf("merge %+v", m)
	}
	if m.NewObjectID = 0; m.SurvivorID() != 101 {
		t.Fatalf("merge without a new record: survivor %d, want the primary", m.SurvivorID())
	}
	retry := evs[1]
	retry.AttemptNumber = 3
	if retry.DedupeKey() != evs[1].DedupeKey() || evs[0].DedupeKey() == evs[1].DedupeKey() {
		t.Fatal("a redelivery must keep its key, two events must not share one")
	}
	generic := WebhookEvent{SubscriptionType: "object.deletion", ObjectTypeID: "0-1"}
	if generic.Kind() != EventContactDeletion {
		t.Fatalf("generic contact deletion read as %q", generic.Kind())
	}
	if (WebhookEvent{SubscriptionType: "object.deletion", ObjectTypeID: "0-3"}).Kind() != "" {
		t.Fatal("a deal deletion taken for a contact's")
	}

	for name, body := range map[string]string{
		"object":        `{"eventId":1}`,
		"empty":         ``,
		"trailing data": `[] []`,
		"no portal":     `[{"eventId":1,"subscriptionType":"contact.deletion","objectId":1}]`,
		"no event id":   `[{"portalId":1,"subscriptionType":"contact.deletion","objectId":1}]`,
		"merge, no ids": `[{"eventId":1,"portalId":1,"subscriptionType":"contact.merge","objectId":1}]`,
		"string id":     `[{"eventId":"1","portalId":1,"subscriptionType":"contact.deletion"}]`,
		"too many":      "[" + strings.Repeat(`{"eventId":1,"portalId":1,"subscriptionType":"x"},`, MaxWebhookEvents) + `{"eventId":1,"portalId":1,"subscriptionType":"x"}]`,
	} {
		if _, err := ParseWebhookEvents([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseWebhookEvents: whatever arrives with a valid signature, the
// parser does not panic, and what it accepts is events with the fields
// linehub keys them by, which survive a round trip.
func FuzzParseWebhookEvents(f *testing.F) {
	f.Add([]byte(docBatch))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"eventId":1,"portalId":2,"subscriptionType":"object.merge","objectTypeId":"0-1","primaryObjectId":5,"mergedObjectIds":[6,7]}]`))
	f.Add([]byte(`[{"eventId":1e30,"portalId":2}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := ParseWebhookEvents(body)
		if err != nil {
			return
		}
		for _, e := range evs {
			if e.EventID == 0 || e.PortalID == 0 || e.SubscriptionType == "" {
				t.Fatalf("accepted %+v", e)
			}
			_ = e.DedupeKey()
		}
		raw, err := json.Marshal(evs)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseWebhookEvents(raw)
		if err != nil || len(again) != len(evs) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
