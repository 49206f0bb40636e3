package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/stackfleet/stackfleet/internal/apply"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackfleet/stackfleet/internal/awsclient"
	"github.com/stackfleet/stackfleet/internal/cfn"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/gates"
	"github.com/stackfleet/stackfleet/internal/pipeline"
	"github.com/stackfleet/stackfleet/internal/plan"
	"github.com/stackfleet/stackfleet/internal/state"
	"github.com/stackfleet/stackfleet/internal/templates"
)

func addPipelineCommands(root *cobra.Command, g *globals) {
	status := &cobra.Command{Use: "pipeline", Short: "Release pipelines: status"}
	status.AddCommand(newPipelineStatusCmd(g))
	root.AddCommand(newReleaseCmd(g), newDecideCmd(g, true), newDecideCmd(g, false), newRollbackCmd(g), status)
}

// pipelineSpec resolves the named pipeline from the configuration.
func (w *workspace) pipelineSpec(name string) (fleet.Pipeline, error) {
	specs, err := w.file.ResolvePipelines(w.inventory)
	if err != nil {
		return fleet.Pipeline{}, usageErr(err)
	}
	var names []string
	for _, s := range specs {
		if s.Name == name {
			if err := w.sealPipeline(&s); err != nil {
				return fleet.Pipeline{}, operationalErr(err)
			}
			for i := range s.Stacks {
				s.Stacks[i].Tags = w.configTags(s.Stacks[i].Tags)
			}
			return s, nil
		}
		names = append(names, s.Name)
	}
	return fleet.Pipeline{}, usageErr(fmt.Errorf("no pipeline %q in %s (pipelines: %s)", name, w.file.Path, strings.Join(names, ", ")))
}

// release reads a release and the pipeline spec it deploys (stored with it, so it does not
// depend on the current configuration).
func (w *workspace) release(ctx context.Context, id string) (fleet.Release, fleet.Pipeline, error) {
	var spec fleet.Pipeline
	rel, content, err := w.store.ReleaseByID(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return rel, spec, usageErr(fmt.Errorf("release %s: no such release ('stackfleet pipeline status PIPELINE' lists them)", id))
	}
	if err != nil {
		return rel, spec, operationalErr(err)
	}
	if err := json.Unmarshal(content, &spec); err != nil {
		return rel, spec, operationalErr(fmt.Errorf("release %s: stored content: %w", id, err))
	}
	return rel, spec, nil
}

// pickRelease reads the release a command acts on and its spec: id if given, else the
// pipeline's oldest unfinished release (unfinished) or its newest release.
func (w *workspace) pickRelease(ctx context.Context, pipelineName, id string, unfinished bool) (fleet.Release, fleet.Pipeline, error) {
	if id == "" {
		var rels []fleet.Release
		var err error
		if unfinished {
			rels, err = w.store.ActiveReleases(ctx, pipelineName)
		} else {
			rels, err = w.store.Releases(ctx, pipelineName, 1)
		}
		switch {
		case err != nil:
			return fleet.Release{}, fleet.Pipeline{}, operationalErr(err)
		case len(rels) == 0 && unfinished:
			return fleet.Release{}, fleet.Pipeline{}, usageErr(fmt.Errorf("pipeline %s has no unfinished release", pipelineName))
		case len(rels) == 0:
			return fleet.Release{}, fleet.Pipeline{}, usageErr(fmt.Errorf("pipeline %s has no release yet ('stackfleet release %s' starts one)", pipelineName, pipelineName))
		}
		id = rels[0].ID
	}
	return w.release(ctx, id)
}

func newReleaseID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "rel-" + now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

func (w *workspace) engine(g *globals, spec fleet.Pipeline, events apply.EventSink, poll time.Duration) *pipeline.Engine {
	c := &stageClients{g: g, keys: w.keys, external: w.file.Execution.ExternalID, session: w.file.Execution.SessionName,
		timing: cfn.NewTiming(), byRole: map[string]*awsclient.Clients{}, templates: w.templateStore(), assets: w.assetPublisher()}
	return &pipeline.Engine{
		Deployer: func(st fleet.Stage) apply.Deployer { return c.deployer(st, g.pollInitial) },
		Gates:    pipelineGates{c: c, health: &gates.Health{Client: http.DefaultClient}},
		Journal:  releaseJournal{journal: journal{Store: w.store}, spec: spec},
		Inputs: func(ctx context.Context, s fleet.PipelineStack) (func(fleet.Target, map[string]string) (map[string]string, error), error) {
			// One read of the recorded outputs per stack and wave, not per target.
			rec, err := w.recorded(ctx)
			if err != nil {
				return nil, err
			}
			info, err := templates.Parse(s.TemplateBody)
			if err != nil {
				return nil, err
			}
			return plan.References(w.inventory, rec, info, w.keys.sealValue), nil
		},
		Events: events, Log: g.log, Poll: poll,
	}
}

