//go:build unix

package state

import "testing"

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("24143 (cat) R 18941 18941 12362 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 68725 3133440 365 18446744073709551615"))
	f.Add([]byte("7 (a) b) (c) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0"))
	f.Add([]byte("1 (x) S 0"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		state, start, ok := parseStat(b)
		if !ok {
			return
		}
		if state == 0 || start == "" {
			t.Errorf("parseStat(%q) = %q, %q, ok", b, state, start)
		}
	})
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in        string
		wantState byte
		wantStart string
		wantOK    bool
	}{
		{"24143 (cat) R 18941 18941 12362 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 68725 3133440", 'R', "68725", true},
		{"7 (a) b) (c) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0", 'Z', "42", true},
		{"1 (x) S 0", 0, "", false},
		{"no parenthesis", 0, "", false},
		{"1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 notanumber", 0, "", false},
	}
	for _, tt := range tests {
		state, start, ok := parseStat([]byte(tt.in))
		if state != tt.wantState || start != tt.wantStart || ok != tt.wantOK {
			t.Errorf("parseStat(%q) = %q, %q, %v; want %q, %q, %v", tt.in, state, start, ok, tt.wantState, tt.wantStart, tt.wantOK)
		}
	}
}
