package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stackfleet/stackfleet/internal/cli"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/notify"
	"github.com/stackfleet/stackfleet/internal/sandbox"
	"github.com/stackfleet/stackfleet/internal/state"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"stackfleet": func() { os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

var update = flag.Bool("update", false, "rewrite the golden sections of testdata/script/*.txtar with the outputs they are compared with")

// TestScripts runs testdata/script/*.txtar: each script gets its own sandbox organization
// (12 accounts in 2 OUs, regions us-east-1 and eu-west-1), reachable through the standard AWS
// environment variables, and the commands below.
//
//	sandbox-fail TYPE|LOGICALID [ACCOUNT_INDEX|ACCOUNT_ID|-] [REGION]  fail a resource (in one member account)
//	sandbox-writes cloudformation N                         assert the CloudFormation write count since the last reset
//	sandbox-reset                                           reset the call counters
//	sandbox-throttled SERVICE                               some calls to SERVICE were throttled since the last reset
//	sandbox-accounts                                        write member account ids, one per line, to $WORK/accounts
//	sandbox-delay DURATION                                  set the simulated duration of each resource operation
//	sandbox-once SERVICE ACTION N                           the action ran exactly once in each of N account-regions
//	sandbox-alarm REGION NAME STATE                         set an alarm's state in every member account that has it
//	sandbox-stacks STACK STATUS|any|none [OUTPUT=VALUE] N    count member account-regions whose DescribeStacks says so (tag:KEY=VALUE for a tag)
//	sandbox-rule JSON                                       add a sandbox fault rule (see internal/sandbox/ADMIN.md)
//	sandbox-join NAME OU_PATH                               create a member account in an OU; its id is $NEW_ACCOUNT
//	state-count OWNER STATUS DETAIL N                       count recorded instances ("-" matches any)
//	state-outputs OWNER OUTPUT VALUE N                      count recorded instances with an output value
//	wait-current OWNER N                                    wait until N instances are CURRENT (mid-apply actions)
//	wait-phase PIPELINE STAGE WAVE PHASE                    wait until the running release is there
//	same-bake-end                                           a resumed bake kept the end time announced before
//	health-server [fail]                                    serve $HEALTH_URL (200), or from now on fail it (503)
//	sandbox-cfn ACCOUNT REGION delete|update STACK [K=V]    change a stack outside stackfleet (update: parameter K=V)
//	sandbox-drift ACCOUNT REGION STACK LOGICAL_ID K=V       change a resource's live property outside CloudFormation
//	sandbox-assume FROM TO ROLE EXTERNAL_ID|- allow|deny    FROM (mgmt, or a member through its access role) assumes ROLE in TO
//	sandbox-move ACCOUNT OU_PATH                            move an account to another OU
//	sandbox-close ACCOUNT                                   close an account (SUSPENDED)
//	sandbox-ssm NAME VALUE N                                N member account-regions have SSM parameter NAME = VALUE
//	sandbox-objects BUCKET SUFFIX N                         N buckets (BUCKET with {account}: each account's, {region}: each region's) hold a key ending in SUFFIX
//	cdk-assembly DIR                                        copy the CDK cloud assembly of testdata/cdkasm (cdk synth of internal/sandbox/testdata/cdkapp) to DIR
//	json-valid stdout|FILE DEF|stream                       the output is a DEF document (plan, status…) of schema/output.schema.json, or records
//	webhook-server SECRET                                   receive notifications at $WEBHOOK_URL, checking their HMAC with SECRET
//	webhook-count KIND N                                    N signed notifications of KIND arrived (bad signatures fail the script)
//	pad-template FILE BYTES                                 grow a YAML template to BYTES with a Metadata padding
//	expand FILE...                                          replace $MGMT_ACCOUNT, $ORG_ID… in files
//	normalize [-indent] stdout|stderr|FILE OUT              write the output to OUT with what changes run to run replaced
//
// OWNER is a stack set name or pipeline/PIPELINE/STACK.
//
// Goldens: a script compares a whole output by normalising it, then comparing it with a
// "-- NAME.golden --" section of its archive:
//
//	exec stackfleet plan
//	normalize stdout plan.out
//	cmp plan.out plan.golden
//
// normalize replaces only what differs from run to run (see [normalizer]); account ids,
// template hashes and versions are stable because the sandbox is seeded. After an intended
// change of output, rewrite the goldens and review the diff:
//
//	go test ./internal/cli -run TestScripts -update
//
// (UPDATE_SCRIPTS=1 does the same.) -update rewrites the archive section that a failing cmp
// compares with, so a new golden starts as an empty "-- NAME.golden --" section; other failing
// assertions still fail.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       *update || os.Getenv("UPDATE_SCRIPTS") != "",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			sb, err := sandbox.New(sandbox.Options{Accounts: 12, OUs: 2, Seed: 7, Regions: []string{"us-east-1", "eu-west-1"}})
			if err != nil {
				return err
			}
			url, err := sb.Start("127.0.0.1:0")
			if err != nil {
				sb.Close()
				return err
			}
			env.Defer(func() { sb.Close() })
			creds := sb.ManagementCredentials()
			env.Setenv("AWS_ENDPOINT_URL", url)
			env.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
			env.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
			env.Setenv("AWS_REGION", creds.Region)
			env.Setenv("AWS_CONFIG_FILE", os.DevNull)
			env.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
			env.Setenv("MGMT_ACCOUNT", creds.Account)
			env.Setenv("ORG_ID", sb.Org().ID)
			env.Values[sandboxKey{}] = sb
			env.Values[healthKey{}] = new(atomic.Bool)
			env.Values[webhookKey{}] = &webhooks{}
			env.Values[normalizerKey{}] = newNormalizer()
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sandbox-fail":     sandboxFail,
			"sandbox-writes":   sandboxWrites,
			"sandbox-accounts": sandboxAccounts,
			"state-count":      stateCount,
			"state-outputs":    stateOutputs,
			"sandbox-alarm":    sandboxAlarm,
			"wait-phase":       waitPhase,
			"health-server":    healthServer,
			"same-bake-end":    sameBakeEnd,
			"sandbox-join":     sandboxJoin,
			"sandbox-stacks":   sandboxStacks,
			"sandbox-cfn":      sandboxCFN,
			"sandbox-ssm":      sandboxSSM,
			"sandbox-drift":    sandboxDrift,
			"sandbox-assume":   sandboxAssume,
			"sandbox-move":     sandboxMove,
			"sandbox-close":    sandboxClose,
			"sandbox-reset":    func(ts *testscript.TestScript, _ bool, _ []string) { sb(ts).ResetCounters() },
			"sandbox-throttled": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: sandbox-throttled SERVICE")
				}
				c := sb(ts).Counters()
				if n := c.Throttled(args[0], ""); (n > 0) == neg {
					ts.Fatalf("%d of %d %s calls throttled", n, c.Calls(args[0], ""), args[0])
				}
			},
			"sandbox-rule":    sandboxRule,
			"expand":          expand,
			"wait-current":    waitCurrent,
			"sandbox-delay":   sandboxDelay,
			"sandbox-once":    sandboxOnce,
			"normalize":       normalize,
			"sandbox-objects": sandboxObjects,
			"pad-template":    padTemplate,
			"cdk-assembly":    cdkAssembly,
			"webhook-server":  webhookServer,
			"json-valid":      jsonValid,
			"webhook-count":   webhookCount,
		},
	})
}

