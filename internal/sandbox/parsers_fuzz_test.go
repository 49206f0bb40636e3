package sandbox

import (
	"encoding/json"
	"testing"
	"time"
)

// testState is a state with a generated organization section and placeholder service sections.
func testState(seed int64) *persistedState {
	return &persistedState{
		Seed: seed, Regions: []string{"eu-west-1"}, AdminKeyID: "AKIAEXAMPLE",
		Sections: map[string]json.RawMessage{
			"Org": json.RawMessage(`{"ID":"o-abcdefghij"}`), "CFN": json.RawMessage(`{"a":[1,2]}`),
			"SSM": json.RawMessage(`{"b":"c"}`), "CloudWatch": json.RawMessage(`[]`),
		},
	}
}

func FuzzDecodeState(f *testing.F) {
	good, _, err := encodeState(testState(1), time.Time{})
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
		if err := checkRegions(st.Regions); err != nil || len(st.Regions) == 0 {
			t.Fatalf("accepted invalid regions %q", st.Regions)
		}
	})
}

func TestStateRoundTrip(t *testing.T) {
	st := testState(9)
	data, sum, err := encodeState(st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Seed != 9 || back.AdminKeyID != "AKIAEXAMPLE" || len(back.Sections) != 4 || string(back.Sections["CFN"]) != `{"a":[1,2]}` {
		t.Errorf("decoded %+v", back)
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
