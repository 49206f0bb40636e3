package cfn

import (
	"slices"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Page sizes follow AWS's defaults where documented.
const (
	stacksPageSize    = 100
	eventsPageSize    = 100
	resourcesPageSize = 100
	changesPageSize   = 100
)

// stackObject renders a stack for DescribeStacks. r.mu is held.
func stackObject(s *stack) awsproto.Object {
	o := awsproto.Object{
		"StackId":                     s.id,
		"StackName":                   s.name,
		"CreationTime":                s.created,
		"StackStatus":                 s.status,
		"EnableTerminationProtection": s.termProtection,
		"DriftInformation":            s.driftObject(),
		"RollbackConfiguration":       awsproto.Object{},
	}
	if s.reason != "" {
		o["StackStatusReason"] = s.reason
	}
	if !s.updated.IsZero() {
		o["LastUpdatedTime"] = s.updated
	}
	if !s.deleted.IsZero() {
		o["DeletionTime"] = s.deleted
	}
	if cfg := s.cfg; cfg != nil {
		o["DisableRollback"] = cfg.disableRollback
		if cfg.tmpl != nil && cfg.tmpl.description != "" {
			o["Description"] = cfg.tmpl.description
		}
		o["Parameters"] = paramsList(cfg.params)
		o["Tags"] = tagsList(cfg.tags)
		o["NotificationARNs"] = stringList(cfg.notificationARNs)
		if len(cfg.capabilities) > 0 {
			o["Capabilities"] = stringList(cfg.capabilities)
		}
		if cfg.roleARN != "" {
			o["RoleARN"] = cfg.roleARN
		}
		if cfg.timeoutMinutes > 0 {
			o["TimeoutInMinutes"] = cfg.timeoutMinutes
		}
	} else {
		o["DisableRollback"] = false
		o["NotificationARNs"] = []any{}
	}
	if len(s.outputs) > 0 {
		outs := make([]any, len(s.outputs))
		for i, out := range s.outputs {
			m := awsproto.Object{"OutputKey": out.Key, "OutputValue": out.Value}
			if out.Description != "" {
				m["Description"] = out.Description
			}
			if out.ExportName != "" {
				m["ExportName"] = out.ExportName
			}
			outs[i] = m
		}
		o["Outputs"] = outs
	}
	return o
}

// paramsList renders parameters, masking NoEcho values.
func paramsList(ps []paramValue) []any {
	out := make([]any, len(ps))
	for i, p := range ps {
		v := p.Value
		if p.NoEcho {
			v = "****"
		}
		m := awsproto.Object{"ParameterKey": p.Key, "ParameterValue": v}
		if p.Resolved != "" && !p.NoEcho {
			m["ResolvedValue"] = p.Resolved
		}
		out[i] = m
	}
	return out
}

func tagsList(ts []tag) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		out[i] = awsproto.Object{"Key": t.Key, "Value": t.Value}
	}
	return out
}

func stringList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// findStack resolves StackName for read operations: a name finds the live stack, an ARN any
// stack including deleted ones. r.mu is held.
func findStack(r *region, p params) (*stack, error) {
	name := p.str("StackName")
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
	}
	s := r.lookup(name)
	if s == nil {
		return nil, stackNotFound(name)
	}
	return s, nil
}

func (e *Engine) describeStacks(r *region, p params) (awsproto.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.str("StackName") != "" {
		s, err := findStack(r, p)
		if err != nil {
			return nil, err
		}
		return awsproto.Object{"Stacks": []any{stackObject(s)}}, nil
	}
	// Newest first; the token is the index in r.all to continue from, which stays valid as
	// stacks are added (they are appended).
	start := len(r.all) - 1
	if tok := p.str("NextToken"); tok != "" {
		n, err := decodeToken(tok)
		if err != nil {
			return nil, err
		}
		start = min(n, len(r.all)-1)
	}
	var out []any
	i := start
	for ; i >= 0 && len(out) < stacksPageSize; i-- {
		if s := r.all[i]; s.deleted.IsZero() {
			out = append(out, stackObject(s))
		}
	}
	res := awsproto.Object{"Stacks": nonNil(out)}
	if i >= 0 {
		res["NextToken"] = encodeToken(i)
	}
	return res, nil
}

