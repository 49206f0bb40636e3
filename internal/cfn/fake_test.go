package cfn_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
	"github.com/goccy/go-yaml"
)

// fakeCFN simulates CloudFormation in memory, on time.Now (a synctest bubble's clock in the
// tests that need one): change sets become ready csDelay after creation, stack operations take
// opDelay, events appear as the operation progresses, and failures roll back like AWS.
type fakeCFN struct {
	csDelay, opDelay time.Duration
	pageSize         int     // events per DescribeStackEvents page
	spread           float64 // stack operations take opDelay × (1 ± spread), uniformly

	mu     sync.Mutex
	seq    int
	live   map[string]*fstack // by name
	byID   map[string]*fstack
	sets   map[string]*fchangeSet // by id
	failOn map[string]string      // stack name → logical id whose next create/update fails
	calls  map[string]int
}

type fconfig struct {
	body      string
	params    map[string]string
	tags      map[string]string
	resources map[string]string // logical id → type
}

type fstack struct {
	id, name string
	cfg      fconfig // applied configuration
	events   []fevent
	// endAt and the final* fields describe the running operation; zero endAt: none.
	endAt      time.Time
	finalCfg   *fconfig
	finalState string // DELETE_COMPLETE for a deletion
}

type fevent struct {
	at time.Time
	ev types.StackEvent
}

type fchangeSet struct {
	id, name string
	stack    *fstack
	typ      types.ChangeSetType
	cfg      fconfig
	readyAt  time.Time
	changes  []types.Change
	empty    bool
}

func newFake() *fakeCFN {
	return &fakeCFN{
		opDelay: 5 * time.Second, csDelay: time.Second, pageSize: 4,
		live: map[string]*fstack{}, byID: map[string]*fstack{}, sets: map[string]*fchangeSet{},
		failOn: map[string]string{}, calls: map[string]int{},
	}
}

var readOps = []string{"DescribeStacks", "DescribeChangeSet", "DescribeStackEvents", "GetTemplate"}

// reads returns the number of read calls so far.
func (f *fakeCFN) reads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, op := range readOps {
		n += f.calls[op]
	}
	return n
}

func (f *fakeCFN) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// operations counts the stack operations started: creations and executed change sets.
func (f *fakeCFN) operations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls["CreateStack"] + f.calls["ExecuteChangeSet"]
}

func (f *fakeCFN) failNext(stack, logicalID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failOn[stack] = logicalID
}

func validation(format string, args ...any) error {
	return &smithy.GenericAPIError{Code: "ValidationError", Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

// begin records a call and settles operations that are due; callers hold f.mu afterwards.
func (f *fakeCFN) begin(op string) {
	f.mu.Lock()
	f.calls[op]++
	now := time.Now()
	for _, s := range f.byID {
		if !s.endAt.IsZero() && !now.Before(s.endAt) {
			if s.finalCfg != nil {
				s.cfg = *s.finalCfg
			}
			if s.finalState == "DELETE_COMPLETE" && f.live[s.name] == s {
				delete(f.live, s.name)
			}
			s.endAt, s.finalCfg, s.finalState = time.Time{}, nil, ""
		}
	}
}

// find resolves a stack name (live stacks only) or id (deleted ones too).
func (f *fakeCFN) find(nameOrID string) *fstack {
	if s := f.byID[nameOrID]; s != nil {
		return s
	}
	return f.live[nameOrID]
}

// status is the status of the newest visible stack-level event.
func (s *fstack) status(now time.Time) (string, string) {
	for i := len(s.events) - 1; i >= 0; i-- {
		e := s.events[i]
		if e.at.After(now) || aws.ToString(e.ev.PhysicalResourceId) != s.id {
			continue
		}
		return string(e.ev.ResourceStatus), aws.ToString(e.ev.ResourceStatusReason)
	}
	return "", ""
}

func (s *fstack) busy(now time.Time) bool {
	st, _ := s.status(now)
	return strings.HasSuffix(st, "_IN_PROGRESS") && st != "REVIEW_IN_PROGRESS"
}

func (f *fakeCFN) event(s *fstack, at time.Time, logical, typ, status, reason, token string) {
	f.seq++
	phys := logical + "-phys"
	if logical == s.name {
		phys, typ = s.id, "AWS::CloudFormation::Stack"
	}
	ev := types.StackEvent{
		EventId: aws.String(strconv.Itoa(f.seq)), StackId: aws.String(s.id), StackName: aws.String(s.name),
		LogicalResourceId: aws.String(logical), PhysicalResourceId: aws.String(phys), ResourceType: aws.String(typ),
		ResourceStatus: types.ResourceStatus(status), Timestamp: aws.Time(at), ClientRequestToken: aws.String(token),
	}
	if reason != "" {
		ev.ResourceStatusReason = aws.String(reason)
	}
	s.events = append(s.events, fevent{at, ev})
}

func (f *fakeCFN) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	f.begin("DescribeStacks")
	defer f.mu.Unlock()
	name := aws.ToString(in.StackName)
	s := f.find(name)
	if s == nil {
		return nil, validation("Stack with id %s does not exist", name)
	}
	status, reason := s.status(time.Now())
	out := types.Stack{StackId: aws.String(s.id), StackName: aws.String(s.name), StackStatus: types.StackStatus(status)}
	if reason != "" {
		out.StackStatusReason = aws.String(reason)
	}
	for _, k := range slices.Sorted(maps.Keys(s.cfg.params)) {
		out.Parameters = append(out.Parameters, types.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(s.cfg.params[k])})
	}
	for _, k := range slices.Sorted(maps.Keys(s.cfg.tags)) {
		out.Tags = append(out.Tags, types.Tag{Key: aws.String(k), Value: aws.String(s.cfg.tags[k])})
	}
	if len(s.cfg.resources) > 0 {
		out.Outputs = []types.Output{{OutputKey: aws.String("Resources"), OutputValue: aws.String(strconv.Itoa(len(s.cfg.resources)))}}
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []types.Stack{out}}, nil
}

