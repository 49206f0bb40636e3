package orgs

import (
	"os"
	"testing"
	"time"
)

func FuzzOrgFile(f *testing.F) {
	seed, err := os.ReadFile("../testdata/org.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("ous:\n  - name: A\n    ous:\n      - name: B\n        accounts:\n          - name: x\n"))
	f.Add([]byte("accounts:\n  - {name: a, id: \"123456789012\"}\n  - {name: b, id: \"123456789012\"}\n"))
	f.Add([]byte("management: {id: 1}\nregions: [a]\n"))
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		ss, err := ParseFile("fuzz.yaml", data, 1, now)
		if err != nil {
			return
		}
		if err := ss.Org.Validate(); err != nil {
			t.Fatalf("accepted an invalid organization: %v", err)
		}
		if len(ss.RoleIDs) != len(ss.Org.Accounts)-1 {
			t.Fatalf("%d role ids for %d members", len(ss.RoleIDs), len(ss.Org.Accounts)-1)
		}
	})
}

// FuzzRestore feeds snapshots to Restore: whatever it accepts is a valid organization.
func FuzzRestore(f *testing.F) {
	now := func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }
	good, err := New(Generate(2, 1, 1, now()).Org, Options{Now: now}).Snapshot()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"ID":"o-abcdefghij","RootID":"r-abcd","Management":"123456789012","Accounts":[{"ID":"123456789012","ParentID":"r-zzzz"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o := New(Generate(0, 0, 1, now()).Org, Options{Now: now})
		if err := o.Restore(data); err != nil {
			return
		}
		st := o.state()
		if err := st.Validate(); err != nil {
			t.Fatalf("restored an invalid organization: %v", err)
		}
	})
}
