// Package linking links LINE friends to the customers already in HubSpot,
// so that one person is one contact: signed per-contact link tokens and
// the link URLs written to the contacts of a list, the linking rules
// (merge the friend's dummy-email contact into the real one, link by
// email), linking and unlinking by hand, and the record of every link
// with its timeline note.
//
// The rules, whoever asks:
//
//   - The LINE user comes from LINE Login (or an admin picking a friend),
//     never from a parameter a visitor controls.
//   - The friend follows the chosen contact, which gets the seven LINE
//     properties (Sync.FollowContact: never email or first name).
//   - A dummy-email contact the friend had is merged into the chosen one
//     with HubSpot's merge API, the chosen contact primary: its email,
//     name and owner survive, and HubSpot's new id is what linehub keeps.
//   - A contact that is not a dummy is never merged. A person linking
//     themselves never moves the friend off such a contact; an admin may,
//     and the record says so; the LINE properties are emptied there.
//   - A contact already followed by another friend of the connection is
//     refused: two friends would overwrite each other's properties.
//   - Every link and unlink is a record (who, when, how, from which
//     contact), written before HubSpot is told and finished after, so a
//     crash in between is finished at the next start, never repeated
//     blindly; each finished record becomes a timeline note.
package linking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"linehub/app/config"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/store"
)

// How a link came about.
const (
	HowLink  = "link"  // a signed link from a marketing email, then LINE Login
	HowEmail = "email" // LINE Login without a token: the email LINE gave
	HowHand  = "hand"  // an admin, on the friends page or the HubSpot card
)

// Outcomes of Link and Unlink.
const (
	OutcomeLinked   = "linked"   // the friend follows the contact now
	OutcomeAlready  = "already"  // it did before: nothing changed
	OutcomeCreated  = "created"  // linked to a new contact with the person's email
	OutcomePending  = "pending"  // recorded; finished once HubSpot answers
	OutcomeUnlinked = "unlinked" // the friend has no contact now
)

// DefaultExpiry is how long a link token is good unless the connection
// says otherwise.
const DefaultExpiry = 90 * 24 * time.Hour

// MaxExpiryDays bounds the setting (about three years).
const MaxExpiryDays = 1100

// Errors a page turns into words.
var (
	ErrLinkingOff      = fmt.Errorf("%w: linking is off for this LINE account", ErrTokenInvalid)
	ErrBadRequest      = errors.New("not a valid link request")
	ErrNoEmail         = errors.New("LINE gave no email address")
	ErrEmailAmbiguous  = errors.New("more than one HubSpot contact has this email")
	ErrContactGone     = errors.New("the HubSpot contact no longer exists")
	ErrContactTaken    = errors.New("the HubSpot contact is already linked to another LINE friend of this account")
	ErrLinkedElsewhere = errors.New("this LINE account is already linked to another HubSpot contact")
	ErrNotLinked       = errors.New("this LINE friend is not linked to a contact")
	ErrBusy            = errors.New("a link of this LINE friend is still being finished")
)

// Identity is the LINE user as LINE Login proved it (same fields as the
// login package's, so one converts to the other).
type Identity struct {
	UserID, Name, PictureURL, Email string
}

// Request asks to link a LINE user to a contact.
type Request struct {
	ConnID   int64
	Identity Identity
	// ContactID: for HowLink the contact the token names (checked against
	// it; "" takes the token's); for HowHand the contact the admin chose.
	ContactID string
	Token     string
	How       string
	By        string // the admin's email for HowHand, else ""
	Reason    string // optional words of the admin
	// KeepOthers refuses, for HowHand too, to move a friend away from a
	// contact that is not its dummy: a contact card may take only a
	// friend nobody else has, while the friends page may move one.
	KeepOthers bool
}

// Result says what Link or Unlink did.
type Result struct {
	Outcome   string
	ContactID string // the contact the friend follows now ("" after unlink)
	Merged    string // the dummy-email contact merged into it, if any
	RecordID  int64
}

