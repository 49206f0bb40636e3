package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	// Windows name IANA zones; embedding the database makes them work on machines without
	// /usr/share/zoneinfo (minimal containers, CI images) and the same everywhere.
	_ "time/tzdata"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// Deployment windows are wall-clock rules evaluated in each window's Location (nil means UTC).
// A window that opens on local date D is the real-time interval
//
//	[at(D, Start), at(D, End))     or, when End ≤ Start (crossing midnight),   [at(D, Start), at(D+1, End))
//
// where at(d, m) is the instant the local clock first reads minute m of date d, or, when the
// clock skips that minute (spring forward), the first instant after the gap. So:
//   - a window starting in the skipped hour (02:30 Europe/Paris on the last Sunday of March)
//     opens at 03:00 local; one lying wholly in the skipped hour does not open that day;
//   - on fall-back days a window opens once: the repeated hour counts once per pass of the clock
//     through the window (01:00–03:00 America/New_York lasts three real hours that day, and
//     01:00–01:30 only its first 30 minutes);
//   - a window crossing midnight belongs to the day it starts: "Fri 22:00–06:00" covers Friday
//     night into Saturday morning, not Thursday night.

// windowDayMinutes is the number of minutes in a (nominal) day; Start and End count minutes.
const windowDayMinutes = 24 * 60

// windowSearchDays bounds the local dates NextOpen looks at: a window that can open at all opens
// within a week, or two when DST empties its occurrence on one day.
const windowSearchDays = 15

// Open reports whether t is inside an allowed window for region (windows with Regions apply
// only to those regions; if no window applies to the region, it is always open). Windows that can
// never open (see Impossible) apply but never open.
func Open(windows []fleet.Window, region string, t time.Time) bool {
	applies := false
	for _, w := range windows {
		if !windowApplies(w, region) {
			continue
		}
		applies = true
		if windowProblem(w) != "" {
			continue
		}
		loc := windowLocation(w)
		y, m, d := t.In(loc).Date()
		// Occurrences from two local days earlier cover midnight-crossing windows and zones whose
		// clock falls back across midnight; one day later covers such a zone's repeated evening.
		for k := -2; k <= 1; k++ {
			if !windowOnDay(w, y, m, d+k) {
				continue
			}
			open, shut := windowSpan(w, loc, y, m, d+k)
			if !t.Before(open) && t.Before(shut) {
				return true
			}
		}
	}
	return !applies
}

// NextOpen returns t if open, else the earliest later instant a window for region opens; ok is
// false when no window can ever open (e.g. no days, or Start == End). The instant is returned in
// t's location.
func NextOpen(windows []fleet.Window, region string, t time.Time) (next time.Time, ok bool) {
	if Open(windows, region, t) {
		return t, true
	}
	var best time.Time
	for _, w := range windows {
		if !windowApplies(w, region) || windowProblem(w) != "" {
			continue
		}
		loc := windowLocation(w)
		y, m, d := t.In(loc).Date()
		for k := -2; k <= windowSearchDays; k++ {
			if !windowOnDay(w, y, m, d+k) {
				continue
			}
			open, shut := windowSpan(w, loc, y, m, d+k)
			// t is closed, so no occurrence opening at or before t contains it. Openings never
			// go back as dates go forward (a later wall time is first read no earlier), so the
			// first one after t is this window's next.
			if open.After(t) && shut.After(open) {
				if best.IsZero() || open.Before(best) {
					best = open
				}
				break
			}
		}
	}
	if best.IsZero() {
		return time.Time{}, false
	}
	return best.In(t.Location()), true
}

// Impossible reports why windows can never open for some region of regions ("" if fine): for
// each region that some window applies to but no window can ever open for, the reasons of every
// applicable window, e.g. "no deployment window can ever open in eu-west-1: window 1 has no days".
// Windows are numbered from 1 in the order given. Regions with the same reasons are reported
// together, in the order of regions.
func Impossible(windows []fleet.Window, regions []string) string {
	var reasons []string              // distinct reasons, in order of first appearance
	byReason := map[string][]string{} // reason → regions
	seen := map[string]bool{}
	for _, region := range regions {
		if seen[region] {
			continue
		}
		seen[region] = true
		var why []string
		applies, opens := false, false
		for i, w := range windows {
			if !windowApplies(w, region) {
				continue
			}
			applies = true
			if p := windowProblem(w); p != "" {
				why = append(why, fmt.Sprintf("window %d %s", i+1, p))
			} else {
				opens = true
			}
		}
		if !applies || opens {
			continue
		}
		reason := strings.Join(why, ", ")
		if _, ok := byReason[reason]; !ok {
			reasons = append(reasons, reason)
		}
		byReason[reason] = append(byReason[reason], region)
	}
	out := make([]string, 0, len(reasons))
	for _, reason := range reasons {
		out = append(out, fmt.Sprintf("no deployment window can ever open in %s: %s", strings.Join(byReason[reason], ", "), reason))
	}
	return strings.Join(out, "; ")
}

