package cfn

import (
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Change set statuses.
const (
	csCreatePending    = "CREATE_PENDING"
	csCreateInProgress = "CREATE_IN_PROGRESS"
	csCreateComplete   = "CREATE_COMPLETE"
	csFailed           = "FAILED"
	exUnavailable      = "UNAVAILABLE"
	exAvailable        = "AVAILABLE"
	exInProgress       = "EXECUTE_IN_PROGRESS"
	exComplete         = "EXECUTE_COMPLETE"
	exFailed           = "EXECUTE_FAILED"
	exObsolete         = "OBSOLETE"
)

// changeSet is one change set. Guarded by the region's mu.
type changeSet struct {
	id, name    string
	s           *stack
	typ         string // CREATE or UPDATE
	description string
	cfg         *stackConfig
	created     time.Time
	status      string
	reason      string
	execStatus  string
	changes     []change
	// onFailure applies when executing a CREATE change set (from OnStackFailure).
	onFailure string
}

var changeSetNameRE = stackNameRE

func changeSetNotFound(name string) error {
	return awsproto.Errorf(404, "ChangeSetNotFound", "ChangeSet [%s] does not exist", name)
}

// findChangeSet resolves ChangeSetName (a name with StackName, or an ARN). r.mu is held.
func (r *region) findChangeSet(name, stackName string) (*changeSet, error) {
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'changeSetName' failed to satisfy constraint: Member must not be null")
	}
	if strings.HasPrefix(name, "arn:") {
		cs := r.changeSets[name]
		if cs == nil {
			return nil, changeSetNotFound(name)
		}
		return cs, nil
	}
	if stackName == "" {
		return nil, validationError("StackName must be specified if ChangeSetName is not specified as an ARN.")
	}
	s := r.lookup(stackName)
	if s == nil {
		return nil, changeSetNotFound(name)
	}
	for _, cs := range s.changeSets {
		if cs.name == name {
			return cs, nil
		}
	}
	return nil, changeSetNotFound(name)
}

// obsoleteChangeSets marks the stack's executable change sets other than keep OBSOLETE: they
// were computed against a state the stack is leaving. r.mu is held.
func (e *Engine) obsoleteChangeSets(s *stack, keep string) {
	for _, cs := range s.changeSets {
		if cs.id != keep && (cs.execStatus == exAvailable || cs.execStatus == exUnavailable && cs.status != csFailed) {
			cs.execStatus = exObsolete
		}
	}
}

