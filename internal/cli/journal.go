package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/stackfleet/stackfleet/internal/events"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/notify"
	"github.com/stackfleet/stackfleet/internal/state"
)

// journal is the state store as the executor's journal.
type journal = state.Journal

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

// stream starts the command's event stream: the journal, the view, the --events-file and the
// configured notifications subscribe.
func (w *workspace) stream(g *globals, view func(fleet.Event)) *events.Bus {
	return events.New(journalEvents(w.store, g.log), events.Each(view), eventsFile(g), w.notifications(g))
}

// eventsFile appends the stream to --events-file as JSON lines (the records of -o json), or is
// nil without it.
func eventsFile(g *globals) events.Subscriber {
	if g.eventsFile == "" {
		return nil
	}
	return func(evs []fleet.Event) {
		f, err := os.OpenFile(g.eventsFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			g.log.Warn("events file", "file", g.eventsFile, "error", err)
			return
		}
		enc := json.NewEncoder(f)
		for _, ev := range evs {
			if rec := events.Record(ev); rec != nil {
				_ = enc.Encode(rec)
			}
		}
		if err := f.Close(); err != nil {
			g.log.Warn("events file", "file", g.eventsFile, "error", err)
		}
	}
}

// notifications is the subscriber sending the configured webhooks, or nil without any. A URL
// or key named by an environment variable that is not set is warned about and that webhook
// left out: a notification never stops a deploy.
func (w *workspace) notifications(g *globals) events.Subscriber {
	var targets []notify.Target
	for _, n := range w.file.Config.Notifications {
		t := notify.Target{Name: n.Name, URL: n.URL, Slack: n.Format == "slack", StackSets: n.StackSets, Pipelines: n.Pipelines}
		if n.URLEnv != "" {
			if t.URL = os.Getenv(n.URLEnv); t.URL == "" {
				fmt.Fprintf(g.stderr, "warning: notification %s: $%s is not set; it is not sent\n", n.Name, n.URLEnv)
				continue
			}
		}
		if n.SecretEnv != "" {
			key := os.Getenv(n.SecretEnv)
			if key == "" {
				fmt.Fprintf(g.stderr, "warning: notification %s: $%s (its signing key) is not set; it is not sent\n", n.Name, n.SecretEnv)
				continue
			}
			t.Secret = []byte(key)
		}
		for _, k := range n.Events {
			t.Kinds = append(t.Kinds, notify.Kind(k))
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return nil
	}
	return (&notify.Notifier{Targets: targets, Log: g.log}).Subscriber(context.Background())
}