type sandboxKey struct{}

func sb(ts *testscript.TestScript) *sandbox.Sandbox { return ts.Value(sandboxKey{}).(*sandbox.Sandbox) }

// owner reads a script's owner reference: "pipeline/P/STACK" for a pipeline stack, otherwise a
// stack set name.
func owner(ref string) fleet.Owner {
	if rest, ok := strings.CutPrefix(ref, "pipeline/"); ok {
		if p, stack, ok := strings.Cut(rest, "/"); ok {
			return fleet.PipelineOwner(p, stack)
		}
	}
	return fleet.StackSetOwner(ref)
}

func members(ts *testscript.TestScript) []string {
	var out []string
	org := sb(ts).Org()
	for _, a := range org.Accounts {
		if a.ID != org.ManagementAccount {
			out = append(out, a.ID)
		}
	}
	return out
}

func sandboxAccounts(ts *testscript.TestScript, _ bool, _ []string) {
	ts.Check(os.WriteFile(ts.MkAbs("accounts"), []byte(strings.Join(members(ts), "\n")+"\n"), 0o644))
}

func sandboxFail(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: sandbox-fail TYPE|LOGICALID [ACCOUNT_INDEX] [REGION]")
	}
	r := sandbox.Rule{Kind: sandbox.RuleResourceFailure, Reason: "injected failure"}
	if strings.Contains(args[0], "::") {
		r.ResourceType = args[0]
	} else {
		r.LogicalID = args[0]
	}
	if len(args) > 1 && args[1] != "-" {
		if len(args[1]) == 12 {
			r.Account = args[1]
		} else {
			i, err := strconv.Atoi(args[1])
			ts.Check(err)
			r.Account = members(ts)[i]
		}
	}
	if len(args) > 2 {
		r.Region = args[2]
	}
	_, err := sb(ts).AddRule(r)
	ts.Check(err)
}

