package ui

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"linehub/app/config"
)

// A 16-bit RGBA PNG within the side limit decodes to 8 bytes a pixel:
// 4096×4096 of it would hold 128 MiB for one upload, so it is refused
// from its header, before anything is decoded.
func TestChatImageBoundsDecodedBytesBy16BitDepth(t *testing.T) {
	for _, tc := range []struct {
		name      string
		w, h      uint32
		depth, ct byte
		tooLarge  bool
	}{
		{"16-bit RGBA 4096×4096", 4096, 4096, 16, 6, true},
		{"16-bit RGB 4096×2049", 4096, 2049, 16, 2, true},
		{"16-bit RGBA 4096×2048", 4096, 2048, 16, 6, false},
		{"8-bit RGBA 4096×4096", 4096, 4096, 8, 6, false},
	} {
		_, _, _, err := encodeChatImage(pngHeaderOf(tc.w, tc.h, tc.depth, tc.ct))
		if got := errors.Is(err, errImageTooLarge); got != tc.tooLarge {
			t.Errorf("%s: %v, want too large %v", tc.name, err, tc.tooLarge)
		}
	}
}

// A chat image is streamed from its file: a friend who has the address
// can ask for it many times at once, and each answer holding up to 10 MB
// in memory would let them exhaust it.
func TestChatImageIsStreamedFromItsFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, chatImageDir), 0o700); err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("ab", 32) + ".jpg"
	data := bytes.Repeat([]byte("jpeg"), 100<<10)
	if err := os.WriteFile(filepath.Join(dir, chatImageDir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: &config.Config{DataDir: dir}, log: slog.New(slog.DiscardHandler)}
	app := fiber.New(fiber.Config{Immutable: true})
	app.Get(chatImagePath+":name", s.chatImage)
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fiber.MethodGet)
	ctx.Request.SetRequestURI(chatImagePath + name)
	app.Handler()(&ctx)
	if ctx.Response.StatusCode() != fiber.StatusOK || string(ctx.Response.Header.ContentType()) != "image/jpeg" {
		t.Fatalf("answer %d %s", ctx.Response.StatusCode(), ctx.Response.Header.ContentType())
	}
	if !ctx.Response.IsBodyStream() {
		t.Fatal("the image was read into memory rather than streamed from its file")
	}
	if got := ctx.Response.Body(); !bytes.Equal(got, data) {
		t.Fatalf("streamed %d bytes, want the file's %d", len(got), len(data))
	}
}
