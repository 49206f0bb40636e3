package pipeline_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/pipeline"
)

// winLoc loads a zone or fails the test.
func winLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// winParse parses a window or fails the test.
func winParse(t testing.TB, days, hours, zone string, regions ...string) fleet.Window {
	t.Helper()
	w, err := pipeline.ParseWindow(days, hours, zone, regions)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// winUTC parses "2006-01-02 15:04" as UTC.
func winUTC(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// winCmpLoc compares locations by name (cmp cannot look inside *time.Location).
var winCmpLoc = cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() })

func TestOpen(t *testing.T) {
	parisWork := winParse(t, "Mon-Fri", "09:00-17:00", "Europe/Paris")
	nyWork := winParse(t, "Mon-Fri", "09:00-17:00", "America/New_York")
	tokyoWork := winParse(t, "Mon-Fri", "09:00-17:00", "Asia/Tokyo")
	sydneyWork := winParse(t, "Mon-Fri", "09:00-17:00", "Australia/Sydney")
	fridayNight := winParse(t, "Fri", "22:00-06:00", "Europe/Paris")
	saturday := winParse(t, "Sat", "00:00-24:00", "UTC")
	type probe struct {
		utc  string
		want bool
	}
	tests := []struct {
		name    string
		windows []fleet.Window
		region  string
		probes  []probe
	}{
		{"Paris in winter is UTC+1", []fleet.Window{parisWork}, "eu-west-3", []probe{
			{"2025-01-15 07:59", false}, {"2025-01-15 08:00", true}, {"2025-01-15 15:59", true}, {"2025-01-15 16:00", false},
		}},
		{"Paris in summer is UTC+2", []fleet.Window{parisWork}, "eu-west-3", []probe{
			{"2025-07-16 06:59", false}, {"2025-07-16 07:00", true}, {"2025-07-16 14:59", true}, {"2025-07-16 15:00", false},
		}},
		{"Paris weekend", []fleet.Window{parisWork}, "eu-west-3", []probe{
			{"2025-01-18 10:00", false}, {"2025-01-19 10:00", false}, {"2025-01-20 08:00", true},
		}},
		{"New York winter UTC-5, summer UTC-4", []fleet.Window{nyWork}, "us-east-1", []probe{
			{"2025-01-15 13:59", false}, {"2025-01-15 14:00", true}, {"2025-01-15 21:59", true}, {"2025-01-15 22:00", false},
			{"2025-07-16 12:59", false}, {"2025-07-16 13:00", true}, {"2025-07-16 21:00", false},
		}},
		{"Tokyo has no DST, its Monday starts on Sunday UTC", []fleet.Window{tokyoWork}, "ap-northeast-1", []probe{
			{"2025-01-19 23:59", false}, {"2025-01-20 00:00", true}, {"2025-01-20 07:59", true}, {"2025-01-20 08:00", false},
			{"2025-07-14 00:00", true}, {"2025-07-18 08:00", false},
		}},
		{"Sydney: summer in January (UTC+11), winter in July (UTC+10)", []fleet.Window{sydneyWork}, "ap-southeast-2", []probe{
			{"2025-01-14 21:59", false}, {"2025-01-14 22:00", true}, {"2025-01-15 05:59", true}, {"2025-01-15 06:00", false},
			{"2025-07-15 22:59", false}, {"2025-07-15 23:00", true}, {"2025-07-16 06:59", true}, {"2025-07-16 07:00", false},
		}},
		{"window crossing midnight belongs to the day it starts", []fleet.Window{fridayNight}, "eu-west-3", []probe{
			{"2025-01-16 21:00", false}, // Thursday 22:00
			{"2025-01-17 04:00", false}, // Friday 05:00, after Thursday night
			{"2025-01-17 20:59", false}, {"2025-01-17 21:00", true}, {"2025-01-17 23:00", true},
			{"2025-01-18 04:59", true}, {"2025-01-18 05:00", false}, // Saturday 06:00 local
			{"2025-01-18 21:00", false}, // Saturday 22:00
		}},
		{"whole day", []fleet.Window{saturday}, "us-east-1", []probe{
			{"2025-01-17 23:59", false}, {"2025-01-18 00:00", true}, {"2025-01-18 23:59", true}, {"2025-01-19 00:00", false},
		}},
		{"windows add up", []fleet.Window{parisWork, saturday}, "eu-west-3", []probe{
			{"2025-01-15 10:00", true}, {"2025-01-18 10:00", true}, {"2025-01-19 10:00", false},
		}},
		{"no windows: always open", nil, "us-east-1", []probe{{"2025-01-19 03:00", true}}},
		{"per-region window: another region is always open", []fleet.Window{winParse(t, "Mon-Fri", "09:00-17:00", "Europe/Paris", "eu-west-3")}, "us-east-1", []probe{
			{"2025-01-19 03:00", true},
		}},
		{"per-region window: its region", []fleet.Window{winParse(t, "Mon-Fri", "09:00-17:00", "Europe/Paris", "eu-west-3")}, "eu-west-3", []probe{
			{"2025-01-19 03:00", false}, {"2025-01-20 08:00", true},
		}},
		{"per-region windows each in their zone", []fleet.Window{
			winParse(t, "Mon-Fri", "09:00-17:00", "Europe/Paris", "eu-west-3"),
			winParse(t, "Mon-Fri", "09:00-17:00", "Asia/Tokyo", "ap-northeast-1"),
		}, "ap-northeast-1", []probe{
			{"2025-01-20 00:00", true}, {"2025-01-20 08:00", false},
		}},
		{"a window that never opens applies but never opens", []fleet.Window{{Start: 0, End: 1440, Location: time.UTC}}, "us-east-1", []probe{
			{"2025-01-15 10:00", false},
		}},
		{"nil location is UTC", []fleet.Window{{Days: []time.Weekday{time.Wednesday}, Start: 60, End: 120}}, "us-east-1", []probe{
			{"2025-01-15 00:59", false}, {"2025-01-15 01:00", true}, {"2025-01-15 02:00", false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range tt.probes {
				at := winUTC(t, p.utc)
				if got := pipeline.Open(tt.windows, tt.region, at); got != p.want {
					t.Errorf("Open(%s, %s UTC) = %v, want %v", tt.region, p.utc, got, p.want)
				}
			}
		})
	}
}

// TestOpenDST pins the DST rules: a window starting in a skipped hour opens after the gap, one
// wholly inside it does not open that day, and on fall-back days a window opens once.
func TestOpenDST(t *testing.T) {
	type span struct{ Open, Shut string } // UTC
	tests := []struct {
		name   string
		window fleet.Window
		from   string // UTC; the test lists the openings from here until to
		to     string
		want   []span
	}{
		// Europe/Paris, 2025-03-30: 02:00 CET → 03:00 CEST (01:00 UTC).
		{"Paris spring forward: start in the gap opens at 03:00 local", winParse(t, "Sun", "02:30-05:00", "Europe/Paris"),
			"2025-03-29 12:00", "2025-04-06 12:00", []span{{"2025-03-30 01:00", "2025-03-30 03:00"}, {"2025-04-06 00:30", "2025-04-06 03:00"}}},
		{"Paris spring forward: window inside the gap skips the day", winParse(t, "Sun", "02:00-02:30", "Europe/Paris"),
			"2025-03-29 12:00", "2025-04-06 12:00", []span{{"2025-04-06 00:00", "2025-04-06 00:30"}}},
		{"Paris spring forward: 01:00-03:00 is one real hour", winParse(t, "Sun", "01:00-03:00", "Europe/Paris"),
			"2025-03-29 12:00", "2025-03-31 00:00", []span{{"2025-03-30 00:00", "2025-03-30 01:00"}}},
		{"Paris spring forward: crossing midnight into the short day", winParse(t, "Sat", "22:00-06:00", "Europe/Paris"),
			"2025-03-29 12:00", "2025-03-31 00:00", []span{{"2025-03-29 21:00", "2025-03-30 04:00"}}},
		// Europe/Paris, 2025-10-26: 03:00 CEST → 02:00 CET (01:00 UTC).
		{"Paris fall back: 02:00-04:00 lasts three hours", winParse(t, "Sun", "02:00-04:00", "Europe/Paris"),
			"2025-10-25 12:00", "2025-10-27 00:00", []span{{"2025-10-26 00:00", "2025-10-26 03:00"}}},
		{"Paris fall back: the repeated half hour is not opened twice", winParse(t, "Sun", "02:00-02:30", "Europe/Paris"),
			"2025-10-25 12:00", "2025-11-02 12:00", []span{{"2025-10-26 00:00", "2025-10-26 00:30"}, {"2025-11-02 01:00", "2025-11-02 01:30"}}},
		{"Paris fall back: window ending in the repeated hour ends at its first pass", winParse(t, "Sun", "01:00-02:30", "Europe/Paris"),
			"2025-10-25 12:00", "2025-10-27 00:00", []span{{"2025-10-25 23:00", "2025-10-26 00:30"}}},
		{"Paris fall back: window starting after the repeated hour", winParse(t, "Sun", "03:00-04:00", "Europe/Paris"),
			"2025-10-25 12:00", "2025-10-27 00:00", []span{{"2025-10-26 02:00", "2025-10-26 03:00"}}},
		// America/New_York, 2025-03-09: 02:00 EST → 03:00 EDT (07:00 UTC); 2025-11-02: 02:00 EDT → 01:00 EST (06:00 UTC).
		{"New York spring forward", winParse(t, "Sun", "02:30-04:00", "America/New_York"),
			"2025-03-08 12:00", "2025-03-10 00:00", []span{{"2025-03-09 07:00", "2025-03-09 08:00"}}},
		{"New York fall back", winParse(t, "Sun", "01:00-03:00", "America/New_York"),
			"2025-11-01 12:00", "2025-11-03 00:00", []span{{"2025-11-02 05:00", "2025-11-02 08:00"}}},
		{"New York whole fall-back day is 25 hours", winParse(t, "Sun", "00:00-24:00", "America/New_York"),
			"2025-11-01 12:00", "2025-11-04 00:00", []span{{"2025-11-02 04:00", "2025-11-03 05:00"}}},
		// Australia/Sydney, 2025-04-06: 03:00 AEDT → 02:00 AEST (2025-04-05 16:00 UTC);
		// 2025-10-05: 02:00 AEST → 03:00 AEDT (2025-10-04 16:00 UTC).
		{"Sydney fall back in April, crossing midnight", winParse(t, "Sat", "22:00-06:00", "Australia/Sydney"),
			"2025-04-05 00:00", "2025-04-07 00:00", []span{{"2025-04-05 11:00", "2025-04-05 20:00"}}},
		{"Sydney spring forward in October", winParse(t, "Sun", "02:30-04:00", "Australia/Sydney"),
			"2025-10-04 00:00", "2025-10-06 00:00", []span{{"2025-10-04 16:00", "2025-10-04 17:00"}}},
		// Asia/Tokyo never changes, so the same window is always 00:00–08:00 UTC on a Monday.
		{"Tokyo has no DST", winParse(t, "Mon", "09:00-17:00", "Asia/Tokyo"),
			"2025-03-01 00:00", "2025-03-18 00:00", []span{{"2025-03-03 00:00", "2025-03-03 08:00"}, {"2025-03-10 00:00", "2025-03-10 08:00"}, {"2025-03-17 00:00", "2025-03-17 08:00"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			windows := []fleet.Window{tt.window}
			var got []span
			// Walk the openings with NextOpen, and find each closing with Open minute by minute.
			at, end := winUTC(t, tt.from), winUTC(t, tt.to)
			for {
				next, ok := pipeline.NextOpen(windows, "r", at)
				if !ok {
					t.Fatalf("NextOpen(%v) found no opening", at)
				}
				if !next.Before(end) {
					break
				}
				shut := next
				for pipeline.Open(windows, "r", shut) {
					shut = shut.Add(time.Minute)
				}
				got = append(got, span{next.UTC().Format("2006-01-02 15:04"), shut.UTC().Format("2006-01-02 15:04")})
				at = shut
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("openings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNextOpen(t *testing.T) {
	parisWork := winParse(t, "Mon-Fri", "09:00-17:00", "Europe/Paris")
	tokyo := winParse(t, "Mon-Fri", "09:00-17:00", "Asia/Tokyo", "ap-northeast-1")
	tests := []struct {
		name    string
		windows []fleet.Window
		region  string
		from    string // UTC
		want    string // UTC; "" means never
	}{
		{"inside returns t", []fleet.Window{parisWork}, "eu-west-3", "2025-01-15 10:00", "2025-01-15 10:00"},
		{"before the day's window", []fleet.Window{parisWork}, "eu-west-3", "2025-01-15 06:00", "2025-01-15 08:00"},
		{"at the closing instant", []fleet.Window{parisWork}, "eu-west-3", "2025-01-15 16:00", "2025-01-16 08:00"},
		{"after the day's window", []fleet.Window{parisWork}, "eu-west-3", "2025-01-15 20:00", "2025-01-16 08:00"},
		{"Friday evening waits for Monday", []fleet.Window{parisWork}, "eu-west-3", "2025-01-17 16:30", "2025-01-20 08:00"},
		{"Saturday waits for Monday", []fleet.Window{parisWork}, "eu-west-3", "2025-01-18 09:00", "2025-01-20 08:00"},
		{"over the spring-forward weekend the offset changes", []fleet.Window{parisWork}, "eu-west-3", "2025-03-28 17:00", "2025-03-31 07:00"},
		{"over the fall-back weekend", []fleet.Window{parisWork}, "eu-west-3", "2025-10-24 17:00", "2025-10-27 08:00"},
		{"earliest of several windows", []fleet.Window{parisWork, winParse(t, "Sat", "12:00-13:00", "UTC")}, "eu-west-3", "2025-01-17 16:30", "2025-01-18 12:00"},
		{"global and regional windows: the earliest", []fleet.Window{parisWork, tokyo}, "ap-northeast-1", "2025-01-17 16:30", "2025-01-20 00:00"},
		{"region without a window is open now", []fleet.Window{tokyo}, "us-east-1", "2025-01-18 09:00", "2025-01-18 09:00"},
		{"midnight crossing, from inside its second day", []fleet.Window{winParse(t, "Sun", "22:00-06:00", "UTC")}, "r", "2025-01-20 05:00", "2025-01-20 05:00"},
		{"midnight crossing, after it closed", []fleet.Window{winParse(t, "Sun", "22:00-06:00", "UTC")}, "r", "2025-01-20 06:00", "2025-01-26 22:00"},
		{"no days", []fleet.Window{{Start: 60, End: 120, Location: time.UTC}}, "r", "2025-01-15 10:00", ""},
		{"start equals end", []fleet.Window{{Days: []time.Weekday{time.Monday}, Start: 60, End: 60}}, "r", "2025-01-15 10:00", ""},
		{"invalid weekday only", []fleet.Window{{Days: []time.Weekday{9}, Start: 60, End: 120}}, "r", "2025-01-15 10:00", ""},
		{"impossible window next to a good one", []fleet.Window{{Start: 60, End: 120}, parisWork}, "eu-west-3", "2025-01-18 09:00", "2025-01-20 08:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := winUTC(t, tt.from)
			got, ok := pipeline.NextOpen(tt.windows, tt.region, from)
			if tt.want == "" {
				if ok {
					t.Fatalf("NextOpen = %v, true; want no opening", got)
				}
				return
			}
			if !ok {
				t.Fatalf("NextOpen = _, false; want %s", tt.want)
			}
			if want := winUTC(t, tt.want); !got.Equal(want) {
				t.Errorf("NextOpen(%s) = %v, want %s UTC", tt.from, got.UTC(), tt.want)
			}
			if got.Location() != from.Location() {
				t.Errorf("NextOpen returned location %v, want t's %v", got.Location(), from.Location())
			}
		})
	}
}

// TestWindowsAgainstScan compares Open and NextOpen around every DST transition of several zones
// with a brute-force reading of the rule: scanning instants minute by minute, a window opening on
// local date D spans from the first instant whose wall clock reads (D, Start) or later to the
// first whose clock reads (D or D+1, End) or later.
func TestWindowsAgainstScan(t *testing.T) {
	zones := []struct {
		name string
		year int
	}{
		{"Europe/Paris", 2025},
		{"America/New_York", 2025},
		{"Asia/Tokyo", 2025},
		{"Australia/Sydney", 2025},
		{"Australia/Lord_Howe", 2025}, // half-hour DST shift
		{"America/Sao_Paulo", 2018},   // DST began at midnight and ended by repeating 23:00
	}
	windows := []struct{ days, hours string }{
		{"Sun", "02:30-05:00"},
		{"Sun", "02:00-02:30"},
		{"Sat-Sun", "22:00-06:00"},
		{"Mon-Sun", "01:00-03:00"},
		{"Mon-Sun", "00:00-24:00"},
		{"Sat,Sun", "23:30-00:30"},
		{"Mon-Fri", "09:00-17:00"},
	}
	for _, z := range zones {
		loc := winLoc(t, z.name)
		// Transitions of the year, or the middle of the year when there are none.
		var marks []time.Time
		for at, end := time.Date(z.year, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(z.year+1, 3, 1, 0, 0, 0, 0, time.UTC); ; {
			_, next := at.In(loc).ZoneBounds()
			if next.IsZero() || next.After(end) {
				break
			}
			marks, at = append(marks, next), next
		}
		if len(marks) == 0 {
			marks = []time.Time{time.Date(z.year, 6, 15, 0, 0, 0, 0, time.UTC)}
		}
		for _, mark := range marks {
			from, to := mark.Add(-36*time.Hour), mark.Add(36*time.Hour)
			scan := newWinScan(loc, from.Add(-2*24*time.Hour), to.Add(9*24*time.Hour))
			for _, wd := range windows {
				w := winParse(t, wd.days, wd.hours, z.name)
				t.Run(fmt.Sprintf("%s/%s/%s %s", z.name, mark.Format("2006-01-02"), wd.days, wd.hours), func(t *testing.T) {
					winCheckAgainstScan(t, w, scan, from, to)
				})
			}
		}
	}
}

// winScan reads a zone's wall clock at every minute of a period.
type winScan struct {
	insts []time.Time
	// reached[i] is the latest wall-clock reading up to insts[i], as local date (days since
	// 1970-01-01) × 1440 + local minute; readings go back on fall-back days, their running
	// maximum does not, so the first instant reading X or later is a binary search away.
	reached []int64
}

func newWinScan(loc *time.Location, from, to time.Time) *winScan {
	s := &winScan{}
	var top int64 = -1 << 62
	for at := from.Truncate(time.Minute); at.Before(to); at = at.Add(time.Minute) {
		lt := at.In(loc)
		day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400
		top = max(top, day*1440+int64(lt.Hour()*60+lt.Minute()))
		s.insts = append(s.insts, at)
		s.reached = append(s.reached, top)
	}
	return s
}

// first is the first scanned instant whose wall clock reads key or later.
func (s *winScan) first(key int64) (time.Time, bool) {
	i, _ := slices.BinarySearch(s.reached, key)
	if i == len(s.insts) {
		return time.Time{}, false
	}
	return s.insts[i], true
}

func winCheckAgainstScan(t *testing.T, w fleet.Window, scan *winScan, from, to time.Time) {
	t.Helper()
	type span struct{ open, shut time.Time }
	var spans []span
	for day := scan.reached[0]/1440 - 1; day <= scan.reached[len(scan.reached)-1]/1440; day++ {
		if !slices.Contains(w.Days, time.Unix(day*86400, 0).UTC().Weekday()) {
			continue
		}
		endDay := day
		if w.End <= w.Start {
			endDay++
		}
		open, ok1 := scan.first(day*1440 + int64(w.Start))
		shut, ok2 := scan.first(endDay*1440 + int64(w.End))
		if ok1 && ok2 && shut.After(open) && open.After(scan.insts[0]) {
			spans = append(spans, span{open, shut})
		}
	}
	scanOpen := func(at time.Time) bool {
		return slices.ContainsFunc(spans, func(s span) bool { return !at.Before(s.open) && at.Before(s.shut) })
	}
	windows := []fleet.Window{w}
	for at := from; at.Before(to); at = at.Add(10 * time.Minute) {
		want := scanOpen(at)
		if got := pipeline.Open(windows, "r", at); got != want {
			t.Fatalf("Open(%v) = %v, scan says %v (spans %v)", at.In(w.Location), got, want, spans)
		}
		wantNext := at
		if !want {
			i := slices.IndexFunc(spans, func(s span) bool { return s.open.After(at) })
			if i < 0 {
				t.Fatalf("scan found no opening after %v", at)
			}
			wantNext = spans[i].open
		}
		if got, ok := pipeline.NextOpen(windows, "r", at); !ok || !got.Equal(wantNext) {
			t.Fatalf("NextOpen(%v) = %v, %v; scan says %v", at.In(w.Location), got.In(w.Location), ok, wantNext.In(w.Location))
		}
	}
}

func TestParseWindow(t *testing.T) {
	paris := winLoc(t, "Europe/Paris")
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	tests := []struct {
		name              string
		days, hours, zone string
		regions           []string
		want              fleet.Window
		wantErr           []string // substrings of the error
	}{
		{name: "business hours", days: "Mon-Fri", hours: "09:00-17:00", zone: "Europe/Paris",
			want: fleet.Window{Days: weekdays, Start: 540, End: 1020, Location: paris}},
		{name: "list", days: "Mon,Wed,Fri", hours: "9:30-17:45", zone: "Europe/Paris",
			want: fleet.Window{Days: []time.Weekday{time.Monday, time.Wednesday, time.Friday}, Start: 570, End: 1065, Location: paris}},
		{name: "range wrapping the week", days: "Sat-Mon", hours: "22:00-06:00", zone: "UTC",
			want: fleet.Window{Days: []time.Weekday{time.Sunday, time.Monday, time.Saturday}, Start: 1320, End: 360, Location: time.UTC}},
		{name: "whole day, every day, full names, spaces and case", days: " monday - SUNDAY ", hours: " 00:00 - 24:00 ", zone: "",
			want: fleet.Window{Days: []time.Weekday{0, 1, 2, 3, 4, 5, 6}, Start: 0, End: 1440, Location: time.UTC}},
		{name: "mixed items, duplicates merged", days: "Fri,Mon-Wed,tue", hours: "12:00-00:00", zone: "Asia/Tokyo",
			want: fleet.Window{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Friday}, Start: 720, End: 0, Location: winLoc(t, "Asia/Tokyo")}},
		{name: "single-day range", days: "Thu-Thu", hours: "01:00-02:00", zone: "UTC",
			want: fleet.Window{Days: []time.Weekday{time.Thursday}, Start: 60, End: 120, Location: time.UTC}},
		{name: "regions trimmed and deduplicated", days: "Mon", hours: "01:00-02:00", zone: "UTC", regions: []string{"eu-west-3", " us-east-1", "eu-west-3"},
			want: fleet.Window{Days: []time.Weekday{time.Monday}, Start: 60, End: 120, Location: time.UTC, Regions: []string{"eu-west-3", "us-east-1"}}},

		{name: "no days", days: " ", hours: "09:00-17:00", wantErr: []string{"days are missing", "Mon-Fri"}},
		{name: "unknown day", days: "Mon-Fry", hours: "09:00-17:00", wantErr: []string{`"Fry" is not a day`, "Mon, Tue"}},
		{name: "empty item", days: "Mon,,Tue", hours: "09:00-17:00", wantErr: []string{"empty", "commas"}},
		{name: "two dashes", days: "Mon-Wed-Fri", hours: "09:00-17:00", wantErr: []string{"more than one '-'"}},
		{name: "no dash in hours", days: "Mon", hours: "09:00", wantErr: []string{`"09:00"`, "09:00-17:00"}},
		{name: "bad clock", days: "Mon", hours: "9h-17h", wantErr: []string{`"9h" is not a time of day`, "HH:MM"}},
		{name: "minutes out of range", days: "Mon", hours: "09:60-17:00", wantErr: []string{`"09:60" is not a time of day`}},
		{name: "hour out of range", days: "Mon", hours: "09:00-25:00", wantErr: []string{`"25:00" is not a time of day`}},
		{name: "24:30", days: "Mon", hours: "09:00-24:30", wantErr: []string{`"24:30" is not a time of day`}},
		{name: "signs", days: "Mon", hours: "+9:00-17:00", wantErr: []string{`"+9:00" is not a time of day`}},
		{name: "start at 24:00", days: "Mon", hours: "24:00-06:00", wantErr: []string{"cannot start at 24:00"}},
		{name: "empty window", days: "Mon", hours: "09:00-09:00", wantErr: []string{"never open", "00:00-24:00"}},
		{name: "unknown zone", days: "Mon", hours: "09:00-17:00", zone: "Europe/Pari", wantErr: []string{`"Europe/Pari"`, "IANA", "Europe/Paris"}},
		{name: "Local zone", days: "Mon", hours: "09:00-17:00", zone: "Local", wantErr: []string{"depends on the machine"}},
		{name: "empty region", days: "Mon", hours: "09:00-17:00", regions: []string{"eu-west-3", ""}, wantErr: []string{"region name is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pipeline.ParseWindow(tt.days, tt.hours, tt.zone, tt.regions)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("ParseWindow = %+v, want an error with %q", got, tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWindow: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, winCmpLoc); diff != "" {
				t.Errorf("ParseWindow (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImpossible(t *testing.T) {
	good := winParse(t, "Mon-Fri", "09:00-17:00", "Europe/Paris")
	noDays := fleet.Window{Start: 60, End: 120, Location: time.UTC}
	same := fleet.Window{Days: []time.Weekday{time.Monday}, Start: 540, End: 540}
	tests := []struct {
		name    string
		windows []fleet.Window
		regions []string
		want    string
	}{
		{"no windows", nil, []string{"us-east-1"}, ""},
		{"a good window", []fleet.Window{good}, []string{"us-east-1", "eu-west-3"}, ""},
		{"a good window rescues a bad one", []fleet.Window{noDays, good}, []string{"us-east-1"}, ""},
		{"no regions to check", []fleet.Window{noDays}, nil, ""},
		{"no days", []fleet.Window{noDays}, []string{"us-east-1"}, "no deployment window can ever open in us-east-1: window 1 has no days"},
		{"every reason, regions grouped", []fleet.Window{noDays, same}, []string{"us-east-1", "eu-west-3", "us-east-1"},
			"no deployment window can ever open in us-east-1, eu-west-3: window 1 has no days, window 2 starts and ends at 09:00, so it is empty (00:00-24:00 is the whole day)"},
		{"only the regions a bad window applies to", []fleet.Window{
			{Start: 60, End: 120, Regions: []string{"eu-west-3"}},
			winParse(t, "Mon", "01:00-02:00", "UTC", "us-east-1"),
		}, []string{"us-east-1", "eu-west-3", "ap-northeast-1"}, "no deployment window can ever open in eu-west-3: window 1 has no days"},
		{"regions with different reasons", []fleet.Window{
			{Start: 60, End: 120, Regions: []string{"eu-west-3"}},
			{Days: []time.Weekday{time.Monday}, Start: -5, End: 120, Regions: []string{"us-east-1"}},
			{Days: []time.Weekday{time.Monday}, Start: 5, End: 1441, Regions: []string{"us-east-1"}},
		}, []string{"us-east-1", "eu-west-3"},
			"no deployment window can ever open in us-east-1: window 2 starts at minute -5, not a time from 00:00 to 23:59, window 3 ends at minute 1441, not a time from 00:00 to 24:00; " +
				"no deployment window can ever open in eu-west-3: window 1 has no days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pipeline.Impossible(tt.windows, tt.regions)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Impossible (-want +got):\n%s", diff)
			}
			// Impossible and NextOpen agree on whether each region can ever deploy.
			var stuck []string
			for part := range strings.SplitSeq(got, "; ") {
				if regions, _, ok := strings.Cut(strings.TrimPrefix(part, "no deployment window can ever open in "), ":"); ok {
					stuck = append(stuck, strings.Split(regions, ", ")...)
				}
			}
			for _, r := range tt.regions {
				_, ok := pipeline.NextOpen(tt.windows, r, winUTC(t, "2025-01-15 10:00"))
				if ok == slices.Contains(stuck, r) {
					t.Errorf("NextOpen(%s) ok = %v but Impossible = %q", r, ok, got)
				}
			}
		})
	}
}

func FuzzParseWindow(f *testing.F) {
	f.Add("Mon-Fri", "09:00-17:00", "Europe/Paris")
	f.Add("Sat-Mon", "22:00-06:00", "Australia/Sydney")
	f.Add("mon,wed,FRIDAY", "0:00-24:00", "")
	f.Add("Sun", "02:30-05:00", "America/New_York")
	f.Add("Mon,,", "24:00-01:00", "Local")
	f.Add("Tue-", "9:5-17:00", "../etc/passwd")
	f.Add("Thu-Thu-Thu", "09:00-09:00", "UTC")
	from := time.Date(2025, 3, 29, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, days, hours, zone string) {
		w, err := pipeline.ParseWindow(days, hours, zone, nil)
		if err != nil {
			if w.Location != nil || w.Days != nil {
				t.Fatalf("error %v with a non-zero window %+v", err, w)
			}
			return
		}
		if len(w.Days) == 0 || !slices.IsSorted(w.Days) || len(slices.Compact(slices.Clone(w.Days))) != len(w.Days) {
			t.Fatalf("days %v not distinct and sorted", w.Days)
		}
		if w.Start < 0 || w.Start >= 1440 || w.End < 0 || w.End > 1440 || w.Start == w.End || w.Location == nil {
			t.Fatalf("bad window %+v", w)
		}
		if why := pipeline.Impossible([]fleet.Window{w}, []string{"r"}); why != "" {
			t.Fatalf("parsed window is impossible: %s", why)
		}
		next, ok := pipeline.NextOpen([]fleet.Window{w}, "r", from)
		if !ok || !pipeline.Open([]fleet.Window{w}, "r", next) {
			t.Fatalf("NextOpen = %v, %v; not open there", next, ok)
		}
	})
}

// FuzzNextOpen checks NextOpen against Open: the instant returned is open, and the instant just
// before it (when later than t) is closed, so no earlier opening was missed.
func FuzzNextOpen(f *testing.F) {
	zones := []string{"UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Australia/Lord_Howe", "America/Sao_Paulo"}
	locs := make([]*time.Location, len(zones))
	for i, z := range zones {
		locs[i] = winLoc(f, z)
	}
	f.Add(uint16(150), uint16(300), uint8(1), uint8(1), int64(1743249600))   // Paris spring forward
	f.Add(uint16(120), uint16(150), uint8(1), uint8(1), int64(1761393600))   // Paris fall back
	f.Add(uint16(1320), uint16(360), uint8(65), uint8(4), int64(1743800000)) // Sydney, crossing midnight
	f.Add(uint16(0), uint16(1440), uint8(127), uint8(6), int64(1540000000))  // Sao Paulo
	f.Fuzz(func(t *testing.T, start, end uint16, days, zone uint8, unix int64) {
		w := fleet.Window{Start: int(start % 1440), End: int(end % 1441), Location: locs[int(zone)%len(locs)]}
		for d := range 7 {
			if days&(1<<d) != 0 {
				w.Days = append(w.Days, time.Weekday(d))
			}
		}
		at := time.Unix(unix%(200*365*86400), 0) // within ±200 years of 1970
		windows := []fleet.Window{w}
		next, ok := pipeline.NextOpen(windows, "r", at)
		if ok != (len(w.Days) > 0 && w.Start != w.End) {
			t.Fatalf("NextOpen(%+v, %v) ok = %v", w, at, ok)
		}
		if !ok {
			return
		}
		if next.Before(at) || !pipeline.Open(windows, "r", next) {
			t.Fatalf("NextOpen(%+v, %v) = %v, which is not open", w, at, next)
		}
		if before := next.Add(-time.Nanosecond); !before.Before(at) && pipeline.Open(windows, "r", before) {
			t.Fatalf("NextOpen(%+v, %v) = %v, but it was already open just before", w, at, next)
		}
	})
}

func BenchmarkNextOpen(b *testing.B) {
	windows := []fleet.Window{
		winParse(b, "Mon-Fri", "09:00-17:00", "Europe/Paris", "eu-west-3"),
		winParse(b, "Mon-Fri", "09:00-17:00", "America/New_York"),
	}
	at := time.Date(2025, 3, 28, 23, 0, 0, 0, time.UTC)
	for b.Loop() {
		pipeline.NextOpen(windows, "eu-west-3", at)
	}
}
