package contactsync

import (
	"context"
	"fmt"
	"strings"

	"linehub/app/hubspot"
	"linehub/app/store"
)

// Linking (package linking) moves a friend to a contact a person chose,
// or that LINE Login proved: the same move as following a merge. These
// let it do so without a sync round or the HubSpot events worker changing
// the friend's contact id at the same time.

// WithContacts runs fn while no sync round and no HubSpot event changes
// friends' contact ids: a round that is creating the friend's dummy
// contact finishes first, and the next sees what fn stored.
func (b *Sync) WithContacts(fn func() error) error {
	b.contactMu.Lock()
	defer b.contactMu.Unlock()
	return fn()
}

// FollowContact makes a friend follow contact id with every LINE property
// due there, as after a merge (adoptMergedContact): email and first name
// are never written, nothing is created. Call Wake after storing it.
func (b *Sync) FollowContact(f *store.Friend, id string) { b.adoptMergedContact(f, id, "link") }

// LeaveContact detaches a friend from its contact: nothing is written
// there any more, and a new contact is made only when a later message or
// follow allows it, as for a contact deleted in HubSpot.
func LeaveContact(f *store.Friend) {
	f.ContactID, f.ContactGone, f.GoneContactID, f.Written = "", false, "", "{}"
	f.MayCreate = false
	f.Dirty, f.NextSyncAt, f.SyncError, f.SyncAttempts = 0, 0, "", 0
}

// ClearedProperties are the values that empty a connection's LINE
// properties on a contact a friend left.
func ClearedProperties(serial int) map[string]string {
	props := make(map[string]string, len(fieldDefs))
	for _, d := range fieldDefs {
		props[PropertyName(d.key, serial)] = ""
	}
	return props
}

// PropLinkURL is the unsuffixed name of the property holding a contact's
// link URL ("LINE Link URL _ N"), created only while linking is on.
const PropLinkURL = "line_link_url"

// LinkURLProperty is the link URL property of a serial, in the
// connection's group with the seven others.
func LinkURLProperty(serial int) hubspot.Property {
	return hubspot.Property{
		Name: PropertyName(PropLinkURL, serial), Label: fmt.Sprintf("LINE Link URL _ %d", serial),
		Type: "string", FieldType: "text", GroupName: PropertyGroup(serial).Name,
	}
}

// EnsureLinkURLProperty creates a connection's link URL property.
func (b *Sync) EnsureLinkURLProperty(ctx context.Context, serial int) error {
	if err := b.hs.EnsurePropertyGroup(ctx, PropertyGroup(serial)); err != nil {
		return err
	}
	return b.hs.EnsureProperties(ctx, []hubspot.Property{LinkURLProperty(serial)})
}

// IsDummyEmail tells whether email is one linehub gives the contact it
// creates for a friend (docs/design.md §3): the dummy email, or the one a
// friend gets after its dummy went to another friend's contact in a merge
// (sharedEmail). A contact with it is a stand-in, not a customer, and may
// be merged into the customer's contact.
func (b *Sync) IsDummyEmail(userID, email string) bool {
	return strings.EqualFold(email, b.email(userID)) || strings.EqualFold(email, b.sharedEmail(userID))
}

// SetUnlinked installs the check of contacts friends were unlinked from
// (before Run).
func (b *Sync) SetUnlinked(f func(ctx context.Context, connID int64, userID, contactID string) bool) {
	b.unlinked = f
}
