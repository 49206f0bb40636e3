package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stackfleet/stackfleet/internal/apply"
	"github.com/stackfleet/stackfleet/internal/awsclient"
	"github.com/stackfleet/stackfleet/internal/cfn"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/pipeline"
	"github.com/stackfleet/stackfleet/internal/state"
)

// releaseJournal adapts the SQLite store to the release engine's Journal: the store serves
// releases, templates, approvals and gate records as they are; stage locks and supersession
// are the store's locks and releases seen through the pipeline's spec.
type releaseJournal struct {
	journal
	spec fleet.Pipeline
}

var _ pipeline.Journal = releaseJournal{}

func stageLock(p, stage string) string { return "pipeline:" + p + "/" + stage }

func (j releaseJournal) AcquireStage(ctx context.Context, p, stage, id string) error {
	_, err := j.Store.Acquire(ctx, stageLock(p, stage), id)
	var le *state.LockedError
	if errors.As(err, &le) {
		return fmt.Errorf("%w: release %s is deploying to %s (pid %d)", pipeline.ErrStageBusy, le.Operation, stage, le.PID)
	}
	return err
}
func (j releaseJournal) ReleaseStage(ctx context.Context, p, stage, id string) error {
	return j.Store.Release(ctx, stageLock(p, stage), id)
}

// Superseded: with concurrency supersede, a release waiting for a stage gives way to any newer
// release of the pipeline.
func (j releaseJournal) Superseded(ctx context.Context, r fleet.Release) (bool, error) {
	if !j.spec.Supersede {
		return false, nil
	}
	active, err := j.Store.ActiveReleases(ctx, r.Pipeline)
	if err != nil {
		return false, err
	}
	for _, a := range active {
		if a.ID != r.ID && a.CreatedAt.After(r.CreatedAt) {
			return true, nil
		}
	}
	return false, nil
}

// stageClients hands out AWS clients per stage role pattern (stages may use different roles).
type stageClients struct {
	g        *globals
	keys     *keyring
	external string
	session  string
	timing   *cfn.Timing
	// templates puts large templates in the artifact bucket (with the caller's credentials).
	templates *templateStore
	assets    *assetPublisher
	mu        sync.Mutex
	byRole    map[string]*awsclient.Clients
}

func (c *stageClients) forStage(ctx context.Context, st fleet.Stage) (*awsclient.Clients, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.byRole[st.RolePattern]; ok {
		return cl, nil
	}
	cl, err := awsclient.New(ctx, awsclient.Options{Region: c.g.region, Profile: c.g.profile, Endpoint: c.g.endpoint,
		RoleARNPattern: st.RolePattern, ExternalID: c.external, SessionName: c.session, Logger: c.g.log})
	if err != nil {
		return nil, err
	}
	c.byRole[st.RolePattern] = cl
	return cl, nil
}

func (c *stageClients) config(ctx context.Context, st fleet.Stage, t fleet.Target) (aws.Config, error) {
	cl, err := c.forStage(ctx, st)
	if err != nil {
		return aws.Config{}, err
	}
	return cl.ForTarget(ctx, t.Account, t.Region)
}

// deployer deploys a stage's stacks through the stage's role.
func (c *stageClients) deployer(st fleet.Stage, poll time.Duration) apply.Deployer {
	return cfnDeployer{config: func(ctx context.Context, t fleet.Target) (aws.Config, error) {
		return c.config(ctx, st, t)
	}, timing: c.timing, pollInitial: poll, keys: c.keys, templates: c.templates, assets: c.assets}
}

// who names the person acting, for the records of approvals, rollbacks and cancellations: the
// AWS identity of their credentials (GetCallerIdentity ARN) when it can be read within a few
// seconds, else the local user name.
func (w *workspace) who(ctx context.Context, g *globals) string {
	user := cmp.Or(os.Getenv("USER"), "unknown")
	clients := w.clients
	if clients == nil {
		var err error
		if clients, err = awsclient.New(ctx, awsclient.Options{Region: g.region, Profile: g.profile, Endpoint: g.endpoint, Logger: g.log, MaxAttempts: 2}); err != nil {
			return user
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	arn, err := clients.CallerARN(ctx)
	if err != nil {
		g.log.Debug("caller identity", "error", err)
		return user
	}
	return arn
}