func sandboxWrites(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sandbox-writes SERVICE N")
	}
	want, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	got := sb(ts).Counters().Writes(args[0])
	if (got == want) == neg {
		ts.Fatalf("%s writes = %d, want %s%d", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// stateCount asserts how many instances of a stack set have a status and detail ("-" = any).
func stateCount(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: state-count STACK_SET STATUS DETAIL N")
	}
	want, err := strconv.Atoi(args[3])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := state.Open(ctx, ts.MkAbs(".stackfleet"))
	ts.Check(err)
	defer st.Close()
	insts, err := st.Instances(ctx, owner(args[0]))
	ts.Check(err)
	got := 0
	for _, in := range insts {
		if (args[1] == "-" || string(in.Status) == args[1]) && (args[2] == "-" || string(in.Detail) == args[2]) {
			got++
		}
	}
	if (got == want) == neg {
		ts.Fatalf("%s instances with status %s detail %s: %d, want %s%d", args[0], args[1], args[2], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// waitCurrent waits (deadline 60 s, polling the state) until at least N instances of a stack set
// are CURRENT: a way to act in the middle of an apply without sleeping.
func waitCurrent(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: wait-current STACK_SET N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if n := countCurrent(ctx, ts, args[0]); n >= want {
			return
		}
		select {
		case <-ctx.Done():
			ts.Fatalf("fewer than %d instances of %s became CURRENT in 60s", want, args[0])
		case <-tick.C:
		}
	}
}

func countCurrent(ctx context.Context, ts *testscript.TestScript, stackSet string) int {
	if _, err := os.Stat(ts.MkAbs(".stackfleet/state.db")); err != nil {
		return 0
	}
	st, err := state.Open(ctx, ts.MkAbs(".stackfleet"))
	if err != nil {
		return 0
	}
	defer st.Close()
	insts, err := st.Instances(ctx, owner(stackSet))
	if err != nil {
		return 0
	}
	n := 0
	for _, in := range insts {
		if in.Status == "CURRENT" {
			n++
		}
	}
	return n
}

// sandboxDelay sets the simulated duration of each resource operation.
func sandboxDelay(ts *testscript.TestScript, _ bool, args []string) {
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	sb(ts).SetResourceDelay(d)
}

// sandboxOnce asserts that ACTION of SERVICE was called exactly once in every account-region
// where it was called at all, and in N account-regions.
func sandboxOnce(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: sandbox-once SERVICE ACTION N")
	}
	want, err := strconv.Atoi(args[2])
	ts.Check(err)
	got := 0
	for _, c := range sb(ts).Counters() {
		if c.Service == args[0] && c.Action == args[1] && c.Calls > 0 {
			got++
			if c.Calls != 1 {
				ts.Fatalf("%s %s called %d times in %s/%s, want once", args[0], args[1], c.Calls, c.Account, c.Region)
			}
		}
	}
	if got != want {
		ts.Fatalf("%s %s called in %d account-regions, want %d", args[0], args[1], got, want)
	}
}

// stateOutputs asserts how many instances under KEY have output NAME equal to VALUE.
func stateOutputs(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: state-outputs KEY OUTPUT VALUE N")
	}
	want, err := strconv.Atoi(args[3])
	ts.Check(err)
	ctx := context.Background()
	st, err := state.Open(ctx, ts.MkAbs(".stackfleet"))
	ts.Check(err)
	defer st.Close()
	insts, err := st.Instances(ctx, owner(args[0]))
	ts.Check(err)
	got := 0
	for _, in := range insts {
		if in.Outputs[args[1]] == args[2] {
			got++
		}
	}
	if (got == want) == neg {
		ts.Fatalf("%d instances of %s have %s=%s, want %d", got, args[0], args[1], args[2], want)
	}
}

// sandboxAlarm sets the state of alarm NAME in every member account of REGION that has it.
func sandboxAlarm(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: sandbox-alarm REGION NAME STATE")
	}
	set := 0
	for _, a := range members(ts) {
		if sb(ts).SetAlarmState(a, args[0], args[1], args[2], "set by the test") == nil {
			set++
		}
	}
	if set == 0 {
		ts.Fatalf("no account has alarm %s in %s", args[1], args[0])
	}
}

