package hubspottest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The webhooks of an app on HubSpot's developer platform, as HubSpot
// sends them to the app's targetUrl:
//
//   - a POST with a JSON array of events, at most 100 per request; each
//     event has eventId, subscriptionId, portalId, appId, occurredAt (ms),
//     subscriptionType, attemptNumber (from 0), objectId, changeSource,
//     sourceId; property changes add propertyName and propertyValue;
//     merges add primaryObjectId, mergedObjectIds, newObjectId and
//     numberOfPropertiesMoved
//     (developers.hubspot.com/docs/api-reference/legacy/webhooks/guide,
//     "Webhook payloads"; the project's subscriptions:
//     developers.hubspot.com/docs/apps/developer-platform/add-features/configure-webhooks).
//   - signed with the app's client secret: X-HubSpot-Signature-v3 =
//     base64(HMAC-SHA256(method + URI + body + timestamp)) with
//     X-HubSpot-Request-Timestamp, and, for backward compatibility, the v1
//     X-HubSpot-Signature = hex(SHA-256(secret + body)) with
//     X-HubSpot-Signature-Version: v1
//     (developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation).
//   - retried up to 10 times, spread over the next 24 hours with some
//     randomization, when the connection fails, the answer takes longer
//     than five seconds, or it is any 4xx or 5xx status (the guide's
//     "Retries"); each retry carries the next attemptNumber.
//
// Not reproduced: batching of unrelated events by HubSpot's own timing,
// maxConcurrentRequests (tests send what they send), privacy deletions.

// AppWebhookEvent is one event of a batch, with HubSpot's field names.
type AppWebhookEvent struct {
	EventID                 int64   `json:"eventId"`
	SubscriptionID          int64   `json:"subscriptionId"`
	PortalID                int64   `json:"portalId"`
	AppID                   int64   `json:"appId"`
	OccurredAt              int64   `json:"occurredAt"`
	SubscriptionType        string  `json:"subscriptionType"`
	AttemptNumber           int     `json:"attemptNumber"`
	ObjectID                int64   `json:"objectId"`
	PropertyName            string  `json:"propertyName,omitempty"`
	PropertyValue           *string `json:"propertyValue,omitempty"`
	ChangeSource            string  `json:"changeSource,omitempty"`
	SourceID                string  `json:"sourceId,omitempty"`
	PrimaryObjectID         int64   `json:"primaryObjectId,omitempty"`
	MergedObjectIDs         []int64 `json:"mergedObjectIds,omitempty"`
	NewObjectID             int64   `json:"newObjectId,omitempty"`
	NumberOfPropertiesMoved *int    `json:"numberOfPropertiesMoved,omitempty"`
}

// AppWebhookRetries and AppWebhookTimeout are HubSpot's documented limits.
const (
	AppWebhookRetries  = 10
	AppWebhookTimeout  = 5 * time.Second
	AppWebhookMaxBatch = 100
)

// AppWebhooks sends an app's webhook batches for this double's portal.
type AppWebhooks struct {
	s *Server
	// Target is where requests go; SignedURL is the app's targetUrl that
	// HubSpot signs (linehub's public URL), which may differ in tests.
	Target, SignedURL string
	Secret            string
	AppID             int64
	// Client sends the requests (default: HubSpot's five-second timeout).
	Client *http.Client
	// Backoff is the wait before retry n (1..10); the default spreads ten
	// retries over about 17 hours with ±25 % randomization. Tests shorten it.
	Backoff func(n int) time.Duration

	mu     sync.Mutex
	nextID int64
	subs   map[string]int64
}

// AppWebhooks returns a sender of the app's webhooks to target, signed
// with secret for signedURL.
func (s *Server) AppWebhooks(target, signedURL, secret string, appID int64) *AppWebhooks {
	return &AppWebhooks{s: s, Target: target, SignedURL: signedURL, Secret: secret, AppID: appID,
		Client: &http.Client{Timeout: AppWebhookTimeout}, nextID: 1000, subs: map[string]int64{}}
}

// event starts an event of the app's subscription to typ (and property).
func (w *AppWebhooks) event(typ, property string, objectID string, source, sourceID string) AppWebhookEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	key := typ + "/" + property
	sub, ok := w.subs[key]
	if !ok {
		sub = int64(100 + len(w.subs))
		w.subs[key] = sub
	}
	return AppWebhookEvent{
		EventID: w.nextID, SubscriptionID: sub, PortalID: w.s.opts.PortalID, AppID: w.AppID,
		OccurredAt: time.Now().UnixMilli(), SubscriptionType: typ, ObjectID: mustID(objectID),
		PropertyName: property, ChangeSource: source, SourceID: sourceID,
	}
}