func nonNil(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

func (e *Engine) listStacks(r *region, p params) (awsproto.Object, error) {
	filter := p.strings("StackStatusFilter")
	r.mu.Lock()
	defer r.mu.Unlock()
	start := len(r.all) - 1
	if tok := p.str("NextToken"); tok != "" {
		n, err := decodeToken(tok)
		if err != nil {
			return nil, err
		}
		start = min(n, len(r.all)-1)
	}
	var out []any
	i := start
	for ; i >= 0 && len(out) < stacksPageSize; i-- {
		s := r.all[i]
		if len(filter) > 0 && !slices.Contains(filter, s.status) {
			continue
		}
		m := awsproto.Object{
			"StackId": s.id, "StackName": s.name, "CreationTime": s.created, "StackStatus": s.status,
			"DriftInformation": s.driftSummary(),
		}
		if s.cfg != nil && s.cfg.tmpl != nil && s.cfg.tmpl.description != "" {
			m["TemplateDescription"] = s.cfg.tmpl.description
		}
		if s.reason != "" {
			m["StackStatusReason"] = s.reason
		}
		if !s.updated.IsZero() {
			m["LastUpdatedTime"] = s.updated
		}
		if !s.deleted.IsZero() {
			m["DeletionTime"] = s.deleted
		}
		out = append(out, m)
	}
	res := awsproto.Object{"StackSummaries": nonNil(out)}
	if i >= 0 {
		res["NextToken"] = encodeToken(i)
	}
	return res, nil
}

func (e *Engine) describeStackEvents(r *region, p params) (awsproto.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := findStack(r, p)
	if err != nil {
		return nil, err
	}
	// Newest first; the token is the index of the next (older) event, stable as events are
	// appended.
	start := len(s.events) - 1
	if tok := p.str("NextToken"); tok != "" {
		n, err := decodeToken(tok)
		if err != nil {
			return nil, err
		}
		start = min(n, len(s.events)-1)
	}
	out := make([]any, 0, min(eventsPageSize, start+1))
	i := start
	for ; i >= 0 && len(out) < eventsPageSize; i-- {
		ev := &s.events[i]
		m := awsproto.Object{
			"EventId": eventID(s.id, i), "StackId": s.id, "StackName": s.name,
			"LogicalResourceId": ev.logical, "PhysicalResourceId": ev.physical,
			"ResourceType": ev.typ, "Timestamp": ev.ts, "ResourceStatus": ev.status,
		}
		if ev.reason != "" {
			m["ResourceStatusReason"] = ev.reason
		}
		if ev.token != "" {
			m["ClientRequestToken"] = ev.token
		}
		out = append(out, m)
	}
	res := awsproto.Object{"StackEvents": out}
	if i >= 0 {
		res["NextToken"] = encodeToken(i)
	}
	return res, nil
}

func resourceDriftInfo(res *resource, s *stack) awsproto.Object {
	o := awsproto.Object{"StackResourceDriftStatus": res.driftStatus(s)}
	if !s.drift.checked.IsZero() {
		o["LastCheckTimestamp"] = s.drift.checked
	}
	return o
}

func (e *Engine) describeStackResources(r *region, p params) (awsproto.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s *stack
	if p.str("StackName") == "" {
		phys := p.str("PhysicalResourceId")
		if phys == "" {
			return nil, validationError("Either StackName or PhysicalResourceId must be specified.")
		}
		for _, cand := range r.all {
			if !cand.deleted.IsZero() {
				continue
			}
			for _, res := range cand.res {
				if res.phys.ID == phys {
					s = cand
				}
			}
		}
		if s == nil {
			return nil, validationError("Stack for %s does not exist", phys)
		}
	} else {
		var err error
		if s, err = findStack(r, p); err != nil {
			return nil, err
		}
	}
	logical := p.str("LogicalResourceId")
	out := []any{}
	for _, res := range s.orderedResources() {
		if logical != "" && res.logicalID != logical {
			continue
		}
		m := awsproto.Object{
			"StackName": s.name, "StackId": s.id, "LogicalResourceId": res.logicalID,
			"ResourceType": res.typ, "Timestamp": res.updated, "ResourceStatus": res.status,
			"DriftInformation": resourceDriftInfo(res, s),
		}
		if res.phys.ID != "" {
			m["PhysicalResourceId"] = res.phys.ID
		}
		if res.reason != "" {
			m["ResourceStatusReason"] = res.reason
		}
		out = append(out, m)
	}
	return awsproto.Object{"StackResources": out}, nil
}

func (e *Engine) describeStackResource(r *region, p params) (awsproto.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := findStack(r, p)
	if err != nil {
		return nil, err
	}
	logical := p.str("LogicalResourceId")
	res := s.res[logical]
	if res == nil {
		return nil, validationError("Resource %s does not exist for stack %s", logical, p.str("StackName"))
	}
	m := awsproto.Object{
		"StackName": s.name, "StackId": s.id, "LogicalResourceId": res.logicalID,
		"ResourceType": res.typ, "LastUpdatedTimestamp": res.updated, "ResourceStatus": res.status,
		"DriftInformation": resourceDriftInfo(res, s),
	}
	if res.phys.ID != "" {
		m["PhysicalResourceId"] = res.phys.ID
	}
	if res.reason != "" {
		m["ResourceStatusReason"] = res.reason
	}
	if s.cfg != nil && s.cfg.tmpl != nil {
		if md := s.cfg.tmpl.metadata(logical); md != "" {
			m["Metadata"] = md
		}
	}
	return awsproto.Object{"StackResourceDetail": m}, nil
}

func (e *Engine) listStackResources(r *region, p params) (awsproto.Object, error) {
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
	all := s.orderedResources()
	out := []any{}
	i := start
	for ; i < len(all) && len(out) < resourcesPageSize; i++ {
		res := all[i]
		m := awsproto.Object{
			"LogicalResourceId": res.logicalID, "ResourceType": res.typ,
			"LastUpdatedTimestamp": res.updated, "ResourceStatus": res.status,
			"DriftInformation": resourceDriftInfo(res, s),
		}
		if res.phys.ID != "" {
			m["PhysicalResourceId"] = res.phys.ID
		}
		if res.reason != "" {
			m["ResourceStatusReason"] = res.reason
		}
		out = append(out, m)
	}
	o := awsproto.Object{"StackResourceSummaries": out}
	if i < len(all) {
		o["NextToken"] = encodeToken(i)
	}
	return o, nil
}

func (e *Engine) getTemplate(r *region, p params) (awsproto.Object, error) {
	stage := p.str("TemplateStage")
	if stage != "" && stage != "Original" && stage != "Processed" {
		return nil, validationError("1 validation error detected: Value '%s' at 'templateStage' failed to satisfy constraint: Member must satisfy enum value set: [Original, Processed]", stage)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var t *tmpl
	if csName := p.str("ChangeSetName"); csName != "" {
		cs, err := r.findChangeSet(csName, p.str("StackName"))
		if err != nil {
			return nil, err
		}
		t = cs.cfg.tmpl
	} else {
		s, err := findStack(r, p)
		if err != nil {
			return nil, err
		}
		if s.status == stReviewInProgress && (s.cfg == nil || s.cfg.tmpl == nil) {
			// A stack that only has a change set has no template yet: AWS answers with no
			// TemplateBody (clients such as the CDK CLI then treat the stack as new).
			return awsproto.Object{"StagesAvailable": []any{"Original", "Processed"}}, nil
		}
		if s.cfg == nil || s.cfg.tmpl == nil {
			return nil, validationError("Stack with id %s does not exist", p.str("StackName"))
		}
		t = s.cfg.tmpl
	}
	return awsproto.Object{
		"TemplateBody":    t.body,
		"StagesAvailable": []any{"Original", "Processed"},
	}, nil
}

// summaryParams renders declared parameters for GetTemplateSummary (full) or ValidateTemplate.
func summaryParams(t *tmpl, full bool) []any {
	out := make([]any, 0, len(t.params))
	for _, d := range t.params {
		m := awsproto.Object{"ParameterKey": d.Name, "NoEcho": d.NoEcho}
		if d.HasDefault {
			m["DefaultValue"] = d.Default
		}
		if d.Description != "" {
			m["Description"] = d.Description
		}
		if full {
			m["ParameterType"] = d.Type
			m["ParameterConstraints"] = awsproto.Object{"AllowedValues": stringList(d.AllowedValues)}
		}
		out = append(out, m)
	}
	return out
}

func (e *Engine) getTemplateSummary(r *region, p params) (awsproto.Object, error) {
	body, hasBody, err := e.templateBody(r.account, p, false)
	if err != nil {
		return nil, err
	}
	var t *tmpl
	switch {
	case hasBody:
		if t, err = e.parseTemplate(body); err != nil {
			return nil, err
		}
	case p.str("StackName") != "":
		r.mu.Lock()
		s, err := findStack(r, p)
		if err == nil && (s.cfg == nil || s.cfg.tmpl == nil) {
			err = stackNotFound(p.str("StackName"))
		}
		if err != nil {
			r.mu.Unlock()
			return nil, err
		}
		t = s.cfg.tmpl
		r.mu.Unlock()
	default:
		return nil, validationError("Either Template URL or Template Body or StackName must be specified.")
	}
	o := awsproto.Object{
		"Parameters":                  summaryParams(t, true),
		"ResourceTypes":               stringList(t.resourceTypes),
		"Version":                     "2010-09-09",
		"DeclaredTransforms":          []any{},
		"ResourceIdentifierSummaries": t.identifierSummaries(),
	}
	if t.description != "" {
		o["Description"] = t.description
	}
	if len(t.capabilities) > 0 {
		o["Capabilities"] = stringList(t.capabilities)
		o["CapabilitiesReason"] = t.capReason
	}
	if t.metadataJSON != "" {
		o["Metadata"] = t.metadataJSON
	}
	return o, nil
}

func (e *Engine) validateTemplate(r *region, p params) (awsproto.Object, error) {
	body, _, err := e.templateBody(r.account, p, true)
	if err != nil {
		return nil, err
	}
	t, err := e.parseTemplate(body)
	if err != nil {
		return nil, err
	}
	o := awsproto.Object{"Parameters": summaryParams(t, false), "DeclaredTransforms": []any{}}
	if t.description != "" {
		o["Description"] = t.description
	}
	if len(t.capabilities) > 0 {
		o["Capabilities"] = stringList(t.capabilities)
		o["CapabilitiesReason"] = t.capReason
	}
	return o, nil
}
