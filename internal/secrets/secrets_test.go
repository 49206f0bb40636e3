package secrets_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackfleet/stackfleet/internal/secrets"
)

func TestSealOpen(t *testing.T) {
	b, err := secrets.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := b.Seal("hunter2"), b.Seal("hunter2")
	if s1 != s2 || !strings.HasPrefix(s1, secrets.Prefix) || strings.Contains(s1, "hunter2") {
		t.Fatalf("Seal: %q and %q, want the same sealed text without the value", s1, s2)
	}
	if b.Seal("hunter3") == s1 {
		t.Error("two secrets sealed to the same text")
	}
	if got, err := b.Open(s1); err != nil || got != "hunter2" {
		t.Errorf("Open = %q, %v", got, err)
	}
	if got := b.Seal(s1); got != s1 {
		t.Error("sealing twice changed the text")
	}
	ref := "{{resolve:ssm-secure:/db/password:1}}"
	if got := b.Seal(ref); got != ref {
		t.Errorf("a dynamic reference was sealed: %q", got)
	}
	if got, err := b.Open("plain"); err != nil || got != "plain" {
		t.Errorf("Open of a plain value = %q, %v", got, err)
	}
	other, _ := secrets.New(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(s1); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Errorf("Open under another key: %v", err)
	}
	if _, err := b.Open(secrets.Prefix + "!!"); err == nil {
		t.Error("Open of a malformed value succeeded")
	}
	params := map[string]string{"A": "a", "S": s1}
	open, err := b.OpenAll(params)
	if err != nil || open["S"] != "hunter2" || open["A"] != "a" || params["S"] != s1 {
		t.Errorf("OpenAll = %v, %v (input now %v)", open, err, params)
	}
}

func TestLoadKey(t *testing.T) {
	t.Setenv(secrets.EnvKey, "")
	dir := t.TempDir()
	b1, err := secrets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, secrets.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	b2, err := secrets.Load(dir)
	if err != nil || b2.Seal("x") != b1.Seal("x") {
		t.Fatalf("reloaded key seals differently: %v", err)
	}
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	t.Setenv(secrets.EnvKey, key)
	b3, err := secrets.Load(dir)
	if err != nil || b3.Seal("x") == b1.Seal("x") {
		t.Errorf("the environment key did not take precedence: %v", err)
	}
	t.Setenv(secrets.EnvKey, "short")
	if _, err := secrets.Load(dir); err == nil {
		t.Error("a malformed environment key was accepted")
	}
}
