package cfn_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
)

const (
	acct   = "111111111111"
	acct2  = "222222222222"
	region = "us-east-1"
)

// fakeEffects records effects in memory. Each func field, when set, overrides the default
// behaviour of its method.
type fakeEffects struct {
	mu     sync.Mutex
	roles  map[string]string        // account/name → trust policy
	params map[string]cfn.Parameter // account/region/name
	alarms map[string]cfn.Alarm     // account/region/name
	names  map[string]string        // bucket → account
	// Custom answers custom resource requests (nil: success, no data).
	Custom func(logicalID, request string) cfn.CustomResponse
	// objects are what ReadObject reads: URL → content.
	objects map[string][]byte
	calls   []string

	Fault func(account, region, stackName, logicalID, resourceType string) (string, bool)
}

var _ cfn.Effects = (*fakeEffects)(nil)

func newFakeEffects() *fakeEffects {
	return &fakeEffects{roles: map[string]string{}, params: map[string]cfn.Parameter{}, alarms: map[string]cfn.Alarm{}, names: map[string]string{}, objects: map[string][]byte{}}
}

func (f *fakeEffects) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeEffects) PutRole(account, name, path, trust string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := account + "/" + name
	if _, ok := f.roles[k]; ok {
		return "", "", errors.New("EntityAlreadyExists")
	}
	f.roles[k] = trust
	f.record("PutRole %s", k)
	return "arn:aws:iam::" + account + ":role" + path + name, "AROA" + strings.ToUpper(name), nil
}

func (f *fakeEffects) DeleteRole(account, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.roles, account+"/"+name)
	f.record("DeleteRole %s/%s", account, name)
}

func (f *fakeEffects) PutParameter(account, region string, p cfn.Parameter, overwrite bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := account + "/" + region + "/" + p.Name
	if _, ok := f.params[k]; ok && !overwrite {
		return errors.New("ParameterAlreadyExists")
	}
	f.params[k] = p
	f.record("PutParameter %s=%s", k, p.Value)
	return nil
}

func (f *fakeEffects) DeleteParameter(account, region, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.params, account+"/"+region+"/"+name)
	f.record("DeleteParameter %s/%s/%s", account, region, name)
}

func (f *fakeEffects) GetParameter(account, region, name string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.params[account+"/"+region+"/"+name]
	return p.Value, ok
}

func (f *fakeEffects) PutAlarm(account, region string, a cfn.Alarm) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alarms[account+"/"+region+"/"+a.Name] = a
	f.record("PutAlarm %s", a.Name)
	return nil
}

func (f *fakeEffects) DeleteAlarm(account, region, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.alarms, account+"/"+region+"/"+name)
	f.record("DeleteAlarm %s", name)
}

func (f *fakeEffects) CreateBucket(account, region string, b cfn.Bucket) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.names[b.Name]; ok {
		return errors.New(b.Name + " already exists")
	}
	f.names[b.Name] = account
	f.record("CreateBucket %s", b.Name)
	return nil
}

func (f *fakeEffects) UpdateBucket(account string, b cfn.Bucket) error { return nil }

func (f *fakeEffects) DeleteBucket(account, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.names[name] == account {
		delete(f.names, name)
	}
	return nil
}

func (f *fakeEffects) PutBucketPolicy(account, bucket, policy string) error { return nil }

func (f *fakeEffects) ReadObject(account, url string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !strings.HasPrefix(url, "https://") {
		return nil, cfn.ErrObjectURL
	}
	data, ok := f.objects[url]
	if !ok {
		return nil, cfn.ErrObjectNotFound
	}
	return data, nil
}

func (f *fakeEffects) CustomResource(_, _, _, logicalID, _, _, request string) cfn.CustomResponse {
	if f.Custom != nil {
		return f.Custom(logicalID, request)
	}
	return cfn.CustomResponse{}
}

func (f *fakeEffects) ResourceFault(account, region, stackName, logicalID, resourceType string) (string, bool) {
	if f.Fault != nil {
		return f.Fault(account, region, stackName, logicalID, resourceType)
	}
	return "", false
}

func (f *fakeEffects) roleNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.roles))
}

func (f *fakeEffects) param(account, region, name string) (cfn.Parameter, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.params[account+"/"+region+"/"+name]
	return p, ok
}

func (f *fakeEffects) bucketNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.names {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// faultOn returns a Fault func failing the given logical id with reason.
func faultOn(logical, reason string) func(string, string, string, string, string) (string, bool) {
	return func(_, _, _, l, _ string) (string, bool) { return reason, l == logical }
}

// harness drives an Engine through Handle.
type harness struct {
	t  *testing.T
	e  *cfn.Engine
	fx *fakeEffects
}

var fixedTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// run runs fn in a synctest bubble with a new harness, so that waiting for operations needs no
// polling and simulated delays take no real time.
func run(t *testing.T, fn func(t *testing.T, h *harness), opts ...func(*cfn.Options)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		fn(t, newHarness(t, opts...))
	})
}