// waitPhase waits (60 s deadline) until the pipeline's unfinished release is at STAGE (index)
// WAVE (index) in PHASE.
func waitPhase(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: wait-phase PIPELINE STAGE WAVE PHASE")
	}
	stage, err := strconv.Atoi(args[1])
	ts.Check(err)
	wave, err := strconv.Atoi(args[2])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if st, err := state.Open(ctx, ts.MkAbs(".stackfleet")); err == nil {
			active, _ := st.ActiveReleases(ctx, args[0])
			st.Close()
			if len(active) > 0 {
				p := active[0].Position
				if p.Stage == stage && p.Wave == wave && string(p.Phase) == args[3] {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			ts.Fatalf("release of %s never reached stage %d wave %d %s", args[0], stage, wave, args[3])
		case <-tick.C:
		}
	}
}

// healthServer serves /ok (200 "healthy") until 'health-server fail', then 503; its URL is
// $HEALTH_URL.
func healthServer(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) == 1 && args[0] == "fail" {
		ts.Value(healthKey{}).(*atomic.Bool).Store(true)
		return
	}
	failing := ts.Value(healthKey{}).(*atomic.Bool)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "healthy")
	}))
	ts.Defer(srv.Close)
	ts.Setenv("HEALTH_URL", srv.URL)
}

type healthKey struct{}

// sameBakeEnd asserts that a bake was announced twice (before a kill and after the resume) with
// the same end time: the resumed release waited only for what was left.
func sameBakeEnd(ts *testscript.TestScript, _ bool, _ []string) {
	ctx := context.Background()
	st, err := state.Open(ctx, ts.MkAbs(".stackfleet"))
	ts.Check(err)
	defer st.Close()
	evs, _, err := st.Events(ctx, "", 0, 100000)
	ts.Check(err)
	ends := map[string][]string{}
	for _, ev := range evs {
		if e, ok := ev.(fleet.ReleaseEvent); ok && e.Kind == fleet.EventWave && e.Status == "BAKING" {
			wave, rest, _ := strings.Cut(e.Reason, ": until ")
			end, _, _ := strings.Cut(rest, " (")
			ends[wave] = append(ends[wave], end)
		}
	}
	for wave, list := range ends {
		if len(list) >= 2 {
			for _, e := range list[1:] {
				if e != list[0] {
					ts.Fatalf("%s: bake end moved from %s to %s on resume", wave, list[0], e)
				}
			}
			ts.Logf("%s: bake announced %d times, always ending %s", wave, len(list), list[0])
			return
		}
	}
	ts.Fatalf("no bake was announced twice: %v", ends)
}

// sandboxJoin creates a member account through the Organizations API (as an administrator
// would) and moves it into the OU with the given path.
func sandboxJoin(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sandbox-join NAME OU_PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mgmtOrganizations(ts)
	out, err := client.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(args[0]), Email: aws.String(args[0] + "@example.com")})
	ts.Check(err)
	var account string
	for account == "" {
		st, err := client.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: out.CreateAccountStatus.Id})
		ts.Check(err)
		switch st.CreateAccountStatus.State {
		case "SUCCEEDED":
			account = aws.ToString(st.CreateAccountStatus.AccountId)
		case "FAILED":
			ts.Fatalf("create account: %s", st.CreateAccountStatus.FailureReason)
		default:
			select {
			case <-ctx.Done():
				ts.Fatalf("account %s not created in 30s", args[0])
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	org := sb(ts).Org()
	for _, ou := range org.OUs {
		if ou.Path == args[1] {
			_, err := client.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(account),
				SourceParentId: aws.String(org.RootID), DestinationParentId: aws.String(ou.ID)})
			ts.Check(err)
			ts.Setenv("NEW_ACCOUNT", account)
			return
		}
	}
	ts.Fatalf("no OU %s", args[1])
}

// mgmtOrganizations is an Organizations client of the sandbox's management account.
func mgmtOrganizations(ts *testscript.TestScript) *organizations.Client {
	creds := sb(ts).ManagementCredentials()
	return organizations.New(organizations.Options{Region: creds.Region, BaseEndpoint: aws.String(sb(ts).URL()),
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")})
}

// sandboxMove moves an account to another OU (OU_PATH as the sandbox names it, e.g. Workloads-2/Prod).
func sandboxMove(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sandbox-move ACCOUNT OU_PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mgmtOrganizations(ts)
	org := sb(ts).Org()
	a, ok := org.Account(args[0])
	if !ok {
		ts.Fatalf("no account %s", args[0])
	}
	from := a.OUID
	if from == "" {
		from = org.RootID
	}
	for _, ou := range org.OUs {
		if ou.Path == args[1] {
			_, err := client.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(a.ID),
				SourceParentId: aws.String(from), DestinationParentId: aws.String(ou.ID)})
			ts.Check(err)
			return
		}
	}
	ts.Fatalf("no OU %s", args[1])
}

// sandboxClose closes an account through Organizations: it is SUSPENDED from then on.
func sandboxClose(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: sandbox-close ACCOUNT")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mgmtOrganizations(ts)
	_, err := client.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(args[0])})
	ts.Check(err)
}

