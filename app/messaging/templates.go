package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"linehub/app/connections"
	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/store"
)

// placeholder matches {{firstname}}, {{ contact.firstname }} (HubSpot's
// token style) and {{firstname|there}} with a default for an empty value.
var placeholder = regexp.MustCompile(`\{\{\s*(?:contact\.)?([A-Za-z0-9_]+)\s*(?:\|([^{}]*))?\}\}`)

// fillText replaces the placeholders in s from props (keys compared
// case-insensitively); a missing or empty value becomes the default, or "".
func fillText(s string, props map[string]string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		v := props[sub[1]]
		if v == "" {
			v = props[strings.ToLower(sub[1])]
		}
		if strings.TrimSpace(v) == "" {
			return strings.TrimSpace(sub[2])
		}
		return v
	})
}

// placeholdersIn lists the property names a message set refers to.
func placeholdersIn(msgs []json.RawMessage) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range msgs {
		for _, sub := range placeholder.FindAllStringSubmatch(string(m), -1) {
			n := strings.ToLower(sub[1])
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// Render fills the placeholders in every string of the message objects and
// checks the result as LINE would. Substitution happens on decoded strings,
// so a value can never break the JSON around it.
func Render(msgs []json.RawMessage, props map[string]string) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(msgs))
	for i, m := range msgs {
		var v any
		dec := json.NewDecoder(strings.NewReader(string(m)))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, connections.InputErr("messages[%d]: not JSON", i)
		}
		b, err := json.Marshal(fillAll(v, props))
		if err != nil {
			return nil, fmt.Errorf("render message: %w", err)
		}
		if err := line.ValidateMessage(b); err != nil {
			return nil, connections.MessageErr(i, " after filling placeholders", err)
		}
		out = append(out, b)
	}
	return out, nil
}

func fillAll(v any, props map[string]string) any {
	switch x := v.(type) {
	case string:
		return fillText(x, props)
	case []any:
		for i := range x {
			x[i] = fillAll(x[i], props)
		}
	case map[string]any:
		for k := range x {
			x[k] = fillAll(x[k], props)
		}
	}
	return v
}

// MessageInput is how callers give a message: plain text (placeholders
// allowed) or LINE message objects.
type MessageInput struct {
	Text     string          `json:"text"`
	Messages json.RawMessage `json:"messages"`
}

// messages turns the input into unrendered message objects. Placeholders
// are checked after rendering, so only the shape is validated here when
// the text holds placeholders.
func (in MessageInput) messages() ([]json.RawMessage, error) {
	hasText, hasMsgs := strings.TrimSpace(in.Text) != "", len(strings.TrimSpace(string(in.Messages))) > 0 && string(in.Messages) != "null"
	switch {
	case hasText && hasMsgs:
		return nil, connections.InputErr("give either text or messages, not both")
	case hasText:
		return []json.RawMessage{line.TextMessage(in.Text)}, nil
	case hasMsgs:
		var raw []json.RawMessage
		trimmed := strings.TrimSpace(string(in.Messages))
		if strings.HasPrefix(trimmed, "{") {
			raw = []json.RawMessage{json.RawMessage(trimmed)}
		} else if err := json.Unmarshal(in.Messages, &raw); err != nil {
			return nil, connections.InputErr("messages must be an array of LINE message objects")
		}
		if len(raw) == 0 || len(raw) > line.MaxMessagesPerRequest {
			return nil, connections.InputErr("between 1 and %d messages are allowed", line.MaxMessagesPerRequest)
		}
		// Validate with placeholders filled by a stand-in, so {{x}} inside a
		// URL or an empty-looking text does not hide a shape error.
		if _, err := Render(raw, sampleProps(raw)); err != nil {
			return nil, err
		}
		return raw, nil
	}
	return nil, connections.InputErr("a message is required: text or messages")
}

func sampleProps(msgs []json.RawMessage) map[string]string {
	p := map[string]string{}
	for _, n := range placeholdersIn(msgs) {
		p[n] = "x"
	}
	return p
}

// Template is a saved message as the API shows it.
type Template struct {
	store.MessageTemplate
	Messages     []json.RawMessage `json:"messages"`
	Placeholders []string          `json:"placeholders"`
}

func templateView(t *store.MessageTemplate) (Template, error) {
	var msgs []json.RawMessage
	if err := json.Unmarshal([]byte(t.Messages), &msgs); err != nil {
		return Template{}, fmt.Errorf("template %d: stored messages: %w", t.ID, err)
	}
	return Template{MessageTemplate: *t, Messages: msgs, Placeholders: placeholdersIn(msgs)}, nil
}

