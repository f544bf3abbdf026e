package hubspottest

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

const (
	version     = "2026-03"
	maxInputs   = 100
	notFoundMsg = "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid."
)

// The 2026-03 routes this double serves; the legacy /v3/ paths are not
// served (404), so a client still on them fails loudly.
func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /account-info/"+version+"/details", s.accountDetails)

	m.HandleFunc("GET /crm/properties/"+version+"/{objectType}", s.listProperties)
	m.HandleFunc("POST /crm/properties/"+version+"/{objectType}", s.createProperty)
	m.HandleFunc("GET /crm/properties/"+version+"/{objectType}/{name}", s.getProperty)
	m.HandleFunc("POST /crm/properties/"+version+"/{objectType}/batch/create", s.batchCreateProperties)
	m.HandleFunc("POST /crm/properties/"+version+"/{objectType}/batch/read", s.batchReadProperties)
	m.HandleFunc("GET /crm/properties/"+version+"/{objectType}/groups", s.listGroups)
	m.HandleFunc("POST /crm/properties/"+version+"/{objectType}/groups", s.createGroup)
	m.HandleFunc("GET /crm/properties/"+version+"/{objectType}/groups/{name}", s.getGroup)

	m.HandleFunc("POST /crm/objects/"+version+"/{objectType}", s.createContact)
	m.HandleFunc("GET /crm/objects/"+version+"/{objectType}/{id}", s.getContact)
	m.HandleFunc("POST /crm/objects/"+version+"/{objectType}/batch/{action}", s.batchContacts)
	m.HandleFunc("POST /crm/objects/"+version+"/{objectType}/search", s.searchContacts)
	s.messagingRoutes(m) // lists and notes (lists.go)
	s.mergeRoutes(m)     // merge.go

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, "", fmt.Sprintf("No route for %s %s", r.Method, r.URL.Path), nil)
	})
	s.mux = m
}

// contactsOnly limits the double to the contacts object (also known as 0-1).
func (s *Server) contactsOnly(w http.ResponseWriter, r *http.Request) bool {
	switch r.PathValue("objectType") {
	case "contacts", "contact", "0-1":
		return true
	}
	s.writeError(w, http.StatusNotFound, "", "hubspottest serves contacts only, not "+r.PathValue("objectType"), nil)
	return false
}

func (s *Server) accountDetails(w http.ResponseWriter, _ *http.Request) {
	_, offset := time.Now().In(s.loc).Zone()
	sign, abs := "+", offset
	if offset < 0 {
		sign, abs = "-", -offset
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"portalId":              s.opts.PortalID,
		"accountType":           "STANDARD",
		"timeZone":              s.opts.TimeZone,
		"companyCurrency":       "JPY",
		"additionalCurrencies":  []string{},
		"utcOffset":             fmt.Sprintf("%s%02d:%02d", sign, abs/3600, abs%3600/60),
		"utcOffsetMilliseconds": offset * 1000,
		"uiDomain":              "app.hubspot.com",
		"dataHostingLocation":   "na1",
	})
}

// ---- property groups ----

type groupIn struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
}

