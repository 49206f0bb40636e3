package cfn

import (
	"regexp"
	"strings"
	"testing"
)

func TestPhysicalName(t *testing.T) {
	tests := []struct {
		stack, logical string
		max            int
		lower          bool
		want           string // regexp
	}{
		{"app", "Queue", 80, false, `^app-Queue-[A-Z0-9]{12}$`},
		{"App", "Bucket", 63, true, `^app-bucket-[a-z0-9]{12}$`},
		{strings.Repeat("s", 100), "Role", 64, false, `^s{46}-Role-[A-Z0-9]{12}$`},
		{"st", strings.Repeat("L", 100), 64, false, `^st-L{48}-[A-Z0-9]{12}$`},
		{strings.Repeat("s", 40), strings.Repeat("L", 40), 64, false, `^s{25}-L{25}-[A-Z0-9]{12}$`},
	}
	for _, tc := range tests {
		got := physicalName(tc.stack, tc.logical, tc.max, 12, tc.lower)
		if len(got) > tc.max || !regexp.MustCompile(tc.want).MatchString(got) {
			t.Errorf("physicalName(%q, %q, %d) = %q (%d), want match %s", tc.stack, tc.logical, tc.max, got, len(got), tc.want)
		}
	}
}

func TestValuesEqual(t *testing.T) {
	tests := []struct {
		a, b any
		want bool
	}{
		{"5", int64(5), true},
		{float64(5), int64(5), true},
		{"true", true, true},
		{"a", "b", false},
		{map[string]any{"k": []any{"x", int64(1)}}, map[string]any{"k": []any{"x", "1"}}, true},
		{map[string]any{"k": "v"}, map[string]any{"k": "v", "j": "w"}, false},
		{[]any{"a"}, "a", false},
		{nil, "", false},
		{nil, nil, true},
		{unknownMarker("X"), unknownMarker("X") + "y", false},
	}
	for _, tc := range tests {
		if got := valuesEqual(normalize(tc.a), normalize(tc.b)); got != tc.want {
			t.Errorf("valuesEqual(%#v, %#v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestChangedProps(t *testing.T) {
	old := map[string]any{"A": "1", "B": "x", "C": []any{"q"}}
	cur := map[string]any{"A": int64(1), "B": "y", "D": "new"}
	got := strings.Join(changedProps(old, cur), ",")
	if want := "B,C,D"; got != want {
		t.Errorf("changedProps = %q, want %q", got, want)
	}
}

func FuzzPageToken(f *testing.F) {
	f.Add(encodeToken(0))
	f.Add(encodeToken(123456))
	f.Add("")
	f.Add("cC0x")
	f.Fuzz(func(t *testing.T, tok string) {
		n, err := decodeToken(tok)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("decodeToken(%q) = %d", tok, n)
		}
		if m, err := decodeToken(encodeToken(n)); err != nil || m != n {
			t.Fatalf("round trip of %d: %d, %v", n, m, err)
		}
	})
}
