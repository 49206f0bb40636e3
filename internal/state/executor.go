package state

import (
	"context"

	"github.com/stackfleet/stackfleet/internal/apply"
)

// Journal is the Store as the executor's journal (apply.Journal): a Change is recorded in one
// transaction.
type Journal struct{ *Store }

var _ apply.Journal = Journal{}

// Record writes a step and the instance change it produced in one transaction.
func (j Journal) Record(ctx context.Context, c apply.Change) error {
	return j.Update(ctx, func(tx *Tx) error {
		if c.Step != nil {
			if err := tx.UpdateStep(c.Operation, *c.Step); err != nil {
				return err
			}
		}
		if c.Put != nil {
			if err := tx.PutInstance(*c.Put); err != nil {
				return err
			}
		}
		if c.Delete != nil {
			return tx.DeleteInstance(c.Owner, *c.Delete)
		}
		return nil
	})
}
