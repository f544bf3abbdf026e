package hubspottest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Contact is a contact as stored by the double.
type Contact struct {
	ID                string
	Properties        map[string]string
	PropertyUpdatedAt map[string]time.Time // when each property was last written
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// PropertyGroup is a contact property group.
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
	Name           string
	Label          string
	Type           string
	FieldType      string
	GroupName      string
	Description    string
	Options        []Option
	FormField      bool
	HubSpotDefined bool
	ReadOnly       bool
	CreatedAt      time.Time
}

type contactRec struct {
	id          string
	props       map[string]string
	propUpdated map[string]time.Time
	history     map[string][]propVersion // newest last
	created     time.Time
	updated     time.Time
	archived    bool
}

func (c *contactRec) export() Contact {
	return Contact{
		ID:                c.id,
		Properties:        maps.Clone(c.props),
		PropertyUpdatedAt: maps.Clone(c.propUpdated),
		CreatedAt:         c.created,
		UpdatedAt:         c.updated,
	}
}

func (p *Property) clone() Property {
	out := *p
	out.Options = slices.Clone(p.Options)
	return out
}

// seedDefaults creates what every HubSpot account has: the contact
// information group and the default contact properties linehub touches.
func (s *Server) seedDefaults() {
	now := time.Now()
	s.addGroup(PropertyGroup{Name: "contactinformation", Label: "Contact information"})
	for _, p := range append([]Property{
		{Name: "email", Label: "Email", Type: "string", FieldType: "text"},
		{Name: "firstname", Label: "First Name", Type: "string", FieldType: "text"},
		{Name: "lastname", Label: "Last Name", Type: "string", FieldType: "text"},
		{Name: "createdate", Label: "Create Date", Type: "datetime", FieldType: "date"},
		{Name: "lastmodifieddate", Label: "Last Modified Date", Type: "datetime", FieldType: "date", ReadOnly: true},
		{Name: "hs_object_id", Label: "Record ID", Type: "number", FieldType: "number", ReadOnly: true},
	}, s.mergeProperties()...) {
		p.GroupName, p.FormField, p.HubSpotDefined, p.CreatedAt = "contactinformation", true, true, now
		s.addProperty(p)
	}
}

func (s *Server) addGroup(g PropertyGroup) {
	s.groups[g.Name] = &g
	s.groupOrder = append(s.groupOrder, g.Name)
}

func (s *Server) addProperty(p Property) {
	s.props[p.Name] = &p
	s.propOrder = append(s.propOrder, p.Name)
}

// Contacts returns the live (not deleted) contacts in creation order.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Contact
	for _, c := range s.sortedContactsLocked() {
		out = append(out, c.export())
	}
	return out
}

func (s *Server) sortedContactsLocked() []*contactRec {
	var live []*contactRec
	for _, c := range s.contacts {
		if !c.archived {
			live = append(live, c)
		}
	}
	slices.SortFunc(live, func(a, b *contactRec) int {
		ai, _ := strconv.ParseInt(a.id, 10, 64)
		bi, _ := strconv.ParseInt(b.id, 10, 64)
		return cmp.Compare(ai, bi)
	})
	return live
}

// Contact returns a live contact by id.
func (s *Server) Contact(id string) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.liveLocked(id)
	if c == nil {
		return Contact{}, false
	}
	return c.export(), true
}

// ContactByEmail finds a live contact by email, ignoring case.
func (s *Server) ContactByEmail(email string) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byEmail[strings.ToLower(strings.TrimSpace(email))]
	if !ok {
		return Contact{}, false
	}
	return s.contacts[id].export(), true
}

// DeleteContact deletes a contact as a HubSpot user would: it is archived,
// its email is free again, and the API reports it as not found.
func (s *Server) DeleteContact(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.liveLocked(id)
	if c == nil {
		return
	}
	c.archived = true
	s.forgetEmailsLocked(c)
}

// propVersion is one entry of a property's history (propertiesWithHistory).
type propVersion struct {
	value  string
	at     time.Time
	source string
}

// Source types the double records in property history: API writes count
// as the private app's ("INTEGRATION"), EditContact as a person's.
const (
	SourceIntegration = "INTEGRATION"
	SourceCRMUI       = "CRM_UI"
	SourceWorkflow    = "WORKFLOW"
)