func (f *fakeCFN) DescribeStackEvents(_ context.Context, in *cloudformation.DescribeStackEventsInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error) {
	f.begin("DescribeStackEvents")
	defer f.mu.Unlock()
	s := f.find(aws.ToString(in.StackName))
	if s == nil {
		return nil, validation("Stack [%s] does not exist", aws.ToString(in.StackName))
	}
	var visible []types.StackEvent
	now := time.Now()
	for i := len(s.events) - 1; i >= 0; i-- {
		if !s.events[i].at.After(now) {
			visible = append(visible, s.events[i].ev)
		}
	}
	from := 0
	if in.NextToken != nil {
		from, _ = strconv.Atoi(*in.NextToken)
	}
	to := min(from+f.pageSize, len(visible))
	out := &cloudformation.DescribeStackEventsOutput{StackEvents: visible[from:to]}
	if to < len(visible) {
		out.NextToken = aws.String(strconv.Itoa(to))
	}
	return out, nil
}

func (f *fakeCFN) GetTemplate(_ context.Context, in *cloudformation.GetTemplateInput, _ ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error) {
	f.begin("GetTemplate")
	defer f.mu.Unlock()
	s := f.find(aws.ToString(in.StackName))
	if s == nil {
		return nil, validation("Stack with id %s does not exist", aws.ToString(in.StackName))
	}
	return &cloudformation.GetTemplateOutput{TemplateBody: aws.String(s.cfg.body)}, nil
}

