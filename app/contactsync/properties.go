package contactsync

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"context"
	"linehub/app/hubspot"
	"linehub/app/store"
)

// Field is one of the seven LINE properties a connection keeps on a
// contact. Friends carry a bit set of the fields not yet written.
type Field int

const (
	FieldUserID Field = 1 << iota
	FieldName
	FieldPicture
	FieldFollow
	FieldSyncDate
	FieldUnanswered
	FieldLastResponse

	allFields = FieldUserID | FieldName | FieldPicture | FieldFollow | FieldSyncDate | FieldUnanswered | FieldLastResponse
)

type fieldDef struct {
	field     Field
	key       string // unsuffixed internal name; also the key in Friend.Written
	label     string
	typ       string
	fieldType string
	yesNo     bool
}

// fieldDefs are docs/design.md §2, in display order.
var fieldDefs = []fieldDef{
	{FieldUserID, "line_user_id", "LINE User ID", "string", "text", false},
	{FieldName, "line_user_name", "LINE User Name", "string", "text", false},
	{FieldPicture, "line_user_picture", "LINE User Picture", "string", "text", false},
	{FieldFollow, "line_follow", "LINE Follow", "enumeration", "radio", true},
	{FieldSyncDate, "line_id_sync_date", "LINE ID Sync Date", "datetime", "date", false},
	{FieldUnanswered, "line_unanswered", "LINE Unanswered", "enumeration", "radio", true},
	{FieldLastResponse, "line_last_response", "LINE Last Response", "string", "textarea", false},
}

// PropertyName is the HubSpot internal name of a field for a serial.
func PropertyName(key string, serial int) string { return key + "_" + strconv.Itoa(serial) }

// PropertyGroup is the group holding one connection's properties.
func PropertyGroup(serial int) hubspot.PropertyGroup {
	return hubspot.PropertyGroup{Name: fmt.Sprintf("line_account_%d", serial), Label: fmt.Sprintf("LINE Account _ %d", serial), DisplayOrder: -1}
}

// Properties are the seven contact properties of a connection's serial.
func Properties(serial int) []hubspot.Property {
	group := PropertyGroup(serial).Name
	out := make([]hubspot.Property, 0, len(fieldDefs))
	for _, d := range fieldDefs {
		p := hubspot.Property{
			Name:      PropertyName(d.key, serial),
			Label:     fmt.Sprintf("%s _ %d", d.label, serial),
			Type:      d.typ,
			FieldType: d.fieldType,
			GroupName: group,
			FormField: false,
		}
		if d.yesNo {
			p.Options = []hubspot.Option{{Label: "Yes", Value: "Yes", DisplayOrder: 0}, {Label: "No", Value: "No", DisplayOrder: 1}}
		}
		out = append(out, p)
	}
	return out
}

// PropertyNames lists the internal names of a serial's properties.
func PropertyNames(serial int) []string {
	out := make([]string, len(fieldDefs))
	for i, d := range fieldDefs {
		out[i] = PropertyName(d.key, serial)
	}
	return out
}

// maxTextarea is HubSpot's limit for a property value.
const maxTextarea = 65536

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// fieldValue is what a friend's field should read in HubSpot; ok is false
// when there is nothing to write (e.g. no profile read yet).
func fieldValue(f *store.Friend, field Field) (string, bool) {
	switch field {
	case FieldUserID:
		return f.UserID, true
	case FieldName:
		return f.DisplayName, f.DisplayName != ""
	case FieldPicture:
		return f.PictureURL, f.PictureURL != ""
	case FieldFollow:
		return yesNo(f.Following), true
	case FieldSyncDate:
		return strconv.FormatInt(f.ProfileAt, 10), f.ProfileAt > 0
	case FieldUnanswered:
		return yesNo(f.Unanswered), f.UnansweredAt > 0
	case FieldLastResponse:
		return truncate(f.LastResponse, maxTextarea), f.LastMessageAt > 0
	}
	return "", false
}

// contactProperties maps the fields in mask to HubSpot property values;
// written gets the same values under the unsuffixed keys.
func contactProperties(f *store.Friend, serial int, mask Field, written map[string]string) map[string]string {
	props := make(map[string]string, len(fieldDefs))
	for _, d := range fieldDefs {
		if mask&d.field == 0 {
			continue
		}
		if v, ok := fieldValue(f, d.field); ok {
			props[PropertyName(d.key, serial)] = v
			written[d.key] = v
		}
	}
	return props
}

func decodeWritten(s string) map[string]string {
	m := map[string]string{}
	if s != "" {
		_ = json.Unmarshal([]byte(s), &m)
	}
	return m
}

func encodeWritten(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// EnsureProperties creates (or checks) a connection's property group and
// properties in HubSpot and records the outcome on the connection.
func (b *Sync) EnsureProperties(ctx context.Context, id int64) error {
	c, err := b.st.Connection(ctx, id)
	if err != nil {
		return err
	}
	err = b.hs.EnsurePropertyGroup(ctx, PropertyGroup(c.Serial))
	if err == nil {
		props := Properties(c.Serial)
		// The link URL property exists only where linking is on: a
		// portal that never links has no empty property to wonder about.
		ls, lerr := b.st.LinkSettingsOf(ctx, id)
		if lerr != nil {
			return lerr
		}
		if ls.Enabled {
			props = append(props, LinkURLProperty(c.Serial))
		}
		err = b.hs.EnsureProperties(ctx, props)
	}
	ready, msg := err == nil, ""
	if err != nil {
		msg = "create HubSpot properties: " + err.Error()
	}
	if _, uerr := b.st.UpdateConnection(ctx, id, store.ConnectionUpdate{PropertiesReady: &ready, LastError: &msg}); uerr != nil {
		return uerr
	}
	b.conns.Forget(id)
	if ready {
		if rerr := b.st.RetryNow(ctx, id); rerr != nil {
			return rerr
		}
		wake(b.syncWake)
	}
	return err
}
