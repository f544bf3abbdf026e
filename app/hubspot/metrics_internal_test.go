package hubspot

import "testing"

func TestEndpointLabel(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", accountDetailsPath(), "GET /account-info/2026-03/details"},
		{"POST", objectsBatchPath(contactsObject, "create"), "POST /crm/objects/2026-03/contacts/batch/create"},
		{"GET", propertyPath(contactsObject, "line_user_id_3"), "GET /crm/properties/2026-03/contacts/{name}"},
		{"GET", propertyGroupsPath(contactsObject) + "/linehub_7?x=1", "GET /crm/properties/2026-03/contacts/groups/{name}"},
		{"POST", objectsSearchPath(contactsObject), "POST /crm/objects/2026-03/contacts/search"},
	} {
		if got := endpointLabel(tc.method, tc.path); got != tc.want {
			t.Errorf("endpointLabel(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}
