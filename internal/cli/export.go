package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// exportResult counts what an export changed.
type exportResult struct {
	Written   int `json:"written"`
	Unchanged int `json:"unchanged"`
	Deleted   int `json:"deleted"`
}

// exportOutputs writes outputs (account → region → key → value) to dest: "ssm:/prefix" (one
// String parameter /prefix/ACCOUNT/REGION/KEY each, in the account and region to names, default
// the management account in the home region) or a JSON file. It is idempotent: unchanged
// parameters are not written, and parameters under the prefix whose output is gone are deleted.
//
// With prune false (the outputs were filtered), nothing is deleted.
func (w *workspace) exportOutputs(ctx context.Context, name, dest, to string, prune bool, outputs map[string]map[string]map[string]string) (exportResult, error) {
	prefix, isSSM := strings.CutPrefix(dest, "ssm:")
	if !isSSM {
		data, err := json.MarshalIndent(map[string]any{"stackSet": name, "outputs": outputs}, "", "  ")
		if err != nil {
			return exportResult{}, err
		}
		if old, err := os.ReadFile(dest); err == nil && string(old) == string(data)+"\n" {
			return exportResult{Unchanged: 1}, nil
		}
		tmp := dest + ".tmp"
		if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
			return exportResult{}, err
		}
		return exportResult{Written: 1}, os.Rename(tmp, dest)
	}
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix == "/" || strings.ContainsAny(prefix, " \t") {
		return exportResult{}, usageErr(fmt.Errorf("--export %s: want ssm:/some/prefix", dest))
	}
	account, region, _ := strings.Cut(to, "/")
	if account == "" {
		account = w.inventory.ManagementAccount
	}
	var cfg aws.Config
	if account == w.inventory.ManagementAccount {
		cfg = w.clients.Base()
		if region != "" {
			cfg.Region = region
		}
	} else {
		if region == "" {
			region = w.clients.Base().Region
		}
		var err error
		if cfg, err = w.clients.ForTarget(ctx, account, region); err != nil {
			return exportResult{}, operationalErr(err)
		}
	}
	client := ssm.NewFromConfig(cfg)
	want := map[string]string{}
	for acct, byRegion := range outputs {
		for reg, kv := range byRegion {
			for k, v := range kv {
				if len(v) > 4096 {
					return exportResult{}, usageErr(fmt.Errorf("output %s of %s/%s is %d bytes; an SSM String parameter holds at most 4096", k, acct, reg, len(v)))
				}
				want[prefix+"/"+acct+"/"+reg+"/"+k] = v
			}
		}
	}
	have := map[string]string{}
	pages := ssm.NewGetParametersByPathPaginator(client, &ssm.GetParametersByPathInput{Path: aws.String(prefix), Recursive: aws.Bool(true)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return exportResult{}, operationalErr(fmt.Errorf("read %s: %w", prefix, err))
		}
		for _, p := range page.Parameters {
			have[aws.ToString(p.Name)] = aws.ToString(p.Value)
		}
	}
	var res exportResult
	for _, n := range slices.Sorted(maps.Keys(want)) {
		if v, ok := have[n]; ok && v == want[n] {
			res.Unchanged++
			continue
		}
		if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(n), Value: aws.String(want[n]),
			Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
			return res, operationalErr(fmt.Errorf("write %s: %w", n, err))
		}
		res.Written++
	}
	var stale []string
	for n := range have {
		if !prune {
			break
		}
		if _, ok := want[n]; !ok && strings.Count(strings.TrimPrefix(n, prefix+"/"), "/") == 2 {
			stale = append(stale, n)
		}
	}
	slices.Sort(stale)
	for len(stale) > 0 {
		batch := stale[:min(10, len(stale))]
		stale = stale[len(batch):]
		if _, err := client.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: batch}); err != nil {
			return res, operationalErr(fmt.Errorf("delete stale parameters under %s: %w", prefix, err))
		}
		res.Deleted += len(batch)
	}
	return res, nil
}

// keepExports brings the configuration's exports up to date after an apply.
func (w *workspace) keepExports(ctx context.Context, g *globals) error {
	if w.bootstrapping {
		return nil
	}
	for _, e := range w.file.Exports {
		insts, err := w.store.Instances(ctx, fleet.StackSetOwner(e.StackSet))
		if err != nil {
			return operationalErr(err)
		}
		outputs := map[string]map[string]map[string]string{}
		for _, in := range insts {
			if len(in.Outputs) == 0 {
				continue
			}
			if outputs[in.Target.Account] == nil {
				outputs[in.Target.Account] = map[string]map[string]string{}
			}
			outputs[in.Target.Account][in.Target.Region] = in.Outputs
		}
		dest := e.To
		if !strings.HasPrefix(dest, "ssm:") && !filepath.IsAbs(dest) {
			dest = filepath.Join(w.file.Dir, dest)
		}
		to := e.Account
		if e.Region != "" {
			to += "/" + e.Region
		}
		res, err := w.exportOutputs(ctx, e.StackSet, dest, to, true, outputs)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stderr, "export %s to %s: %d written, %d unchanged, %d deleted\n", e.StackSet, e.To, res.Written, res.Unchanged, res.Deleted)
	}
	return nil
}