func newReleaseCmd(g *globals) *cobra.Command {
	var resume, ui bool
	var uf uiFlags
	var poll time.Duration
	cmd := &cobra.Command{
		Use:   "release PIPELINE",
		Short: "Start a release of a pipeline (or --resume the unfinished one) and follow it to the end",
		Long: `release starts a release — the pipeline's templates and parameters as they are now, identified by
a version id — and moves it stage by stage, wave by wave: deploy, health checks and tests, bake with
alarms watched. A failing wave is rolled back to each instance's last known good version (and the
stage's earlier waves too with rollback.earlierWaves), and the release stops. Approval gates wait
for 'stackfleet approve'; waves wait for their deployment windows.

Positions, bakes and soaks are journaled as start times: after a crash or Ctrl-C, 'release
--resume' continues where it stopped, with only the remaining bake time.

Exit codes: 0 the release succeeded; 1 it failed and was rolled back, was rejected or superseded;
2 bad configuration; 3 interrupted (resume it) or could not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, true, false)
			if err != nil {
				return err
			}
			defer w.Close()
			spec, err := w.pipelineSpec(args[0])
			if err != nil {
				return err
			}
			if ui {
				stop, err := w.startUI(ctx, g, uf)
				if err != nil {
					return err
				}
				defer stop()
			}
			v := newView(g, w.accountNames())
			defer v.close()
			var rel fleet.Release
			if resume {
				if rel, spec, err = w.pickRelease(ctx, spec.Name, "", true); err != nil {
					return err
				}
				v.release(rel, spec, true)
			} else {
				if active, err := w.store.ActiveReleases(ctx, spec.Name); err == nil && len(active) > 0 {
					fmt.Fprintf(g.stderr, "note: release %s of %s is unfinished (%s); if its process died, run 'stackfleet release %s --resume'\n",
						active[0].ID, spec.Name, active[0].Status, spec.Name)
				}
				now := time.Now()
				rel = fleet.Release{ID: newReleaseID(now), Pipeline: spec.Name, Version: fleet.VersionOf(spec), Status: fleet.ReleaseQueued, CreatedAt: now.UTC()}
				content, err := json.Marshal(spec)
				if err != nil {
					return operationalErr(err)
				}
				if err := w.store.CreateRelease(ctx, rel, content); err != nil {
					return operationalErr(err)
				}
				v.release(rel, spec, false)
			}
			bus := w.stream(g, v.event)
			rel, err = w.engine(g, spec, bus, poll).Run(ctx, spec, rel)
			bus.Close()
			if err != nil {
				if ctx.Err() != nil {
					return &exitError{ExitOperational, fmt.Errorf("interrupted (%s); run 'stackfleet release %s --resume'", rel.Position.Phase, spec.Name)}
				}
				return operationalErr(err)
			}
			switch rel.Status {
			case fleet.ReleaseSucceeded:
				return nil
			default:
				return &exitError{ExitDeployFail, fmt.Errorf("release %s %s: %s", rel.ID, rel.Status, rel.Reason)}
			}
		},
	}
	cmd.Flags().BoolVar(&resume, "resume", false, "continue the pipeline's unfinished release")
	cmd.Flags().BoolVar(&ui, "ui", false, "serve the web dashboard while it runs (its URL is printed)")
	uf.register(cmd, "ui-")
	cmd.Flags().DurationVar(&poll, "poll", 10*time.Second, "how often alarms, approvals and busy stages are checked")
	return cmd
}

func newDecideCmd(g *globals, approve bool) *cobra.Command {
	var releaseID, comment string
	verb := map[bool]string{true: "approve", false: "reject"}[approve]
	cmd := &cobra.Command{
		Use:   verb + " PIPELINE STAGE",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a stage of the pipeline's unfinished release (its approval gate)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, false, false)
			if err != nil {
				return err
			}
			defer w.Close()
			rel, spec, err := w.pickRelease(ctx, args[0], releaseID, true)
			if err != nil {
				return err
			}
			id := rel.ID
			var stages []string
			for _, st := range spec.Stages {
				stages = append(stages, st.Name)
			}
			if !slices.Contains(stages, args[1]) {
				return usageErr(fmt.Errorf("release %s of %s has no stage %q (stages: %s)", rel.ID, rel.Pipeline, args[1], strings.Join(stages, ", ")))
			}
			err = w.store.Decide(ctx, fleet.Approval{Release: id, Stage: args[1], Approved: approve, By: w.who(ctx, g), Comment: comment, At: time.Now().UTC()})
			if err != nil {
				return usageErr(err)
			}
			return g.show(decisionDocument{Pipeline: args[0], Stage: args[1], Release: id, Decision: verb + "d"}, func(out io.Writer) {
				fmt.Fprintf(out, "%sd stage %s of release %s\n", verb, args[1], id)
			})
		},
	}
	cmd.Flags().StringVar(&releaseID, "release", "", "release id (default: the pipeline's oldest unfinished release)")
	cmd.Flags().StringVar(&comment, "comment", "", "why, recorded with the decision")
	return cmd
}

func newRollbackCmd(g *globals) *cobra.Command {
	var releaseID string
	cmd := &cobra.Command{
		Use:   "rollback PIPELINE",
		Short: "Roll back every instance a release deployed to its last known good version",
		Long: `rollback returns every instance the release deployed (default: the pipeline's newest release) to
the version it ran before that release, stages newest first, and marks the release ROLLED_BACK.
It refuses while the release is running in another process.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, true, false)
			if err != nil {
				return err
			}
			defer w.Close()
			rel, spec, err := w.pickRelease(ctx, args[0], releaseID, false)
			if err != nil {
				return err
			}
			if rel.Status == fleet.ReleaseRolledBack {
				return usageErr(fmt.Errorf("release %s of %s is already ROLLED_BACK (%s): nothing to roll back", rel.ID, spec.Name, rel.Reason))
			}
			bus := w.stream(g, newView(g, w.accountNames()).event)
			defer bus.Close()
			_, err = w.engine(g, spec, bus, time.Second).Rollback(ctx, spec, rel, "rolled back by "+w.who(ctx, g))
			switch {
			case errors.Is(err, pipeline.ErrNothingToRollBack):
				return usageErr(err)
			case errors.Is(err, pipeline.ErrStageBusy):
				return &exitError{ExitOperational, fmt.Errorf("cannot roll back now: %w", err)}
			case err != nil:
				return &exitError{ExitDeployFail, err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&releaseID, "release", "", "release id (default: the pipeline's newest release)")
	return cmd
}

func newPipelineStatusCmd(g *globals) *cobra.Command {
	var releaseID string
	cmd := &cobra.Command{
		Use:   "status PIPELINE",
		Short: "Show a release's stages, waves and gates: state, start, remaining bake, failure reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, false, false)
			if err != nil {
				return err
			}
			defer w.Close()
			rel, spec, err := w.pickRelease(ctx, args[0], releaseID, false)
			if err != nil {
				return err
			}
			rels, err := w.store.Releases(ctx, args[0], 10)
			if err != nil {
				return operationalErr(err)
			}
			recs, err := w.store.GateRecords(ctx, rel.ID)
			if err != nil {
				return operationalErr(err)
			}
			view := pipeline.Describe(spec, rel, time.Now())
			return g.show(pipelineStatusDocument{Releases: rels, Release: rel, Stages: view, Gates: recs}, func(out io.Writer) {
				renderPipelineStatus(out, rels, rel, view, recs)
			})
		},
	}
	cmd.Flags().StringVar(&releaseID, "release", "", "release id (default: the newest)")
	return cmd
}

func renderPipelineStatus(out io.Writer, rels []fleet.Release, rel fleet.Release, stages []pipeline.StageView, recs []fleet.GateRecord) {
	fmt.Fprintf(out, "Release %s of %s, version %s: %s", rel.ID, rel.Pipeline, rel.Version, rel.Status)
	if rel.Reason != "" {
		fmt.Fprintf(out, "\n  reason: %s", rel.Reason)
	}
	fmt.Fprintln(out)
	for _, st := range stages {
		fmt.Fprintf(out, "  stage %-10s %s\n", st.Name, st.State)
		for _, wv := range st.Waves {
			line := fmt.Sprintf("    %-12s %-10s %d targets", wv.Name, wv.State, wv.Targets)
			if !wv.Since.IsZero() {
				line += " since " + wv.Since.Local().Format("2006-01-02 15:04:05")
			}
			if wv.BakeLeft > 0 {
				line += fmt.Sprintf(", bake %s left", wv.BakeLeft.Round(time.Second))
			}
			fmt.Fprintln(out, line)
		}
	}
	var failed []fleet.GateRecord
	for _, r := range recs {
		if r.Status != "PASSED" {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintln(out, "  failed gates:")
		for _, r := range failed {
			fmt.Fprintf(out, "    %s %s: %s\n", r.Gate, r.Target, r.Reason)
		}
	}
	if len(rels) > 1 {
		fmt.Fprintln(out, "Recent releases:")
		for _, r := range rels {
			fmt.Fprintf(out, "  %s %-11s version %s created %s\n", r.ID, r.Status, r.Version, r.CreatedAt.Local().Format("2006-01-02 15:04"))
		}
	}
}
