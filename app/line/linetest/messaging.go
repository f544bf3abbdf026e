package linetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Sending beyond push, as the Messaging API reference documents it:
//
//	POST /v2/bot/message/multicast          1..500 user ids in "to", 1..5 messages;
//	                                        X-Line-Retry-Key repeat → 409 + X-Line-Accepted-Request-Id
//	POST /v2/bot/message/reply              reply tokens from delivered events, single use,
//	                                        valid for Options.ReplyTokenTTL (1 min);
//	                                        400 {"message":"Invalid reply token"} otherwise
//	GET  /v2/bot/message/quota              {"type":"none"} or {"type":"limited","value":N}
//	GET  /v2/bot/message/quota/consumption  {"totalUsage":N}: pushes and multicasts
//	                                        (per recipient), not replies; beyond a limit
//	                                        429 {"message":"You have reached your monthly limit."}

const (
	msgMonthlyLimit      = "You have reached your monthly limit."
	msgInvalidReplyToken = "Invalid reply token"
	defaultReplyTTL      = time.Minute
)

// Multicast is one accepted multicast request.
type Multicast struct {
	To        []string
	Texts     []string
	Messages  []json.RawMessage
	RetryKey  string
	RequestID string
}

// Reply is one accepted reply.
type Reply struct {
	ReplyToken string
	UserID     string // who the token was issued for
	Texts      []string
	Messages   []json.RawMessage
}

type replyToken struct {
	userID  string
	expires time.Time
	used    bool
}

// messaging is the per-channel state of multicast, reply and quota.
type messaging struct {
	multicasts  []Multicast
	replies     []Reply
	replyTokens map[string]*replyToken
	limited     bool
	limit       int64
	used        int64
	// multicastHook runs after a multicast is accepted and before LINE
	// answers: a crash test kills the sender there.
	multicastHook func(Multicast)
}

func (m *messaging) overQuota(n int) bool {
	return m.limited && m.used+int64(n) > m.limit
}

// SetQuota sets a monthly target limit (limit < 0 removes it) and this
// month's consumption so far.
func (s *Server) SetQuota(token string, limit, used int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannel(token)
	c.limited, c.limit, c.used = limit >= 0, limit, used
}

// SetMulticastHook installs f, called for every accepted multicast before
// the response is written (nil removes it). A test can kill the sender in
// it: LINE has then accepted a request whose answer the sender never sees.
func (s *Server) SetMulticastHook(token string, f func(Multicast)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustChannel(token).multicastHook = f
}

// Multicasts returns the accepted multicasts, oldest first.
func (s *Server) Multicasts(token string) []Multicast {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannel(token)
	return append([]Multicast(nil), c.multicasts...)
}

// Replies returns the accepted replies, oldest first.
func (s *Server) Replies(token string) []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannel(token)
	return append([]Reply(nil), c.replies...)
}

// ExpireReplyTokens makes every reply token issued so far invalid, as if
// their minute had passed.
func (s *Server) ExpireReplyTokens(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.mustChannel(token).replyTokens {
		t.expires = time.Time{}
	}
}

// IssueReplyTokens remembers the reply tokens of events as LINE would when
// sending them (Deliver does this itself; tests that post webhooks another
// way call it): LINE accepts a token only from an event it sent.
func (s *Server) IssueReplyTokens(token string, events ...json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.channels[token]
	if !ok {
		return
	}
	if c.replyTokens == nil {
		c.replyTokens = map[string]*replyToken{}
	}
	ttl := s.opts.ReplyTokenTTL
	if ttl <= 0 {
		ttl = defaultReplyTTL
	}
	for _, ev := range events {
		var e struct {
			ReplyToken string `json:"replyToken"`
			Source     struct {
				UserID string `json:"userId"`
			} `json:"source"`
		}
		if json.Unmarshal(ev, &e) == nil && e.ReplyToken != "" {
			c.replyTokens[e.ReplyToken] = &replyToken{userID: e.Source.UserID, expires: s.opts.Now().Add(ttl)}
		}
	}
}

// checkMessages validates message objects the way push, multicast and
// reply share: 1..5 objects of a sendable type, text not empty.
func checkMessages(msgs []json.RawMessage) (texts []string, details []detail) {
	if n := len(msgs); n < 1 || n > 5 {
		details = append(details, detail{"Size must be between 1 and 5", "messages"})
	}
	for i, m := range msgs {
		var msg struct {
			Type     string  `json:"type"`
			Text     *string `json:"text"`
			Original string  `json:"originalContentUrl"`
			Preview  string  `json:"previewImageUrl"`
		}
		if err := json.Unmarshal(m, &msg); err != nil {
			details = append(details, detail{"Must be an object", fmt.Sprintf("messages[%d]", i)})
			continue
		}
		if !sendableTypes[msg.Type] {
			details = append(details, detail{"Must be one of the following values: [text, image, video, audio, location, sticker, template, imagemap, flex]", fmt.Sprintf("messages[%d].type", i)})
			continue
		}
		if msg.Type == "image" {
			// LINE's image message: both URLs required, HTTPS (TLS 1.2 or
			// later), at most 2000 characters; the files themselves (JPEG
			// or PNG, original ≤ 10 MB, preview ≤ 1 MB) are fetched only
			// when a user's app shows them, never while the request is
			// answered. "invalid uri scheme" is the detail LINE gives for
			// a URL that is not HTTPS.
			for prop, u := range map[string]string{"originalContentUrl": msg.Original, "previewImageUrl": msg.Preview} {
				where := fmt.Sprintf("messages[%d].%s", i, prop)
				switch {
				case u == "":
					details = append(details, detail{"May not be empty", where})
				case utf8.RuneCountInString(u) > 2000:
					details = append(details, detail{"Length must be between 0 and 2000", where})
				case !strings.HasPrefix(u, "https://"):
					details = append(details, detail{"invalid uri scheme", where})
				}
			}
			continue
		}
		if msg.Type == "text" {
			if msg.Text == nil || *msg.Text == "" {
				details = append(details, detail{"May not be empty", fmt.Sprintf("messages[%d].text", i)})
				continue
			}
			texts = append(texts, *msg.Text)
		}
	}
	return texts, details
}