// sandboxStacks asks CloudFormation, as a client would — AssumeRole into each member account,
// then DescribeStacks in each region — and counts the account-regions where the stack has the
// status ("none": it does not exist) and, if given, the output value.
func sandboxStacks(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 && len(args) != 4 {
		ts.Fatalf("usage: sandbox-stacks STACK STATUS|any|none [OUTPUT=VALUE] N")
	}
	want, err := strconv.Atoi(args[len(args)-1])
	ts.Check(err)
	var outKey, outVal string
	if len(args) == 4 {
		var ok bool
		if outKey, outVal, ok = strings.Cut(args[2], "="); !ok {
			ts.Fatalf("sandbox-stacks: %q is not OUTPUT=VALUE", args[2])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := sb(ts)
	mgmt := s.ManagementCredentials()
	stsClient := sts.New(sts.Options{Region: mgmt.Region, BaseEndpoint: aws.String(s.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(mgmt.AccessKeyID, mgmt.SecretAccessKey, "")})
	org := s.Org()
	got := 0
	for _, a := range org.Accounts {
		if a.Management {
			continue
		}
		role, err := stsClient.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn: aws.String("arn:aws:iam::" + a.ID + ":role/OrganizationAccountAccessRole"), RoleSessionName: aws.String("script")})
		ts.Check(err)
		c := role.Credentials
		for _, region := range org.Regions {
			cfn := cloudformation.New(cloudformation.Options{Region: region, BaseEndpoint: aws.String(s.URL()),
				Credentials: credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))})
			out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(args[0])})
			status := "none"
			var outputs map[string]string
			switch {
			case err != nil && strings.Contains(err.Error(), "does not exist"):
			case err != nil:
				ts.Fatalf("DescribeStacks %s in %s/%s: %v", args[0], a.ID, region, err)
			default:
				status = string(out.Stacks[0].StackStatus)
				outputs = map[string]string{}
				for _, o := range out.Stacks[0].Outputs {
					outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
				}
				for _, tag := range out.Stacks[0].Tags {
					outputs["tag:"+aws.ToString(tag.Key)] = aws.ToString(tag.Value)
				}
			}
			if (status == args[1] || args[1] == "any" && status != "none") && (outKey == "" || outputs[outKey] == outVal) {
				got++
			}
		}
	}
	if (got == want) == neg {
		ts.Fatalf("%d account-regions have stack %s %s %s, want %d", got, args[0], args[1], strings.Join(args[2:len(args)-1], " "), want)
	}
}

// memberCreds are credentials acting in a member account through its access role.
func memberCreds(ctx context.Context, ts *testscript.TestScript, account string) aws.CredentialsProvider {
	s := sb(ts)
	mgmt := s.ManagementCredentials()
	stsClient := sts.New(sts.Options{Region: mgmt.Region, BaseEndpoint: aws.String(s.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(mgmt.AccessKeyID, mgmt.SecretAccessKey, "")})
	role, err := stsClient.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/OrganizationAccountAccessRole"), RoleSessionName: aws.String("script")})
	ts.Check(err)
	c := role.Credentials
	return credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
}

// memberCFN is a CloudFormation client acting in a member account through its access role.
func memberCFN(ctx context.Context, ts *testscript.TestScript, account, region string) *cloudformation.Client {
	return cloudformation.New(cloudformation.Options{Region: region, BaseEndpoint: aws.String(sb(ts).URL()),
		Credentials: memberCreds(ctx, ts, account)})
}

// sandboxAssume asserts whether a principal may assume a role: the management account's user
// (FROM mgmt), or a member account's access-role session.
func sandboxAssume(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 5 || args[4] != "allow" && args[4] != "deny" {
		ts.Fatalf("usage: sandbox-assume FROM TO ROLE EXTERNAL_ID|- allow|deny")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := sb(ts)
	mgmt := s.ManagementCredentials()
	creds := aws.CredentialsProvider(credentials.NewStaticCredentialsProvider(mgmt.AccessKeyID, mgmt.SecretAccessKey, ""))
	if args[0] != "mgmt" {
		creds = memberCreds(ctx, ts, args[0])
	}
	in := &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + args[1] + ":role/" + args[2]), RoleSessionName: aws.String("script")}
	if args[3] != "-" {
		in.ExternalId = aws.String(args[3])
	}
	_, err := sts.New(sts.Options{Region: mgmt.Region, BaseEndpoint: aws.String(s.URL()), Credentials: creds}).AssumeRole(ctx, in)
	switch {
	case args[4] == "allow" && err != nil:
		ts.Fatalf("%s could not assume %s in %s: %v", args[0], args[2], args[1], err)
	case args[4] == "deny" && err == nil:
		ts.Fatalf("%s assumed %s in %s; want AccessDenied", args[0], args[2], args[1])
	case args[4] == "deny" && !strings.Contains(err.Error(), "AccessDenied"):
		ts.Fatalf("%s assuming %s in %s: %v; want AccessDenied", args[0], args[2], args[1], err)
	}
}