// windowApplies reports whether w governs region.
func windowApplies(w fleet.Window, region string) bool {
	return len(w.Regions) == 0 || slices.Contains(w.Regions, region)
}

// windowProblem says why w can never open, or "" when it opens at least once a week.
func windowProblem(w fleet.Window) string {
	switch {
	case !slices.ContainsFunc(w.Days, func(d time.Weekday) bool { return d >= time.Sunday && d <= time.Saturday }):
		return "has no days"
	case w.Start < 0 || w.Start >= windowDayMinutes:
		return fmt.Sprintf("starts at minute %d, not a time from 00:00 to 23:59", w.Start)
	case w.End < 0 || w.End > windowDayMinutes:
		return fmt.Sprintf("ends at minute %d, not a time from 00:00 to 24:00", w.End)
	case w.Start == w.End:
		return fmt.Sprintf("starts and ends at %s, so it is empty (00:00-24:00 is the whole day)", windowClock(w.Start))
	}
	return ""
}

// windowLocation is w's zone, UTC when unset.
func windowLocation(w fleet.Window) *time.Location {
	if w.Location == nil {
		return time.UTC
	}
	return w.Location
}

// windowOnDay reports whether w opens on the local date y-m-d (d may overflow the month).
func windowOnDay(w fleet.Window, y int, m time.Month, d int) bool {
	return slices.Contains(w.Days, time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday())
}

// windowSpan is the real-time interval [open, shut) of w's occurrence on local date y-m-d; it is
// empty (shut ≤ open) when DST skips the whole window that day.
func windowSpan(w fleet.Window, loc *time.Location, y int, m time.Month, d int) (open, shut time.Time) {
	open = windowAt(loc, y, m, d, w.Start)
	if w.End <= w.Start {
		d++
	}
	return open, windowAt(loc, y, m, d, w.End)
}

// windowAt is the instant the clock of loc first reads minute (0–1440) of the local date y-m-d;
// when the clock skips that minute, the first instant after the gap. time.Date leaves both cases
// unspecified, so windowAt looks at every zone period near the naive instant itself.
func windowAt(loc *time.Location, y int, m time.Month, d, minute int) time.Time {
	// The wall time read as if it were UTC: instant = naive - offset in force at that instant.
	naive := time.Date(y, m, d, 0, minute, 0, 0, time.UTC)
	// UTC offsets stay within ±26 hours, so every candidate instant lies within that of naive.
	const reach = 30 * time.Hour
	limit := naive.Add(reach)
	var best time.Time
	better := func(c time.Time) {
		if best.IsZero() || c.Before(best) {
			best = c
		}
	}
	for t := naive.Add(-reach); ; {
		lt := t.In(loc)
		_, off := lt.Zone()
		start, end := lt.ZoneBounds()
		// The wall time exists in this period when the instant it maps to falls inside it.
		if c := naive.Add(-time.Duration(off) * time.Second); (start.IsZero() || !c.Before(start)) && (end.IsZero() || c.Before(end)) {
			better(c)
		}
		if end.IsZero() || end.After(limit) || !end.After(t) {
			break
		}
		// At a forward transition the clock jumps from end+off to end+offAfter; a wall time in
		// between never shows, and end is the first instant after the gap.
		_, offAfter := end.In(loc).Zone()
		if before, after := end.Add(time.Duration(off)*time.Second), end.Add(time.Duration(offAfter)*time.Second); !naive.Before(before) && naive.Before(after) {
			better(end)
		}
		t = end
	}
	if best.IsZero() {
		// Unreachable with real zone data; time.Date's choice is still an instant near the wall time.
		return time.Date(y, m, d, 0, minute, 0, 0, loc)
	}
	return best.In(loc)
}

// windowClock formats minutes after midnight as HH:MM.
func windowClock(minutes int) string {
	return fmt.Sprintf("%02d:%02d", minutes/60, minutes%60)
}