func mustID(id string) int64 {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("hubspottest: contact id %q is not numeric", id))
	}
	return n
}

// Deletion is a contact.deletion of a contact a person deleted.
func (w *AppWebhooks) Deletion(contactID string) AppWebhookEvent {
	return w.event("contact.deletion", "", contactID, "CRM_UI", "userId:1")
}

// Merge is a contact.merge: mergedIDs went into primaryID, and the merge
// left newID (the primary's id when it made no new record).
func (w *AppWebhooks) Merge(primaryID string, mergedIDs []string, newID string) AppWebhookEvent {
	e := w.event("contact.merge", "", primaryID, "CRM_UI", "userId:1")
	e.PrimaryObjectID, e.NewObjectID = mustID(primaryID), mustID(newID)
	for _, id := range mergedIDs {
		e.MergedObjectIDs = append(e.MergedObjectIDs, mustID(id))
	}
	moved := 0
	e.NumberOfPropertiesMoved = &moved
	return e
}

// PropertyChange is a contact.propertyChange of property to value, made
// by source (CRM_UI for a person in HubSpot, INTEGRATION for an app).
func (w *AppWebhooks) PropertyChange(contactID, property, value, source, sourceID string) AppWebhookEvent {
	e := w.event("contact.propertyChange", property, contactID, source, sourceID)
	e.PropertyValue = &value
	return e
}

// AppWebhookBody is a batch as HubSpot sends it.
func AppWebhookBody(events ...AppWebhookEvent) []byte {
	b, err := json.Marshal(events)
	if err != nil {
		panic(err)
	}
	return b
}

// Sign sets the headers HubSpot signs a request of an app with.
func (w *AppWebhooks) Sign(req *http.Request, body []byte, at time.Time) {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", SignatureV3(w.Secret, req.Method, w.SignedURL, body, ts))
	v1 := sha256.Sum256(append([]byte(w.Secret), body...))
	req.Header.Set("X-HubSpot-Signature", hex.EncodeToString(v1[:]))
	req.Header.Set("X-HubSpot-Signature-Version", "v1")
}

// Send makes one attempt at delivering events and returns the status.
func (w *AppWebhooks) Send(ctx context.Context, events ...AppWebhookEvent) (int, error) {
	if len(events) > AppWebhookMaxBatch {
		return 0, fmt.Errorf("hubspottest: HubSpot sends at most %d events per request", AppWebhookMaxBatch)
	}
	body := AppWebhookBody(events...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.Target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	w.Sign(req, body, time.Now())
	resp, err := w.Client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Attempt is one try of a Deliver: its status, or the error of a failed
// connection or a timeout.
type Attempt struct {
	Status int
	Err    error
}

// ErrNotDelivered is Deliver's answer after the last retry failed.
var ErrNotDelivered = errors.New("hubspottest: webhook not delivered after HubSpot's retries")

// Deliver sends events as HubSpot does: again, with the next
// attemptNumber, after a failed connection, a timeout or a 4xx/5xx
// answer, up to AppWebhookRetries times. It returns every attempt.
func (w *AppWebhooks) Deliver(ctx context.Context, events ...AppWebhookEvent) ([]Attempt, error) {
	var tries []Attempt
	for n := 0; n <= AppWebhookRetries; n++ {
		if n > 0 {
			t := time.NewTimer(w.backoff(n))
			select {
			case <-ctx.Done():
				t.Stop()
				return tries, ctx.Err()
			case <-t.C:
			}
		}
		for i := range events {
			events[i].AttemptNumber = n
		}
		st, err := w.Send(ctx, events...)
		tries = append(tries, Attempt{Status: st, Err: err})
		if err == nil && st < 400 {
			return tries, nil
		}
		if ctx.Err() != nil {
			return tries, ctx.Err()
		}
	}
	return tries, ErrNotDelivered
}

func (w *AppWebhooks) backoff(n int) time.Duration {
	if w.Backoff != nil {
		return w.Backoff(n)
	}
	d := time.Minute << (n - 1)
	return d*3/4 + rand.N(d/2+1)
}
