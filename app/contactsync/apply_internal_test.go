package contactsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

// fieldNames renders a dirty bit set readably for failure messages.
func fieldNames(f Field) string {
	if f == 0 {
		return "none"
	}
	var out []string
	for _, d := range fieldDefs {
		if f&d.field != 0 {
			out = append(out, d.key)
			f &^= d.field
		}
	}
	if f != 0 {
		out = append(out, fmt.Sprintf("unknown(%#x)", int(f)))
	}
	return strings.Join(out, "|")
}

const applyUser = "U0123456789abcdef0123456789abcdef"

func userEvent(typ string, ts int64) line.Event {
	return line.Event{ID: fmt.Sprintf("ev-%s-%d", typ, ts), Type: typ, SourceType: "user", UserID: applyUser, Timestamp: ts}
}

func messageEv(text string, ts int64) line.Event {
	ev := userEvent("message", ts)
	ev.MessageType, ev.Summary = "text", text
	return ev
}

func profileOK(name, pic string, at int64) *profileResult {
	return &profileResult{p: line.Profile{UserID: applyUser, DisplayName: name, PictureURL: pic}, at: at}
}

func profileErr(err error, at int64) *profileResult {
	return &profileResult{err: err, at: at}
}

// TestApplyEvent pins docs/design.md §3 at the level of one event: what changes
// on the friend and which properties become dirty ("write only what
// changed"). Each case starts from a friend state, applies one event with
// the profile prefetch result the applier would pass, and compares the
// whole friend afterwards.
func TestApplyEvent(t *testing.T) {
	notFriend := fmt.Errorf("%w: line api: 404 Not found", line.ErrNotFriend)
	otherErr := errors.New("line api: 500 Internal Server Error")

	// A friend linehub knows well: following since 1000, one message at
	// 2000 still unanswered, profile read at 500, contact 1001 in HubSpot,
	// nothing left to sync.
	known := func() store.Friend {
		return store.Friend{
			ID: 7, ConnectionID: 1, UserID: applyUser,
			DisplayName: "Alice", PictureURL: "https://profile.line-scdn.net/a", ProfileAt: 500,
			Following: true, FollowAt: 1000,
			LastResponse: "hello", LastMessageAt: 2000, Unanswered: true, UnansweredAt: 2000,
			ContactID: "1001", Version: 3,
		}
	}

	tests := []struct {
		name      string
		start     store.Friend
		ev        line.Event
		prof      *profileResult
		wantOK    bool
		wantDirty Field
		want      func(f *store.Friend) // edits start into the expected friend (Dirty excluded)
	}{
		{
			name:      "follow on new friend with profile",
			start:     store.Friend{ConnectionID: 1, UserID: applyUser},
			ev:        userEvent("follow", 5000),
			prof:      profileOK("Alice", "https://p/a", 5100),
			wantOK:    true,
			wantDirty: FieldUserID | FieldFollow | FieldName | FieldPicture | FieldSyncDate,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt, f.MayCreate = true, 5000, true
				f.DisplayName, f.PictureURL, f.ProfileAt = "Alice", "https://p/a", 5100
			},
		},
		{
			name:      "follow on new friend without profile (no token)",
			start:     store.Friend{ConnectionID: 1, UserID: applyUser},
			ev:        userEvent("follow", 5000),
			wantOK:    true,
			wantDirty: FieldUserID | FieldFollow,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt, f.MayCreate = true, 5000, true
			},
		},
		{
			name:      "follow, profile 404 is not a missing profile",
			start:     store.Friend{ConnectionID: 1, UserID: applyUser, ProfileMissing: true},
			ev:        userEvent("follow", 5000),
			prof:      profileErr(notFriend, 5100),
			wantOK:    true,
			wantDirty: FieldUserID | FieldFollow,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt, f.MayCreate = true, 5000, true
				f.ProfileMissing = false
			},
		},
		{
			name:      "follow, other profile error marks the profile missing and keeps the old one",
			start:     store.Friend{ConnectionID: 1, UserID: applyUser, DisplayName: "Old", PictureURL: "https://p/old", ProfileAt: 10},
			ev:        userEvent("follow", 5000),
			prof:      profileErr(otherErr, 5100),
			wantOK:    true,
			wantDirty: FieldUserID | FieldFollow,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt, f.MayCreate = true, 5000, true
				f.ProfileMissing = true
			},
		},
		{
			name:      "profile ok clears ProfileMissing",
			start:     store.Friend{ConnectionID: 1, UserID: applyUser, ProfileMissing: true},
			ev:        userEvent("follow", 5000),
			prof:      profileOK("Bob", "", 5100),
			wantOK:    true,
			wantDirty: FieldUserID | FieldFollow | FieldName | FieldSyncDate,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt, f.MayCreate = true, 5000, true
				f.DisplayName, f.ProfileAt, f.ProfileMissing = "Bob", 5100, false
			},
		},
		{
			name:      "unfollow on new friend: follow state only, never creates",
			start:     store.Friend{ConnectionID: 1, UserID: applyUser},
			ev:        userEvent("unfollow", 5000),
			wantOK:    true,
			wantDirty: FieldFollow,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt = false, 5000
			},
		},
		{
			name:      "unfollow on known friend keeps MayCreate off and other dirty bits",
			start:     func() store.Friend { f := known(); f.Dirty = int(FieldUnanswered); return f }(),
			ev:        userEvent("unfollow", 6000),
			wantOK:    true,
			wantDirty: FieldUnanswered | FieldFollow,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt = false, 6000
			},
		},
		{
			name:      "message on unknown friend",
			start:     store.Friend{ConnectionID: 1, UserID: applyUser},
			ev:        messageEv("hi there", 5000),
			prof:      profileOK("Carol", "https://p/c", 5100),
			wantOK:    true,
			wantDirty: FieldUserID | FieldFollow | FieldLastResponse | FieldUnanswered | FieldName | FieldPicture | FieldSyncDate,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt, f.MayCreate = true, 5000, true
				f.LastResponse, f.LastMessageAt = "hi there", 5000
				f.Unanswered, f.UnansweredAt = true, 5000
				f.DisplayName, f.PictureURL, f.ProfileAt = "Carol", "https://p/c", 5100
			},
		},
		{
			name:      "message from known friend: no profile, no follow write",
			start:     known(),
			ev:        messageEv("again", 3000),
			wantOK:    true,
			wantDirty: FieldUserID | FieldLastResponse | FieldUnanswered,
			want: func(f *store.Friend) {
				f.LastResponse, f.LastMessageAt = "again", 3000
				f.Unanswered, f.UnansweredAt = true, 3000
				f.MayCreate = true
			},
		},
		{
			name:      "non-text message stand-in is the last response",
			start:     known(),
			ev:        func() line.Event { e := messageEv("[Sticker]", 3000); e.MessageType = "sticker"; return e }(),
			wantOK:    true,
			wantDirty: FieldUserID | FieldLastResponse | FieldUnanswered,
			want: func(f *store.Friend) {
				f.LastResponse, f.LastMessageAt = "[Sticker]", 3000
				f.Unanswered, f.UnansweredAt = true, 3000
				f.MayCreate = true
			},
		},
		{
			name:   "late follow older than an unfollow loses",
			start:  func() store.Friend { f := known(); f.Following, f.FollowAt = false, 4000; return f }(),
			ev:     userEvent("follow", 3500),
			prof:   profileOK("Alice", "https://profile.line-scdn.net/a", 5100),
			wantOK: false,
			want:   func(f *store.Friend) {},
		},
		{
			name:   "late unfollow older than a follow loses",
			start:  known(),
			ev:     userEvent("unfollow", 900),
			wantOK: false,
			want:   func(f *store.Friend) {},
		},
		{
			// The older message changes neither text nor Unanswered. It is
			// still a message, so it re-allows creating the contact, and the
			// user id is touched (an extra, unchanged write).
			name:      "late message older than the last message loses",
			start:     known(),
			ev:        messageEv("older", 1500),
			wantOK:    true,
			wantDirty: FieldUserID,
			want: func(f *store.Friend) {
				f.MayCreate = true
			},
		},
		{
			name: "late message older than a push's answer stays answered",
			start: func() store.Friend {
				f := known()
				// SendText after the message at 2000: Unanswered=No stamped 2001.
				f.Unanswered, f.UnansweredAt = false, 2001
				return f
			}(),
			ev:        messageEv("older", 1999),
			wantOK:    true,
			wantDirty: FieldUserID,
			want: func(f *store.Friend) {
				f.MayCreate = true
			},
		},
		{
			name: "message newer than a push is unanswered again",
			start: func() store.Friend {
				f := known()
				f.Unanswered, f.UnansweredAt = false, 2001
				return f
			}(),
			ev:        messageEv("thanks", 2500),
			wantOK:    true,
			wantDirty: FieldUserID | FieldLastResponse | FieldUnanswered,
			want: func(f *store.Friend) {
				f.LastResponse, f.LastMessageAt = "thanks", 2500
				f.Unanswered, f.UnansweredAt = true, 2500
				f.MayCreate = true
			},
		},
		{
			name:      "message after an unfollow means following again",
			start:     func() store.Friend { f := known(); f.Following, f.FollowAt = false, 2500; return f }(),
			ev:        messageEv("back", 3000),
			wantOK:    true,
			wantDirty: FieldUserID | FieldFollow | FieldLastResponse | FieldUnanswered,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt = true, 3000
				f.LastResponse, f.LastMessageAt = "back", 3000
				f.Unanswered, f.UnansweredAt = true, 3000
				f.MayCreate = true
			},
		},
		{
			name:      "late message older than an unfollow does not re-follow",
			start:     func() store.Friend { f := known(); f.Following, f.FollowAt = false, 4000; return f }(),
			ev:        messageEv("late", 3000),
			wantOK:    true,
			wantDirty: FieldUserID | FieldLastResponse | FieldUnanswered,
			want: func(f *store.Friend) {
				f.LastResponse, f.LastMessageAt = "late", 3000
				f.Unanswered, f.UnansweredAt = true, 3000
				f.MayCreate = true
			},
		},
		{
			name:      "re-follow with unchanged profile writes no name or picture",
			start:     func() store.Friend { f := known(); f.Following, f.FollowAt = false, 4000; return f }(),
			ev:        userEvent("follow", 5000),
			prof:      profileOK("Alice", "https://profile.line-scdn.net/a", 5100),
			wantOK:    true,
			wantDirty: FieldUserID | FieldFollow | FieldSyncDate,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt, f.MayCreate = true, 5000, true
				f.ProfileAt = 5100
			},
		},
		{
			name:      "re-follow with a new display name writes only the name",
			start:     func() store.Friend { f := known(); f.Following, f.FollowAt = false, 4000; return f }(),
			ev:        userEvent("follow", 5000),
			prof:      profileOK("Alice ☀", "https://profile.line-scdn.net/a", 5100),
			wantOK:    true,
			wantDirty: FieldUserID | FieldFollow | FieldName | FieldSyncDate,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt, f.MayCreate = true, 5000, true
				f.DisplayName, f.ProfileAt = "Alice ☀", 5100
			},
		},
		{
			name: "follow after the contact was deleted allows recreating it",
			start: func() store.Friend {
				f := known()
				f.ContactID, f.ContactGone, f.Following, f.FollowAt = "", true, false, 4000
				return f
			}(),
			ev:        userEvent("follow", 5000),
			wantOK:    true,
			wantDirty: FieldUserID | FieldFollow,
			want: func(f *store.Friend) {
				f.Following, f.FollowAt, f.MayCreate, f.ContactGone = true, 5000, true, false
			},
		},
		{
			name:      "message after the contact was deleted allows recreating it",
			start:     func() store.Friend { f := known(); f.ContactID, f.ContactGone = "", true; return f }(),
			ev:        messageEv("still here", 3000),
			wantOK:    true,
			wantDirty: FieldUserID | FieldLastResponse | FieldUnanswered,
			want: func(f *store.Friend) {
				f.LastResponse, f.LastMessageAt = "still here", 3000
				f.Unanswered, f.UnansweredAt = true, 3000
				f.MayCreate, f.ContactGone = true, false
			},
		},
		{
			name:   "postback changes nothing",
			start:  known(),
			ev:     userEvent("postback", 9000),
			wantOK: false,
			want:   func(f *store.Friend) {},
		},
		{
			name:   "unsend changes nothing",
			start:  known(),
			ev:     userEvent("unsend", 9000),
			wantOK: false,
			want:   func(f *store.Friend) {},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.start
			startDirty := Field(f.Dirty)
			ok := applyEvent(&f, tc.ev, tc.prof)
			if ok != tc.wantOK {
				t.Errorf("applyEvent reported change=%v, want %v", ok, tc.wantOK)
			}
			want := tc.start
			tc.want(&want)
			wantDirty := tc.wantDirty
			if !tc.wantOK {
				wantDirty = startDirty
			}
			if got := Field(f.Dirty); got != wantDirty {
				t.Errorf("dirty = %s, want %s", fieldNames(got), fieldNames(wantDirty))
			}
			f.Dirty, want.Dirty = 0, 0
			if f != want {
				t.Errorf("friend after event:\n got %+v\nwant %+v", f, want)
			}
		})
	}
}

