package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"linehub/app/config"
)

// needProgram finds a program the test needs. Missing, it skips naming the
// Debian package, except under CI=true where the CI image must have it.
func needProgram(t *testing.T, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found; CI must install the Debian package %s", name, debianPackage)
	}
	t.Skipf("%s not found: install the Debian package %s", name, debianPackage)
	return ""
}

var installScript = filepath.Join("..", "..", "install.sh")

func TestInstallScriptShellcheck(t *testing.T) {
	sc := needProgram(t, "shellcheck", "shellcheck")
	out, err := exec.Command(sc, "--shell=sh", "--severity=style", installScript).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck install.sh: %v\n%s", err, out)
	}
}

func runInstall(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{installScript}, args...)...)
	// No terminal: the script must not ask anything.
	cmd.Stdin = nil
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

type fileState struct {
	mode fs.FileMode
	sum  string
	mod  int64
}

// snapshot records every path under root with mode, content hash and
// modification time.
func snapshot(t *testing.T, root string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fileState{mode: fi.Mode()}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			st.sum = fmt.Sprintf("%x", sha256.Sum256(b))
			st.mod = fi.ModTime().UnixNano()
		}
		rel, _ := filepath.Rel(root, p)
		m["/"+rel] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diffSnapshots(a, b map[string]fileState) []string {
	var d []string
	for p, sa := range a {
		sb, ok := b[p]
		switch {
		case !ok:
			d = append(d, "removed "+p)
		case sa.mode != sb.mode:
			d = append(d, fmt.Sprintf("mode %s: %v → %v", p, sa.mode, sb.mode))
		case sa.sum != sb.sum:
			d = append(d, "content "+p)
		case sa.mod != sb.mod:
			d = append(d, "rewritten "+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d = append(d, "added "+p)
		}
	}
	sort.Strings(d)
	return d
}

// TestInstallScript installs into a directory twice with the binary the
// other end-to-end tests use, then upgrades, uninstalls and purges.
func TestInstallScript(t *testing.T) {
	needProgram(t, "sh", "dash")
	bin := binary(t)
	root := t.TempDir()
	out, err := runInstall(t, "--root", root, "--binary", bin, "--domain", "line.example.com", "--email", "ops@example.com")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	t.Logf("first run:\n%s", out)

	want := map[string]fs.FileMode{
		"/usr/local/bin/linehub":              0o755,
		"/etc/linehub":                        fs.ModeDir | 0o750,
		"/etc/linehub/config.yaml":            0o640,
		"/var/lib/linehub":                    fs.ModeDir | 0o700,
		"/etc/systemd/system/linehub.service": 0o644,
	}
	first := snapshot(t, root)
	for p, mode := range want {
		if st, ok := first[p]; !ok || st.mode != mode {
			t.Errorf("%s: mode %v (present %v), want %v", p, st.mode, ok, mode)
		}
	}
	binSum := fmt.Sprintf("%x", sha256.Sum256(mustRead(t, bin)))
	if first["/usr/local/bin/linehub"].sum != binSum {
		t.Error("installed binary differs from --binary")
	}

	// The configuration is the example with the answers filled in, and
	// linehub itself accepts it.
	confPath := filepath.Join(root, "etc/linehub/config.yaml")
	cfg, err := config.Load(confPath, nil)
	if err != nil {
		t.Fatalf("installed config does not load: %v", err)
	}
	if cfg.Domain != "line.example.com" || cfg.ACME.Email != "ops@example.com" || cfg.DataDir != "/var/lib/linehub" {
		t.Errorf("installed config: domain %q email %q data_dir %q", cfg.Domain, cfg.ACME.Email, cfg.DataDir)
	}

	unit := string(mustRead(t, filepath.Join(root, "etc/systemd/system/linehub.service")))
	for _, line := range []string{
		"User=linehub", "ExecStart=/usr/local/bin/linehub serve --config /etc/linehub/config.yaml",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ReadWritePaths=/var/lib/linehub", "Restart=on-failure", "WantedBy=multi-user.target",
		"SystemCallFilter=~@privileged @resources", "ProcSubset=pid", "RemoveIPC=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
	} {
		if !strings.Contains(unit, "\n"+line+"\n") {
			t.Errorf("unit lacks %q", line)
		}
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// --recursive-errors=no: the test root has no sysinit.target and
		// friends; the unit itself, its directives and ExecStart (inside
		// root) are still checked.
		cmd := exec.Command(sa, "verify", "--root="+root, "--recursive-errors=no", "/etc/systemd/system/linehub.service")
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, stderr.String())
		}
		// The sandbox keeps its exposure score at 1.4 or lower (systemd
		// 252 scores ten times the printed figure against --threshold).
		out, err := exec.Command(sa, "security", "--offline=yes", "--root="+root, "--threshold=14", "/etc/systemd/system/linehub.service").CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security: %v\n%s", err, out)
		} else if i := bytes.Index(out, []byte("Overall exposure level")); i >= 0 {
			t.Logf("%s", bytes.TrimSpace(out[i:]))
		}
	} else if os.Getenv("CI") == "true" {
		t.Error("systemd-analyze not found; CI must install the Debian package systemd")
	} else {
		t.Log("systemd-analyze not found (Debian package systemd): unit not verified")
	}

	// The operator edits the config and linehub writes data; a re-run
	// (even with other answers) keeps both and rewrites nothing else.
	edited := strings.Replace(string(mustRead(t, confPath)), "level: info", "level: debug", 1)
	if err := os.WriteFile(confPath, []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/linehub/linehub.db"), []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	out, err = runInstall(t, "--root", root, "--binary", bin, "--domain", "other.example.com")
	if err != nil {
		t.Fatalf("second install: %v\n%s", err, out)
	}
	t.Logf("second run:\n%s", out)
	if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("second run changed: %v", d)
	}
	if !strings.Contains(out, "kept /etc/linehub/config.yaml") {
		t.Error("second run did not say it kept the config")
	}

	// An upgrade replaces the binary only.
	newBin := filepath.Join(t.TempDir(), "linehub")
	if err := os.WriteFile(newBin, append(mustRead(t, bin), 0), 0o755); err != nil {
		t.Fatal(err)
	}
	before = snapshot(t, root)
	if out, err := runInstall(t, "--root", root, "--binary", newBin); err != nil {
		t.Fatalf("upgrade: %v\n%s", err, out)
	}
	if d := diffSnapshots(before, snapshot(t, root)); len(d) != 1 || d[0] != "content /usr/local/bin/linehub" {
		t.Errorf("upgrade changed %v, want only the binary", d)
	}

	// Uninstall keeps configuration and data; purge removes them.
	if out, err := runInstall(t, "--root", root, "--uninstall"); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	after := snapshot(t, root)
	for _, p := range []string{"/usr/local/bin/linehub", "/etc/systemd/system/linehub.service"} {
		if _, ok := after[p]; ok {
			t.Errorf("uninstall left %s", p)
		}
	}
	for _, p := range []string{"/etc/linehub/config.yaml", "/var/lib/linehub/linehub.db"} {
		if _, ok := after[p]; !ok {
			t.Errorf("uninstall removed %s", p)
		}
	}
	if out, err := runInstall(t, "--root", root, "--uninstall", "--purge"); err != nil {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	after = snapshot(t, root)
	for _, p := range []string{"/etc/linehub", "/var/lib/linehub"} {
		if _, ok := after[p]; ok {
			t.Errorf("purge left %s", p)
		}
	}
}