// Options wires a Service.
type Options struct {
	Store   *store.Store
	HubSpot *hubspot.Client
	Sync    *contactsync.Sync
	Config  *config.Config
	Logger  *slog.Logger
}

// Service links friends to contacts.
type Service struct {
	st   *store.Store
	hs   *hubspot.Client
	sync *contactsync.Sync
	cfg  *config.Config
	log  *slog.Logger

	// mu makes links one at a time: a link reads HubSpot between deciding
	// and recording, and two at once could give one contact two friends.
	mu   sync.Mutex
	wake chan struct{}
	// jobWake wakes the link URL jobs' loop.
	jobWake chan struct{}
	// noteSettle is how long a note whose creation was not confirmed is
	// left before it is looked up.
	noteSettle time.Duration
	now        func() time.Time
}

// New builds a Service; Run finishes its background work.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Service{st: o.Store, hs: o.HubSpot, sync: o.Sync, cfg: o.Config, log: o.Logger,
		wake: make(chan struct{}, 1), jobWake: make(chan struct{}, 1), noteSettle: 10 * time.Second, now: time.Now}
	o.Sync.SetUnlinked(s.unlinkedFrom)
	return s
}

// unlinkedFrom tells the sync worker not to re-adopt, by the friend's
// dummy email, the contact an admin unlinked the friend from. When the
// store cannot say, it is taken as unlinked: a friend left without a
// contact for a while is better than one linked back against a person's
// decision.
func (s *Service) unlinkedFrom(ctx context.Context, connID int64, userID, contactID string) bool {
	ok, err := s.st.UnlinkedFrom(ctx, connID, userID, contactID)
	if err != nil {
		s.log.Warn("check whether a friend was unlinked from a contact", "user", userID, "contact", contactID, "err", err)
		return true
	}
	return ok
}

var userIDPattern = regexp.MustCompile(`^U[0-9a-f]{32}$`)

// Settings returns a connection's linking settings, expiry defaulted.
func (s *Service) Settings(ctx context.Context, connID int64) (store.LinkSettings, error) {
	ls, err := s.st.LinkSettingsOf(ctx, connID)
	if err != nil {
		return ls, err
	}
	if ls.ExpiryDays <= 0 {
		ls.ExpiryDays = int(DefaultExpiry / (24 * time.Hour))
	}
	return ls, nil
}

// SetSettings turns linking on or off and sets the token expiry; turning
// it on creates the link URL property (an error leaves linking off).
func (s *Service) SetSettings(ctx context.Context, connID int64, enabled bool, expiryDays int) error {
	if expiryDays < 1 || expiryDays > MaxExpiryDays {
		return fmt.Errorf("%w: the expiry must be 1 to %d days", ErrBadRequest, MaxExpiryDays)
	}
	c, err := s.st.Connection(ctx, connID)
	if err != nil {
		return err
	}
	if enabled {
		if err := s.sync.EnsureLinkURLProperty(ctx, c.Serial); err != nil {
			return fmt.Errorf("create the LINE Link URL property: %w", err)
		}
	}
	return s.st.SaveLinkSettings(ctx, store.LinkSettings{ConnectionID: connID, Enabled: enabled, ExpiryDays: expiryDays})
}

// MakeLinkURL is the link a contact opens to link their LINE account:
// https://<public>/link/<connection>/<token>.
func (s *Service) MakeLinkURL(ctx context.Context, connID int64, contactID string) (string, error) {
	ls, err := s.Settings(ctx, connID)
	if err != nil {
		return "", err
	}
	key, err := s.st.LinkTokenKey(ctx)
	if err != nil {
		return "", err
	}
	return s.linkURL(key, connID, contactID, s.now().Add(time.Duration(ls.ExpiryDays)*24*time.Hour))
}

