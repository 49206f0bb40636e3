package sandbox

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

func TestThrottleRate(t *testing.T) {
	f := newFaults(1)
	if _, err := f.add(Rule{Kind: RuleThrottle, Service: "cloudformation", RatePerSecond: 5}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	count := func(account, region string, n int) (throttled int) {
		for range n {
			if c := f.onCall(awsproto.Query, "cloudformation", "DescribeStacks", account, region, now); c.err != nil {
				if c.err.Code != "Throttling" || !c.throttled {
					t.Fatalf("error %+v, want Throttling", c.err)
				}
				throttled++
			}
		}
		return throttled
	}
	got := []int{count("111111111111", "us-east-1", 10), count("111111111111", "eu-west-1", 10), count("222222222222", "us-east-1", 3)}
	now = now.Add(time.Second)
	got = append(got, count("111111111111", "us-east-1", 10))
	if diff := cmp.Diff([]int{5, 5, 0, 5}, got); diff != "" {
		t.Errorf("throttled per batch (-want +got):\n%s", diff)
	}
	// Other services are not affected.
	if c := f.onCall(awsproto.JSON11, "ssm", "GetParameter", "111111111111", "us-east-1", now); c.err != nil {
		t.Errorf("ssm call throttled: %v", c.err)
	}
}

// A throttle rule with a probability throttles that share of the calls over its rate.
func TestThrottleProbability(t *testing.T) {
	f := newFaults(1)
	if _, err := f.add(Rule{Kind: RuleThrottle, Service: "sts", Probability: 0.25}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	throttled := 0
	for range 2000 {
		if c := f.onCall(awsproto.Query, "sts", "AssumeRole", "111111111111", "us-east-1", now); c.throttled {
			throttled++
		}
	}
	if throttled < 420 || throttled > 580 { // 500 expected; the seeded RNG makes it exact run to run
		t.Errorf("throttled %d of 2000 calls with probability 0.25", throttled)
	}
}

func TestRuleCountAndProbability(t *testing.T) {
	run := func(seed int64) (fired int, pattern string) {
		f := newFaults(seed)
		if _, err := f.add(Rule{Kind: RuleResourceFailure, ResourceType: "AWS::SSM::Parameter", Probability: 0.5}); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for range 1000 {
			_, fail := f.onResource("111111111111", "us-east-1", "s", "P", "AWS::SSM::Parameter")
			if fail {
				fired++
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return fired, b.String()
	}
	n1, p1 := run(7)
	n2, p2 := run(7)
	_, p3 := run(8)
	if n1 < 400 || n1 > 600 {
		t.Errorf("probability 0.5 fired %d of 1000", n1)
	}
	if n1 != n2 || p1 != p2 {
		t.Errorf("same seed, different outcomes")
	}
	if p1 == p3 {
		t.Errorf("different seeds, same outcomes")
	}

	f := newFaults(1)
	r, err := f.add(Rule{Kind: RuleResourceFailure, LogicalID: "Bucket", StackName: "app", Count: 2, Reason: "boom"})
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, stack := range []string{"other", "app", "app", "app"} {
		reason, fail := f.onResource("111111111111", "us-east-1", stack, "Bucket", "AWS::S3::Bucket")
		if fail && reason != "boom" {
			t.Errorf("reason %q", reason)
		}
		got = append(got, fail)
	}
	if diff := cmp.Diff([]bool{false, true, true, false}, got); diff != "" {
		t.Errorf("firings (-want +got):\n%s", diff)
	}
	if rules := f.list(); len(rules) != 1 || rules[0].ID != r.ID || rules[0].Fired != 2 {
		t.Errorf("rules after firing: %+v", rules)
	}
}

func TestRuleValidation(t *testing.T) {
	bad := []Rule{
		{},
		{Kind: "explode"},
		{Kind: RuleResourceFailure},
		{Kind: RuleThrottle, RatePerSecond: -1},
		{Kind: RuleServerError, Status: 404},
		{Kind: RuleDelay},
		{Kind: RuleDelay, Delay: time.Hour},
		{Kind: RuleServerError, Probability: 1.5},
		{Kind: RuleServerError, Count: -1},
		{Kind: RuleServerError, Account: "12"},
		{Kind: RuleServerError, Region: "nowhere"},
	}
	f := newFaults(1)
	for _, r := range bad {
		if _, err := f.add(r); err == nil {
			t.Errorf("add(%+v) succeeded", r)
		}
	}
	r, err := f.add(Rule{Kind: RuleServerError, Status: 503})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != "ServiceUnavailable" || r.ID != "rule-1" {
		t.Errorf("defaults: %+v", r)
	}
}

func TestRuleJSON(t *testing.T) {
	var r Rule
	if err := json.Unmarshal([]byte(`{"kind":"delay","service":"sts","delay":"1.5s","probability":0.25}`), &r); err != nil {
		t.Fatal(err)
	}
	want := Rule{Kind: RuleDelay, Service: "sts", Delay: 1500 * time.Millisecond, Probability: 0.25}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Rule
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("round trip of %s: %v", b, err)
	}
	if diff := cmp.Diff(r, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(`{"kind":"delay","delay":250}`), &r); err != nil || r.Delay != 250*time.Millisecond {
		t.Errorf("milliseconds: %v, %v", r.Delay, err)
	}
	for _, s := range []string{`{"kind":"delay","servce":"sts"}`, `{"kind":"delay","delay":"soon"}`} {
		if err := json.Unmarshal([]byte(s), &r); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", s)
		}
	}
}
