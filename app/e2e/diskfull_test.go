package e2e

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// smallDisk mounts a tmpfs of the given size on a new directory, so that a
// test can fill it. It needs root (mount(2)); without it the test skips,
// saying so.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("mounting a %s tmpfs for the disk-full test needs root (CAP_SYS_ADMIN): %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file until the file system is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatalf("fill %s: %v", dir, err)
		}
	}
}

// TestDiskFull fills the disk under the data directory while linehub runs
// (a real tmpfs, really full): webhooks are refused with 503 and a clear
// message, the process keeps serving and says what is wrong in /readyz,
// /status and the log (once), and after space is freed it takes LINE's
// redeliveries and every friend, acknowledged before, during or after,
// ends up as exactly one HubSpot contact. (That a refused append stores
// nothing is store.TestIsFull.)
func TestDiskFull(t *testing.T) {
	dir := smallDisk(t, "24m")
	e := newEnv(t, envOptions{DataDir: dir})
	e.configureHubSpot("starter")
	c := e.connect("Full Shop")

	newFriend := func() string {
		uid := linetest.NewUserID()
		e.LINE.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: "F " + uid[:6]})
		return uid
	}
	// post delivers one follow as LINE would and returns the answer.
	bot := linetest.NewUserID()
	post := func(uid string) (int, string) {
		body := linetest.Body(bot, linetest.FollowEvent(uid, false, time.Now()))
		req, _ := http.NewRequest("POST", c.WebhookURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Line-Signature", sign(c.secret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("webhook: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status := func() (st struct {
		Sync struct {
			StorageError string `json:"storage_error"`
		}
	}) {
		e.api("GET", "/status", nil, &st)
		return st
	}

	var friends []string
	follow := func(n int, when string) {
		for range n {
			uid := newFriend()
			friends = append(friends, uid)
			if st, body := post(uid); st != 200 {
				t.Fatalf("follow %s: %d %s", when, st, body)
			}
		}
	}
	follow(20, "before the disk filled")
	e.settled()

	filler := fill(t, dir)
	// SQLite may still fit a few transactions into space it already holds
	// (the WAL file); those are acknowledged and must not be lost. Deliver
	// until the disk refuses several requests in a row.
	var refused []string
	acked := 0
	for run := 0; run < 5; {
		if len(friends) > 5000 {
			t.Fatal("5,000 follows stored on a full disk: the disk never refused one")
		}
		uid := newFriend()
		friends = append(friends, uid)
		st, body := post(uid)
		switch {
		case st == 200:
			acked++
			run = 0
		case st == 503 && strings.Contains(body, "disk is full"):
			refused = append(refused, uid)
			run++
		default:
			t.Fatalf("webhook on a full disk: %d %s, want 503 saying the disk is full", st, body)
		}
	}
	t.Logf("disk full: %d follows acknowledged from space SQLite held, %d refused", acked, len(refused))

	resp, err := http.Get(e.url("/healthz"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz on a full disk: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(e.url("/readyz"))
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(ready), "the disk holding the data directory is full") {
		t.Fatalf("readyz on a full disk: %d %s", resp.StatusCode, ready)
	}
	if st := status(); !strings.Contains(st.Sync.StorageError, "disk holding the data directory is full") {
		t.Fatalf("status on a full disk: %+v", st)
	}
	if n := strings.Count(e.logs.String(), "the disk holding the data directory is full: webhook events are refused"); n != 1 {
		t.Fatalf("the full disk was reported %d times in the log, want once:\n%s", n, e.logs.tail(40))
	}
	if !strings.Contains(e.logs.String(), "data_dir="+dir) {
		t.Fatalf("the log does not name the data directory %s", dir)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// LINE redelivers what was refused.
	for _, uid := range refused {
		if st, body := post(uid); st != 200 {
			t.Fatalf("redelivery after space was freed: %d %s", st, body)
		}
	}
	follow(10, "after space was freed")
	e.settled()
	if st := status(); st.Sync.StorageError != "" {
		t.Fatalf("storage error still shown after writes succeed again: %+v", st)
	}
	var missing int
	for _, uid := range friends {
		if _, ok := e.HS.ContactByEmail(strings.ToLower(uid) + "@line.example.com"); !ok {
			missing++
		}
	}
	if missing > 0 || len(e.HS.Contacts()) != len(friends) {
		t.Fatalf("%d of %d friends have no contact; HubSpot holds %d contacts", missing, len(friends), len(e.HS.Contacts()))
	}
}