func writeDetails(w http.ResponseWriter, details []detail) {
	writeJSON(w, http.StatusBadRequest, struct {
		Message string   `json:"message"`
		Details []detail `json:"details"`
	}{fmt.Sprintf("The request body has %d error(s)", len(details)), details})
}

func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "The request body could not be read")
		return false
	}
	if len(body) > 2<<20 {
		writeError(w, http.StatusRequestEntityTooLarge, "Request entity too large")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "The request body could not be parsed as JSON")
		return false
	}
	return true
}

func (s *Server) multicast(w http.ResponseWriter, r *http.Request, token, reqID string) {
	retryKey := r.Header.Get("X-Line-Retry-Key")
	if retryKey != "" && !looksLikeUUID(retryKey) {
		writeError(w, http.StatusBadRequest, "The value for the 'X-Line-Retry-Key' header is invalid")
		return
	}
	var req struct {
		To       []string          `json:"to"`
		Messages []json.RawMessage `json:"messages"`
	}
	if !readBody(w, r, &req) {
		return
	}
	var details []detail
	if n := len(req.To); n < 1 || n > 500 {
		details = append(details, detail{"Size must be between 1 and 500", "to"})
	}
	for i, id := range req.To {
		if !looksLikeUserID(id) {
			details = append(details, detail{"Invalid user ID", fmt.Sprintf("to[%d]", i)})
			break
		}
	}
	texts, more := checkMessages(req.Messages)
	details = append(details, more...)
	if len(details) > 0 {
		writeDetails(w, details)
		return
	}
	s.mu.Lock()
	c := s.channels[token]
	if retryKey != "" {
		if prev, dup := c.accepted[strings.ToLower(retryKey)]; dup {
			s.mu.Unlock()
			w.Header().Set("X-Line-Accepted-Request-Id", prev.requestID)
			writeError(w, http.StatusConflict, msgRetryKeyUsed)
			return
		}
	}
	if c.overQuota(len(req.To)) {
		s.mu.Unlock()
		writeError(w, http.StatusTooManyRequests, msgMonthlyLimit)
		return
	}
	c.used += int64(len(req.To))
	m := Multicast{To: req.To, Texts: texts, Messages: req.Messages, RetryKey: retryKey, RequestID: reqID}
	c.multicasts = append(c.multicasts, m)
	if retryKey != "" {
		c.accepted[strings.ToLower(retryKey)] = acceptedPush{requestID: reqID}
	}
	hook := c.multicastHook
	s.mu.Unlock()
	if hook != nil {
		hook(m)
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request, token string) {
	if r.Header.Get("X-Line-Retry-Key") != "" {
		// LINE: a retry key on an API that does not support it is refused.
		writeError(w, http.StatusBadRequest, "The retry key is not supported for this API")
		return
	}
	var req struct {
		ReplyToken string            `json:"replyToken"`
		Messages   []json.RawMessage `json:"messages"`
	}
	if !readBody(w, r, &req) {
		return
	}
	var details []detail
	if req.ReplyToken == "" {
		details = append(details, detail{"May not be empty", "replyToken"})
	}
	texts, more := checkMessages(req.Messages)
	details = append(details, more...)
	if len(details) > 0 {
		writeDetails(w, details)
		return
	}
	s.mu.Lock()
	c := s.channels[token]
	t := c.replyTokens[req.ReplyToken]
	if t == nil || t.used || !s.opts.Now().Before(t.expires) {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgInvalidReplyToken)
		return
	}
	t.used = true
	c.replies = append(c.replies, Reply{ReplyToken: req.ReplyToken, UserID: t.userID, Texts: texts, Messages: req.Messages})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		SentMessages []sentMessage `json:"sentMessages"`
	}{[]sentMessage{{ID: MessageID(), QuoteToken: quoteToken()}}})
}

func (s *Server) quota(w http.ResponseWriter, token string) {
	s.mu.Lock()
	c := s.channels[token]
	limited, limit := c.limited, c.limit
	s.mu.Unlock()
	if !limited {
		writeJSON(w, http.StatusOK, map[string]any{"type": "none"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"type": "limited", "value": limit})
}

func (s *Server) consumption(w http.ResponseWriter, token string) {
	s.mu.Lock()
	used := s.channels[token].used
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"totalUsage": used})
}
