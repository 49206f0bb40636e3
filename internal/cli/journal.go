package cli

import (
	"context"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/state"
)

// journal adapts the SQLite store to the apply engine's Journal.
type journal struct{ *state.Store }

var _ apply.Journal = journal{}

// Record writes a step and the instance change it produced in one transaction.
func (j journal) Record(ctx context.Context, opID string, owner fleet.Owner, step fleet.StepRecord, inst *fleet.Instance, del *fleet.Target) error {
	return j.Update(ctx, func(tx *state.Tx) error {
		if err := tx.UpdateStep(opID, step); err != nil {
			return err
		}
		if inst != nil {
			if err := tx.PutInstance(*inst); err != nil {
				return err
			}
		}
		if del != nil {
			return tx.DeleteInstance(owner, *del)
		}
		return nil
	})
}
