package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/store"
)

// The server reads request bodies as streams (StreamRequestBody), so that
// an upload over the limit on a form page can be read to its end and
// answered with the form: a server that answers early and closes, as
// fasthttp does with a fixed limit, leaves the browser still sending, and
// it shows a reset connection instead of the answer. BoundBody puts the
// limit back for everything else.

const (
	// maxDrainBytes is how much of an oversized upload is read (and thrown
	// away) to answer with the form: a phone photo or two. A larger body
	// is cut off like any other, with a closed connection.
	maxDrainBytes = 64 << 20
	// maxKeptField bounds each text field kept from an oversized form
	// (name, description, csrf: all far shorter).
	maxKeptField = 16 << 10
	// maxKeptParts bounds the parts read from an oversized form.
	maxKeptParts = 32
)

// oversizeRoutes are the form posts whose oversized body (an icon or a
// chat photo sent without the page's script, which checks the size
// first) is read to its end and answered with the form in the admin's
// language.
var oversizeRoutes = regexp.MustCompile(`^/connections(/[0-9]+/edit|/[0-9]+/chat/[^/]+/reply)?$`)

const localOversize = "oversize"

// BoundBody reads every request body of at most MaxRequestBytes into
// memory before any handler runs, so handlers see the body as before,
// and refuses a larger one with 413 and a closed connection (the rest is
// never read). A multipart post over the limit to one of the form pages
// that take an icon is left as a stream for that page to drain.
func (s *Server) BoundBody(c *fiber.Ctx) error {
	req := c.Request()
	if !req.IsBodyStream() {
		return c.Next()
	}
	n := req.Header.ContentLength()
	if n > MaxRequestBytes {
		if c.Method() == fiber.MethodPost && oversizeRoutes.MatchString(c.Path()) &&
			len(req.Header.MultipartFormBoundary()) > 0 && n <= maxDrainBytes {
			cr := &countingReader{r: req.BodyStream()}
			c.Locals(localOversize, cr)
			err := c.Next()
			if cr.n < int64(n) {
				// Unread bytes would be parsed as the next request.
				c.Context().SetConnectionClose()
			}
			return err
		}
		c.Context().SetConnectionClose()
		return fiber.ErrRequestEntityTooLarge
	}
	// n ≥ 0: Body reads exactly n bytes (and puts an error's text in
	// their place when the client stops short). Chunked (n < 0): at most
	// one byte over the limit is read to tell.
	if n >= 0 {
		if len(req.Body()) != n {
			c.Context().SetConnectionClose()
			return fiber.NewError(fiber.StatusBadRequest, "request body shorter than its Content-Length")
		}
		return c.Next()
	}
	body, err := io.ReadAll(io.LimitReader(req.BodyStream(), MaxRequestBytes+1))
	if err != nil {
		c.Context().SetConnectionClose()
		return fiber.NewError(fiber.StatusBadRequest, "read request body: "+err.Error())
	}
	if len(body) > MaxRequestBytes {
		c.Context().SetConnectionClose()
		return fiber.ErrRequestEntityTooLarge
	}
	req.SetBody(body)
	req.Header.SetContentLength(len(body))
	return c.Next()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}

// oversizedForm reads an oversized multipart body to its end, keeping
// the short text fields and throwing the files away; ok is false when
// the request is not one BoundBody left as a stream.
func oversizedForm(c *fiber.Ctx) (fields map[string]string, ok bool, err error) {
	cr, _ := c.Locals(localOversize).(*countingReader)
	if cr == nil {
		return nil, false, nil
	}
	fields = map[string]string{}
	mr := multipart.NewReader(cr, string(c.Request().Header.MultipartFormBoundary()))
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, true, fmt.Errorf("read oversized form: %w", err)
		}
		if i >= maxKeptParts {
			return nil, true, errors.New("read oversized form: too many parts")
		}
		if part.FileName() != "" {
			_, err = io.Copy(io.Discard, part)
		} else {
			var b []byte
			b, err = io.ReadAll(io.LimitReader(part, maxKeptField))
			if err == nil {
				_, err = io.Copy(io.Discard, part)
			}
			if utf8.Valid(b) {
				fields[part.FormName()] = string(b)
			}
		}
		if err != nil {
			return nil, true, fmt.Errorf("read oversized form part: %w", err)
		}
	}
	// Whatever follows the closing boundary belongs to this request too.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, true, fmt.Errorf("read oversized form epilogue: %w", err)
	}
	return fields, true, nil
}

// oversizedIcon answers an icon or chat photo form post over the request
// limit (see BoundBody) with the form, what was typed, and the upload's
// limit in the admin's language. It runs before the session and CSRF checks, which
// would read the whole body, and does both itself on the drained form.
func (s *Server) oversizedIcon(c *fiber.Ctx) error {
	if c.Locals(localOversize) == nil {
		return c.Next()
	}
	// Only a signed-in admin's upload is read to its end (the session is
	// in a cookie; the CSRF token is in the body).
	s.signedInAdmin(c)
	sess, signedIn := c.Locals("session").(*store.Session)
	l := s.locale(c)
	if !signedIn {
		c.Context().SetConnectionClose()
		return s.render(c, fiber.StatusUnauthorized, "message", &page{L: l, Title: "login.title", Error: l.T("login.expired")})
	}
	form, _, err := oversizedForm(c)
	if err != nil {
		c.Context().SetConnectionClose()
		return fiber.NewError(fiber.StatusBadRequest, err.Error())
	}
	if got := form["csrf"]; len(got) != len(sess.CSRF) || got != sess.CSRF {
		return s.render(c, fiber.StatusForbidden, "message", &page{L: l, Title: "csrf.title", Error: l.T("csrf.body")})
	}
	s.log.Warn("form upload over the request limit refused", "path", c.Path(), "bytes", c.Request().Header.ContentLength())
	if strings.HasSuffix(c.Path(), "/reply") {
		conn, err := s.connParam(c)
		if err != nil {
			return err
		}
		reply := replyForm{Text: form["text"], Messages: form["messages"], Image: strings.TrimSpace(form["image"])}
		var raw []json.RawMessage
		if reply.Messages != "" && json.Unmarshal([]byte(reply.Messages), &raw) == nil {
			reply.Preview = messageSummary(raw)
		}
		return s.chatView(c, conn, c.Params("user"), fiber.StatusRequestEntityTooLarge,
			l.T("chat.upload_too_large", maxChatImageBytes>>20, maxChatImageSide, maxChatImageSide), reply)
	}
	msg := iconError(l, &connections.InputError{Msg: "icon"})
	name, desc := form["name"], strings.TrimSpace(form["description"])
	if c.Path() == "/connections" {
		return s.render(c, fiber.StatusRequestEntityTooLarge, "connection_new", &page{L: l, Title: "conn.new_title", Nav: "dash", Error: msg,
			Data: fiber.Map{"Name": name, "Description": desc}})
	}
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	return s.connView(c, conn, fiber.StatusRequestEntityTooLarge, msg, fiber.Map{"Edit": fiber.Map{"Name": name, "Description": desc}})
}
