package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// PropertyGroup groups properties in HubSpot's UI.
type PropertyGroup struct {
	Name         string
	Label        string
	DisplayOrder int
}

// Option is one choice of an enumeration property.
type Option struct {
	Label        string
	Value        string
	DisplayOrder int
	Hidden       bool
}

// Property is a contact property definition.
type Property struct {
	Name        string
	Label       string
	Type        string // string, number, date, datetime, enumeration, bool
	FieldType   string // text, textarea, date, radio, select, checkbox, booleancheckbox, number, ...
	GroupName   string
	Description string
	Options     []Option
	FormField   bool
}

type propertyGroupJSON struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
}

type optionJSON struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

type propertyJSON struct {
	Name        string       `json:"name"`
	Label       string       `json:"label"`
	Type        string       `json:"type"`
	FieldType   string       `json:"fieldType"`
	GroupName   string       `json:"groupName"`
	Description string       `json:"description,omitempty"`
	Options     []optionJSON `json:"options,omitempty"`
	FormField   bool         `json:"formField"`
}

func (p Property) toJSON() propertyJSON {
	j := propertyJSON{
		Name: p.Name, Label: p.Label, Type: p.Type, FieldType: p.FieldType,
		GroupName: p.GroupName, Description: p.Description, FormField: p.FormField,
	}
	for _, o := range p.Options {
		j.Options = append(j.Options, optionJSON(o))
	}
	return j
}

func (j propertyJSON) toProperty() Property {
	p := Property{
		Name: j.Name, Label: j.Label, Type: j.Type, FieldType: j.FieldType,
		GroupName: j.GroupName, Description: j.Description, FormField: j.FormField,
	}
	for _, o := range j.Options {
		p.Options = append(p.Options, Option(o))
	}
	return p
}

type propertyBatchJSON struct {
	Status  string           `json:"status"`
	Results []propertyJSON   `json:"results"`
	Errors  []batchErrorJSON `json:"errors"`
}

// EnsurePropertyGroup creates a contact property group; one that already
// exists (409) is fine as it is.
func (c *Client) EnsurePropertyGroup(ctx context.Context, g PropertyGroup) error {
	path := propertyGroupsPath(contactsObject)
	resp, err := c.do(ctx, http.MethodPost, path, propertyGroupJSON(g), callOpts{})
	if err != nil {
		return fmt.Errorf("ensure property group %q: %w", g.Name, err)
	}
	if resp.ok() || resp.status == http.StatusConflict {
		return nil
	}
	return fmt.Errorf("ensure property group %q: %w", g.Name, resp.apiError())
}

// GetProperty reads one contact property; a missing one gives an error that
// errors.Is ErrNotFound.
func (c *Client) GetProperty(ctx context.Context, name string) (Property, error) {
	path := propertyPath(contactsObject, name)
	resp, err := c.do(ctx, http.MethodGet, path, nil, callOpts{})
	if err != nil {
		return Property{}, fmt.Errorf("get property %q: %w", name, err)
	}
	if err := expect(resp, http.MethodGet, path); err != nil {
		return Property{}, fmt.Errorf("get property %q: %w", name, err)
	}
	var j propertyJSON
	if err := resp.decode(&j); err != nil {
		return Property{}, fmt.Errorf("get property %q: %w", name, err)
	}
	return j.toProperty(), nil
}

// EnsureProperties creates the contact properties that do not exist yet and
// checks those that do: an existing property with another type or field
// type, or lacking one of the wanted option values, is an error wrapping
// ErrPropertyMismatch that names it. Options a HubSpot user added on top of
// ours are left alone: they break nothing linehub writes.
func (c *Client) EnsureProperties(ctx context.Context, props []Property) error {
	var mismatches []error
	for chunk := range slices.Chunk(props, maxBatchInputs) {
		errs, err := c.ensurePropertyChunk(ctx, chunk)
		if err != nil {
			return err
		}
		mismatches = append(mismatches, errs...)
	}
	return errors.Join(mismatches...)
}