func (s *Service) linkURL(key []byte, connID int64, contactID string, expires time.Time) (string, error) {
	tok, err := makeToken(key, connID, contactID, expires)
	if err != nil {
		return "", err
	}
	base := strings.TrimRight(s.cfg.EffectivePublicURL(), "/")
	if base == "" {
		return "", errors.New("linehub has no public URL: set it in Settings first")
	}
	return base + "/link/" + strconv.FormatInt(connID, 10) + "/" + url.PathEscape(tok), nil
}

// CheckToken verifies a token for a connection and returns the contact it
// names: ErrTokenInvalid (forged, altered, another connection's, linking
// off), ErrTokenExpired. Whether the token was used is known only with the
// LINE user, so Link checks that (ErrTokenUsed).
func (s *Service) CheckToken(ctx context.Context, connID int64, tok string) (string, error) {
	t, err := s.checkToken(ctx, connID, tok)
	return t.contactID, err
}

func (s *Service) checkToken(ctx context.Context, connID int64, tok string) (token, error) {
	key, err := s.st.LinkTokenKey(ctx)
	if err != nil {
		return token{}, err
	}
	t, err := parseToken(key, tok)
	if err != nil {
		return token{}, err
	}
	if t.connID != connID {
		return token{}, ErrTokenInvalid
	}
	ls, err := s.st.LinkSettingsOf(ctx, connID)
	if err != nil {
		return token{}, err
	}
	if !ls.Enabled {
		return token{}, ErrLinkingOff
	}
	if !s.now().Before(t.expires) {
		return token{}, ErrTokenExpired
	}
	return t, nil
}