// sandboxDrift changes a resource's live property, as a change outside CloudFormation would.
func sandboxDrift(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 5 {
		ts.Fatalf("usage: sandbox-drift ACCOUNT REGION STACK LOGICAL_ID K=V")
	}
	k, v, _ := strings.Cut(args[4], "=")
	ts.Check(sb(ts).Drift(args[0], args[1], args[2], args[3], map[string]any{k: v}))
}

// sandboxSSM asserts in how many member account-regions the SSM parameter NAME has VALUE: what a
// stack really received, where stackfleet's own records hold only sealed secrets.
func sandboxSSM(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: sandbox-ssm NAME VALUE N")
	}
	want, err := strconv.Atoi(args[2])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	org := sb(ts).Org()
	got := 0
	for _, a := range org.Members() {
		creds := memberCreds(ctx, ts, a.ID)
		for _, region := range org.Regions {
			c := ssm.New(ssm.Options{Region: region, BaseEndpoint: aws.String(sb(ts).URL()), Credentials: creds})
			out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(args[0])})
			if err == nil && aws.ToString(out.Parameter.Value) == args[1] {
				got++
			}
		}
	}
	if (got == want) == neg {
		ts.Fatalf("%d account-regions have SSM parameter %s = %q, want %d", got, args[0], args[1], want)
	}
}

// sandboxCFN changes a stack outside stackfleet, as an engineer with the console would: it
// deletes it, or updates one parameter keeping the template, and waits until it is done.
func sandboxCFN(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) < 4 || args[2] != "delete" && args[2] != "update" {
		ts.Fatalf("usage: sandbox-cfn ACCOUNT REGION delete|update STACK [K=V]")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := memberCFN(ctx, ts, args[0], args[1])
	stack := aws.String(args[3])
	if args[2] == "delete" {
		_, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: stack})
		ts.Check(err)
		ts.Check(cloudformation.NewStackDeleteCompleteWaiter(c, func(o *cloudformation.StackDeleteCompleteWaiterOptions) {
			o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
		}).Wait(ctx, &cloudformation.DescribeStacksInput{StackName: stack}, 20*time.Second))
		return
	}
	if len(args) != 5 {
		ts.Fatalf("usage: sandbox-cfn ACCOUNT REGION update STACK K=V")
	}
	k, v, _ := strings.Cut(args[4], "=")
	_, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: stack, UsePreviousTemplate: aws.Bool(true),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String(k), ParameterValue: aws.String(v)}}})
	ts.Check(err)
	ts.Check(cloudformation.NewStackUpdateCompleteWaiter(c, func(o *cloudformation.StackUpdateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	}).Wait(ctx, &cloudformation.DescribeStacksInput{StackName: stack}, 20*time.Second))
}

// expand replaces $VARS in a file with the script's environment (e.g. $MGMT_ACCOUNT, $ORG_ID).
func expand(ts *testscript.TestScript, _ bool, args []string) {
	for _, f := range args {
		b, err := os.ReadFile(ts.MkAbs(f))
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(f), []byte(os.Expand(string(b), ts.Getenv)), 0o644))
	}
}

// normalize writes stdout, stderr or a file to OUT, normalised for a golden comparison. With
// -indent, each line that is a JSON document is indented (json.Indent keeps keys, their order
// and values) so that a diff shows the field that changed rather than one long line.
func normalize(ts *testscript.TestScript, neg bool, args []string) {
	indent := len(args) > 0 && args[0] == "-indent"
	if indent {
		args = args[1:]
	}
	if neg || len(args) != 2 {
		ts.Fatalf("usage: normalize [-indent] stdout|stderr|FILE OUT")
	}
	text := ts.Value(normalizerKey{}).(*normalizer).normalize(ts.ReadFile(args[0]), ts.Getenv)
	if indent {
		text = indentJSON(text)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(text), 0o644))
}

// indentJSON indents every line of text that is a JSON document and keeps the others.
func indentJSON(text string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(text, "\n") {
		var buf bytes.Buffer
		if trimmed := strings.TrimSpace(l); trimmed != "" && json.Indent(&buf, []byte(trimmed), "", "  ") == nil {
			buf.WriteString("\n")
			l = buf.String()
		}
		b.WriteString(l)
	}
	return b.String()
}