// EditContact changes properties as a HubSpot user would in the UI: no API
// request is counted, and an empty value clears the property.
func (s *Server) EditContact(id string, props map[string]string) {
	s.EditContactAs(id, props, SourceCRMUI)
}

// EditContactAs is EditContact recorded in the history under another
// source type, such as SourceWorkflow or SourceIntegration (another app).
func (s *Server) EditContactAs(id string, props map[string]string, source string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.liveLocked(id)
	if c == nil {
		return
	}
	if e, ok := props["email"]; ok {
		props = maps.Clone(props)
		props["email"] = strings.ToLower(strings.TrimSpace(e))
	}
	s.applyFromLocked(c, props, time.Now(), source)
}

// PropertyGroups lists the contact property groups.
func (s *Server) PropertyGroups() []PropertyGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PropertyGroup, 0, len(s.groupOrder))
	for _, n := range s.groupOrder {
		out = append(out, *s.groups[n])
	}
	return out
}

// Property returns a contact property definition.
func (s *Server) Property(name string) (Property, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.props[name]
	if !ok {
		return Property{}, false
	}
	return p.clone(), true
}

// Properties lists all contact property definitions.
func (s *Server) Properties() []Property {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Property, 0, len(s.propOrder))
	for _, n := range s.propOrder {
		out = append(out, s.props[n].clone())
	}
	return out
}

func (s *Server) liveLocked(id string) *contactRec {
	c, ok := s.contacts[s.canonicalLocked(id)] // an id merged away reads as the merged record
	if !ok || c.archived {
		return nil
	}
	return c
}

// newContactLocked stores a contact with already validated, normalised
// properties.
func (s *Server) newContactLocked(props map[string]string, now time.Time) *contactRec {
	id := strconv.FormatInt(s.nextID, 10)
	s.nextID++
	c := &contactRec{id: id, props: map[string]string{}, propUpdated: map[string]time.Time{}, created: now}
	if cd := props["createdate"]; cd != "" {
		if t, err := time.Parse(time.RFC3339Nano, cd); err == nil {
			c.created = t
		}
	}
	c.props["createdate"] = hsTime(c.created)
	c.props["hs_object_id"] = id
	c.propUpdated["createdate"] = now
	c.propUpdated["hs_object_id"] = now
	s.contacts[id] = c
	s.applyLocked(c, props, now)
	return c
}

// applyLocked writes properties ("" clears one) and keeps the email index
// and the modification dates right.
func (s *Server) applyLocked(c *contactRec, props map[string]string, now time.Time) {
	s.applyFromLocked(c, props, now, SourceIntegration)
}

func (s *Server) applyFromLocked(c *contactRec, props map[string]string, now time.Time, source string) {
	if c.history == nil {
		c.history = map[string][]propVersion{}
	}
	for k, v := range props {
		if k == "hs_object_id" || k == "lastmodifieddate" {
			continue
		}
		if k == "email" {
			if old := c.props["email"]; old != "" && s.byEmail[old] == c.id {
				delete(s.byEmail, old)
			}
			if v != "" {
				s.byEmail[v] = c.id
			}
		}
		if v == "" {
			delete(c.props, k)
		} else {
			c.props[k] = v
		}
		c.propUpdated[k] = now
		c.history[k] = append(c.history[k], propVersion{value: v, at: now, source: source})
	}
	c.updated = now
	c.props["lastmodifieddate"] = hsTime(now)
	c.propUpdated["lastmodifieddate"] = now
}

// propError is one invalid property value, in the shape HubSpot lists them.
type propError struct {
	Name    string
	Code    string
	Message string
}

var emailPattern = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)

// validateLocked checks values against the property definitions and returns
// them normalised as HubSpot stores them.
func (s *Server) validateLocked(props map[string]string) (map[string]string, []propError) {
	out := make(map[string]string, len(props))
	var errs []propError
	for _, name := range slices.Sorted(maps.Keys(props)) {
		v := props[name]
		def, ok := s.props[name]
		if !ok {
			errs = append(errs, propError{name, "PROPERTY_DOESNT_EXIST", fmt.Sprintf("Property %q does not exist", name)})
			continue
		}
		if def.ReadOnly {
			errs = append(errs, propError{name, "READ_ONLY_VALUE", fmt.Sprintf("%s is a read only property; its value cannot be set.", name)})
			continue
		}
		if v == "" {
			out[name] = ""
			continue
		}
		norm, pe := normalizeValue(def, v)
		if pe != nil {
			errs = append(errs, *pe)
			continue
		}
		out[name] = norm
	}
	return out, errs
}

