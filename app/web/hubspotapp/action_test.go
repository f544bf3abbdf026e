package hubspotapp

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"linehub/app/hubspotproject"
)

// The action's definition in the project linehub writes names the fields
// this handler reads, offers every result it answers, points its URLs at
// these routes, and has an execution rule (with a label in each language)
// for every failure a workflow can branch on. The file is a template the
// project writer fills ({{json .ActionURL}} …); it is rendered here the
// same way.
func TestActionDefinitionMatchesHandler(t *testing.T) {
	const base = "https://linehub.example.com"
	files, err := hubspotproject.Files(hubspotproject.Options{PublicURL: base})
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := files["src/app/workflow-actions/send-line-message-hsmeta.json"]
	if !ok {
		t.Fatalf("no action definition among %d files", len(files))
	}
	out := bytes.NewReader(raw)
	var def struct {
		UID, Type string
		Config    struct {
			ActionURL        string `json:"actionUrl"`
			IsPublished      bool
			SupportedClients []struct{ Client string }
			ObjectTypes      []string
			ObjectRequest    struct {
				Properties []string
			} `json:"objectRequestOptions"`
			InputFields []struct {
				TypeDefinition struct {
					Name, Type, FieldType string
					OptionsURL            string `json:"optionsUrl"`
				}
				SupportedValueTypes []string
				IsRequired          bool
			}
			OutputFields []struct {
				TypeDefinition struct {
					Name, Type, FieldType string
					Options               []struct{ Value, Label string }
				}
				SupportedValueTypes []string
			}
			ExecutionRules []struct {
				LabelName  string
				Conditions map[string]string
			}
			Labels map[string]struct {
				AppDisplayName, ActionName, ActionDescription, ActionCardContent string
				InputFieldLabels, InputFieldDescriptions, OutputFieldLabels      map[string]string
				ExecutionRules                                                   map[string]string
			}
		}
	}
	dec := json.NewDecoder(out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&def); err != nil {
		t.Fatalf("definition: %v", err)
	}
	c := def.Config
	if def.Type != "workflow-action" || def.UID == "" || !c.IsPublished || c.ActionURL != base+"/hubspot/app/actions/send" ||
		!slices.Equal(c.ObjectTypes, []string{"CONTACT"}) || len(c.SupportedClients) != 1 || c.SupportedClients[0].Client != "WORKFLOWS" {
		t.Fatalf("definition: %+v", def)
	}
	want := map[string]string{FieldConnection: base + "/hubspot/app/actions/connections", FieldTemplate: base + "/hubspot/app/actions/templates", FieldText: ""}
	for _, f := range c.InputFields {
		u, ok := want[f.TypeDefinition.Name]
		if !ok || f.TypeDefinition.OptionsURL != u {
			t.Errorf("input field %+v", f.TypeDefinition)
		}
		delete(want, f.TypeDefinition.Name)
		if f.TypeDefinition.Name == FieldConnection && !f.IsRequired {
			t.Error("the connection must be required")
		}
	}
	if len(want) != 0 {
		t.Errorf("fields missing: %v", want)
	}
	if len(c.OutputFields) != 1 || c.OutputFields[0].TypeDefinition.Name != OutputResult {
		t.Fatalf("output fields %+v", c.OutputFields)
	}
	var results []string
	for _, o := range c.OutputFields[0].TypeDefinition.Options {
		results = append(results, o.Value)
	}
	for _, r := range []string{ResultSent, ResultNotFriend, ResultBlocked, ResultQuotaExhausted, ResultConnectionMissing, ResultInvalidMessage, ResultFailed} {
		if !slices.Contains(results, r) {
			t.Errorf("result %q is answered but not offered for branching", r)
		}
	}
	for _, r := range []string{ResultNotFriend, ResultBlocked, ResultQuotaExhausted, ResultConnectionMissing, ResultInvalidMessage} {
		found := false
		for _, rule := range c.ExecutionRules {
			if rule.LabelName == r && rule.Conditions["errorCode"] == strings.ToUpper(r) {
				found = true
			}
		}
		if !found {
			t.Errorf("no execution rule for %s", r)
		}
		for _, lang := range []string{"en", "ja"} {
			if c.Labels[lang].ExecutionRules[r] == "" {
				t.Errorf("%s: no %s message for %s", lang, lang, r)
			}
		}
	}
	if !slices.Contains(c.ObjectRequest.Properties, "firstname") {
		t.Errorf("objectRequestOptions %v: HubSpot should send at least firstname", c.ObjectRequest.Properties)
	}
	for _, lang := range []string{"en", "ja"} {
		l := c.Labels[lang]
		if l.ActionName == "" || len(l.InputFieldLabels) != 3 || len(l.InputFieldDescriptions) != 3 || l.OutputFieldLabels[OutputResult] == "" {
			t.Errorf("labels %s: %+v", lang, l)
		}
	}
}
