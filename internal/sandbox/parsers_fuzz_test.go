package sandbox

import (
	"os"
	"testing"
	"time"
)

func FuzzOrgFile(f *testing.F) {
	seed, err := os.ReadFile("testdata/org.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("ous:\n  - name: A\n    ous:\n      - name: B\n        accounts:\n          - name: x\n"))
	f.Add([]byte("accounts:\n  - {name: a, id: \"123456789012\"}\n  - {name: b, id: \"123456789012\"}\n"))
	f.Add([]byte("management: {id: 1}\nregions: [a]\n"))
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		ss, err := parseOrgFile("fuzz.yaml", data, 1, now)
		if err != nil {
			return
		}
		if err := ss.Org.validate(); err != nil {
			t.Fatalf("accepted an invalid organization: %v", err)
		}
		if len(ss.RoleIDs) != len(ss.Org.Accounts)-1 {
			t.Fatalf("%d role ids for %d members", len(ss.RoleIDs), len(ss.Org.Accounts)-1)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	st := &persistedState{
		Seed: 1, Regions: []string{"us-east-1"},
		Org: generateOrg(2, 1, 1, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)).Org,
		CFN: []byte(`{"version":1}`), SSM: []byte(`{}`), CloudWatch: []byte(`{}`),
	}
	good, _, err := encodeState(st, time.Time{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"format":"stackfleet-sandbox-state","version":1,"sha256":"","state":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeState(data)
		if err != nil {
			return
		}
		if err := st.Org.validate(); err != nil {
			t.Fatalf("accepted an invalid organization: %v", err)
		}
	})
}

func TestStateRoundTrip(t *testing.T) {
	st := &persistedState{
		Seed: 9, Regions: []string{"eu-west-1"},
		Org: generateOrg(3, 1, 9, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)).Org,
		CFN: []byte(`{"a":[1,2]}`), SSM: []byte(`{"b":"c"}`), CloudWatch: []byte(`[]`),
	}
	data, sum, err := encodeState(st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	again, sum2, err := encodeState(back, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if sum != sum2 {
		t.Errorf("checksum changed across a round trip (savedAt must not count)")
	}
	if _, err := decodeState(again); err != nil {
		t.Errorf("decoding the re-encoded state: %v", err)
	}
}
