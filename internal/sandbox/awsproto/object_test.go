package awsproto_test

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// o holds one member "v" of every representation the three protocols produce.
func o(v any) awsproto.Object { return awsproto.Object{"v": v} }

func TestObjectString(t *testing.T) {
	tests := []struct {
		in   awsproto.Object
		want string
	}{
		{o("s"), "s"}, {o(true), "true"}, {o(int64(-3)), "-3"}, {o(2.5), "2.5"}, {o(1e21), "1e+21"},
		{o(math.Inf(1)), "Infinity"}, {o(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)), "2026-01-02T03:04:05.006Z"},
		{o([]byte("b")), "b"}, {o(nil), ""}, {o([]any{"x"}), ""}, {o(awsproto.Object{}), ""}, {awsproto.Object{}, ""}, {nil, ""},
	}
	for _, tt := range tests {
		if got := tt.in.String("v"); got != tt.want {
			t.Errorf("%#v.String = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestObjectBoolIntFloat(t *testing.T) {
	type res struct {
		B      bool
		BOK    bool
		I      int64
		IOK    bool
		F      float64
		FOK    bool
		String string
	}
	tests := []struct {
		in   awsproto.Object
		want res
	}{
		{o("true"), res{B: true, BOK: true}},
		{o("FALSE"), res{BOK: true}},
		{o(true), res{B: true, BOK: true}},
		{o("42"), res{I: 42, IOK: true, F: 42, FOK: true}},
		{o(" 7 "), res{I: 7, IOK: true, F: 7, FOK: true}},
		{o("3.0"), res{I: 3, IOK: true, F: 3, FOK: true}},
		{o("3.5"), res{F: 3.5, FOK: true}},
		{o("1e400"), res{}},
		{o("NaN"), res{F: math.NaN(), FOK: true}},
		{o("-Infinity"), res{F: math.Inf(-1), FOK: true}},
		{o(int64(-9)), res{I: -9, IOK: true, F: -9, FOK: true}},
		{o(2.0), res{I: 2, IOK: true, F: 2, FOK: true}},
		{o(1e19), res{F: 1e19, FOK: true}},
		{o(2.5), res{F: 2.5, FOK: true}},
		{o("x"), res{}},
		{o(nil), res{}},
		{o([]any{}), res{}},
		{awsproto.Object{}, res{}},
	}
	for _, tt := range tests {
		var got res
		got.B, got.BOK = tt.in.Bool("v")
		got.I, got.IOK = tt.in.Int("v")
		got.F, got.FOK = tt.in.Float("v")
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateNaNs()); diff != "" {
			t.Errorf("%#v (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestObjectLists(t *testing.T) {
	tm := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      awsproto.Object
		strs    []string
		objs    []awsproto.Object
		obj     awsproto.Object
		strMap  map[string]string
		strsNil bool
	}{
		{name: "absent", in: awsproto.Object{}},
		{name: "query empty list", in: o(""), strs: []string{}, objs: []awsproto.Object{}, strMap: map[string]string{}},
		{name: "scalar is not a list", in: o("x")},
		{name: "strings", in: o([]any{"a", int64(1), true, 1.5, tm, nil, []any{}}),
			strs: []string{"a", "1", "true", "1.5", "2026-01-01T00:00:00.000Z"}, objs: []awsproto.Object{}},
		{name: "objects", in: o([]any{awsproto.Object{"K": "v"}, "skip", map[string]any{"K": "w"}}),
			strs: []string{"skip"}, objs: []awsproto.Object{{"K": "v"}, {"K": "w"}}},
		{name: "typed slices", in: awsproto.Object{"v": []string{"a"}}, strs: []string{"a"}},
		{name: "structure", in: o(awsproto.Object{"a": "1", "b": int64(2), "c": awsproto.Object{}}),
			obj: awsproto.Object{"a": "1", "b": int64(2), "c": awsproto.Object{}}, strMap: map[string]string{"a": "1", "b": "2"}},
		{name: "json object", in: o(map[string]any{"k": "v"}), obj: awsproto.Object{"k": "v"}, strMap: map[string]string{"k": "v"}},
		{name: "string map", in: o(map[string]string{"k": "v"}), strMap: map[string]string{"k": "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type res struct {
				Strs   []string
				Objs   []awsproto.Object
				Obj    awsproto.Object
				StrMap map[string]string
			}
			got := res{tt.in.Strings("v"), tt.in.Objects("v"), tt.in.Object("v"), tt.in.StringMap("v")}
			want := res{tt.strs, tt.objs, tt.obj, tt.strMap}
			// nil and empty differ on purpose: nil means "not given".
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestObjectTime(t *testing.T) {
	want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   awsproto.Object
		want time.Time
		ok   bool
	}{
		{o(want), want, true},
		{o(int64(want.Unix())), want, true},
		{o(float64(want.Unix()) + 0.25), want.Add(250 * time.Millisecond), true},
		{o("2026-01-02T03:04:05Z"), want, true},
		{o("2026-01-02T03:04:05.123456Z"), want.Add(123456 * time.Microsecond), true},
		{o("2026-01-02T05:04:05+02:00"), want, true},
		{o("2026-01-02T03:04:05"), want, true},
		{o("2026-01-02"), want.Truncate(24 * time.Hour), true},
		{o("1767323045"), want, true},
		{o("yesterday"), time.Time{}, false},
		{o(math.NaN()), time.Time{}, false},
		{o(1e300), time.Time{}, false},
		{o(true), time.Time{}, false},
		{awsproto.Object{}, time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := tt.in.Time("v")
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("%#v.Time = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
