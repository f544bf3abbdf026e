package ui

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// An image uploaded with a chat reply is sent as LINE's image message,
// whose two addresses LINE's app fetches from linehub when it shows the
// image: originalContentUrl and previewImageUrl, each HTTPS (TLS 1.2 or
// later), at most 2000 characters, JPEG or PNG, the original at most
// 10 MB and the preview at most 1 MB (Messaging API reference, "Image
// message"; no pixel limit since May 2020). So the upload is decoded and
// re-encoded from its pixels (as icons are: nothing else it carried is
// served), kept under a random name nobody can guess in the data
// directory, and served at /media/chat/<name> without a session.
const (
	// maxChatImageBytes bounds an upload: under the 8 MB request limit
	// with room for the form's other fields.
	maxChatImageBytes = 6 << 20
	// maxChatImageSide bounds each side in pixels (a 12-megapixel phone
	// photo is 4032×3024).
	maxChatImageSide = 4096
	// maxDecodedBytes bounds the decoded pixels: a 4096×4096 image at 8
	// bits a channel, or half as many pixels of a 16-bit PNG.
	maxDecodedBytes = 64 << 20
	// maxLINEImageBytes and maxLINEPreviewBytes are LINE's limits.
	maxLINEImageBytes   = 10 << 20
	maxLINEPreviewBytes = 1 << 20
	// previewSide is the longest side of the preview LINE shows in the
	// chat before the image is opened.
	previewSide = 640
	// chatImageRetention is how long images stay: LINE's app fetches an
	// image when a friend opens the chat, which may be days later; after
	// this the picture in old messages no longer loads.
	chatImageRetention = 30 * 24 * time.Hour
	chatImageDir       = "chat-images"
	chatImagePath      = "/media/chat/"
)

var chatImageName = regexp.MustCompile(`^[0-9a-f]{64}(-p)?\.(jpg|png)$`)

var errNoUpload = errors.New("no image uploaded")

