package ui

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

// FuzzCheckIcon feeds uploads to the icon check: it must never panic and
// must accept only what decodes as a PNG, JPEG or GIF of sane size, and
// what it returns must itself decode, in the format it names.
func FuzzCheckIcon(f *testing.F) {
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewGray(image.Rect(0, 0, 2, 2)))
	f.Add(buf.Bytes())
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"))
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ct, out, err := checkIcon(data)
		if err != nil {
			return
		}
		cfg, _, derr := image.DecodeConfig(bytes.NewReader(data))
		if derr != nil || cfg.Width > maxIconPixels || cfg.Height > maxIconPixels || (ct != "image/png" && ct != "image/jpeg") {
			t.Fatalf("accepted %q (%v)", ct, derr)
		}
		ocfg, format, oerr := image.DecodeConfig(bytes.NewReader(out))
		if oerr != nil || "image/"+format != ct || ocfg.Width != cfg.Width || ocfg.Height != cfg.Height {
			t.Fatalf("returned %s %dx%d (%v) for a %dx%d upload", format, ocfg.Width, ocfg.Height, oerr, cfg.Width, cfg.Height)
		}
	})
}

// FuzzCheckPassword parses stored PHC strings: malformed ones must be
// refused, never panic, and never accept.
func FuzzCheckPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA", "pw")
	f.Add("$argon2id$v=19$m=0,t=0,p=0$$", "")
	f.Add("garbage", "x")
	f.Fuzz(func(t *testing.T, phc, pw string) {
		if checkPassword(phc, pw) && phc == "garbage" {
			t.Fatal("accepted a malformed hash")
		}
	})
}

// FuzzEncodeChatImage feeds uploads to the chat image check: it must never
// panic, accept only a JPEG or PNG within the pixel limit, and return an
// image of the same size in the format it names and a JPEG preview no
// larger than LINE's 1 MB and previewSide.
func FuzzEncodeChatImage(f *testing.F) {
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewGray(image.Rect(0, 0, 3, 2)))
	f.Add(buf.Bytes())
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"))
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ext, out, preview, err := encodeChatImage(data)
		if err != nil {
			return
		}
		cfg, _, derr := image.DecodeConfig(bytes.NewReader(data))
		if derr != nil || cfg.Width > maxChatImageSide || cfg.Height > maxChatImageSide {
			t.Fatalf("accepted a %dx%d upload (%v)", cfg.Width, cfg.Height, derr)
		}
		ocfg, format, oerr := image.DecodeConfig(bytes.NewReader(out))
		if oerr != nil || map[string]string{"jpeg": "jpg", "png": "png"}[format] != ext || ocfg.Width != cfg.Width || ocfg.Height != cfg.Height {
			t.Fatalf("returned %s %dx%d as %q (%v) for a %dx%d upload", format, ocfg.Width, ocfg.Height, ext, oerr, cfg.Width, cfg.Height)
		}
		pcfg, pformat, perr := image.DecodeConfig(bytes.NewReader(preview))
		if perr != nil || pformat != "jpeg" || len(preview) > maxLINEPreviewBytes || pcfg.Width > previewSide || pcfg.Height > previewSide {
			t.Fatalf("preview %s %dx%d, %d bytes (%v)", pformat, pcfg.Width, pcfg.Height, len(preview), perr)
		}
	})
}