// Link links the LINE user of r to a contact by the rules above.
func (s *Service) Link(ctx context.Context, r Request) (Result, error) {
	uid := r.Identity.UserID
	if !userIDPattern.MatchString(uid) {
		return Result{}, fmt.Errorf("%w: %q is not a LINE user id", ErrBadRequest, uid)
	}
	conn, err := s.st.Connection(ctx, r.ConnID)
	if err != nil {
		return Result{}, fmt.Errorf("link %s: %w", uid, err)
	}
	var tok token
	target, created := "", false
	switch r.How {
	case HowLink:
		if tok, err = s.checkToken(ctx, r.ConnID, r.Token); err != nil {
			return Result{}, err
		}
		if r.ContactID != "" && r.ContactID != tok.contactID {
			return Result{}, ErrTokenInvalid
		}
		target = tok.contactID
	case HowEmail:
		if target, created, err = s.contactByEmail(ctx, r.Identity); err != nil {
			return Result{}, err
		}
	case HowHand:
		if _, err := strconv.ParseUint(r.ContactID, 10, 64); err != nil || r.By == "" {
			return Result{}, fmt.Errorf("%w: a contact id and the admin are needed", ErrBadRequest)
		}
		target = r.ContactID
	default:
		return Result{}, fmt.Errorf("%w: unknown way of linking %q", ErrBadRequest, r.How)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var res Result
	err = s.sync.WithContacts(func() error {
		var err error
		res, err = s.link(ctx, conn, r, tok, target)
		return err
	})
	if err != nil {
		return res, err
	}
	if created && res.Outcome == OutcomeLinked {
		res.Outcome = OutcomeCreated
	}
	s.sync.Wake()
	s.Wake()
	return res, nil
}

// link decides, records and carries out a link; the caller holds the
// friend's contact still (WithContacts).
func (s *Service) link(ctx context.Context, conn *store.Connection, r Request, tok token, target string) (Result, error) {
	uid := r.Identity.UserID
	// The contact must exist; one merged since the token was made is
	// followed to the record it became.
	target, err := s.resolve(ctx, target)
	if err != nil {
		return Result{}, err
	}
	f, err := s.st.Friend(ctx, r.ConnID, uid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Result{}, fmt.Errorf("link %s: %w", uid, err)
	}
	from, fromDummy := "", false
	if f != nil && f.ContactID != "" {
		if from, fromDummy, err = s.readContact(ctx, f.ContactID, uid); err != nil {
			return Result{}, err
		}
	}
	if r.How == HowLink {
		// Checked before anything else, so that a forwarded link says it
		// was used rather than something about contacts.
		if by, err := s.st.TokenUser(ctx, tok.id); err != nil {
			return Result{}, err
		} else if by != "" && by != uid {
			return Result{}, ErrTokenUsed
		}
	}
	if from == target {
		if r.How == HowLink {
			// The same person with the same link again: fine, once it is theirs.
			if err := s.st.Link(ctx, func(tx *store.LinkTx) error { return tx.UseToken(tokenUse(r, tok)) }); err != nil {
				return Result{}, tokenErr(err)
			}
		}
		return Result{Outcome: OutcomeAlready, ContactID: target}, nil
	}
	if from != "" && !fromDummy && (r.How != HowHand || r.KeepOthers) {
		s.log.Warn("link refused: the LINE friend follows another contact that is not a dummy; only an admin may move it",
			"connection", r.ConnID, "user", uid, "contact", from, "asked", target, "how", r.How)
		return Result{ContactID: from}, ErrLinkedElsewhere
	}
	others, err := s.st.FriendsByContact(ctx, r.ConnID, []string{target})
	if err != nil {
		return Result{}, err
	}
	if o := others[target]; o != nil && o.UserID != uid {
		return Result{}, ErrContactTaken
	}

	rec := &store.LinkRecord{
		ConnectionID: r.ConnID, UserID: uid, Action: store.LinkActionLink, How: r.How, By: r.By,
		ContactID: target, FromContactID: from, State: store.LinkPending, Reason: r.Reason,
	}
	switch {
	case fromDummy:
		rec.MergeID = from
	case from != "":
		rec.Reason = strings.TrimSpace("moved by hand from contact " + from + ". " + r.Reason)
	}
	err = s.st.Link(ctx, func(tx *store.LinkTx) error {
		if p, err := tx.PendingLink(r.ConnID, uid); err != nil {
			return err
		} else if p != nil {
			return ErrBusy
		}
		if r.How == HowLink {
			if err := tx.UseToken(tokenUse(r, tok)); err != nil {
				return tokenErr(err)
			}
		}
		if f == nil {
			// Logged in with LINE but no event from them yet: the friend
			// is known from now on, with the profile LINE Login gave.
			nf := &store.Friend{ConnectionID: r.ConnID, UserID: uid, DisplayName: r.Identity.Name,
				PictureURL: r.Identity.PictureURL, ProfileAt: s.now().UnixMilli(), Written: "{}"}
			if err := tx.SaveFriend(nf); err != nil {
				return err
			}
		}
		return tx.AddRecord(rec)
	})
	if err != nil {
		return Result{}, err
	}
	s.log.Info("linking a LINE friend to a HubSpot contact", "connection", r.ConnID, "user", uid,
		"contact", target, "from", from, "merge", rec.MergeID, "how", r.How, "by", r.By, "record", rec.ID)
	return s.finish(ctx, conn, rec)
}

func tokenUse(r Request, t token) store.LinkTokenUse {
	return store.LinkTokenUse{TokenID: t.id, ConnectionID: r.ConnID, ContactID: t.contactID, UserID: r.Identity.UserID}
}

func tokenErr(err error) error {
	if errors.Is(err, store.ErrTokenTaken) {
		return ErrTokenUsed
	}
	return err
}

// finish carries out a pending record in HubSpot and then in the store.
// It is safe to run again after a crash at any point: a merge is first
// looked for (both ids reading as one record) and only then made.
func (s *Service) finish(ctx context.Context, conn *store.Connection, rec *store.LinkRecord) (Result, error) {
	res := Result{RecordID: rec.ID, Merged: rec.MergeID}
	var resultID string
	switch rec.Action {
	case store.LinkActionLink:
		id, err := s.carryOutLink(ctx, conn, rec)
		if err != nil {
			return s.pendingOrFailed(ctx, rec, res, err)
		}
		resultID, res.Outcome, res.ContactID = id, OutcomeLinked, id
	case store.LinkActionUnlink:
		if err := s.clearProperties(ctx, conn, rec.ContactID); err != nil {
			return s.pendingOrFailed(ctx, rec, res, err)
		}
		res.Outcome = OutcomeUnlinked
	}
	err := s.st.Link(ctx, func(tx *store.LinkTx) error {
		f, err := tx.Friend(rec.ConnectionID, rec.UserID)
		if err != nil {
			return err
		}
		if f != nil {
			if rec.Action == store.LinkActionLink {
				s.sync.FollowContact(f, resultID)
			} else {
				contactsync.LeaveContact(f)
			}
			if err := tx.SaveFriend(f); err != nil {
				return err
			}
		}
		return tx.FinishRecord(rec.ID, resultID, "")
	})
	if err != nil {
		return res, err
	}
	s.log.Info("LINE friend "+res.Outcome, "connection", rec.ConnectionID, "user", rec.UserID, "contact", resultID,
		"merged", rec.MergeID, "how", rec.How, "by", rec.By, "record", rec.ID)
	return res, nil
}

// pendingOrFailed leaves a record HubSpot could not be asked about for a
// later try, and fails one HubSpot refused.
func (s *Service) pendingOrFailed(ctx context.Context, rec *store.LinkRecord, res Result, err error) (Result, error) {
	if retryable(err) {
		s.log.Warn("link recorded; HubSpot did not answer, it is finished later", "record", rec.ID, "err", err)
		res.Outcome = OutcomePending
		return res, nil
	}
	s.log.Error("link failed; the friend stays where it was", "record", rec.ID, "user", rec.UserID, "err", err)
	if ferr := s.st.FailLink(context.WithoutCancel(ctx), rec.ID, err.Error()); ferr != nil {
		return res, ferr
	}
	return res, err
}

// retryable: HubSpot was not reached or did not answer (down, busy, a
// network error): it may take the same step later. A refusal (4xx) or a
// contact that is gone is final.
func retryable(err error) bool {
	if errors.Is(err, ErrContactGone) {
		return false
	}
	var apiErr *hubspot.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status == 429 || apiErr.Status >= 500
	}
	return true
}