func newHarness(t *testing.T, opts ...func(*cfn.Options)) *harness {
	t.Helper()
	fx := newFakeEffects()
	o := cfn.Options{Effects: fx}
	for _, f := range opts {
		f(&o)
	}
	e, err := cfn.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &harness{t: t, e: e, fx: fx}
}

// call invokes action in the default account and region.
func (h *harness) call(action string, params awsproto.Object) (awsproto.Object, error) {
	return h.callIn(acct, region, action, params)
}

func (h *harness) callIn(account, reg, action string, params awsproto.Object) (awsproto.Object, error) {
	if params == nil {
		params = awsproto.Object{}
	}
	return h.e.Handle(context.Background(), account, &awsproto.Request{Service: "cloudformation", Action: action, Region: reg, Params: params})
}

// must invokes action and fails the test on error.
func (h *harness) must(action string, params awsproto.Object) awsproto.Object {
	h.t.Helper()
	out, err := h.call(action, params)
	if err != nil {
		h.t.Fatalf("%s: %v", action, err)
	}
	return out
}

// apiErr asserts that err is an AWS error and returns "Code: Message".
func apiErr(t *testing.T, err error) string {
	t.Helper()
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *awsproto.Error", err)
	}
	return ae.Code + ": " + ae.Message
}

// waitIn lets the engine's operations run (the test runs in a synctest bubble) until the stack
// leaves *_IN_PROGRESS (REVIEW_IN_PROGRESS counts as settled), and returns the stack. Simulated
// resource delays pass in the bubble's fake time.
func (h *harness) waitIn(account, reg, name string) awsproto.Object {
	h.t.Helper()
	for range 10000 {
		synctest.Wait()
		out, err := h.callIn(account, reg, "DescribeStacks", awsproto.Object{"StackName": name})
		if err != nil {
			h.t.Fatalf("DescribeStacks %s: %v", name, err)
		}
		s := out["Stacks"].([]any)[0].(awsproto.Object)
		st := s["StackStatus"].(string)
		if !strings.HasSuffix(st, "_IN_PROGRESS") || st == "REVIEW_IN_PROGRESS" {
			return s
		}
		time.Sleep(time.Second) // fake time: lets simulated delays elapse
	}
	h.t.Fatalf("stack %s never settled", name)
	return nil
}

func (h *harness) wait(name string) awsproto.Object { return h.waitIn(acct, region, name) }

// create creates a stack and waits for it to settle.
func (h *harness) create(name, body string, extra awsproto.Object) awsproto.Object {
	h.t.Helper()
	p := awsproto.Object{"StackName": name, "TemplateBody": body, "Capabilities": []any{"CAPABILITY_NAMED_IAM"}}
	maps.Copy(p, extra)
	h.must("CreateStack", p)
	return h.wait(name)
}

func (h *harness) update(name, body string, extra awsproto.Object) awsproto.Object {
	h.t.Helper()
	p := awsproto.Object{"StackName": name, "TemplateBody": body, "Capabilities": []any{"CAPABILITY_NAMED_IAM"}}
	maps.Copy(p, extra)
	h.must("UpdateStack", p)
	return h.wait(name)
}

// outputs returns a stack's outputs as key → value.
func outputs(s awsproto.Object) map[string]string {
	out := map[string]string{}
	l, _ := s["Outputs"].([]any)
	for _, o := range l {
		m := o.(awsproto.Object)
		out[m["OutputKey"].(string)] = m["OutputValue"].(string)
	}
	return out
}

// resources returns logical id → physical id of a stack's resources.
func (h *harness) resources(name string) map[string]string {
	h.t.Helper()
	out := h.must("DescribeStackResources", awsproto.Object{"StackName": name})
	m := map[string]string{}
	for _, r := range out["StackResources"].([]any) {
		o := r.(awsproto.Object)
		phys, _ := o["PhysicalResourceId"].(string)
		m[o["LogicalResourceId"].(string)] = phys
	}
	return m
}

// events returns a stack's events oldest first as "Logical STATUS reason" lines.
func (h *harness) events(name string) []string {
	h.t.Helper()
	var lines []string
	p := awsproto.Object{"StackName": name}
	for {
		out := h.must("DescribeStackEvents", p)
		for _, e := range out["StackEvents"].([]any) {
			o := e.(awsproto.Object)
			line := o["LogicalResourceId"].(string) + " " + o["ResourceStatus"].(string)
			if r, ok := o["ResourceStatusReason"].(string); ok {
				line += " " + r
			}
			lines = append(lines, line)
		}
		tok, ok := out["NextToken"].(string)
		if !ok {
			break
		}
		p = awsproto.Object{"StackName": name, "NextToken": tok}
	}
	slices.Reverse(lines)
	return lines
}

func params(kv ...string) []any {
	var out []any
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, awsproto.Object{"ParameterKey": kv[i], "ParameterValue": kv[i+1]})
	}
	return out
}

// synctestWait lets the bubble's goroutines run until they block.
func synctestWait() { synctest.Wait() }
