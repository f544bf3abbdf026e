package ui

import (
	"errors"
	"testing"
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