// carryOutLink merges the dummy contact into the chosen one (unless that
// happened already) and empties the LINE properties on a real contact
// the friend was moved from. It returns the id the friend follows.
func (s *Service) carryOutLink(ctx context.Context, conn *store.Connection, rec *store.LinkRecord) (string, error) {
	ids := []string{rec.ContactID}
	if rec.MergeID != "" {
		ids = append(ids, rec.MergeID)
	}
	got, err := s.hs.ResolveContactIDs(ctx, ids)
	if err != nil {
		return "", err
	}
	now := func(id string) string {
		if m := got.Merged[id]; m != "" {
			return m
		}
		if got.Gone[id] {
			return ""
		}
		return id
	}
	target := now(rec.ContactID)
	if target == "" {
		return "", ErrContactGone
	}
	if rec.MergeID == "" {
		if rec.FromContactID != "" {
			if err := s.clearProperties(ctx, conn, rec.FromContactID); err != nil {
				return "", err
			}
		}
		return target, nil
	}
	dummy := now(rec.MergeID)
	if dummy == "" || dummy == target {
		// Deleted meanwhile, or merged already (by this record before a
		// crash, or by staff).
		return target, nil
	}
	merged, err := s.hs.MergeContacts(ctx, target, dummy)
	if err != nil {
		return "", err
	}
	s.log.Info("merged the friend's dummy-email contact into the customer's contact", "record", rec.ID,
		"primary", target, "merged", dummy, "result", merged.ID)
	return merged.ID, nil
}

