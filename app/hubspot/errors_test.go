package hubspot

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestRequiredScopes(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"granular", `{"status":"error","message":"This app hasn't been granted all required scopes to make this call.","category":"MISSING_SCOPES","errors":[{"message":"One or more of the following scopes are required.","context":{"requiredGranularScopes":["crm.lists.read"]}}]}`, []string{"crm.lists.read"}},
		{"older shape", `{"status":"error","message":"x","category":"MISSING_SCOPES","errors":[{"message":"y","context":{"requiredScopes":["contacts"]}}]}`, []string{"contacts"}},
		{"another 403", `{"status":"error","message":"x","category":"FORBIDDEN"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("search lists: %w", parseAPIError(403, []byte(tc.body)))
			if got := RequiredScopes(err); !slices.Equal(got, tc.want) {
				t.Fatalf("RequiredScopes = %v, want %v", got, tc.want)
			}
			if errors.Is(err, ErrMissingScopes) != (tc.want != nil) {
				t.Fatalf("errors.Is(ErrMissingScopes) = %v", tc.want == nil)
			}
		})
	}
}