func groupOut(g *PropertyGroup) map[string]any {
	return map[string]any{"name": g.Name, "label": g.Label, "displayOrder": g.DisplayOrder, "archived": false}
}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	var in groupIn
	if !s.decode(w, r, &in) {
		return
	}
	if !namePattern.MatchString(in.Name) || in.Label == "" {
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Property group name must be lowercase letters, digits and underscores, and label is required", nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[in.Name]; ok {
		s.writeError(w, http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("A property group named '%s' already exists.", in.Name), nil)
		return
	}
	s.addGroup(PropertyGroup(in))
	writeJSON(w, http.StatusCreated, groupOut(s.groups[in.Name]))
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[r.PathValue("name")]
	if !ok {
		s.writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", fmt.Sprintf("Unable to find property group %s", r.PathValue("name")), nil)
		return
	}
	writeJSON(w, http.StatusOK, groupOut(g))
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, n := range s.groupOrder {
		out = append(out, groupOut(s.groups[n]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

// ---- properties ----

type optionIn struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
	Description  string `json:"description"`
}

type propertyIn struct {
	Name        string     `json:"name"`
	Label       string     `json:"label"`
	Type        string     `json:"type"`
	FieldType   string     `json:"fieldType"`
	GroupName   string     `json:"groupName"`
	Description string     `json:"description"`
	Options     []optionIn `json:"options"`
	FormField   bool       `json:"formField"`
}

// Field types HubSpot allows per property type.
var fieldTypes = map[string][]string{
	"string":       {"text", "textarea", "html", "phonenumber", "file"},
	"number":       {"number", "calculation_equation"},
	"date":         {"date"},
	"datetime":     {"date"},
	"enumeration":  {"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"},
	"bool":         {"booleancheckbox", "calculation_equation"},
	"phone_number": {"phonenumber"},
}

func propertyOut(p *Property) map[string]any {
	opts := []map[string]any{}
	for _, o := range p.Options {
		opts = append(opts, map[string]any{"label": o.Label, "value": o.Value, "displayOrder": o.DisplayOrder, "hidden": o.Hidden, "description": ""})
	}
	return map[string]any{
		"name": p.Name, "label": p.Label, "type": p.Type, "fieldType": p.FieldType,
		"groupName": p.GroupName, "description": p.Description, "options": opts,
		"displayOrder": -1, "calculated": false, "externalOptions": false,
		"hasUniqueValue": false, "hidden": false, "hubspotDefined": p.HubSpotDefined,
		"formField": p.FormField, "archived": false,
		"createdAt": hsTime(p.CreatedAt), "updatedAt": hsTime(p.CreatedAt),
		"modificationMetadata": map[string]any{
			"archivable": !p.HubSpotDefined, "readOnlyDefinition": p.HubSpotDefined,
			"readOnlyValue": p.ReadOnly, "readOnlyOptions": false,
		},
	}
}

// checkPropertyLocked validates a definition; ok false means it answered.
func (s *Server) checkPropertyLocked(in propertyIn) (Property, string) {
	switch {
	case !namePattern.MatchString(in.Name):
		return Property{}, fmt.Sprintf("Property name %q must start with a letter and contain only lowercase letters, digits and underscores", in.Name)
	case in.Label == "":
		return Property{}, fmt.Sprintf("Property %s: label is required", in.Name)
	case s.groups[in.GroupName] == nil:
		return Property{}, fmt.Sprintf("Property %s: property group %q does not exist", in.Name, in.GroupName)
	}
	allowed, ok := fieldTypes[in.Type]
	if !ok {
		return Property{}, fmt.Sprintf("Property %s: %q is not a valid property type", in.Name, in.Type)
	}
	if !slices.Contains(allowed, in.FieldType) {
		return Property{}, fmt.Sprintf("Property %s: fieldType %q is not valid for type %q", in.Name, in.FieldType, in.Type)
	}
	p := Property{
		Name: in.Name, Label: in.Label, Type: in.Type, FieldType: in.FieldType,
		GroupName: in.GroupName, Description: in.Description, FormField: in.FormField,
		CreatedAt: time.Now(),
	}
	seen := map[string]bool{}
	for _, o := range in.Options {
		if o.Value == "" || seen[o.Value] {
			return Property{}, fmt.Sprintf("Property %s: option values must be non-empty and unique", in.Name)
		}
		seen[o.Value] = true
		p.Options = append(p.Options, Option{Label: o.Label, Value: o.Value, DisplayOrder: o.DisplayOrder, Hidden: o.Hidden})
	}
	return p, ""
}

func (s *Server) createProperty(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	var in propertyIn
	if !s.decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.props[in.Name]; ok {
		s.writeError(w, http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("Property named '%s' already exists.", in.Name), nil)
		return
	}
	p, msg := s.checkPropertyLocked(in)
	if msg != "" {
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg, nil)
		return
	}
	s.addProperty(p)
	writeJSON(w, http.StatusCreated, propertyOut(s.props[p.Name]))
}

func (s *Server) getProperty(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.props[r.PathValue("name")]
	if !ok {
		s.writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", fmt.Sprintf("Unable to find property %s", r.PathValue("name")), nil)
		return
	}
	writeJSON(w, http.StatusOK, propertyOut(p))
}

func (s *Server) listProperties(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, n := range s.propOrder {
		out = append(out, propertyOut(s.props[n]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

// batchCreateProperties creates all or nothing: a name that exists already
// fails the batch with 409, an invalid definition with 400.
func (s *Server) batchCreateProperties(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	var in struct {
		Inputs []propertyIn `json:"inputs"`
	}
	if !s.decode(w, r, &in) || !s.checkInputCount(w, len(in.Inputs)) {
		return
	}
	started := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var created []Property
	seen := map[string]bool{}
	for _, pi := range in.Inputs {
		if _, ok := s.props[pi.Name]; ok || seen[pi.Name] {
			s.writeError(w, http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("Property named '%s' already exists.", pi.Name), nil)
			return
		}
		seen[pi.Name] = true
		p, msg := s.checkPropertyLocked(pi)
		if msg != "" {
			s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg, nil)
			return
		}
		created = append(created, p)
	}
	results := []map[string]any{}
	for _, p := range created {
		s.addProperty(p)
		results = append(results, propertyOut(s.props[p.Name]))
	}
	writeJSON(w, http.StatusCreated, batchBody(results, nil, started))
}

func (s *Server) batchReadProperties(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	var in struct {
		Inputs []struct {
			Name string `json:"name"`
		} `json:"inputs"`
	}
	if !s.decode(w, r, &in) || !s.checkInputCount(w, len(in.Inputs)) {
		return
	}
	started := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	results := []map[string]any{}
	var missing []string
	for _, n := range in.Inputs {
		if p, ok := s.props[n.Name]; ok {
			results = append(results, propertyOut(p))
		} else {
			missing = append(missing, n.Name)
		}
	}
	var errs []map[string]any
	if len(missing) > 0 {
		errs = append(errs, map[string]any{
			"status":   "error",
			"category": "OBJECT_NOT_FOUND",
			"message":  "Unable to find some properties: " + strings.Join(missing, ", "),
			"context":  map[string][]string{"properties": missing},
		})
	}
	writeJSON(w, batchStatus(http.StatusOK, errs), batchBody(results, errs, started))
}

// ---- contacts ----

// Properties every object answer carries, besides those asked for.
var alwaysReturned = []string{"createdate", "hs_object_id", "lastmodifieddate"}

// Properties search and reads return when none are asked for.
var defaultReturned = []string{"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}

// objectOut renders a contact as HubSpot's simple public object; want nil
// means the default properties. Unset properties asked for are null.
func objectOut(c *contactRec, want []string) map[string]any {
	if want == nil {
		want = defaultReturned
	}
	props := map[string]any{}
	for _, n := range append(slices.Clone(want), alwaysReturned...) {
		if v, ok := c.props[n]; ok {
			props[n] = v
		} else {
			props[n] = nil
		}
	}
	return map[string]any{
		"id":         c.id,
		"properties": props,
		"createdAt":  hsTime(c.created),
		"updatedAt":  hsTime(c.updated),
		"archived":   false,
	}
}

func batchBody(results []map[string]any, errs []map[string]any, started time.Time) map[string]any {
	if results == nil {
		results = []map[string]any{}
	}
	body := map[string]any{
		"status":      "COMPLETE",
		"results":     results,
		"startedAt":   hsTime(started),
		"completedAt": hsTime(time.Now()),
		"links":       map[string]string{},
	}
	if len(errs) > 0 {
		body["numErrors"] = len(errs)
		body["errors"] = errs
	}
	return body
}

// batchStatus is 207 Multi-Status when some inputs failed.
func batchStatus(ok int, errs []map[string]any) int {
	if len(errs) > 0 {
		return http.StatusMultiStatus
	}
	return ok
}

func (s *Server) checkInputCount(w http.ResponseWriter, n int) bool {
	switch {
	case n == 0:
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "inputs must not be empty", nil)
		return false
	case n > maxInputs:
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR",
			fmt.Sprintf("Batch size of %d exceeds the limit of %d inputs", n, maxInputs),
			map[string]any{"context": map[string][]string{"inputs": {fmt.Sprint(n)}}})
		return false
	}
	return true
}

func (s *Server) conflictError(w http.ResponseWriter, existing string) {
	s.writeError(w, http.StatusConflict, "CONFLICT", "Contact already exists. Existing ID: "+existing, nil)
}

func (s *Server) invalidProps(w http.ResponseWriter, errs []propError) {
	msg, extra := validationBody(errs)
	s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg, extra)
}

type objectIn struct {
	ID                 string            `json:"id"`
	IDProperty         string            `json:"idProperty"`
	Properties         map[string]string `json:"properties"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId"`
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	var in objectIn
	if !s.decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	props, errs := s.validateLocked(in.Properties)
	if len(errs) > 0 {
		s.invalidProps(w, errs)
		return
	}
	if id, ok := s.byEmail[props["email"]]; ok && props["email"] != "" {
		s.conflictError(w, id)
		return
	}
	c := s.newContactLocked(props, time.Now())
	writeJSON(w, http.StatusCreated, objectOut(c, slices.Collect(maps.Keys(props))))
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.liveLocked(r.PathValue("id"))
	if c == nil {
		s.writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.", nil)
		return
	}
	var want []string
	if p := r.URL.Query().Get("properties"); p != "" {
		want = strings.Split(p, ",")
	}
	writeJSON(w, http.StatusOK, objectOut(c, want))
}

func (s *Server) batchContacts(w http.ResponseWriter, r *http.Request) {
	if !s.contactsOnly(w, r) {
		return
	}
	var in struct {
		Inputs     []objectIn `json:"inputs"`
		Properties []string   `json:"properties"`
		History    []string   `json:"propertiesWithHistory"`
		IDProperty string     `json:"idProperty"`
	}
	if !s.decode(w, r, &in) || !s.checkInputCount(w, len(in.Inputs)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.PathValue("action") {
	case "create":
		s.batchCreateLocked(w, in.Inputs)
	case "update":
		s.batchUpdateLocked(w, in.Inputs)
	case "upsert":
		s.batchUpsertLocked(w, in.Inputs)
	case "read":
		s.batchReadLocked(w, in.Inputs, in.Properties, in.History, in.IDProperty)
	default:
		s.writeError(w, http.StatusNotFound, "", "No route for batch action "+r.PathValue("action"), nil)
	}
}

func (s *Server) batchCreateLocked(w http.ResponseWriter, inputs []objectIn) {
	started := time.Now()
	// Multi-status is opt-in per HubSpot: every input carries a trace id.
	multi := !s.opts.DisableMultiStatus
	for _, in := range inputs {
		multi = multi && in.ObjectWriteTraceID != ""
	}
	type outcome struct {
		props    map[string]string
		errs     []propError
		existing string
	}
	outcomes := make([]outcome, len(inputs))
	emails := map[string]bool{}
	for i, in := range inputs {
		props, errs := s.validateLocked(in.Properties)
		outcomes[i] = outcome{props: props, errs: errs}
		if len(errs) > 0 {
			continue
		}
		e := props["email"]
		if e == "" {
			continue
		}
		if emails[e] {
			s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Duplicate IDs found in batch input: ["+e+"]", nil)
			return
		}
		emails[e] = true
		if id, ok := s.byEmail[e]; ok {
			outcomes[i].existing = id
		}
	}
	if !multi {
		for _, o := range outcomes {
			if len(o.errs) > 0 {
				s.invalidProps(w, o.errs)
				return
			}
		}
		for _, o := range outcomes {
			if o.existing != "" {
				s.conflictError(w, o.existing)
				return
			}
		}
	}
	now := time.Now()
	var results, errs []map[string]any
	for i, o := range outcomes {
		trace := inputs[i].ObjectWriteTraceID
		traceCtx := map[string][]string{"objectWriteTraceId": {trace}}
		switch {
		case len(o.errs) > 0:
			msg, extra := validationBody(o.errs)
			errs = append(errs, map[string]any{"status": "error", "category": "VALIDATION_ERROR", "message": msg, "context": traceCtx, "errors": extra["errors"]})
		case o.existing != "":
			errs = append(errs, map[string]any{"status": "error", "category": "CONFLICT", "message": "Contact already exists. Existing ID: " + o.existing, "context": traceCtx})
		default:
			c := s.newContactLocked(o.props, now)
			out := objectOut(c, slices.Collect(maps.Keys(o.props)))
			if trace != "" {
				out["objectWriteTraceId"] = trace
			}
			results = append(results, out)
		}
	}
	writeJSON(w, batchStatus(http.StatusCreated, errs), batchBody(results, errs, started))
}

// resolveLocked finds the contact an update input names: by id, or by a
// unique property (email) when idProperty says so.
func (s *Server) resolveLocked(in objectIn) (*contactRec, string) {
	switch in.IDProperty {
	case "", "hs_object_id":
		return s.liveLocked(in.ID), ""
	case "email":
		id, ok := s.byEmail[strings.ToLower(strings.TrimSpace(in.ID))]
		if !ok {
			return nil, ""
		}
		return s.contacts[id], ""
	}
	return nil, fmt.Sprintf("Unable to perform update/upsert by non-unique 0-1 property %s in portal ID %d", in.IDProperty, s.opts.PortalID)
}

func (s *Server) duplicateIDs(w http.ResponseWriter, inputs []objectIn, norm func(string) string) bool {
	seen := map[string]bool{}
	var dups []string
	for _, in := range inputs {
		k := norm(in.ID)
		if seen[k] {
			dups = append(dups, k)
		}
		seen[k] = true
	}
	if len(dups) == 0 {
		return false
	}
	s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Duplicate IDs found in batch input: ["+strings.Join(dups, ", ")+"]", nil)
	return true
}

func (s *Server) batchUpdateLocked(w http.ResponseWriter, inputs []objectIn) {
	started := time.Now()
	if s.duplicateIDs(w, inputs, strings.TrimSpace) {
		return
	}
	targets := make([]*contactRec, len(inputs))
	normalized := make([]map[string]string, len(inputs))
	var missing, missingTraces []string
	for i, in := range inputs {
		c, msg := s.resolveLocked(in)
		if msg != "" {
			s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg, nil)
			return
		}
		if s.opts.RefuseMergedWrites && in.IDProperty == "" && s.mergedAwayLocked(in.ID) {
			c = nil
		}
		props, errs := s.validateLocked(in.Properties)
		if len(errs) > 0 {
			s.invalidProps(w, errs)
			return
		}
		if c == nil {
			missing = append(missing, in.ID)
			if in.ObjectWriteTraceID != "" {
				missingTraces = append(missingTraces, in.ObjectWriteTraceID)
			}
			continue
		}
		if e := props["email"]; e != "" {
			if other, ok := s.byEmail[e]; ok && other != c.id {
				s.conflictError(w, other)
				return
			}
		}
		targets[i], normalized[i] = c, props
	}
	notFound := map[string]any{
		"status": "error", "category": "OBJECT_NOT_FOUND", "message": notFoundMsg,
		"context": map[string][]string{"ids": missing},
	}
	if len(missingTraces) > 0 {
		notFound["context"] = map[string][]string{"ids": missing, "objectWriteTraceId": missingTraces}
	}
	if len(missing) > 0 && s.opts.RejectMissingIDs {
		s.writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", notFoundMsg, map[string]any{"context": notFound["context"]})
		return
	}
	now := time.Now()
	var results, errs []map[string]any
	for i, c := range targets {
		if c == nil {
			continue
		}
		s.applyLocked(c, normalized[i], now)
		out := objectOut(c, slices.Collect(maps.Keys(normalized[i])))
		if t := inputs[i].ObjectWriteTraceID; t != "" {
			out["objectWriteTraceId"] = t
		}
		results = append(results, out)
	}
	if len(missing) > 0 {
		errs = append(errs, notFound)
	}
	writeJSON(w, batchStatus(http.StatusOK, errs), batchBody(results, errs, started))
}

func (s *Server) batchUpsertLocked(w http.ResponseWriter, inputs []objectIn) {
	started := time.Now()
	for _, in := range inputs {
		if in.IDProperty != "email" {
			s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR",
				fmt.Sprintf("Unable to perform update/upsert by non-unique 0-1 property %s in portal ID %d", in.IDProperty, s.opts.PortalID), nil)
			return
		}
	}
	if s.duplicateIDs(w, inputs, func(id string) string { return strings.ToLower(strings.TrimSpace(id)) }) {
		return
	}
	normalized := make([]map[string]string, len(inputs))
	for i, in := range inputs {
		raw := maps.Clone(in.Properties)
		if raw == nil {
			raw = map[string]string{}
		}
		raw["email"] = in.ID
		props, errs := s.validateLocked(raw)
		if len(errs) > 0 {
			s.invalidProps(w, errs)
			return
		}
		normalized[i] = props
	}
	now := time.Now()
	var results []map[string]any
	for i, in := range inputs {
		props := normalized[i]
		c, isNew := (*contactRec)(nil), false
		if id, ok := s.byEmail[props["email"]]; ok {
			c = s.contacts[id]
			s.applyLocked(c, props, now)
		} else {
			c, isNew = s.newContactLocked(props, now), true
		}
		out := objectOut(c, slices.Collect(maps.Keys(props)))
		out["new"] = isNew
		if in.ObjectWriteTraceID != "" {
			out["objectWriteTraceId"] = in.ObjectWriteTraceID
		}
		results = append(results, out)
	}
	writeJSON(w, http.StatusOK, batchBody(results, nil, started))
}

func (s *Server) batchReadLocked(w http.ResponseWriter, inputs []objectIn, want, withHistory []string, idProperty string) {
	started := time.Now()
	if len(want) == 0 {
		want = nil
	}
	var results []map[string]any
	var missing []string
	seen := map[string]bool{}
	for _, in := range inputs {
		if seen[in.ID] {
			continue
		}
		seen[in.ID] = true
		c, msg := s.resolveLocked(objectIn{ID: in.ID, IDProperty: idProperty})
		if msg != "" {
			s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg, nil)
			return
		}
		if c == nil {
			missing = append(missing, in.ID)
			continue
		}
		out := objectOut(c, want)
		if len(withHistory) > 0 {
			out["propertiesWithHistory"] = historyOut(c, withHistory)
		}
		results = append(results, out)
	}
	var errs []map[string]any
	if len(missing) > 0 {
		errs = append(errs, map[string]any{
			"status": "error", "category": "OBJECT_NOT_FOUND", "message": notFoundMsg,
			"context": map[string][]string{"ids": missing},
		})
	}
	writeJSON(w, batchStatus(http.StatusOK, errs), batchBody(results, errs, started))
}

// historyOut renders propertiesWithHistory: every version of each asked
// property, newest first, as {"value","timestamp","sourceType","sourceId"}.
// Properties never set have an empty list.
func historyOut(c *contactRec, names []string) map[string]any {
	out := map[string]any{}
	for _, n := range names {
		vs := c.history[n]
		list := make([]map[string]any, 0, len(vs))
		for i := len(vs) - 1; i >= 0; i-- {
			v := vs[i]
			e := map[string]any{"value": v.value, "timestamp": hsTime(v.at), "sourceType": v.source}
			switch v.source {
			case SourceIntegration:
				e["sourceId"] = "linehub-double-app"
			case SourceCRMUI:
				e["sourceId"] = "userId:1"
				e["updatedByUserId"] = 1
			}
			list = append(list, e)
		}
		out[n] = list
	}
	return out
}
