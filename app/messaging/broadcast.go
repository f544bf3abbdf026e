package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/store"
)

// A broadcast goes to the members of a HubSpot list who have this
// connection's LINE user id and LINE Follow = Yes. It is planned once (the
// list read, recipients cut into chunks of 500, each chunk given its
// X-Line-Retry-Key, all stored in one transaction) and then sent chunk by
// chunk. A chunk is marked sent only after LINE accepted it; if linehub
// dies in between, the restart sends the chunk again with the same retry
// key and LINE answers 409: nobody gets the message twice.

// SearchLists finds HubSpot contact lists by name.
func (b *Service) SearchLists(ctx context.Context, query string) ([]hubspot.List, error) {
	if !b.hs.HasToken() {
		return nil, connections.HubSpotNotConfiguredErr()
	}
	lists, _, _, err := b.hs.SearchLists(ctx, strings.TrimSpace(query), 0, 50)
	return lists, scopeErr(err)
}

// scopeErr turns HubSpot's MISSING_SCOPES (a token made before linehub
// needed lists) into advice the admin can act on.
func scopeErr(err error) error {
	if !errors.Is(err, hubspot.ErrMissingScopes) {
		return err
	}
	scopes := strings.Join(hubspot.RequiredScopes(err), ", ")
	if scopes == "" {
		scopes = "that this call needs"
	}
	return connections.CodedErr(connections.CodeHubSpotMissingScope, "the HubSpot token lacks the scope %s: add it to the private app or service key in HubSpot, then save the token again in Settings", scopes)
}

// BroadcastInput is a broadcast to create.
type BroadcastInput struct {
	ConnectionID int64
	ListID       string
	ListName     string
	Template     string // id or name; or Message
	Message      MessageInput
	ScheduledAt  *time.Time // nil: now
}

// BroadcastView is a broadcast with its progress, for the API.
type BroadcastView struct {
	store.Broadcast
	Messages []json.RawMessage       `json:"messages"`
	Progress store.BroadcastProgress `json:"progress"`
}

// BroadcastPreview is what a broadcast would do, computed without sending.
type BroadcastPreview struct {
	Members      int   `json:"members"`
	Recipients   int   `json:"recipients"`
	SkippedNoID  int   `json:"skipped_no_line_id"`
	SkippedBlock int   `json:"skipped_blocked"`
	Multicasts   int   `json:"multicasts"`
	QuotaLimited bool  `json:"quota_limited"`
	QuotaLeft    int64 `json:"quota_remaining"` // -1 without a limit
	WouldExceed  bool  `json:"would_exceed_quota"`
}

func (b *Service) broadcastMessages(ctx context.Context, tmpl string, in MessageInput) ([]json.RawMessage, error) {
	var msgs []json.RawMessage
	if strings.TrimSpace(tmpl) != "" {
		t, err := b.templateByRef(ctx, tmpl)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(t.Messages), &msgs); err != nil {
			return nil, fmt.Errorf("template %d: %w", t.ID, err)
		}
	} else {
		var err error
		if msgs, err = in.messages(); err != nil {
			return nil, err
		}
	}
	if ph := placeholdersIn(msgs); len(ph) > 0 {
		return nil, connections.CodedErr(connections.CodeBroadcastPlaceholders, "a broadcast sends one message to everyone, so it cannot fill {{%s}}: use a workflow for personal messages", ph[0])
	}
	return msgs, nil
}

// BroadcastMessages returns the messages a broadcast of tmpl (or in)
// would send, refused exactly as CreateBroadcast refuses them (a
// placeholder no broadcast can fill, a bad shape), so that a preview
// reports what a send would.
func (b *Service) BroadcastMessages(ctx context.Context, tmpl string, in MessageInput) ([]json.RawMessage, error) {
	return b.broadcastMessages(ctx, tmpl, in)
}

// PreviewBroadcast reads the list and counts who would get the message.
func (b *Service) PreviewBroadcast(ctx context.Context, connID int64, listID string) (BroadcastPreview, error) {
	return b.previewBroadcast(ctx, connID, listID, 0)
}