func (e *Engine) createChangeSet(r *region, p params) (awsproto.Object, error) {
	name := p.str("ChangeSetName")
	if name == "" || len(name) > 128 || !changeSetNameRE.MatchString(name) {
		return nil, validationError("1 validation error detected: Value '%s' at 'changeSetName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", name)
	}
	stackName := p.str("StackName")
	if err := checkStackName(stackName); err != nil {
		return nil, err
	}
	typ := p.str("ChangeSetType")
	switch typ {
	case "":
		typ = "UPDATE"
	case "CREATE", "UPDATE":
	case "IMPORT":
		return nil, validationError("ChangeSetType IMPORT is not supported by the sandbox")
	default:
		return nil, validationError("1 validation error detected: Value '%s' at 'changeSetType' failed to satisfy constraint: Member must satisfy enum value set: [IMPORT, UPDATE, CREATE]", typ)
	}
	in, err := e.readConfigInput(r.account, p, false)
	if err != nil {
		return nil, err
	}
	mode := p.str("DeploymentMode")
	switch {
	case mode == "":
	case mode != "REVERT_DRIFT":
		return nil, validationError("1 validation error detected: Value '%s' at 'deploymentMode' failed to satisfy constraint: Member must satisfy enum value set: [REVERT_DRIFT]", mode)
	case typ != "UPDATE":
		return nil, validationError("DeploymentMode REVERT_DRIFT is only valid for change sets of type UPDATE")
	}
	onFailure := p.str("OnStackFailure")
	switch onFailure {
	case "":
		onFailure = "ROLLBACK"
	case "ROLLBACK", "DELETE", "DO_NOTHING":
	default:
		return nil, validationError("1 validation error detected: Value '%s' at 'onStackFailure' failed to satisfy constraint: Member must satisfy enum value set: [DO_NOTHING, ROLLBACK, DELETE]", onFailure)
	}

	r.mu.Lock()
	s := r.lookup(stackName)
	var prev *stackConfig
	switch typ {
	case "CREATE":
		if s != nil && s.status != stReviewInProgress {
			r.mu.Unlock()
			return nil, validationError("Stack [%s] already exists and cannot be created again with the changeSet [%s].", stackName, name)
		}
		if in.usePrevious {
			r.mu.Unlock()
			return nil, validationError("UsePreviousTemplate is not valid for a change set of type CREATE")
		}
	case "UPDATE":
		if s == nil || !s.deleted.IsZero() {
			r.mu.Unlock()
			return nil, validationError("Stack [%s] does not exist", stackName)
		}
		if s.status == stReviewInProgress {
			r.mu.Unlock()
			return nil, validationError("Stack [%s] does not exist", stackName)
		}
		if s.busy || !updatable(s.status) {
			err := stateError(s, "updated")
			r.mu.Unlock()
			return nil, err
		}
		prev = s.cfg
	}
	if s != nil {
		for _, cs := range s.changeSets {
			if cs.name == name {
				r.mu.Unlock()
				return nil, awsproto.Errorf(400, "AlreadyExistsException", "ChangeSet [%s] already exists", name)
			}
		}
	}
	r.mu.Unlock()

	if !in.hasBody && !in.usePrevious {
		return nil, validationError("Either Template URL or Template Body must be specified.")
	}
	cfg, err := e.buildConfig(r, in, prev, "")
	if err != nil {
		return nil, err
	}
	if prev == nil {
		cfg.disableRollback = onFailure == "DO_NOTHING"
	}
	cfg.revertDrift = mode == "REVERT_DRIFT"

	r.mu.Lock()
	defer r.mu.Unlock()
	// Re-check under the lock: the stack may have changed while the template was parsed.
	cur := r.lookup(stackName)
	if cur != s || (typ == "UPDATE" && (s.cfg != prev || s.busy)) {
		return nil, validationError("Stack [%s] changed while the change set was being created; retry", stackName)
	}
	// The changes are computed now, against the current stack, and published asynchronously,
	// so clients see the CREATE_PENDING → CREATE_COMPLETE transition they poll for.
	var plan planResult
	var planErr error
	if typ == "CREATE" {
		// A new stack: everything is added. Errors (missing exports…) are reported at once.
		if plan, planErr = e.plan(r, &stack{name: stackName, res: map[string]*resource{}}, cfg); planErr != nil {
			return nil, planErr
		}
	} else {
		plan, planErr = e.plan(r, s, cfg)
	}
	if s == nil {
		s = e.newStack(r, stackName)
		s.setStatus(s.created, stReviewInProgress, reasonUserInitiated)
	}
	cs := &changeSet{
		id:   "arn:aws:cloudformation:" + r.name + ":" + r.account + ":changeSet/" + name + "/" + newUUID(),
		name: name, s: s, typ: typ, description: p.str("Description"), cfg: cfg, created: e.now(),
		status: csCreatePending, execStatus: exUnavailable, onFailure: onFailure,
	}
	r.changeSets[cs.id] = cs
	s.changeSets = append(s.changeSets, cs)
	finish := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case planErr != nil:
			cs.status, cs.reason = csFailed, errorMessage(planErr)
		case !plan.any():
			cs.status, cs.reason = csFailed, reasonNoChanges
		default:
			cs.changes = plan.changes
			cs.status, cs.execStatus = csCreateComplete, exAvailable
		}
	}
	if !e.goOp(finish) {
		// Closing: finish synchronously is impossible under the lock; mark it failed.
		cs.status, cs.reason = csFailed, "The CloudFormation service is shutting down."
	}
	return awsproto.Object{"Id": cs.id, "StackId": s.id}, nil
}

func (e *Engine) describeChangeSet(r *region, p params) (awsproto.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, err := r.findChangeSet(p.str("ChangeSetName"), p.str("StackName"))
	if err != nil {
		return nil, err
	}
	start := 0
	if tok := p.str("NextToken"); tok != "" {
		if start, err = decodeToken(tok); err != nil {
			return nil, err
		}
	}
	o := awsproto.Object{
		"ChangeSetId": cs.id, "ChangeSetName": cs.name, "StackId": cs.s.id, "StackName": cs.s.name,
		"CreationTime": cs.created, "ExecutionStatus": cs.execStatus, "Status": cs.status,
		"Parameters": paramsList(cs.cfg.params), "Tags": tagsList(cs.cfg.tags),
		"NotificationARNs": stringList(cs.cfg.notificationARNs), "IncludeNestedStacks": false,
		"RollbackConfiguration": awsproto.Object{},
	}
	if cs.description != "" {
		o["Description"] = cs.description
	}
	if cs.reason != "" {
		o["StatusReason"] = cs.reason
	}
	if len(cs.cfg.capabilities) > 0 {
		o["Capabilities"] = stringList(cs.cfg.capabilities)
	}
	if cs.typ == "CREATE" {
		o["OnStackFailure"] = cs.onFailure
	}
	changes := []any{}
	i := start
	for ; i < len(cs.changes) && len(changes) < changesPageSize; i++ {
		changes = append(changes, changeObject(&cs.changes[i]))
	}
	o["Changes"] = changes
	if i < len(cs.changes) {
		o["NextToken"] = encodeToken(i)
	}
	return o, nil
}