// TestInstallScriptWithoutDomainListensOnLoopback: without a domain
// linehub speaks plain HTTP, so the installed configuration keeps it on
// loopback (for a TLS proxy on the same host) and the script says so.
func TestInstallScriptWithoutDomainListensOnLoopback(t *testing.T) {
	needProgram(t, "sh", "dash")
	root := t.TempDir()
	out, err := runInstall(t, "--root", root, "--binary", binary(t))
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	cfg, err := config.Load(filepath.Join(root, "etc/linehub/config.yaml"), nil)
	if err != nil {
		t.Fatalf("installed config does not load: %v", err)
	}
	if cfg.Domain != "" || cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("without --domain: domain %q, listen %q; want plain HTTP on 127.0.0.1:8080 only", cfg.Domain, cfg.Listen)
	}
	if !strings.Contains(out, "127.0.0.1:8080") || !strings.Contains(out, "reverse proxy") {
		t.Errorf("install.sh did not say linehub listens on loopback for a reverse proxy:\n%s", out)
	}

	// With a domain, listen is not used; the example's value stays.
	root = t.TempDir()
	if out, err := runInstall(t, "--root", root, "--binary", binary(t), "--domain", "line.example.com"); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if cfg, err := config.Load(filepath.Join(root, "etc/linehub/config.yaml"), nil); err != nil || cfg.Domain != "line.example.com" {
		t.Fatalf("with --domain: %+v %v", cfg, err)
	}
}

// TestInstallScriptRefusesBadInput: bad arguments stop the script before it
// writes anything.
func TestInstallScriptRefusesBadInput(t *testing.T) {
	bin := binary(t)
	for _, args := range [][]string{
		{"--domain", "line.example.com; rm -rf /"},
		{"--email", `a"b@example.com`},
		{"--binary", "/nonexistent/linehub"},
		{"--purge"},
		{"--prefix", "relative"},
		{"--frobnicate"},
	} {
		root := t.TempDir()
		full := append([]string{"--root", root}, args...)
		if !containsArg(args, "--binary") {
			full = append(full, "--binary", bin)
		}
		out, err := runInstall(t, full...)
		if err == nil {
			t.Errorf("install.sh %v succeeded:\n%s", args, out)
			continue
		}
		if !strings.Contains(out, "install.sh:") {
			t.Errorf("install.sh %v: no clear error:\n%s", args, out)
		}
		if s := snapshot(t, root); len(s) != 1 {
			t.Errorf("install.sh %v wrote files: %v", args, s)
		}
	}
}

func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInstallScriptBuildsFromSource: without --binary, install.sh builds
// linehub from the checkout it sits in, stamping the version from git.
func TestInstallScriptBuildsFromSource(t *testing.T) {
	needProgram(t, "sh", "dash")
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	root := t.TempDir()
	out, err := runInstall(t, "--root", root, "--no-start")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if !strings.Contains(out, "building linehub") {
		t.Fatalf("install.sh did not build:\n%s", out)
	}
	got, err := exec.Command(filepath.Join(root, "usr/local/bin/linehub"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("built binary: %v\n%s", err, got)
	}
	// The version comes from `git describe` (or "dev" outside git), set
	// with -X main.version: a build that lost the stamp prints "dev" in a
	// checkout too.
	want := "dev"
	if desc, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output(); err == nil {
		want = strings.TrimSpace(string(desc))
	}
	if strings.TrimSpace(string(got)) != "linehub "+want {
		t.Fatalf("version %q, want %q", strings.TrimSpace(string(got)), "linehub "+want)
	}
}
