package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackfleet/stackfleet/internal/localhttp"
	"github.com/stackfleet/stackfleet/internal/web"
)

// uiFlags configure the dashboard server.
type uiFlags struct {
	listen     string
	allowHosts []string
}

func (f *uiFlags) register(cmd *cobra.Command, prefix string) {
	cmd.Flags().StringVar(&f.listen, prefix+"listen", "127.0.0.1:0", "address of the dashboard (default: a free port on 127.0.0.1; another interface only when named)")
	cmd.Flags().StringSliceVar(&f.allowHosts, prefix+"allow-host", nil, "host names the dashboard answers for besides IP addresses and localhost")
}

func newUICmd(g *globals) *cobra.Command {
	var f uiFlags
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the web dashboard of the state: stack sets as account × region matrices, pipelines, a live event feed",
		Long: `ui serves a dashboard of the configuration's state database on 127.0.0.1 (a free port
unless --listen names one) until interrupted, and prints its URL with a random token: every stack
set and pipeline stack as an account × region matrix coloured by instance status, with drill-down
to an instance's outputs, failing resource and events; pipelines with their releases, stages,
waves, bake time left and gate results; a live feed of the event stream (server-sent events) that
recolours the matrices while apply or release run in another terminal. It only reads. apply and
release start the same dashboard with --ui.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w, err := openWorkspace(ctx, g, false, false)
			if err != nil {
				return err
			}
			defer w.Close()
			stop, err := w.startUI(ctx, g, f)
			if err != nil {
				return err
			}
			<-ctx.Done()
			stop()
			return nil
		},
	}
	f.register(cmd, "")
	return cmd
}

// startUI serves the dashboard in the background and prints its URL; stop shuts it down.
func (w *workspace) startUI(ctx context.Context, g *globals, f uiFlags) (stop func(), err error) {
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	var pipelines []string
	for _, p := range w.file.Config.Pipelines {
		pipelines = append(pipelines, p.Name)
	}
	srv := &web.Server{Store: w.store, Log: g.log, Pipelines: pipelines,
		Guard: localhttp.Guard{Token: hex.EncodeToString(token), AllowedHosts: f.allowHosts}}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, operationalErr(fmt.Errorf("dashboard: %w", err))
	}
	base, cancelStreams := context.WithCancel(context.Background())
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Warn("dashboard", "err", err)
		}
	}()
	fmt.Fprintf(g.stderr, "dashboard: http://%s/?token=%s\n", ln.Addr(), srv.Guard.Token)
	return func() {
		cancelStreams() // the event streams of open pages end
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(c)
	}, nil
}
