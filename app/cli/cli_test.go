package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		out     string // in stdout
		errText string // in the error; "" = success
	}{
		{[]string{"version"}, "linehub 1.2.3", ""},
		{[]string{"help"}, "linehub backup FILE", ""},
		{[]string{"frobnicate"}, "", `unknown command "frobnicate"`},
		{[]string{"token"}, "", "usage: linehub token create"},
		{[]string{"token", "create", "--config", cfg}, "", "--name is required"},
		{[]string{"token", "create", "--name", "ci", "--config", cfg}, "lhk_", ""},
		{[]string{"backup", "--config", cfg}, "", "usage: linehub backup FILE"},
		{[]string{"dev"}, "", "usage: linehub dev doubles"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := Run(tt.args, &out, &errOut, "1.2.3")
			switch {
			case tt.errText == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Fatalf("error %v, want one containing %q", err, tt.errText)
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("stdout %q does not contain %q", out.String(), tt.out)
			}
		})
	}
}