type normalizerKey struct{}

// normalizer replaces what changes from run to run in an output, and nothing else:
//
//   - lines the AWS SDK logs (source=aws-sdk) are dropped: connection-reuse warnings that come
//     and go with timing;
//   - the values of $WORK, $AWS_ENDPOINT_URL and $HEALTH_URL (temporary directory, ports)
//     become the variable names;
//   - operation ids (20261202T101010Z-abcd1234) become <op-1>, <op-2>…, release ids
//     (rel-20261202T101010-abcdef) <rel-1>, <rel-2>…, numbered by first appearance in any
//     output the script normalises, so an id reads the same in every golden of a script;
//   - the random UUID that ends a stack ARN becomes <uuid> (account, region and stack name stay);
//   - timestamps (RFC 3339, "2006-01-02 15:04:05Z", "2006-01-02 15:04") become <time>;
//   - the elapsed time of an apply ("24 instance operations in 2.9s") becomes <elapsed>.
//
// Counts, statuses, actions, parameter values, outputs, account ids and the order of lines are
// kept: they are what the goldens are about.
type normalizer struct {
	ids   map[string]string // id → placeholder
	count map[string]int    // placeholder kind → ids seen
}

func newNormalizer() *normalizer {
	return &normalizer{ids: map[string]string{}, count: map[string]int{}}
}

