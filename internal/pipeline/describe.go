package pipeline

import (
	"fmt"
	"time"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// WaveView is the state of one wave (or of the stage-level checks) of a release.
type WaveView struct {
	Name     string        `json:"name"`
	State    string        `json:"state"` // pending, done, failed, rolled back, or the running phase
	Targets  int           `json:"targets"`
	Since    time.Time     `json:"since,omitzero"`
	BakeLeft time.Duration `json:"bakeLeft,omitempty"`
}

// StageView is the state of one stage of a release.
type StageView struct {
	Name  string     `json:"name"`
	State string     `json:"state"`
	Waves []WaveView `json:"waves"`
}

// Describe derives each stage's and wave's state from a release's recorded position, with the
// bake time left at now (bakes are stored as their start, so this is exact after a restart).
func Describe(spec fleet.Pipeline, r fleet.Release, now time.Time) []StageView {
	pos := r.Position
	out := make([]StageView, len(spec.Stages))
	for si, st := range spec.Stages {
		sv := StageView{Name: st.Name}
		checks := len(st.Waves)
		for wi := 0; wi <= checks; wi++ {
			if wi == checks && st.StageChecks.Empty() {
				break
			}
			wv := WaveView{Name: fmt.Sprintf("wave %d/%d", wi+1, len(st.Waves)), State: "pending"}
			c := st.WaveChecks
			if wi < checks {
				wv.Targets = len(st.Waves[wi])
			} else {
				wv.Name, c = "stage checks", st.StageChecks
				for _, w := range st.Waves {
					wv.Targets += len(w)
				}
			}
			switch {
			case si < pos.Stage, si == pos.Stage && (wi < pos.Wave || pos.Phase == fleet.PhaseStageDone), r.Status == fleet.ReleaseSucceeded:
				wv.State = "done"
			case si == pos.Stage && wi == pos.Wave:
				wv.Since = pos.Since
				switch {
				case r.Status == fleet.ReleaseFailed:
					wv.State = "failed, rolled back"
				case r.Status == fleet.ReleaseRolledBack:
					wv.State = "rolled back"
				case r.Status.Done():
					wv.State = string(r.Status)
				default:
					wv.State = string(pos.Phase)
					if pos.Phase == fleet.PhaseBake {
						wv.BakeLeft = max(pos.Since.Add(c.Bake).Sub(now), 0)
					}
				}
			}
			sv.Waves = append(sv.Waves, wv)
		}
		switch {
		case r.Status == fleet.ReleaseSucceeded || si < pos.Stage || (si == pos.Stage && pos.Phase == fleet.PhaseStageDone):
			sv.State = "done"
		case si == pos.Stage && r.Status == fleet.ReleaseRunning:
			sv.State = "running: " + string(pos.Phase)
		case si == pos.Stage && r.Status.Done():
			sv.State = string(r.Status)
		default:
			sv.State = "pending"
		}
		out[si] = sv
	}
	return out
}
