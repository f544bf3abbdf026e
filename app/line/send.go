package line

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
)

// Limits of the Messaging API reference (send-push-message,
// send-multicast-message, send-reply-message).
const (
	MaxMessagesPerRequest = 5
	MaxMulticastTo        = 500
)

// ErrInvalidReplyToken: LINE answered 400 "Invalid reply token": the token
// was used already or has expired. The message can still go as a push.
var ErrInvalidReplyToken = errors.New("line: reply token invalid, used or expired")

// raw sends one JSON request outside the SDK (the SDK wants typed message
// structs; linehub passes message objects through as the admin wrote them).
// It goes through do, so it gets the same retries and error mapping.
func (c *Client) raw(ctx context.Context, op, method, path, retryKey string, in, out any) error {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return fmt.Errorf("line: %s: encode: %w", op, err)
		}
	}
	res, err := c.do(ctx, op, func(*messaging_api.MessagingApiAPI) (*http.Response, error) {
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(actx, method, c.apiBase+path, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if retryKey != "" {
			req.Header.Set("X-Line-Retry-Key", retryKey)
		}
		res, err := c.hc.Do(req)
		if err != nil {
			return nil, err
		}
		// Read the body before the attempt's context ends.
		data, rerr := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(data))
		if rerr != nil && res.StatusCode/100 == 2 {
			return res, fmt.Errorf("reading body: %w", rerr)
		}
		return res, nil
	})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return fmt.Errorf("line: %s: decode response: %w", op, err)
		}
	}
	return nil
}

// alreadyAccepted turns LINE's 409 for a repeated retry key into success:
// the request went through the first time.
func (c *Client) alreadyAccepted(ctx context.Context, op string, err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		c.log.LogAttrs(ctx, slog.LevelInfo, "line request already accepted for this retry key",
			slog.String("op", op), slog.String("accepted_request_id", apiErr.AcceptedRequestID))
		return nil
	}
	return err
}

func checkMessages(msgs []json.RawMessage) error {
	if len(msgs) == 0 || len(msgs) > MaxMessagesPerRequest {
		return fmt.Errorf("between 1 and %d messages are allowed, got %d", MaxMessagesPerRequest, len(msgs))
	}
	return nil
}

// Push sends message objects to one user. retryKey works as in PushText.
func (c *Client) Push(ctx context.Context, to string, msgs []json.RawMessage, retryKey string) error {
	if err := checkID(to); err != nil {
		return fmt.Errorf("line: push message: %w", err)
	}
	if err := checkMessages(msgs); err != nil {
		return fmt.Errorf("line: push message: %w", err)
	}
	key := RetryKey(retryKey)
	if key == "" {
		key = c.newRetryUUID()
	}
	body := struct {
		To       string            `json:"to"`
		Messages []json.RawMessage `json:"messages"`
	}{to, msgs}
	err := c.raw(ctx, "push message", http.MethodPost, "/v2/bot/message/push", key, body, nil)
	return c.alreadyAccepted(ctx, "push message", err)
}

// Multicast sends message objects to up to 500 users in one request. A
// stable retryKey (stored before the first call) makes a retry after a
// crash harmless: LINE answers 409 and nobody gets the message twice.
func (c *Client) Multicast(ctx context.Context, to []string, msgs []json.RawMessage, retryKey string) error {
	if len(to) == 0 || len(to) > MaxMulticastTo {
		return fmt.Errorf("line: multicast: between 1 and %d recipients are allowed, got %d", MaxMulticastTo, len(to))
	}
	for _, id := range to {
		if err := checkID(id); err != nil {
			return fmt.Errorf("line: multicast: %w", err)
		}
	}
	if err := checkMessages(msgs); err != nil {
		return fmt.Errorf("line: multicast: %w", err)
	}
	key := RetryKey(retryKey)
	if key == "" {
		key = c.newRetryUUID()
	}
	body := struct {
		To       []string          `json:"to"`
		Messages []json.RawMessage `json:"messages"`
	}{to, msgs}
	err := c.raw(ctx, "multicast", http.MethodPost, "/v2/bot/message/multicast", key, body, nil)
	return c.alreadyAccepted(ctx, "multicast", err)
}

// Reply answers a webhook event with its reply token (free of charge, unlike
// push). A used or expired token is ErrInvalidReplyToken. The reply API takes
// no retry key, so a reply is never retried on a transport error: that could
// deliver it twice.
func (c *Client) Reply(ctx context.Context, replyToken string, msgs []json.RawMessage) error {
	if strings.TrimSpace(replyToken) == "" {
		return errors.New("line: reply: empty reply token")
	}
	if err := checkMessages(msgs); err != nil {
		return fmt.Errorf("line: reply: %w", err)
	}
	body := struct {
		ReplyToken string            `json:"replyToken"`
		Messages   []json.RawMessage `json:"messages"`
	}{replyToken, msgs}
	err := c.WithRetries(0).raw(ctx, "reply", http.MethodPost, "/v2/bot/message/reply", "", body, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(apiErr.Message), "reply token") {
		return fmt.Errorf("%w: %w", ErrInvalidReplyToken, err)
	}
	return err
}

// Quota is the channel's monthly message budget: Limited false means no
// target limit is set; Used counts messages sent this month (replies are
// free and not counted).
type Quota struct {
	Limited bool
	Limit   int64
	Used    int64
}

// Remaining is how many more messages may be sent this month (-1: no limit).
func (q Quota) Remaining() int64 {
	if !q.Limited {
		return -1
	}
	return max(q.Limit-q.Used, 0)
}

// Quota reads the monthly target limit and this month's consumption
// (GET /v2/bot/message/quota and /v2/bot/message/quota/consumption).
func (c *Client) Quota(ctx context.Context) (Quota, error) {
	var q struct {
		Type  string `json:"type"`
		Value int64  `json:"value"`
	}
	if err := c.raw(ctx, "get quota", http.MethodGet, "/v2/bot/message/quota", "", nil, &q); err != nil {
		return Quota{}, err
	}
	var u struct {
		TotalUsage int64 `json:"totalUsage"`
	}
	if err := c.raw(ctx, "get quota consumption", http.MethodGet, "/v2/bot/message/quota/consumption", "", nil, &u); err != nil {
		return Quota{}, err
	}
	return Quota{Limited: q.Type == "limited", Limit: q.Value, Used: u.TotalUsage}, nil
}

// WithRetries returns a client like c that retries a failed call at most n
// times (0: never). The workflow endpoint uses 0: HubSpot retries the whole
// call itself, with the same retry key, and wants a quick 429.
func (c *Client) WithRetries(n int) *Client {
	cp := *c
	cp.maxRetries = max(n, 0)
	return &cp
}