func parseResources(body string) (map[string]string, error) {
	var t struct {
		Resources map[string]struct {
			Type string `yaml:"Type"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal([]byte(body), &t); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range t.Resources {
		out[k] = v.Type
	}
	return out, nil
}

func (f *fakeCFN) CreateChangeSet(_ context.Context, in *cloudformation.CreateChangeSetInput, _ ...func(*cloudformation.Options)) (*cloudformation.CreateChangeSetOutput, error) {
	f.begin("CreateChangeSet")
	defer f.mu.Unlock()
	now := time.Now()
	name := aws.ToString(in.StackName)
	s := f.live[name]
	switch {
	case in.ChangeSetType == types.ChangeSetTypeCreate && s != nil:
		st, _ := s.status(now)
		if st != "REVIEW_IN_PROGRESS" {
			return nil, validation("Stack [%s] already exists and cannot be created again with the changeSet [%s].", name, aws.ToString(in.ChangeSetName))
		}
	case in.ChangeSetType != types.ChangeSetTypeCreate && s == nil:
		return nil, validation("Stack [%s] does not exist", name)
	case s != nil && s.busy(now):
		st, _ := s.status(now)
		return nil, validation("Stack:%s is in %s state and can not be updated.", s.id, st)
	}
	cfg, err := newConfig(in.TemplateBody, in.Parameters, in.Tags)
	if err != nil {
		return nil, err
	}
	res := cfg.resources
	if s == nil {
		f.seq++
		s = &fstack{id: fmt.Sprintf("arn:aws:cloudformation:us-east-1:111111111111:stack/%s/%d", name, f.seq), name: name}
		f.live[name], f.byID[s.id] = s, s
		f.event(s, now, name, "", "REVIEW_IN_PROGRESS", "User Initiated", "")
	}
	if in.Tags == nil {
		cfg.tags = s.cfg.tags
	}
	f.seq++
	cs := &fchangeSet{
		id:   fmt.Sprintf("arn:aws:cloudformation:us-east-1:111111111111:changeSet/%s/%d", aws.ToString(in.ChangeSetName), f.seq),
		name: aws.ToString(in.ChangeSetName), stack: s, typ: in.ChangeSetType, cfg: cfg, readyAt: now.Add(f.csDelay),
	}
	for _, id := range slices.Sorted(maps.Keys(res)) {
		action := types.ChangeActionAdd
		if _, ok := s.cfg.resources[id]; ok {
			action = types.ChangeActionModify
		}
		cs.changes = append(cs.changes, types.Change{Type: types.ChangeTypeResource, ResourceChange: &types.ResourceChange{
			Action: action, LogicalResourceId: aws.String(id), ResourceType: aws.String(res[id]), Replacement: types.ReplacementFalse,
		}})
	}
	for _, id := range slices.Sorted(maps.Keys(s.cfg.resources)) {
		if _, ok := res[id]; !ok {
			cs.changes = append(cs.changes, types.Change{Type: types.ChangeTypeResource, ResourceChange: &types.ResourceChange{
				Action: types.ChangeActionRemove, LogicalResourceId: aws.String(id), ResourceType: aws.String(s.cfg.resources[id]),
			}})
		}
	}
	cs.empty = in.ChangeSetType == types.ChangeSetTypeUpdate && maps.Equal(res, s.cfg.resources) &&
		maps.Equal(cfg.params, s.cfg.params) && maps.Equal(cfg.tags, s.cfg.tags)
	f.sets[cs.id] = cs
	return &cloudformation.CreateChangeSetOutput{Id: aws.String(cs.id), StackId: aws.String(s.id)}, nil
}

// newConfig is the configuration a CreateStack or CreateChangeSet request asks for.
func newConfig(body *string, params []types.Parameter, tags []types.Tag) (fconfig, error) {
	res, err := parseResources(aws.ToString(body))
	if err != nil {
		return fconfig{}, validation("Template format error: %v", err)
	}
	cfg := fconfig{body: aws.ToString(body), params: map[string]string{}, tags: map[string]string{}, resources: res}
	for _, p := range params {
		cfg.params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	for _, t := range tags {
		cfg.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return cfg, nil
}

func (f *fakeCFN) changeSet(name, stack *string) (*fchangeSet, error) {
	if cs := f.sets[aws.ToString(name)]; cs != nil {
		return cs, nil
	}
	for _, cs := range f.sets {
		if cs.name == aws.ToString(name) && (cs.stack.name == aws.ToString(stack) || cs.stack.id == aws.ToString(stack)) {
			return cs, nil
		}
	}
	return nil, &smithy.GenericAPIError{Code: "ChangeSetNotFound", Message: fmt.Sprintf("ChangeSet [%s] does not exist", aws.ToString(name))}
}

func (f *fakeCFN) DescribeChangeSet(_ context.Context, in *cloudformation.DescribeChangeSetInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeChangeSetOutput, error) {
	f.begin("DescribeChangeSet")
	defer f.mu.Unlock()
	cs, err := f.changeSet(in.ChangeSetName, in.StackName)
	if err != nil {
		return nil, err
	}
	out := &cloudformation.DescribeChangeSetOutput{ChangeSetId: aws.String(cs.id), ChangeSetName: aws.String(cs.name), StackId: aws.String(cs.stack.id)}
	switch {
	case time.Now().Before(cs.readyAt):
		out.Status, out.ExecutionStatus = types.ChangeSetStatusCreateInProgress, types.ExecutionStatusUnavailable
	case cs.empty:
		out.Status, out.ExecutionStatus = types.ChangeSetStatusFailed, types.ExecutionStatusUnavailable
		out.StatusReason = aws.String("The submitted information didn't contain changes. Submit different information to create a change set.")
	default:
		out.Status, out.ExecutionStatus = types.ChangeSetStatusCreateComplete, types.ExecutionStatusAvailable
		// Two changes a page, to exercise paging.
		from := 0
		if in.NextToken != nil {
			from, _ = strconv.Atoi(*in.NextToken)
		}
		to := min(from+2, len(cs.changes))
		out.Changes = cs.changes[from:to]
		if to < len(cs.changes) {
			out.NextToken = aws.String(strconv.Itoa(to))
		}
	}
	return out, nil
}

func (f *fakeCFN) ExecuteChangeSet(_ context.Context, in *cloudformation.ExecuteChangeSetInput, _ ...func(*cloudformation.Options)) (*cloudformation.ExecuteChangeSetOutput, error) {
	f.begin("ExecuteChangeSet")
	defer f.mu.Unlock()
	cs, err := f.changeSet(in.ChangeSetName, in.StackName)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if now.Before(cs.readyAt) || cs.empty {
		return nil, &smithy.GenericAPIError{Code: "InvalidChangeSetStatus", Message: "ChangeSet is not executable"}
	}
	s := cs.stack
	if s.busy(now) {
		return nil, &smithy.GenericAPIError{Code: "InvalidChangeSetStatus", Message: "stack is busy"}
	}
	for id, other := range f.sets { // executing a change set deletes the stack's others
		if other.stack == s {
			delete(f.sets, id)
		}
	}
	f.execute(cs, aws.ToString(in.ClientRequestToken), now)
	return &cloudformation.ExecuteChangeSetOutput{}, nil
}

// CreateStack creates the stack and runs its creation like an executed change set.
func (f *fakeCFN) CreateStack(_ context.Context, in *cloudformation.CreateStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error) {
	f.begin("CreateStack")
	defer f.mu.Unlock()
	now := time.Now()
	name := aws.ToString(in.StackName)
	if f.live[name] != nil {
		return nil, &smithy.GenericAPIError{Code: "AlreadyExistsException", Message: fmt.Sprintf("Stack [%s] already exists", name), Fault: smithy.FaultClient}
	}
	cfg, err := newConfig(in.TemplateBody, in.Parameters, in.Tags)
	if err != nil {
		return nil, err
	}
	f.seq++
	st := &fstack{id: fmt.Sprintf("arn:aws:cloudformation:us-east-1:111111111111:stack/%s/%d", name, f.seq), name: name}
	f.live[name], f.byID[st.id] = st, st
	f.execute(&fchangeSet{stack: st, typ: types.ChangeSetTypeCreate, cfg: cfg}, aws.ToString(in.ClientRequestToken), now)
	return &cloudformation.CreateStackOutput{StackId: aws.String(st.id)}, nil
}

// execute starts the stack operation of a change set; callers hold f.mu.
func (f *fakeCFN) execute(cs *fchangeSet, token string, now time.Time) {
	s := cs.stack
	verb := "UPDATE"
	if cs.typ == types.ChangeSetTypeCreate {
		verb = "CREATE"
	}
	ids := slices.Sorted(maps.Keys(cs.cfg.resources))
	at := now
	f.event(s, at, s.name, "", verb+"_IN_PROGRESS", "User Initiated", token)
	failing := f.failOn[s.name]
	delete(f.failOn, s.name)
	opDelay := f.opDelay
	if f.spread > 0 {
		opDelay = time.Duration(float64(opDelay) * (1 + f.spread*(2*rand.Float64()-1)))
	}
	step := opDelay / time.Duration(2*len(ids)+1)
	s.endAt = now.Add(opDelay)
	if failing == "" {
		for _, id := range ids {
			at = at.Add(step)
			f.event(s, at, id, cs.cfg.resources[id], verb+"_IN_PROGRESS", "", token)
			at = at.Add(step)
			f.event(s, at, id, cs.cfg.resources[id], verb+"_COMPLETE", "", token)
		}
		f.event(s, s.endAt, s.name, "", verb+"_COMPLETE", "", token)
		cfg := cs.cfg
		s.finalCfg = &cfg
		return
	}
	// A failure: the cancellations of the resources in flight are listed first (same
	// timestamp), then the real cause, then the rollback.
	at = at.Add(step)
	for _, id := range ids {
		f.event(s, at, id, cs.cfg.resources[id], verb+"_IN_PROGRESS", "", token)
	}
	at = at.Add(step)
	for _, id := range ids {
		if id != failing {
			f.event(s, at, id, cs.cfg.resources[id], verb+"_FAILED", "Resource "+strings.ToLower(verb)+" cancelled", token)
		}
	}
	f.event(s, at, failing, cs.cfg.resources[failing], verb+"_FAILED", "boom: "+failing+" failed", token)
	rollback := "ROLLBACK"
	if verb == "UPDATE" {
		rollback = "UPDATE_ROLLBACK"
	}
	f.event(s, at.Add(step), s.name, "", rollback+"_IN_PROGRESS", "The following resource(s) failed: ["+failing+"]", token)
	f.event(s, s.endAt, s.name, "", rollback+"_COMPLETE", "", token)
}

func (f *fakeCFN) DeleteChangeSet(_ context.Context, in *cloudformation.DeleteChangeSetInput, _ ...func(*cloudformation.Options)) (*cloudformation.DeleteChangeSetOutput, error) {
	f.begin("DeleteChangeSet")
	defer f.mu.Unlock()
	cs, err := f.changeSet(in.ChangeSetName, in.StackName)
	if err != nil {
		return nil, err
	}
	delete(f.sets, cs.id)
	return &cloudformation.DeleteChangeSetOutput{}, nil
}

func (f *fakeCFN) DeleteStack(_ context.Context, in *cloudformation.DeleteStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error) {
	f.begin("DeleteStack")
	defer f.mu.Unlock()
	s := f.find(aws.ToString(in.StackName))
	now := time.Now()
	if s == nil {
		return &cloudformation.DeleteStackOutput{}, nil
	}
	st, _ := s.status(now)
	if st == "DELETE_COMPLETE" || st == "DELETE_IN_PROGRESS" {
		return &cloudformation.DeleteStackOutput{}, nil
	}
	if s.busy(now) {
		return nil, validation("Stack [%s] cannot be deleted while in status %s", s.name, st)
	}
	for id, cs := range f.sets {
		if cs.stack == s {
			delete(f.sets, id)
		}
	}
	token := aws.ToString(in.ClientRequestToken)
	if st == "REVIEW_IN_PROGRESS" {
		f.event(s, now, s.name, "", "DELETE_COMPLETE", "", token)
		delete(f.live, s.name)
		return &cloudformation.DeleteStackOutput{}, nil
	}
	ids := slices.Sorted(maps.Keys(s.cfg.resources))
	step := f.opDelay / time.Duration(len(ids)+1)
	f.event(s, now, s.name, "", "DELETE_IN_PROGRESS", "User Initiated", token)
	at := now
	for _, id := range slices.Backward(ids) {
		at = at.Add(step)
		f.event(s, at, id, s.cfg.resources[id], "DELETE_COMPLETE", "", token)
	}
	s.endAt = now.Add(f.opDelay)
	s.finalCfg = &fconfig{}
	s.finalState = "DELETE_COMPLETE"
	f.event(s, s.endAt, s.name, "", "DELETE_COMPLETE", "", token)
	return &cloudformation.DeleteStackOutput{}, nil
}

// Drift detection is not simulated by the fake; sandbox_test.go exercises it.
func (f *fakeCFN) DetectStackDrift(context.Context, *cloudformation.DetectStackDriftInput, ...func(*cloudformation.Options)) (*cloudformation.DetectStackDriftOutput, error) {
	return nil, errors.New("fake: drift detection is not simulated")
}

func (f *fakeCFN) DescribeStackDriftDetectionStatus(context.Context, *cloudformation.DescribeStackDriftDetectionStatusInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackDriftDetectionStatusOutput, error) {
	return nil, errors.New("fake: drift detection is not simulated")
}

func (f *fakeCFN) DescribeStackResourceDrifts(context.Context, *cloudformation.DescribeStackResourceDriftsInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackResourceDriftsOutput, error) {
	return nil, errors.New("fake: drift detection is not simulated")
}