// SaveTemplate creates (id 0) or replaces a template.
func (b *Service) SaveTemplate(ctx context.Context, id int64, name string, in MessageInput) (Template, error) {
	name = strings.TrimSpace(name)
	if err := connections.CheckName(name, "name is required (at most 100 characters)"); err != nil {
		return Template{}, err
	}
	if _, err := strconv.ParseInt(name, 10, 64); err == nil {
		// Workflows refer to templates by name or id; a numeric name would
		// be ambiguous.
		return Template{}, connections.InputErr("a template name cannot be a number")
	}
	msgs, err := in.messages()
	if err != nil {
		return Template{}, err
	}
	raw, _ := json.Marshal(msgs)
	t := &store.MessageTemplate{ID: id, Name: name, Messages: string(raw)}
	if err := b.st.SaveTemplate(ctx, t); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return Template{}, connections.CodedErr(connections.CodeTemplateExists, "a template named %q exists already", name)
		}
		return Template{}, err
	}
	return templateView(t)
}

// Templates lists saved templates.
func (b *Service) Templates(ctx context.Context) ([]Template, error) {
	ts, err := b.st.Templates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Template, 0, len(ts))
	for i := range ts {
		v, err := templateView(&ts[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// GetTemplate returns one template.
func (b *Service) GetTemplate(ctx context.Context, id int64) (Template, error) {
	t, err := b.st.Template(ctx, id)
	if err != nil {
		return Template{}, err
	}
	return templateView(t)
}

// DeleteTemplate removes a template.
func (b *Service) DeleteTemplate(ctx context.Context, id int64) error {
	return b.st.DeleteTemplate(ctx, id)
}

// templateByRef finds a template by id or name.
func (b *Service) templateByRef(ctx context.Context, ref string) (*store.MessageTemplate, error) {
	ref = strings.TrimSpace(ref)
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		t, err := b.st.Template(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, connections.InputErr("no template with id %d", id)
		}
		return t, err
	}
	t, err := b.st.TemplateByName(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, connections.InputErr("no template named %q", ref)
	}
	return t, err
}

// Preview is a template rendered for one contact.
type Preview struct {
	ContactID  string            `json:"contact_id,omitempty"`
	Properties map[string]string `json:"properties"`
	Messages   []json.RawMessage `json:"messages"`
	Missing    []string          `json:"missing"` // placeholders the contact has no value for
}

// PreviewTemplate renders a template (id) or ad-hoc messages (in) for a
// sample contact: contactID (a HubSpot contact id or email) read from HubSpot, else the given properties,
// else made-up sample values.
func (b *Service) PreviewTemplate(ctx context.Context, id int64, in MessageInput, contactID string, props map[string]string) (Preview, error) {
	var msgs []json.RawMessage
	if id > 0 {
		t, err := b.GetTemplate(ctx, id)
		if err != nil {
			return Preview{}, err
		}
		msgs = t.Messages
	} else {
		var err error
		if msgs, err = in.messages(); err != nil {
			return Preview{}, err
		}
	}
	names := placeholdersIn(msgs)
	p := Preview{ContactID: contactID, Properties: map[string]string{}}
	switch {
	case contactID != "":
		var found map[string]hubspot.Contact
		var err error
		if strings.Contains(contactID, "@") {
			// An email is easier to know than a contact id.
			found, _, err = b.hs.BatchReadContactsByEmail(ctx, []string{strings.ToLower(contactID)}, names)
			for id := range found {
				p.ContactID = id
			}
		} else {
			found, _, err = b.hs.BatchReadContacts(ctx, []string{contactID}, names)
		}
		if err != nil {
			return Preview{}, fmt.Errorf("read sample contact: %w", err)
		}
		c, ok := found[p.ContactID]
		if !ok {
			return Preview{}, connections.InputErr("HubSpot has no contact %s", contactID)
		}
		for _, n := range names {
			p.Properties[n] = c.Properties[n]
		}
	case len(props) > 0:
		for k, v := range props {
			p.Properties[strings.ToLower(k)] = v
		}
	default:
		sample := map[string]string{"firstname": "Taro", "lastname": "Yamada", "email": "taro@example.com", "company": "Example Co."}
		for _, n := range names {
			if v, ok := sample[n]; ok {
				p.Properties[n] = v
			} else {
				p.Properties[n] = "[" + n + "]"
			}
		}
	}
	for _, n := range names {
		if strings.TrimSpace(p.Properties[n]) == "" {
			p.Missing = append(p.Missing, n)
		}
	}
	out, err := Render(msgs, p.Properties)
	if err != nil {
		return Preview{}, err
	}
	p.Messages = out
	return p, nil
}
