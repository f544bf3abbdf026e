package line_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"linehub/app/line"
)

// The seed corpora in testdata/fuzz/ are LINE's reference samples
// (testdata/samples): whole bodies for FuzzParseWebhook, single events for
// FuzzDecodeEvent. Regenerate them after changing the samples with
//
//	LINEHUB_WRITE_FUZZ_CORPUS=1 go test -run TestWriteFuzzCorpus ./app/line/

// FuzzParseWebhook feeds arbitrary correctly signed bodies through
// ParseWebhook: it must never panic, must reject with ErrBadBody only, and
// everything it accepts must survive the store-and-reload path (DecodeEvent
// of each Raw gives the same Event). Any change to the body must break the
// signature.
func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"destination":"U1","events":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sig := line.Sign(testSecret, body)
		cb, err := line.ParseWebhook(testSecret, sig, body)
		if err != nil {
			if !errors.Is(err, line.ErrBadBody) {
				t.Fatalf("correctly signed body rejected with %v", err)
			}
		} else {
			for i, ev := range cb.Events {
				if !bytes.Contains(body, ev.Raw) {
					t.Fatalf("event %d Raw is not verbatim from the body", i)
				}
				again, err := line.DecodeEvent(ev.Raw)
				if err != nil {
					t.Fatalf("event %d accepted by ParseWebhook but not by DecodeEvent: %v", i, err)
				}
				if !reflect.DeepEqual(again, ev) {
					t.Fatalf("event %d changed on reload:\n%+v\n%+v", i, ev, again)
				}
			}
		}

		if len(body) > 0 {
			tampered := append([]byte(nil), body...)
			tampered[len(tampered)/2] ^= 0x01
			if _, err := line.ParseWebhook(testSecret, sig, tampered); !errors.Is(err, line.ErrBadSignature) {
				t.Fatalf("tampered body: err = %v, want ErrBadSignature", err)
			}
		}
	})
}

// FuzzDecodeEvent feeds arbitrary stored events to DecodeEvent: no panics,
// only ErrBadBody as an error, and decoding is stable.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"type":"unfollow","mode":"active","timestamp":1,"source":{"type":"user","userId":"U1"},"webhookEventId":"01FZ74B5Y0F4TNKA5SCAVKPEDM","deliveryContext":{"isRedelivery":false}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := line.DecodeEvent(raw)
		if err != nil {
			if !errors.Is(err, line.ErrBadBody) {
				t.Fatalf("err = %v, want ErrBadBody", err)
			}
			return
		}
		if !bytes.Equal(ev.Raw, raw) {
			t.Fatal("Raw is not the input")
		}
		again, err := line.DecodeEvent(ev.Raw)
		if err != nil || !reflect.DeepEqual(again, ev) {
			t.Fatalf("unstable decode: %v\n%+v\n%+v", err, ev, again)
		}
	})
}

func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("LINEHUB_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set LINEHUB_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz from testdata/samples")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "samples", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(fuzzName, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzzName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		body := readSample(t, filepath.Base(f))
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		write("FuzzParseWebhook", name, body)
		cb, err := line.ParseWebhook(testSecret, line.Sign(testSecret, body), body)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, ev := range cb.Events {
			write("FuzzDecodeEvent", fmt.Sprintf("%s-%d", name, i), ev.Raw)
		}
	}
}