func changeObject(c *change) awsproto.Object {
	rc := awsproto.Object{
		"Action": c.Action, "LogicalResourceId": c.Logical, "ResourceType": c.Type,
		"Scope": stringList(c.Scope),
	}
	if c.Physical != "" {
		rc["PhysicalResourceId"] = c.Physical
	}
	if c.Replacement != "" {
		rc["Replacement"] = c.Replacement
	}
	if c.Policy != "" {
		rc["PolicyAction"] = c.Policy
	}
	details := make([]any, len(c.Details))
	for i, d := range c.Details {
		target := awsproto.Object{"Attribute": d.Attribute, "RequiresRecreation": d.RequiresRecreation}
		if d.Name != "" {
			target["Name"] = d.Name
		}
		details[i] = awsproto.Object{"Target": target, "Evaluation": d.Evaluation, "ChangeSource": d.ChangeSource}
	}
	rc["Details"] = details
	return awsproto.Object{"Type": "Resource", "ResourceChange": rc}
}

func (e *Engine) executeChangeSet(r *region, p params) (awsproto.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, err := r.findChangeSet(p.str("ChangeSetName"), p.str("StackName"))
	if err != nil {
		return nil, err
	}
	token := p.str("ClientRequestToken")
	if token != "" && token == cs.s.token && cs.execStatus != exAvailable {
		// A retry of the request that executed the change set.
		return awsproto.Object{}, nil
	}
	if cs.execStatus != exAvailable {
		return nil, awsproto.Errorf(400, "InvalidChangeSetStatus",
			"ChangeSet [%s] cannot be executed in its current execution status of [%s]", cs.id, cs.execStatus)
	}
	s := cs.s
	if s.busy {
		return nil, stateError(s, "updated")
	}
	disable, disableSet := p.boolean("DisableRollback")
	switch cs.typ {
	case "CREATE":
		if s.status != stReviewInProgress {
			return nil, stateError(s, "updated")
		}
		onFailure := cs.onFailure
		cfg := cs.cfg
		if disableSet {
			c := *cfg
			c.disableRollback = disable
			cfg = &c
			onFailure = "ROLLBACK"
			if disable {
				onFailure = "DO_NOTHING"
			}
		}
		s.cfg, s.busy, s.token = cfg, true, token
		cs.execStatus = exInProgress
		e.obsoleteChangeSets(s, cs.id)
		s.setStatus(e.now(), stCreateInProgress, reasonUserInitiated)
		if !e.goOp(func() { e.runCreate(r, s, onFailure) }) {
			s.busy = false
			s.setStatus(e.now(), stCreateFailed, "The CloudFormation service is shutting down.")
			return nil, errClosed()
		}
	default:
		if !updatable(s.status) {
			return nil, stateError(s, "updated")
		}
		cfg := cs.cfg
		if disableSet {
			c := *cfg
			c.disableRollback = disable
			cfg = &c
		}
		cs.execStatus = exInProgress
		if err := e.startUpdate(r, s, cfg, token); err != nil {
			return nil, err
		}
		cs.execStatus = exInProgress
	}
	s.executing = cs
	return awsproto.Object{}, nil
}

func (e *Engine) deleteChangeSet(r *region, p params) (awsproto.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, err := r.findChangeSet(p.str("ChangeSetName"), p.str("StackName"))
	if err != nil {
		return nil, err
	}
	if cs.execStatus == exInProgress {
		return nil, awsproto.Errorf(400, "InvalidChangeSetStatus",
			"Cannot delete ChangeSet [%s] in status [%s]", cs.id, cs.execStatus)
	}
	delete(r.changeSets, cs.id)
	s := cs.s
	for i, c := range s.changeSets {
		if c == cs {
			s.changeSets = append(s.changeSets[:i:i], s.changeSets[i+1:]...)
			break
		}
	}
	return awsproto.Object{}, nil
}

func (e *Engine) listChangeSets(r *region, p params) (awsproto.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := findStack(r, p)
	if err != nil {
		return nil, err
	}
	start := 0
	if tok := p.str("NextToken"); tok != "" {
		if start, err = decodeToken(tok); err != nil {
			return nil, err
		}
	}
	out := []any{}
	i := start
	for ; i < len(s.changeSets) && len(out) < stacksPageSize; i++ {
		cs := s.changeSets[i]
		m := awsproto.Object{
			"ChangeSetId": cs.id, "ChangeSetName": cs.name, "StackId": s.id, "StackName": s.name,
			"CreationTime": cs.created, "ExecutionStatus": cs.execStatus, "Status": cs.status,
			"IncludeNestedStacks": false,
		}
		if cs.description != "" {
			m["Description"] = cs.description
		}
		if cs.reason != "" {
			m["StatusReason"] = cs.reason
		}
		out = append(out, m)
	}
	o := awsproto.Object{"Summaries": out}
	if i < len(s.changeSets) {
		o["NextToken"] = encodeToken(i)
	}
	return o, nil
}
