package state_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// TestKill9WhileWriting kills a child with SIGKILL in the middle of many concurrent writes and
// checks that the database is intact, that every write the child saw commit is there, and that
// no step is ever final without the instance written with it.
func TestKill9WhileWriting(t *testing.T) { testKill9WhileWriting(t, sqliteBackend) }

func testKill9WhileWriting(t *testing.T, b backend) {
	ctx := t.Context()
	dir := b.fresh(t)
	s, err := b.openFor(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var steps []fleet.StepRecord
	for i := range crashTargets {
		steps = append(steps, fleet.StepRecord{Target: crashTarget(i), Status: "PENDING"})
	}
	if err := s.CreateOperation(ctx, fleet.Operation{ID: crashOp, StackSet: crashSet, Status: fleet.OpRunning}, steps); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	c := startChild(t, "write", b.childEnv(dir))
	acked := map[fleet.Target]int{} // highest round the child saw committed, per target
	ackedEvents := 0
	record := func(line string) {
		var tgt fleet.Target
		var round int
		if _, err := fmt.Sscan(line, &tgt.Account, &tgt.Region, &round); err != nil {
			t.Fatalf("child line %q: %v", line, err)
		}
		acked[tgt] = max(acked[tgt], round)
		ackedEvents++
	}
	for range 500 {
		record(c.line(t))
	}
	c.kill9(t)
	for line := range c.lines { // what it printed before dying
		record(line)
	}

	s = b.open(t, dir)
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	_, got, err := s.Operation(ctx, crashOp)
	if err != nil {
		t.Fatal(err)
	}
	insts, err := s.Instances(ctx, fleet.StackSetOwner(crashSet))
	if err != nil {
		t.Fatal(err)
	}
	instReason := map[fleet.Target]string{}
	for _, in := range insts {
		instReason[in.Target] = in.Reason
	}
	for _, st := range got {
		round := 0
		if st.Status != "PENDING" {
			if round, err = strconv.Atoi(st.Reason); err != nil {
				t.Fatalf("step %s: reason %q", st.Target, st.Reason)
			}
		}
		if round < acked[st.Target] {
			t.Errorf("step %s at round %d, but the child saw round %d commit", st.Target, round, acked[st.Target])
		}
		// Step and instance commit together: a final step always has its instance, same round.
		if st.Status == "SUCCEEDED" && instReason[st.Target] != st.Reason {
			t.Errorf("step %s SUCCEEDED in round %s, but its instance has round %q", st.Target, st.Reason, instReason[st.Target])
		}
	}
	evs, _, err := s.Events(ctx, crashOp, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < ackedEvents {
		t.Errorf("%d events in the journal, but the child saw %d commit", len(evs), ackedEvents)
	}
	if len(got) != crashTargets {
		t.Errorf("%d steps, want %d", len(got), crashTargets)
	}
}
