//go:build unix

package state

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// alive reports whether process pid, started at start (see processStart; "" if unknown), still
// runs on this host. When it cannot tell, it says yes: a lock wrongly thought stale would let two
// operations run at once, while one wrongly thought live only asks the user to wait.
func alive(pid int, start string) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false // ESRCH: no such process
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	state, started, ok := parseStat(b)
	if !ok {
		return true
	}
	// A zombie has exited; a different start time means the pid was reused.
	return state != 'Z' && state != 'X' && (start == "" || started == start)
}

// processStart identifies when process pid started (clock ticks since boot, from
// /proc/<pid>/stat), or "" where /proc is unavailable.
func processStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	_, started, _ := parseStat(b)
	return started
}

// parseStat extracts the state (field 3) and start time (field 22) from the contents of
// /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself contain spaces
// and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (state byte, start string, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, "", false
	}
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, "", false
	}
	if _, err := strconv.ParseUint(string(fields[19]), 10, 64); err != nil {
		return 0, "", false
	}
	return fields[0][0], string(fields[19]), true
}