// CheckBroadcast is PreviewBroadcast answered from the list as a preview
// read it less than audienceLife ago, if one did: the check made before
// sending now, so that the preview's list read also serves the send.
func (b *Service) CheckBroadcast(ctx context.Context, connID int64, listID string) (BroadcastPreview, error) {
	return b.previewBroadcast(ctx, connID, listID, audienceLife)
}

func (b *Service) previewBroadcast(ctx context.Context, connID int64, listID string, maxAge time.Duration) (BroadcastPreview, error) {
	cs, err := b.broadcastConn(ctx, connID)
	if err != nil {
		return BroadcastPreview{}, err
	}
	plan, err := b.planBroadcast(ctx, cs, listID, maxAge)
	var hsErr *hubspot.APIError
	if errors.As(err, &hsErr) && hsErr.Status == http.StatusNotFound {
		return BroadcastPreview{}, connections.CodedErr(connections.CodeHubSpotNoList, "HubSpot has no list %s", listID)
	}
	if err != nil {
		return BroadcastPreview{}, scopeErr(err)
	}
	p := BroadcastPreview{Members: plan.Members, SkippedNoID: plan.SkippedNoID, SkippedBlock: plan.SkippedBlock, Multicasts: len(plan.Chunks), QuotaLeft: -1}
	for _, c := range plan.Chunks {
		p.Recipients += c.Count
	}
	q, err := cs.Client.Quota(ctx)
	if err != nil {
		return p, fmt.Errorf("read LINE message quota: %w", err)
	}
	p.QuotaLimited, p.QuotaLeft = q.Limited, q.Remaining()
	p.WouldExceed = q.Limited && int64(p.Recipients) > q.Remaining()
	return p, nil
}

func (b *Service) broadcastConn(ctx context.Context, connID int64) (*connections.Conn, error) {
	cs, err := b.conns.ByID(ctx, connID)
	if err != nil {
		return nil, err
	}
	if cs.Client == nil {
		return nil, connections.NoChannelTokenErr()
	}
	if !b.hs.HasToken() {
		return nil, connections.HubSpotNotConfiguredErr()
	}
	return cs, nil
}

// CreateBroadcast stores a broadcast; the messaging worker sends it now or
// at ScheduledAt. An exhausted LINE quota is refused at once; one that the
// recipients would exceed is refused when the list has been read.
func (b *Service) CreateBroadcast(ctx context.Context, in BroadcastInput) (BroadcastView, error) {
	cs, err := b.broadcastConn(ctx, in.ConnectionID)
	if err != nil {
		return BroadcastView{}, err
	}
	if strings.TrimSpace(in.ListID) == "" {
		return BroadcastView{}, connections.InputErr("list_id is required (search lists by name first)")
	}
	msgs, err := b.broadcastMessages(ctx, in.Template, in.Message)
	if err != nil {
		return BroadcastView{}, err
	}
	if in.ScheduledAt == nil {
		q, err := cs.Client.Quota(ctx)
		if err != nil {
			return BroadcastView{}, fmt.Errorf("read LINE message quota: %w", err)
		}
		if q.Limited && q.Remaining() == 0 {
			return BroadcastView{}, &QuotaError{Left: 0, Need: -1}
		}
	}
	raw, _ := json.Marshal(msgs)
	bc := &store.Broadcast{ConnectionID: in.ConnectionID, ListID: strings.TrimSpace(in.ListID), ListName: in.ListName, Messages: string(raw), Status: store.BroadcastPreparing}
	if in.ScheduledAt != nil {
		at := in.ScheduledAt.UTC()
		bc.ScheduledAt, bc.Status = &at, store.BroadcastScheduled
	}
	if err := b.st.CreateBroadcast(ctx, bc); err != nil {
		return BroadcastView{}, err
	}
	wake(b.messagingWake())
	return b.broadcastView(ctx, bc)
}

// QuotaError is a broadcast refused because LINE's monthly quota is too
// small for it.
type QuotaError struct{ Left, Need int64 }

func (e *QuotaError) Error() string {
	if e.Need < 0 {
		return "refused: this LINE account's monthly message quota is used up; nothing was sent"
	}
	return fmt.Sprintf("refused: this LINE account has %d messages left this month and the broadcast needs %d; nothing was sent", e.Left, e.Need)
}

