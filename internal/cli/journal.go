package cli

import (
	"context"
	"log/slog"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/events"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/state"
)

// journal adapts the SQLite store to the executor's Journal.
type journal struct{ *state.Store }

var _ apply.Journal = journal{}

// Record writes a step and the instance change it produced in one transaction.
func (j journal) Record(ctx context.Context, c apply.Change) error {
	return j.Update(ctx, func(tx *state.Tx) error {
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

// journalEvents is the event-stream subscriber that appends events to the journal, a batch per
// transaction, off the engine's goroutines.
func journalEvents(s *state.Store, log *slog.Logger) events.Subscriber {
	return func(evs []fleet.Event) {
		// The journal copy must not be lost to a cancelled command: Close drains the bus.
		if err := s.AppendEvents(context.Background(), evs...); err != nil {
			log.Warn("journal events", "events", len(evs), "error", err)
		}
	}
}

// stream starts the command's event stream: the journal and the view subscribe.
func (w *workspace) stream(g *globals, view func(fleet.Event)) *events.Bus {
	return events.New(journalEvents(w.store, g.log), events.Each(view))
}