// clearProperties empties the connection's LINE properties on a contact a
// friend left, so that nothing there still names the LINE user.
func (s *Service) clearProperties(ctx context.Context, conn *store.Connection, contactID string) error {
	if contactID == "" {
		return nil
	}
	res, err := s.hs.BatchUpdateContacts(ctx, []hubspot.ContactInput{{Ref: "c", ID: contactID, Properties: contactsync.ClearedProperties(conn.Serial)}})
	if err != nil {
		return fmt.Errorf("empty the LINE properties of contact %s: %w", contactID, err)
	}
	if len(res.Failed) > 0 {
		f := res.Failed[0]
		return fmt.Errorf("empty the LINE properties of contact %s: %d %s: %s", contactID, f.Status, f.Category, f.Message)
	}
	return nil // a contact gone or merged away keeps nothing to empty
}

// resolve follows a contact id to the record it reads as now.
func (s *Service) resolve(ctx context.Context, id string) (string, error) {
	got, err := s.hs.ResolveContactIDs(ctx, []string{id})
	if err != nil {
		return "", err
	}
	switch {
	case got.Live[id]:
		return id, nil
	case got.Merged[id] != "":
		return got.Merged[id], nil
	case got.Gone[id]:
		return "", ErrContactGone
	}
	return "", fmt.Errorf("contact %s: HubSpot's answer did not say what became of it", id)
}

// readContact reads the contact of friend uid: the id it reads as now (""
// when deleted) and whether it is the friend's dummy-email contact.
func (s *Service) readContact(ctx context.Context, id, uid string) (string, bool, error) {
	found, notFound, err := s.hs.BatchReadContacts(ctx, []string{id}, []string{"email", hubspot.PropMergedIDs})
	if err != nil {
		return "", false, fmt.Errorf("read the friend's contact %s: %w", id, err)
	}
	if len(notFound) > 0 {
		return "", false, nil
	}
	c, ok := hubspot.ContactFor(found, id)
	if !ok {
		return "", false, fmt.Errorf("read the friend's contact %s: HubSpot's answer did not say what became of it", id)
	}
	return c.ID, s.sync.IsDummyEmail(uid, c.Properties["email"]), nil
}

// contactByEmail finds the one contact with the person's email, or
// creates one with it (never a dummy).
func (s *Service) contactByEmail(ctx context.Context, id Identity) (string, bool, error) {
	email := strings.ToLower(strings.TrimSpace(id.Email))
	if email == "" || !strings.Contains(email, "@") {
		return "", false, ErrNoEmail
	}
	if strings.HasSuffix(email, "@"+strings.ToLower(s.cfg.EmailDomain())) {
		return "", false, fmt.Errorf("%w: that is a dummy email", ErrNoEmail)
	}
	res, err := s.hs.SearchContacts(ctx, hubspot.SearchRequest{
		Filters: []hubspot.Filter{{PropertyName: "email", Operator: "EQ", Value: email}}, Limit: 2,
	})
	if err != nil {
		return "", false, err
	}
	switch len(res.Contacts) {
	case 1:
		return res.Contacts[0].ID, false, nil
	case 0:
	default:
		return "", false, ErrEmailAmbiguous
	}
	props := map[string]string{"email": email}
	if id.Name != "" {
		props["firstname"] = id.Name // on create only, as for every contact linehub makes
	}
	c, err := s.hs.CreateContact(ctx, props)
	if existing, ok := hubspot.ConflictID(err); ok {
		// The search index lags: a contact made a moment ago (or one with
		// the email as an additional one) is found by its conflict.
		return existing, false, nil
	}
	if err != nil {
		return "", false, err
	}
	s.log.Info("created a contact with the email LINE Login gave", "contact", c.ID)
	return c.ID, true, nil
}

// Unlink detaches a friend from its contact (an admin asked): the LINE
// properties there are emptied and the friend has no contact until a
// message or follow makes one.
func (s *Service) Unlink(ctx context.Context, connID int64, userID, by, reason string) (Result, error) {
	return s.UnlinkFrom(ctx, connID, userID, "", by, reason)
}