// ParseWindow parses the configuration form: days "Mon-Fri" / "Mon,Wed,Fri" / "Sat-Mon",
// hours "09:00-17:00" (or "22:00-06:00" crossing midnight; "00:00-24:00" the whole day),
// zone an IANA name ("Europe/Paris"; "" means UTC), regions. Errors say what is wrong in words a
// user acts on. Day names are case-insensitive three-letter abbreviations or full names; ranges
// wrap around the week; items may mix ("Mon-Wed,Fri"). The result's Days are distinct and in
// time.Weekday order, Start ≠ End, and Location is never nil.
func ParseWindow(days, hours, zone string, regions []string) (fleet.Window, error) {
	var w fleet.Window
	var err error
	if w.Days, err = parseWindowDays(days); err != nil {
		return fleet.Window{}, err
	}
	if w.Start, w.End, err = parseWindowHours(hours); err != nil {
		return fleet.Window{}, err
	}
	if w.Location, err = parseWindowZone(zone); err != nil {
		return fleet.Window{}, err
	}
	for _, r := range regions {
		r = strings.TrimSpace(r)
		if r == "" {
			return fleet.Window{}, errors.New("window regions: a region name is empty")
		}
		if !slices.Contains(w.Regions, r) {
			w.Regions = append(w.Regions, r)
		}
	}
	return w, nil
}

// windowDayName maps a lower-case day name or abbreviation to its weekday.
func windowDayName(name string) (time.Weekday, bool) {
	switch name {
	case "sun", "sunday":
		return time.Sunday, true
	case "mon", "monday":
		return time.Monday, true
	case "tue", "tues", "tuesday":
		return time.Tuesday, true
	case "wed", "wednesday":
		return time.Wednesday, true
	case "thu", "thur", "thurs", "thursday":
		return time.Thursday, true
	case "fri", "friday":
		return time.Friday, true
	case "sat", "saturday":
		return time.Saturday, true
	}
	return 0, false
}

func parseWindowDays(s string) ([]time.Weekday, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New(`window days are missing: write days like "Mon-Fri", "Mon,Wed,Fri" or "Mon-Sun" for every day`)
	}
	day := func(name string) (time.Weekday, error) {
		name = strings.TrimSpace(name)
		if d, ok := windowDayName(strings.ToLower(name)); ok {
			return d, nil
		}
		return 0, fmt.Errorf("window days %q: %q is not a day; use Mon, Tue, Wed, Thu, Fri, Sat or Sun", s, name)
	}
	var set [7]bool
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			return nil, fmt.Errorf("window days %q: an item is empty (check the commas)", s)
		}
		from, to, isRange := strings.Cut(item, "-")
		first, err := day(from)
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if strings.Contains(to, "-") {
				return nil, fmt.Errorf("window days %q: %q has more than one '-'; write a range as First-Last, like Mon-Fri", s, strings.TrimSpace(item))
			}
			if last, err = day(to); err != nil {
				return nil, err
			}
		}
		// Ranges wrap around the week, so Sat-Mon is Saturday, Sunday and Monday.
		for d := first; ; d = (d + 1) % 7 {
			set[d] = true
			if d == last {
				break
			}
		}
	}
	var out []time.Weekday
	for d, ok := range set {
		if ok {
			out = append(out, time.Weekday(d))
		}
	}
	return out, nil
}

func parseWindowHours(s string) (start, end int, err error) {
	from, to, ok := strings.Cut(s, "-")
	if !ok || strings.Contains(to, "-") {
		return 0, 0, fmt.Errorf(`window hours %q: write a start and an end like "09:00-17:00" ("22:00-06:00" crosses midnight, "00:00-24:00" is the whole day)`, s)
	}
	if start, err = parseWindowClock(s, from); err != nil {
		return 0, 0, err
	}
	if end, err = parseWindowClock(s, to); err != nil {
		return 0, 0, err
	}
	switch {
	case start == windowDayMinutes:
		return 0, 0, fmt.Errorf("window hours %q: a window cannot start at 24:00; start at 00:00 instead", s)
	case start == end:
		return 0, 0, fmt.Errorf(`window hours %q: the start and the end are the same, so the window would never open; write "00:00-24:00" for the whole day`, s)
	}
	return start, end, nil
}

// parseWindowClock parses H:MM or HH:MM, 00:00 to 24:00, into minutes after midnight.
func parseWindowClock(hours, s string) (int, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("window hours %q: %q is not a time of day; write it as HH:MM, from 00:00 to 24:00", hours, s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, bad
	}
	hh, okh := windowDigits(h)
	mm, okm := windowDigits(m)
	if !okh || !okm || hh > 24 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, bad
	}
	return hh*60 + mm, nil
}

// windowDigits parses a short string of ASCII digits (strconv.Atoi would also take signs).
func windowDigits(s string) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func parseWindowZone(zone string) (*time.Location, error) {
	zone = strings.TrimSpace(zone)
	switch zone {
	case "":
		return time.UTC, nil
	case "Local":
		return nil, errors.New("window zone Local depends on the machine running stackfleet; name a zone such as Europe/Paris or UTC")
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("window zone %q is not a known IANA time zone name (such as Europe/Paris, America/New_York or UTC): %w", zone, err)
	}
	return loc, nil
}