func (c *Client) ensurePropertyChunk(ctx context.Context, props []Property) (mismatches []error, err error) {
	pending := props
	// Two rounds: create, then (if some existed) compare those and create
	// what is still missing. A third round would only chase a concurrent
	// writer, which is not worth the budget.
	for round := 0; round < 2 && len(pending) > 0; round++ {
		created, err := c.createProperties(ctx, pending)
		if err != nil {
			return nil, err
		}
		var check []Property
		for _, p := range pending {
			if !created[p.Name] {
				check = append(check, p)
			}
		}
		if len(check) == 0 {
			return mismatches, nil
		}
		existing, err := c.readProperties(ctx, names(check))
		if err != nil {
			return nil, err
		}
		pending = nil
		for _, want := range check {
			have, ok := existing[want.Name]
			if !ok {
				pending = append(pending, want)
				continue
			}
			if err := compareProperty(want, have); err != nil {
				mismatches = append(mismatches, err)
			}
		}
	}
	if len(pending) > 0 {
		return nil, fmt.Errorf("hubspot: properties %v could neither be created nor read", names(pending))
	}
	return mismatches, nil
}

// createProperties batch-creates props and says which were created. A 409
// (some already exist) is not an error: the caller reads and compares them.
func (c *Client) createProperties(ctx context.Context, props []Property) (map[string]bool, error) {
	path := propertiesBatchPath(contactsObject, "create")
	in := struct {
		Inputs []propertyJSON `json:"inputs"`
	}{}
	for _, p := range props {
		in.Inputs = append(in.Inputs, p.toJSON())
	}
	resp, err := c.do(ctx, http.MethodPost, path, in, callOpts{})
	if err != nil {
		return nil, fmt.Errorf("create properties: %w", err)
	}
	created := map[string]bool{}
	switch {
	case resp.ok():
		var out propertyBatchJSON
		if err := resp.decode(&out); err != nil {
			return nil, fmt.Errorf("create properties: %w", err)
		}
		for _, r := range out.Results {
			created[r.Name] = true
		}
		return created, nil
	case resp.status == http.StatusConflict:
		return created, nil
	default:
		return nil, fmt.Errorf("create properties %v: %w", names(props), resp.apiError())
	}
}

func (c *Client) readProperties(ctx context.Context, list []string) (map[string]Property, error) {
	path := propertiesBatchPath(contactsObject, "read")
	type nameJSON struct {
		Name string `json:"name"`
	}
	in := struct {
		Archived bool       `json:"archived"`
		Inputs   []nameJSON `json:"inputs"`
	}{}
	for _, n := range list {
		in.Inputs = append(in.Inputs, nameJSON{n})
	}
	resp, err := c.do(ctx, http.MethodPost, path, in, callOpts{})
	if err != nil {
		return nil, fmt.Errorf("read properties: %w", err)
	}
	if err := expect(resp, http.MethodPost, path); err != nil {
		return nil, fmt.Errorf("read properties: %w", err)
	}
	var out propertyBatchJSON
	if err := resp.decode(&out); err != nil {
		return nil, fmt.Errorf("read properties: %w", err)
	}
	found := make(map[string]Property, len(out.Results))
	for _, r := range out.Results {
		found[r.Name] = r.toProperty()
	}
	return found, nil
}

func compareProperty(want, have Property) error {
	if want.Type != have.Type || want.FieldType != have.FieldType {
		return fmt.Errorf("%w: %q is %s/%s in HubSpot, linehub needs %s/%s",
			ErrPropertyMismatch, want.Name, have.Type, have.FieldType, want.Type, want.FieldType)
	}
	var missing []string
	for _, o := range want.Options {
		if !slices.ContainsFunc(have.Options, func(h Option) bool { return h.Value == o.Value }) {
			missing = append(missing, o.Value)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %q lacks option values %q", ErrPropertyMismatch, want.Name, missing)
	}
	return nil
}

func names(props []Property) []string {
	out := make([]string, len(props))
	for i, p := range props {
		out[i] = p.Name
	}
	return out
}
