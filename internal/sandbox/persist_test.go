package sandbox_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

const stateFile = "sandbox-state.json"

func TestPersistOrgAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	sb, err := sandbox.New(sandbox.Options{Accounts: 4, OUs: 1, Seed: 21, DataDir: dir, SaveDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{sb: sb, url: url}
	c := sb.ManagementCredentials()
	e.cfg = sdkConfig(url, c.Region, c.AccessKeyID, c.SecretAccessKey, "")
	ctx := context.Background()
	client := organizations.NewFromConfig(e.cfg)
	root := sb.Org().RootID
	if _, err := client.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: &root, Name: aws.String("Later")}); err != nil {
		t.Fatal(err)
	}
	// The debounced save writes the new OU without waiting for Close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, stateFile))
		if bytes.Contains(b, []byte(`"Later"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("state file does not contain the new OU after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	memberCfg := e.member(t, sb.Org().Members()[0].ID)
	before := sb.Org()
	creds := sb.ManagementCredentials()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart with different generation options: the saved state wins.
	again, err := sandbox.New(sandbox.Options{Accounts: 1, Seed: 99, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if diff := cmp.Diff(before, again.Org()); diff != "" {
		t.Errorf("org after restart (-before +after):\n%s", diff)
	}
	if again.ManagementCredentials() != creds {
		t.Errorf("management credentials changed across restart")
	}
	url2, err := again.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Temporary credentials issued before the restart still work.
	memberCfg.BaseEndpoint = aws.String(url2)
	if got, err := callerIdentity(t, memberCfg); err != nil || got.Account != before.Members()[0].ID {
		t.Errorf("session from before the restart: %+v, %v", got, err)
	}
}

func TestCorruptStateFile(t *testing.T) {
	dir := t.TempDir()
	sb, err := sandbox.New(sandbox.Options{Accounts: 2, Seed: 1, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "corrupt"},
		{"flipped byte", bytes.Replace(good, []byte(`management`), []byte(`managemenT`), 1), "checksum"},
		{"not json", []byte("hello"), "invalid JSON"},
		{"other format", []byte(`{"format":"something-else","version":1}`), "not a sandbox state file"},
		{"future version", bytes.Replace(good, []byte(`"version":1`), []byte(`"version":99`), 1), "unsupported state version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, stateFile), tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			sb, err := sandbox.New(sandbox.Options{DataDir: d})
			if err == nil {
				sb.Close()
				t.Fatal("New succeeded on a corrupt state file")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), stateFile) {
				t.Errorf("error %q does not name the file and %q", err, tt.want)
			}
		})
	}
}