// chatImageURLs stores the reply form's uploaded image and returns the
// addresses of the original and the preview; errNoUpload when none was
// sent. A refusal is a 400 whose message is in the admin's language.
func (s *Server) chatImageURLs(c *fiber.Ctx, l *locale) (string, string, error) {
	fh, err := c.FormFile("upload")
	if err != nil || fh.Size == 0 {
		return "", "", errNoUpload
	}
	base := strings.TrimRight(s.cfg.EffectivePublicURL(), "/")
	if !strings.HasPrefix(base, "https://") {
		return "", "", fiber.NewError(fiber.StatusBadRequest, l.T("chat.upload_https"))
	}
	tooLarge := fiber.NewError(fiber.StatusBadRequest, l.T("chat.upload_too_large", maxChatImageBytes>>20, maxChatImageSide, maxChatImageSide))
	if fh.Size > maxChatImageBytes {
		return "", "", tooLarge
	}
	f, err := fh.Open()
	if err != nil {
		return "", "", fmt.Errorf("open chat image upload: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxChatImageBytes+1))
	if err != nil {
		return "", "", fmt.Errorf("read chat image upload: %w", err)
	}
	if len(data) > maxChatImageBytes {
		return "", "", tooLarge
	}
	ext, original, preview, err := encodeChatImage(data)
	switch {
	case errors.Is(err, errNotImage):
		return "", "", fiber.NewError(fiber.StatusBadRequest, l.T("chat.upload_not_image"))
	case errors.Is(err, errImageTooLarge):
		return "", "", tooLarge
	case err != nil:
		return "", "", err
	}
	name, err := s.storeChatImage(ext, original, preview)
	if err != nil {
		return "", "", err
	}
	return base + chatImagePath + name + "." + ext, base + chatImagePath + name + "-p.jpg", nil
}

var (
	errNotImage      = errors.New("not a JPEG or PNG image")
	errImageTooLarge = errors.New("image too large")
)

// encodeChatImage decodes a JPEG or PNG and returns it re-encoded (JPEG
// as JPEG, PNG as PNG) and a JPEG preview. The size is read from the
// header first, so an image that would decode to gigabytes is refused
// before any is allocated.
func encodeChatImage(data []byte) (ext string, original, preview []byte, err error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "jpeg" && format != "png") {
		return "", nil, nil, errNotImage
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxChatImageSide || cfg.Height > maxChatImageSide ||
		int64(cfg.Width)*int64(cfg.Height)*bytesPerPixel(cfg.ColorModel) > maxDecodedBytes {
		return "", nil, nil, errImageTooLarge
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", nil, nil, errNotImage
	}
	var out bytes.Buffer
	if format == "jpeg" {
		ext, err = "jpg", jpeg.Encode(&out, img, &jpeg.Options{Quality: 90})
	} else {
		ext, err = "png", (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img)
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("encode chat image: %w", err)
	}
	if out.Len() > maxLINEImageBytes {
		return "", nil, nil, errImageTooLarge
	}
	var pv bytes.Buffer
	for q := 80; ; q -= 20 {
		pv.Reset()
		if err := jpeg.Encode(&pv, shrink(img, previewSide), &jpeg.Options{Quality: q}); err != nil {
			return "", nil, nil, fmt.Errorf("encode chat image preview: %w", err)
		}
		if pv.Len() <= maxLINEPreviewBytes || q <= 20 {
			break
		}
	}
	if pv.Len() > maxLINEPreviewBytes {
		return "", nil, nil, errImageTooLarge
	}
	return ext, out.Bytes(), pv.Bytes(), nil
}

// bytesPerPixel is what the decoders hold per pixel of a color model:
// 16-bit PNGs decode to 8 bytes (colour) or 2 (grey), the rest to at most 4.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	return 4
}

// shrink scales img down so that its longer side is at most side pixels,
// each pixel the average of four samples of its area, on white (a PNG's
// transparency has nothing behind it in a JPEG).
func shrink(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > side || h > side {
		if w >= h {
			w, h = side, max(1, h*side/w)
		} else {
			w, h = max(1, w*side/h), side
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	sx, sy := float64(b.Dx())/float64(w), float64(b.Dy())/float64(h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var r, g, bl uint32
			for _, o := range [4][2]float64{{.25, .25}, {.75, .25}, {.25, .75}, {.75, .75}} {
				px := b.Min.X + min(int((float64(x)+o[0])*sx), b.Dx()-1)
				py := b.Min.Y + min(int((float64(y)+o[1])*sy), b.Dy()-1)
				cr, cg, cb, ca := img.At(px, py).RGBA()
				// Premultiplied: add the white the transparent part lets through.
				cr, cg, cb = cr+0xffff-ca, cg+0xffff-ca, cb+0xffff-ca
				r, g, bl = r+cr, g+cg, bl+cb
			}
			dst.SetRGBA(x, y, color.RGBA{uint8(r >> 10), uint8(g >> 10), uint8(bl >> 10), 0xff})
		}
	}
	return dst
}

// storeChatImage writes the two files (0600, in a 0700 directory) under
// a new random name, each synced and renamed into place so that a crash
// leaves no half file behind an address LINE may fetch, and removes
// images older than the retention.
func (s *Server) storeChatImage(ext string, original, preview []byte) (string, error) {
	dir := filepath.Join(s.cfg.DataDir, chatImageDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("restrict %s: %w", dir, err)
	}
	s.pruneChatImages(dir, time.Now())
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("name chat image: %w", err)
	}
	name := hex.EncodeToString(b[:])
	for file, data := range map[string][]byte{name + "." + ext: original, name + "-p.jpg": preview} {
		if err := writeFileSynced(filepath.Join(dir, file), data); err != nil {
			return "", err
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the new names survive a crash too
		d.Close()
	}
	return name, nil
}

func writeFileSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// pruneChatImages removes images older than the retention (and temporary
// files a crash left). A failure is logged: the upload goes on.
func (s *Server) pruneChatImages(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.Warn("list chat images", "dir", dir, "err", err)
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < chatImageRetention {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			s.log.Warn("remove old chat image", "file", e.Name(), "err", err)
		}
	}
}

// chatImage serves a stored chat image to whoever has its address (LINE's
// app, for the friend it was sent to); the random name is the only key.
func (s *Server) chatImage(c *fiber.Ctx) error {
	name := c.Params("name")
	if !chatImageName.MatchString(name) {
		return fiber.NewError(fiber.StatusNotFound, "no such image")
	}
	// Streamed from the file, not read into memory: anyone who has the
	// address (every friend it was sent to) may ask for it as often and
	// as many times at once as they like.
	f, err := os.Open(filepath.Join(s.cfg.DataDir, chatImageDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return fiber.NewError(fiber.StatusNotFound, "no such image")
	}
	if err != nil {
		return fmt.Errorf("open chat image: %w", err)
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("chat image %s is not a readable file: %v", name, err)
	}
	ct := "image/jpeg"
	if strings.HasSuffix(name, ".png") {
		ct = "image/png"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set("Cache-Control", "public, max-age=86400, immutable")
	c.Set("X-Content-Type-Options", "nosniff")
	// fasthttp closes f once the answer is written.
	return c.SendStream(f, int(info.Size()))
}