// TestApplyEventOrderIndependent applies the same events in every order and
// expects the same friend: each value remembers the timestamp that set it.
func TestApplyEventOrderIndependent(t *testing.T) {
	evs := []line.Event{
		userEvent("follow", 1000),
		messageEv("first", 2000),
		userEvent("unfollow", 3000),
		messageEv("second", 2500),
	}
	var perms [][]int
	var permute func(prefix []int, rest []int)
	permute = func(prefix, rest []int) {
		if len(rest) == 0 {
			perms = append(perms, append([]int(nil), prefix...))
			return
		}
		for i := range rest {
			next := append(append([]int(nil), rest[:i]...), rest[i+1:]...)
			permute(append(prefix, rest[i]), next)
		}
	}
	permute(nil, []int{0, 1, 2, 3})
	type outcome struct {
		Following           bool
		FollowAt            int64
		LastResponse        string
		Unanswered          bool
		LastMessageAt, UnAt int64
	}
	var first *outcome
	for _, p := range perms {
		f := store.Friend{ConnectionID: 1, UserID: applyUser}
		for _, i := range p {
			applyEvent(&f, evs[i], nil)
		}
		got := outcome{f.Following, f.FollowAt, f.LastResponse, f.Unanswered, f.LastMessageAt, f.UnansweredAt}
		if first == nil {
			first = &got
			continue
		}
		if got != *first {
			t.Fatalf("order %v gave %+v, order %v gave %+v", perms[0], *first, p, got)
		}
	}
	want := outcome{Following: false, FollowAt: 3000, LastResponse: "second", Unanswered: true, LastMessageAt: 2500, UnAt: 2500}
	if *first != want {
		t.Fatalf("final state %+v, want %+v", *first, want)
	}
}