func normalizeValue(def *Property, v string) (string, *propError) {
	bad := func(code, msg string) (string, *propError) {
		return "", &propError{def.Name, code, msg}
	}
	if def.Name == "email" {
		e := strings.ToLower(strings.TrimSpace(v))
		if !emailPattern.MatchString(e) {
			return bad("INVALID_EMAIL", fmt.Sprintf("Email address %s is invalid", v))
		}
		return e, nil
	}
	switch def.Type {
	case "enumeration":
		vals := []string{v}
		if def.FieldType == "checkbox" {
			vals = strings.Split(v, ";")
		}
		for _, x := range vals {
			if !slices.ContainsFunc(def.Options, func(o Option) bool { return o.Value == x }) {
				allowed := make([]string, len(def.Options))
				for i, o := range def.Options {
					allowed[i] = o.Value
				}
				return bad("INVALID_OPTION", fmt.Sprintf("%s was not one of the allowed options: [%s]", x, strings.Join(allowed, ", ")))
			}
		}
		return v, nil
	case "bool":
		switch strings.ToLower(v) {
		case "true", "false":
			return strings.ToLower(v), nil
		}
		return bad("INVALID_BOOLEAN", fmt.Sprintf("%s was not a valid boolean.", v))
	case "number":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return bad("INVALID_DOUBLE", fmt.Sprintf("%s was not a valid number.", v))
		}
		return v, nil
	case "datetime":
		t, ok := parseDateTime(v)
		if !ok {
			return bad("INVALID_DATE", fmt.Sprintf("%s was not a valid date-time: use epoch milliseconds or ISO-8601.", v))
		}
		return hsTime(t), nil
	case "date":
		t, ok := parseDateTime(v)
		if !ok {
			return bad("INVALID_DATE", fmt.Sprintf("%s was not a valid date: use epoch milliseconds or YYYY-MM-DD.", v))
		}
		t = t.UTC()
		if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
			return bad("INVALID_DATE", fmt.Sprintf("%s is not midnight UTC; date properties hold whole days.", v))
		}
		return t.Format(time.DateOnly), nil
	}
	return v, nil
}

// parseDateTime accepts what HubSpot accepts for date and datetime values:
// epoch milliseconds or ISO-8601.
func parseDateTime(v string) (time.Time, bool) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// validationBody is HubSpot's 400 for invalid property values: the message
// embeds the list of failed validations as JSON text.
func validationBody(errs []propError) (string, map[string]any) {
	type result struct {
		IsValid               bool   `json:"isValid"`
		Message               string `json:"message"`
		Error                 string `json:"error"`
		Name                  string `json:"name"`
		LocalizedErrorMessage string `json:"localizedErrorMessage"`
	}
	list := make([]result, len(errs))
	details := make([]map[string]any, len(errs))
	for i, e := range errs {
		list[i] = result{false, e.Message, e.Code, e.Name, e.Message}
		details[i] = map[string]any{
			"message": e.Message,
			"code":    e.Code,
			"context": map[string][]string{"propertyName": {e.Name}},
		}
	}
	js, _ := json.Marshal(list)
	return "Property values were not valid: " + string(js), map[string]any{"errors": details}
}

// AddContact creates a contact as a HubSpot user would in the UI (no API
// request counted) and returns its id. Values are checked like the API
// checks them; an unknown property or a taken email is an error.
func (s *Server) AddContact(props map[string]string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	norm, errs := s.validateLocked(props)
	if len(errs) > 0 {
		return "", fmt.Errorf("hubspottest: add contact: %s: %s", errs[0].Name, errs[0].Message)
	}
	if e := norm["email"]; e != "" {
		norm["email"] = strings.ToLower(strings.TrimSpace(e))
		if _, taken := s.byEmail[norm["email"]]; taken {
			return "", fmt.Errorf("hubspottest: add contact: email %s is taken", norm["email"])
		}
	}
	now := time.Now()
	c := s.newContactLocked(nil, now)
	s.applyFromLocked(c, norm, now, SourceCRMUI)
	return c.id, nil
}