var (
	operationID = regexp.MustCompile(`\b\d{8}T\d{6}Z-[0-9a-f]{8}\b`)
	releaseID   = regexp.MustCompile(`\brel-\d{8}T\d{6}-[0-9a-f]{6}\b`)
	stackUUID   = regexp.MustCompile(`(arn:aws:cloudformation:[a-z0-9-]+:\d{12}:stack/[^/\s"]+/)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timestamp   = regexp.MustCompile(`\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})| \d{2}:\d{2}(:\d{2}Z?)?)`)
	elapsed     = regexp.MustCompile(`(\d+ instance operations in )(\d+(\.\d+)?(ms|µs|ns|h|m|s))+`)
)

// normalize applies the rules to text; getenv reads the script's environment.
func (n *normalizer) normalize(text string, getenv func(string) string) string {
	lines := strings.SplitAfter(text, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !strings.Contains(l, "source=aws-sdk") {
			kept = append(kept, l)
		}
	}
	text = strings.Join(kept, "")
	for _, name := range []string{"WORK", "AWS_ENDPOINT_URL", "HEALTH_URL"} {
		if v := getenv(name); v != "" {
			text = strings.ReplaceAll(text, v, "$"+name)
		}
	}
	text = operationID.ReplaceAllStringFunc(text, func(id string) string { return n.placeholder("op", id) })
	text = releaseID.ReplaceAllStringFunc(text, func(id string) string { return n.placeholder("rel", id) })
	text = stackUUID.ReplaceAllString(text, "${1}<uuid>")
	text = timestamp.ReplaceAllString(text, "<time>")
	return elapsed.ReplaceAllString(text, "${1}<elapsed>")
}

// placeholder names an id by its kind and the order in which the script first showed it.
func (n *normalizer) placeholder(kind, id string) string {
	p, ok := n.ids[id]
	if !ok {
		n.count[kind]++
		p = fmt.Sprintf("<%s-%d>", kind, n.count[kind])
		n.ids[id] = p
	}
	return p
}

// TestNormalizer checks that normalisation replaces what changes from run to run and keeps what
// the goldens are about.
func TestNormalizer(t *testing.T) {
	env := map[string]string{"WORK": "/tmp/ts-1/work", "HEALTH_URL": "http://127.0.0.1:4242"}
	tests := []struct{ name, in, want string }{
		{"ids numbered by first appearance",
			"operation 20261202T101010Z-abcd1234 then 20261202T101011Z-00ff00ff, again 20261202T101010Z-abcd1234\n",
			"operation <op-1> then <op-2>, again <op-1>\n"},
		{"release ids",
			"Release rel-20261202T101010-abcdef of web\n",
			"Release <rel-1> of web\n"},
		{"stack ARN keeps account, region and name",
			`"stackId":"arn:aws:cloudformation:us-east-1:223245964875:stack/base/caf17e68-3669-4606-9059-a6bf24bf122e"` + "\n",
			`"stackId":"arn:aws:cloudformation:us-east-1:223245964875:stack/base/<uuid>"` + "\n"},
		{"timestamps",
			`"time":"2026-12-02T22:58:40.405586086Z" started 2026-12-02 22:58:40Z since 2026-12-02 22:59:47 created 2026-12-02 22:59` + "\n",
			`"time":"<time>" started <time> since <time> created <time>` + "\n"},
		{"elapsed time of an apply",
			"24 instance operations in 2.939s\n12 instance operations in 899ms\n",
			"24 instance operations in <elapsed>\n12 instance operations in <elapsed>\n"},
		{"variables",
			"read /tmp/ts-1/work/stackfleet.yaml; GET http://127.0.0.1:4242/v2: 503\n",
			"read $WORK/stackfleet.yaml; GET $HEALTH_URL/v2: 503\n"},
		{"AWS SDK log lines dropped",
			"time=2026-12-02T22:58:43.154Z level=WARN msg=\"failed to discard remaining HTTP response body\" source=aws-sdk\nerror: stale\n",
			"error: stale\n"},
		{"counts, durations of checks and accounts kept",
			"  eu-west-1   2/12   done    0 failed    1 running\nbake 2s, 228834753242/us-east-1\n",
			"  eu-west-1   2/12   done    0 failed    1 running\nbake 2s, 228834753242/us-east-1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newNormalizer().normalize(tt.in, func(k string) string { return env[k] })
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("normalize(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// sandboxRule adds a fault rule given as its JSON form.
func sandboxRule(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: sandbox-rule JSON")
	}
	var r sandbox.Rule
	ts.Check(json.Unmarshal([]byte(args[0]), &r))
	_, err := sb(ts).AddRule(r)
	ts.Check(err)
}

// sandboxObjects asserts how many of the buckets a pattern names ({account}: every account of
// the organization, {region}: every region) exist and hold an object whose key ends in SUFFIX.
func sandboxObjects(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: sandbox-objects BUCKET SUFFIX N")
	}
	want, err := strconv.Atoi(args[2])
	ts.Check(err)
	org := sb(ts).Org()
	names := map[string]bool{}
	for _, a := range org.Accounts {
		for _, region := range org.Regions {
			names[strings.NewReplacer("{account}", a.ID, "{region}", region).Replace(args[0])] = true
		}
	}
	got := 0
	for name := range names {
		keys, _ := sb(ts).Objects(name)
		if slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, args[1]) }) {
			got++
		}
	}
	if (got == want) == neg {
		ts.Fatalf("%d buckets %s hold a key ending in %q, want %d", got, args[0], args[1], want)
	}
}

// padTemplate appends a Metadata section to a YAML template so that it is BYTES long.
func padTemplate(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: pad-template FILE BYTES")
	}
	size, err := strconv.Atoi(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	head := string(data) + "Metadata:\n  Padding: '"
	if n := size - len(head) - 2; n > 0 {
		head += strings.Repeat("x", n)
	}
	ts.Check(os.WriteFile(path, []byte(head+"'\n"), 0o644))
}

// cdkAssembly copies testdata/cdkasm, the cloud assembly 'cdk synth' makes of
// internal/sandbox/testdata/cdkapp (TestCDKCLI checks they agree), into the script's DIR.
func cdkAssembly(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: cdk-assembly DIR")
	}
	dst := ts.MkAbs(args[0])
	src, err := filepath.Abs("testdata/cdkasm") // the test runs in the package directory
	ts.Check(err)
	ts.Check(os.CopyFS(dst, os.DirFS(src)))
}

type webhookKey struct{}

// webhooks are the notifications a script's receiver got.
type webhooks struct {
	mu    sync.Mutex
	kinds map[string]int
	bad   int
}

func webhookServer(ts *testscript.TestScript, _ bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: webhook-server SECRET")
	}
	secret := []byte(args[0])
	got := ts.Value(webhookKey{}).(*webhooks)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct{ Notification string }
		got.mu.Lock()
		defer got.mu.Unlock()
		if r.Header.Get("X-Stackfleet-Signature") != notify.Sign(secret, r.Header.Get("X-Stackfleet-Timestamp"), body) || json.Unmarshal(body, &p) != nil {
			got.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if got.kinds == nil {
			got.kinds = map[string]int{}
		}
		got.kinds[p.Notification]++
	}))
	ts.Defer(srv.Close)
	ts.Setenv("WEBHOOK_URL", srv.URL)
}

func webhookCount(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: webhook-count KIND N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	got := ts.Value(webhookKey{}).(*webhooks)
	got.mu.Lock()
	defer got.mu.Unlock()
	if got.bad > 0 {
		ts.Fatalf("%d notifications had a bad signature", got.bad)
	}
	if (got.kinds[args[0]] == want) == neg {
		ts.Fatalf("%d %s notifications, want %d (all: %v)", got.kinds[args[0]], args[0], want, got.kinds)
	}
}