func TestNeedsProfile(t *testing.T) {
	group := userEvent("message", 1)
	group.SourceType = "group"
	noUser := userEvent("follow", 1)
	noUser.UserID = ""
	tests := []struct {
		name  string
		ev    line.Event
		known *store.Friend
		want  bool
	}{
		{"follow always refreshes", userEvent("follow", 1), &store.Friend{ProfileAt: 5}, true},
		{"message from unknown friend", messageEv("x", 1), nil, true},
		{"message from friend never profiled", messageEv("x", 1), &store.Friend{}, true},
		{"message from profiled friend", messageEv("x", 1), &store.Friend{ProfileAt: 5}, false},
		{"unfollow never", userEvent("unfollow", 1), nil, false},
		{"group message never", group, nil, false},
		{"no user id never", noUser, nil, false},
	}
	for _, tc := range tests {
		if got := needsProfile(tc.ev, tc.known); got != tc.want {
			t.Errorf("%s: needsProfile = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestApplyConnectionIgnoresGroupsAndRooms drives applyConnection directly:
// group and room events (which carry the speaker's userId) are marked
// applied but never touch friends; the 1:1 events of the same user do.
func TestApplyConnectionIgnoresGroupsAndRooms(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir(), store.Options{Synchronous: "NORMAL", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := &Sync{st: st, log: slog.New(slog.DiscardHandler)}
	now := time.Unix(1760000000, 0)
	other := "Ufedcba9876543210fedcba9876543210"
	raws := []json.RawMessage{
		linetest.GroupTextMessageEvent("C0123456789abcdef0123456789abcdef", other, "in a group", now),
		linetest.RoomTextMessageEvent("R0123456789abcdef0123456789abcdef", other, "in a room", now),
		linetest.GroupTextMessageEvent("C0123456789abcdef0123456789abcdef", applyUser, "group first", now),
		linetest.TextMessageEvent(applyUser, "one to one", now.Add(time.Second)),
	}
	var rows []store.InboxEvent
	for _, r := range raws {
		ev, err := line.DecodeEvent(r)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, store.InboxEvent{ConnectionID: 1, WebhookEventID: ev.ID, Type: ev.Type, UserID: ev.UserID,
			Timestamp: ev.Timestamp, Raw: string(r), ReceivedAt: now, Pending: true})
	}
	if _, err := st.AppendInbox(ctx, rows); err != nil {
		t.Fatal(err)
	}
	pend, err := st.PendingInbox(ctx, 100)
	if err != nil || len(pend) != len(raws) {
		t.Fatalf("pending %d %v", len(pend), err)
	}
	var ps []*pending
	for _, r := range pend {
		p := &pending{row: r}
		p.ev, p.err = line.DecodeEvent([]byte(r.Raw))
		ps = append(ps, p)
	}
	if err := st.Apply(ctx, func(tx *store.ApplyTx) error { return b.applyConnection(tx, 1, ps, nil, now) }); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Friend(ctx, 1, other); err == nil {
		t.Fatal("a group/room speaker became a friend")
	}
	f, err := st.Friend(ctx, 1, applyUser)
	if err != nil {
		t.Fatal(err)
	}
	if f.LastResponse != "one to one" || !f.MayCreate || !f.Unanswered {
		t.Fatalf("friend %+v", f)
	}
	if is, _ := st.InboxStats(ctx, 1); is.Pending != 0 || is.Failed != 0 {
		t.Fatalf("inbox %+v: every event must be marked applied", is)
	}
}
