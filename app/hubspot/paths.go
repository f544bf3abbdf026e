package hubspot

import "net/url"

// Every request path of this client is built in this file, so moving from one
// date-versioned API to the next (or back to the legacy /v3/ paths) is a
// change to this file alone.
//
// Checked against HubSpot's reference for the 2026-03 API
// (developers.hubspot.com/docs/api-reference/2026-03/...):
//
//   - account/account-information/get-account-details
//     GET  /account-info/2026-03/details
//   - crm/properties/property-groups/create-property, get-property, get-properties
//     POST|GET /crm/properties/2026-03/{objectType}/groups[/{groupName}]
//   - crm/properties/get-properties, get-property
//     GET  /crm/properties/2026-03/{objectType}[/{propertyName}]
//   - crm/properties/batch/create-properties, batch/get-properties
//     POST /crm/properties/2026-03/{objectType}/batch/{create,read}
//   - crm/objects/contacts/guide, batch/create-contacts, batch/upsert-contacts
//     POST /crm/objects/2026-03/contacts[/batch/{create,update,upsert,read}]
//   - crm/search-the-crm
//     POST /crm/objects/2026-03/{object}/search
//   - error-handling (error body, 207 multi-status, objectWriteTraceId)
//   - developer-tooling/platform/usage-guidelines and the changelog entries
//     "Increasing our API limits" (100 / 190 requests per 10 s, daily limit
//     resets at midnight in the account's time zone) and the rate-limit
//     header announcements (X-HubSpot-RateLimit-*).
//
// The legacy equivalents are /crm/v3/objects/contacts/..., /crm/v3/properties/...
// and /account-info/v3/details.

// APIVersion is the date-versioned HubSpot API this client speaks.
const APIVersion = "2026-03"

const contactsObject = "contacts"

// Batch endpoints accept at most this many inputs per request.
const maxBatchInputs = 100

func accountDetailsPath() string {
	return "/account-info/" + APIVersion + "/details"
}

func propertiesPath(object string) string {
	return "/crm/properties/" + APIVersion + "/" + object
}

func propertyPath(object, name string) string {
	return propertiesPath(object) + "/" + url.PathEscape(name)
}

func propertiesBatchPath(object, action string) string {
	return propertiesPath(object) + "/batch/" + action
}

func propertyGroupsPath(object string) string {
	return propertiesPath(object) + "/groups"
}

func objectsPath(object string) string {
	return "/crm/objects/" + APIVersion + "/" + object
}

func objectsBatchPath(object, action string) string {
	return objectsPath(object) + "/batch/" + action
}

func objectsSearchPath(object string) string {
	return objectsPath(object) + "/search"
}

// Lists (segments) and notes, checked against the 2026-03 reference:
//
//   - crm/lists/search/search-lists
//     POST /crm/lists/2026-03/search {"query","count","offset","objectTypeId"}
//   - crm/lists/memberships/get-memberships-by-id
//     GET  /crm/lists/2026-03/{listId}/memberships?limit=(≤250)&after=
//   - crm/activities/notes/batch/create-notes (and notes/guide:
//     hs_timestamp required, hs_note_body ≤ 65,536 characters; note → contact
//     is the HUBSPOT_DEFINED association type 202)
//     POST /crm/objects/2026-03/notes/batch/create
//   - crm/objects/objects/batch/get-objects (for notes)
//     POST /crm/objects/2026-03/notes/batch/read
//   - crm/associations/associate-records/batch/get-associations (≤ 1000
//     inputs; "paging" on a result while that object has more)
//     POST /crm/associations/2026-03/{fromObjectType}/{toObjectType}/batch/read

const (
	notesObject          = "notes"
	contactObjectTypeID  = "0-1"
	maxMembershipsPage   = 250
	noteToContactAssocID = 202
)

func listsSearchPath() string { return "/crm/lists/" + APIVersion + "/search" }

func listMembershipsPath(listID string) string {
	return "/crm/lists/" + APIVersion + "/" + url.PathEscape(listID) + "/memberships"
}

func associationsBatchReadPath(from, to string) string {
	return "/crm/associations/" + APIVersion + "/" + from + "/" + to + "/batch/read"
}

// Merging two contacts, checked against the 2026-03 reference
// (crm/objects/contacts/merge; legacy POST /crm/v3/objects/contacts/merge):
//
//	POST /crm/objects/2026-03/contacts/merge {"primaryObjectId","objectIdToMerge"}
//
// answers 200 with the merged record as a simple public object.
func objectsMergePath(object string) string { return objectsPath(object) + "/merge" }
