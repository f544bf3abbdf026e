// Package line is linehub's side of the LINE Messaging API: it verifies and
// decodes webhook callbacks, and calls the handful of REST endpoints linehub
// needs (profile, bot info, push, webhook endpoint set/test, follower IDs)
// through the official SDK (github.com/line/line-bot-sdk-go/v8).
//
// It knows nothing of HTTP routing, storage or HubSpot: the web layer hands
// ParseWebhook the raw body and header, and contactsync turns Events into
// contact changes.
//
// Behaviour was checked against these pages of the official documentation
// (developers.line.biz, reference copy retrieved 2025-12), and the OpenAPI
// definitions the SDK is generated from (github.com/line/line-openapi,
// messaging-api.yml and webhook.yml):
//
//   - reference/messaging-api/#status-codes, #response-headers,
//     #error-responses, #error-messages: error body {"message","details":[
//     {"message","property"}]}, X-Line-Request-Id, X-Line-Accepted-Request-Id,
//     401 bad token, 403 not allowed for the account/plan, 404 profile not
//     available (no such user, no consent, not a friend, blocked), 409 retry
//     key already accepted, 429 for both the rate limit ("The API rate limit
//     has been exceeded. Try again later.") and the monthly message quota
//     ("You have reached your monthly limit.").
//   - reference/messaging-api/#rate-limits: 2,000 req/s for most endpoints,
//     1,000/min for the webhook endpoint settings, 60/hour for the webhook test.
//   - reference/messaging-api/#webhooks, #request-body, #signature-validation,
//     docs/messaging-api/verify-webhook-signature: x-line-signature is the
//     base64 HMAC-SHA256 of the raw body keyed by the channel secret; header
//     names are case-insensitive; an empty events array is a connectivity
//     check that must get a 200.
//   - reference/messaging-api/#webhook-event-objects, #common-properties,
//     #source-user/#source-group/#source-room, #message-event (text, image,
//     video, audio, file, location, sticker), #follow-event
//     (follow.isUnblocked), #unfollow-event: webhookEventId is a ULID,
//     deliveryContext.isRedelivery, mode active|standby, timestamp in ms is
//     the time the event happened even when redelivered.
//   - reference/messaging-api/#get-profile, #get-follower-ids (verified or
//     premium accounts only, limit default 300 max 1000, "next" token),
//     #get-bot-info, #send-push-message (200 even when the user blocked the
//     account), docs/messaging-api/retrying-api-request (X-Line-Retry-Key is a
//     UUID; a repeat of an accepted key answers 409).
//   - reference/messaging-api/#set-webhook-endpoint-url,
//     #get-webhook-endpoint-information, #test-webhook-endpoint (HTTPS, at
//     most 500 characters; test result success/timestamp/statusCode/reason/
//     detail with reasons OK, COULD_NOT_CONNECT, REQUEST_TIMEOUT,
//     ERROR_STATUS_CODE, UNCLASSIFIED).
//
// Tokens and channel secrets are never logged or put into error strings.
package line