// UnlinkFrom is Unlink of a friend that must follow contactID ("" for
// any): checked while the friend's contact is held still, so that a link
// finished meanwhile is not undone from another contact's card.
func (s *Service) UnlinkFrom(ctx context.Context, connID int64, userID, contactID, by, reason string) (Result, error) {
	if !userIDPattern.MatchString(userID) || by == "" {
		return Result{}, fmt.Errorf("%w: a LINE friend and the admin are needed", ErrBadRequest)
	}
	conn, err := s.st.Connection(ctx, connID)
	if err != nil {
		return Result{}, fmt.Errorf("unlink %s: %w", userID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var res Result
	err = s.sync.WithContacts(func() error {
		f, err := s.st.Friend(ctx, connID, userID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (f.ContactID == "" || (contactID != "" && f.ContactID != contactID))) {
			return ErrNotLinked
		}
		if err != nil {
			return err
		}
		rec := &store.LinkRecord{ConnectionID: connID, UserID: userID, Action: store.LinkActionUnlink, How: HowHand, By: by,
			ContactID: f.ContactID, FromContactID: f.ContactID, State: store.LinkPending, Reason: reason}
		err = s.st.Link(ctx, func(tx *store.LinkTx) error {
			if p, err := tx.PendingLink(connID, userID); err != nil {
				return err
			} else if p != nil {
				return ErrBusy
			}
			return tx.AddRecord(rec)
		})
		if err != nil {
			return err
		}
		s.log.Info("unlinking a LINE friend from its HubSpot contact", "connection", connID, "user", userID, "contact", f.ContactID, "by", by, "record", rec.ID)
		res, err = s.finish(ctx, conn, rec)
		return err
	})
	if err == nil {
		s.Wake()
	}
	return res, err
}

// Records lists a friend's links and unlinks, newest first.
func (s *Service) Records(ctx context.Context, connID int64, userID string) ([]store.LinkRecord, error) {
	return s.st.LinkRecordsOf(ctx, connID, userID, 50)
}

// Wake makes Run look for work now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run finishes links left pending, creates timeline notes and writes link
// URLs, until ctx ends. Link URL jobs run on their own: a list of many
// thousand contacts takes minutes, and a link must not wait for it.
func (s *Service) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if s.hs.HasToken() {
				s.runLinkURLJobs(ctx)
			}
			select {
			case <-ctx.Done():
				return
			case <-s.jobWake:
			case <-time.After(30 * time.Second):
			}
		}
	}()
	for {
		s.runLinks(ctx)
		select {
		case <-ctx.Done():
			<-done
			return
		case <-s.wake:
		case <-time.After(30 * time.Second):
		}
	}
}

// RunOnce does one pass of Run's work (tests).
func (s *Service) RunOnce(ctx context.Context) {
	s.runLinks(ctx)
	if s.hs.HasToken() {
		s.runLinkURLJobs(ctx)
	}
}

func (s *Service) runLinks(ctx context.Context) {
	if !s.hs.HasToken() {
		return
	}
	if err := s.resumePending(ctx); err != nil {
		s.log.Warn("finish pending links", "err", err)
	}
	if err := s.flushNotes(ctx); err != nil {
		s.log.Warn("create timeline notes of links", "err", err)
	}
}

// resumePending finishes records a crash or a HubSpot outage left.
func (s *Service) resumePending(ctx context.Context) error {
	recs, err := s.st.PendingLinks(ctx, 100)
	if err != nil {
		return err
	}
	for i := range recs {
		rec := &recs[i]
		conn, err := s.st.Connection(ctx, rec.ConnectionID)
		if errors.Is(err, store.ErrNotFound) {
			if err := s.st.FailLink(ctx, rec.ID, "the LINE account was deleted"); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		var res Result
		err = s.sync.WithContacts(func() error {
			var err error
			res, err = s.finish(ctx, conn, rec)
			return err
		})
		s.mu.Unlock()
		if err != nil {
			s.log.Warn("finish a pending link", "record", rec.ID, "err", err)
			continue
		}
		if res.Outcome == OutcomePending {
			return nil // HubSpot is still not answering
		}
		s.sync.Wake()
	}
	return nil
}