func (b *Service) broadcastView(ctx context.Context, bc *store.Broadcast) (BroadcastView, error) {
	v := BroadcastView{Broadcast: *bc}
	_ = json.Unmarshal([]byte(bc.Messages), &v.Messages)
	p, err := b.st.BroadcastProgress(ctx, bc.ID)
	if err != nil {
		return v, err
	}
	v.Progress = p
	return v, nil
}

// GetBroadcast returns a broadcast with its progress and report.
func (b *Service) GetBroadcast(ctx context.Context, id int64) (BroadcastView, error) {
	bc, err := b.st.GetBroadcast(ctx, id)
	if err != nil {
		return BroadcastView{}, err
	}
	return b.broadcastView(ctx, bc)
}

// Broadcasts lists broadcasts, newest first.
func (b *Service) Broadcasts(ctx context.Context, connID int64) ([]BroadcastView, error) {
	bs, err := b.st.Broadcasts(ctx, connID, 100)
	if err != nil {
		return nil, err
	}
	out := make([]BroadcastView, 0, len(bs))
	for i := range bs {
		v, err := b.broadcastView(ctx, &bs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// CancelBroadcast stops a broadcast that has not started sending.
func (b *Service) CancelBroadcast(ctx context.Context, id int64) error {
	ok, err := b.st.SetBroadcastStatus(ctx, id, []string{store.BroadcastScheduled, store.BroadcastPreparing}, store.BroadcastCanceled, "")
	if err != nil {
		return err
	}
	if !ok {
		if _, err := b.st.GetBroadcast(ctx, id); err != nil {
			return err
		}
		return connections.CodedErr(connections.CodeBroadcastStarted, "only a broadcast that has not started sending can be canceled")
	}
	return nil
}

// audienceLife is how long a list read by a preview stands in for the
// next read of the same list for the same connection: "Preview", then "Send
// now", then the worker's plan read the list once, not three times (a
// 10,000-member list costs 140 requests of the shared HubSpot budget), and
// what was sent is what the admin saw. Follow status is taken from
// linehub's own friend state at every use, so a block after the preview
// still counts.
const audienceLife = 5 * time.Minute

// audience is a list's members as HubSpot holds them for one connection.
type audience struct {
	at      time.Time
	members int
	noID    int
	cands   []candidate
}

type candidate struct{ uid, follow, contact string }

type audienceKey struct {
	conn int64
	list string
}

// readAudience reads the list's members and their LINE properties from
// HubSpot, or takes them from a read younger than maxAge.
func (b *Service) readAudience(ctx context.Context, cs *connections.Conn, listID string, maxAge time.Duration) (*audience, error) {
	key := audienceKey{cs.Conn.ID, listID}
	b.msg.mu.Lock()
	if a := b.msg.audiences[key]; a != nil && time.Since(a.at) < maxAge {
		b.msg.mu.Unlock()
		return a, nil
	}
	b.msg.mu.Unlock()

	var members []string
	after := ""
	for {
		ids, next, err := b.hs.ListMembers(ctx, listID, after)
		if err != nil {
			return nil, fmt.Errorf("read HubSpot list %s: %w", listID, err)
		}
		members = append(members, ids...)
		if next == "" || len(ids) == 0 {
			break
		}
		after = next
	}
	serial := cs.Conn.Serial
	idProp, followProp := contactsync.PropertyName("line_user_id", serial), contactsync.PropertyName("line_follow", serial)
	found, _, err := b.hs.BatchReadContacts(ctx, members, []string{idProp, followProp})
	if err != nil {
		return nil, fmt.Errorf("read list members from HubSpot: %w", err)
	}
	a := &audience{at: time.Now(), members: len(members)}
	for _, id := range members {
		c, ok := found[id]
		uid := strings.TrimSpace(c.Properties[idProp])
		if !ok || !isUserID(uid) {
			a.noID++
			continue
		}
		a.cands = append(a.cands, candidate{uid, c.Properties[followProp], id})
	}

	b.msg.mu.Lock()
	defer b.msg.mu.Unlock()
	if b.msg.audiences == nil {
		b.msg.audiences = map[audienceKey]*audience{}
	}
	for k, old := range b.msg.audiences {
		if time.Since(old.at) >= audienceLife {
			delete(b.msg.audiences, k)
		}
	}
	b.msg.audiences[key] = a
	return a, nil
}

// planBroadcast takes the list's audience (read now, or by a preview less
// than maxAge ago) and cuts the recipients into chunks, each with a fresh
// retry key.
func (b *Service) planBroadcast(ctx context.Context, cs *connections.Conn, listID string, maxAge time.Duration) (store.BroadcastPlan, error) {
	var plan store.BroadcastPlan
	a, err := b.readAudience(ctx, cs, listID, maxAge)
	if err != nil {
		return plan, err
	}
	plan.Members, plan.SkippedNoID = a.members, a.noID
	uids := make([]string, len(a.cands))
	for i, c := range a.cands {
		uids[i] = c.uid
	}
	local, err := b.st.FriendsByUser(ctx, cs.Conn.ID, uids)
	if err != nil {
		return plan, err
	}
	seen := map[string]bool{}
	var to, contacts []string
	for _, c := range a.cands {
		following := c.follow == "Yes"
		if f := local[c.uid]; f != nil && f.FollowAt > 0 {
			following = f.Following // linehub saw the latest follow/unfollow
		}
		if !following {
			plan.SkippedBlock++
			continue
		}
		if !seen[c.uid] {
			seen[c.uid] = true
			to = append(to, c.uid)
			contacts = append(contacts, c.contact)
		}
	}
	for seq := 0; len(to) > 0; seq++ {
		n := min(len(to), line.MaxMulticastTo)
		plan.Chunks = append(plan.Chunks, store.BroadcastChunk{Seq: seq, UserIDs: strings.Join(to[:n], ","),
			ContactIDs: strings.Join(contacts[:n], ","), Count: n, RetryKey: uuid.NewString()})
		to, contacts = to[n:], contacts[n:]
	}
	return plan, nil
}

// runBroadcasts advances every broadcast that has work.
func (b *Service) runBroadcasts(ctx context.Context) {
	bs, err := b.st.DueBroadcasts(ctx, time.Now().UTC())
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error("read broadcasts", "err", err)
		}
		return
	}
	for i := range bs {
		if ctx.Err() != nil {
			return
		}
		if err := b.runBroadcast(ctx, &bs[i]); err != nil && ctx.Err() == nil {
			b.log.Warn("broadcast paused; retrying later", "broadcast", bs[i].ID, "err", err)
		}
	}
}

func (b *Service) fail(ctx context.Context, bc *store.Broadcast, msg string) error {
	_, err := b.st.SetBroadcastStatus(context.WithoutCancel(ctx), bc.ID, []string{store.BroadcastScheduled, store.BroadcastPreparing, store.BroadcastSending}, store.BroadcastFailed, msg)
	b.log.Warn("broadcast failed", "broadcast", bc.ID, "reason", msg)
	return err
}

func (b *Service) runBroadcast(ctx context.Context, bc *store.Broadcast) error {
	if bc.Status == store.BroadcastScheduled {
		ok, err := b.st.SetBroadcastStatus(ctx, bc.ID, []string{store.BroadcastScheduled}, store.BroadcastPreparing, "")
		if err != nil || !ok {
			return err
		}
		bc.Status = store.BroadcastPreparing
	}
	cs, err := b.conns.ByID(ctx, bc.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return b.fail(ctx, bc, "the connection was deleted")
	}
	if err != nil {
		return err
	}
	if cs.Client == nil {
		return b.fail(ctx, bc, "the connection has no channel access token")
	}
	if bc.Status == store.BroadcastPreparing {
		// A broadcast sent right after its preview goes to the audience the
		// preview showed; one that starts later (scheduled, or resumed after
		// a restart) reads the list again.
		plan, err := b.planBroadcast(ctx, cs, bc.ListID, audienceLife)
		var hsErr *hubspot.APIError
		if errors.As(err, &hsErr) && hsErr.Status == http.StatusNotFound {
			return b.fail(ctx, bc, "HubSpot list "+bc.ListID+" does not exist")
		}
		if errors.Is(err, hubspot.ErrMissingScopes) {
			return b.fail(ctx, bc, scopeErr(err).Error())
		}
		if err != nil {
			return err
		}
		need := 0
		for _, c := range plan.Chunks {
			need += c.Count
		}
		q, err := cs.Client.Quota(ctx)
		if err != nil {
			return fmt.Errorf("read LINE message quota: %w", err)
		}
		if q.Limited && int64(need) > q.Remaining() {
			return b.fail(ctx, bc, (&QuotaError{Left: q.Remaining(), Need: int64(need)}).Error())
		}
		ok, err := b.st.SaveBroadcastPlan(ctx, bc.ID, plan)
		if err != nil || !ok {
			return err
		}
		bc.Status = store.BroadcastSending
	}
	if bc.Status != store.BroadcastSending {
		return nil
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal([]byte(bc.Messages), &msgs); err != nil {
		return b.fail(ctx, bc, "stored messages are unreadable: "+err.Error())
	}
	chunks, err := b.st.BroadcastChunks(ctx, bc.ID)
	if err != nil {
		return err
	}
	sent := 0
	for i := range chunks {
		c := &chunks[i]
		if c.Status != store.SendPending {
			if c.Status == store.SendSent {
				sent++
			}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.TriedAt != nil && time.Since(*c.TriedAt) > retryKeyLife {
			if err := b.st.FinishChunk(ctx, c.ID, store.SendFailed, expiredSend(*c.TriedAt).Error()); err != nil {
				return err
			}
			continue
		}
		if err := b.st.ChunkTried(ctx, c); err != nil {
			return err
		}
		err := cs.Client.Multicast(ctx, c.Recipients(), msgs, c.RetryKey)
		if err != nil {
			cerr := classifySendErr(err)
			var rl *RateLimitError
			var ie *connections.InputError
			switch {
			case errors.As(cerr, &rl) && rl.Quota, errors.As(cerr, &ie):
				// Every later chunk would meet the same answer.
				b.log.Warn("broadcast failed", "broadcast", bc.ID, "reason", cerr.Error())
				return b.st.FailBroadcast(context.WithoutCancel(ctx), bc.ID, cerr.Error())
			default:
				// Rate limit, LINE down, network: the chunk stays pending and
				// is sent again later with the same retry key. The report
				// says why it is waiting.
				if _, err := b.st.SetBroadcastStatus(context.WithoutCancel(ctx), bc.ID, []string{store.BroadcastSending}, store.BroadcastSending, "waiting to retry: "+cerr.Error()); err != nil {
					return err
				}
				return cerr
			}
		}
		// The chunk is sent only together with its chat rows: if that
		// fails (or linehub dies first), it stays pending and the next pass
		// sends it again with its retry key, which LINE answers 409.
		done := func(tx *store.ApplyTx) error { return tx.FinishChunk(c.ID, store.SendSent, "") }
		if err := b.recordSentTo(context.WithoutCancel(ctx), bc.ConnectionID, c.Recipients(), c.Contacts(), msgs, "broadcast", fmt.Sprintf("bc:%d:%d", bc.ID, c.Seq), done); err != nil {
			return fmt.Errorf("chunk %d: %w", c.Seq, err)
		}
		sent++
	}
	status := store.BroadcastDone
	if sent == 0 && len(chunks) > 0 {
		status = store.BroadcastFailed
	}
	_, err = b.st.SetBroadcastStatus(ctx, bc.ID, []string{store.BroadcastSending}, status, "")
	return err
}

// QuotaView is a connection's LINE message quota for the API.
type QuotaView struct {
	Limited   bool  `json:"limited"`
	Limit     int64 `json:"limit"`
	Used      int64 `json:"used"`
	Remaining int64 `json:"remaining"` // -1 without a limit
}

// Quota reads a connection's monthly LINE message quota.
func (b *Service) Quota(ctx context.Context, connID int64) (QuotaView, error) {
	cs, err := b.conns.ByID(ctx, connID)
	if err != nil {
		return QuotaView{}, err
	}
	if cs.Client == nil {
		return QuotaView{}, connections.NoChannelTokenErr()
	}
	q, err := cs.Client.Quota(ctx)
	if err != nil {
		return QuotaView{}, fmt.Errorf("read LINE message quota: %w", err)
	}
	return QuotaView{Limited: q.Limited, Limit: q.Limit, Used: q.Used, Remaining: q.Remaining()}, nil
}
