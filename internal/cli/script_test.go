package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stackfleet/stackfleet/internal/cli"
	"github.com/stackfleet/stackfleet/internal/sandbox"
	"github.com/stackfleet/stackfleet/internal/state"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"stackfleet": func() { os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar: each script gets its own sandbox organization
// (12 accounts in 2 OUs, regions us-east-1 and eu-west-1), reachable through the standard AWS
// environment variables, and the commands below.
//
//	sandbox-fail TYPE|LOGICALID [ACCOUNT_INDEX|ACCOUNT_ID|-] [REGION]  fail a resource (in one member account)
//	sandbox-writes cloudformation N                         assert the CloudFormation write count since the last reset
//	sandbox-reset                                           reset the call counters
//	sandbox-accounts                                        write member account ids, one per line, to $WORK/accounts
//	sandbox-delay DURATION                                  set the simulated duration of each resource operation
//	sandbox-once SERVICE ACTION N                           the action ran exactly once in each of N account-regions
//	state-count STACK_SET STATUS DETAIL N                    count recorded instances ("-" matches any)
//	wait-current STACK_SET N                                wait until N instances are CURRENT (mid-apply actions)
//	expand FILE...                                          replace $MGMT_ACCOUNT, $ORG_ID… in files
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") != "",
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
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sandbox-fail":     sandboxFail,
			"sandbox-writes":   sandboxWrites,
			"sandbox-reset":    func(ts *testscript.TestScript, _ bool, _ []string) { sb(ts).ResetCounters() },
			"sandbox-accounts": sandboxAccounts,
			"state-count":      stateCount,
			"state-outputs":    stateOutputs,
			"sandbox-alarm":    sandboxAlarm,
			"wait-phase":       waitPhase,
			"health-server":    healthServer,
			"same-bake-end":    sameBakeEnd,
			"sandbox-join":     sandboxJoin,
			"expand":           expand,
			"wait-current":     waitCurrent,
			"sandbox-delay":    sandboxDelay,
			"sandbox-once":     sandboxOnce,
		},
	})
}

type sandboxKey struct{}

func sb(ts *testscript.TestScript) *sandbox.Sandbox { return ts.Value(sandboxKey{}).(*sandbox.Sandbox) }

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
	insts, err := st.Instances(ctx, args[0])
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
	insts, err := st.Instances(ctx, stackSet)
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
	insts, err := st.Instances(ctx, args[0])
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
	for _, e := range evs {
		if e.Kind == "wave" && e.Status == "BAKING" {
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
	creds := sb(ts).ManagementCredentials()
	client := organizations.New(organizations.Options{
		Region:       creds.Region,
		BaseEndpoint: aws.String(sb(ts).URL()),
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
	})
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

// expand replaces $VARS in a file with the script's environment (e.g. $MGMT_ACCOUNT, $ORG_ID).
func expand(ts *testscript.TestScript, _ bool, args []string) {
	for _, f := range args {
		b, err := os.ReadFile(ts.MkAbs(f))
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(f), []byte(os.Expand(string(b), ts.Getenv)), 0o644))
	}
}
