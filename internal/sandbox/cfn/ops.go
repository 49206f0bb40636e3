package cfn

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// This file runs stack operations. Each runs in its own goroutine (Engine.goOp) while the
// stack's busy flag keeps other operations out; it takes the region lock only around state
// changes and never across an Effects call or a simulated delay.

// failedList formats the logical ids of failed resources as AWS does in stack reasons.
func failedList(verb string, ids []string) string {
	return fmt.Sprintf("The following resource(s) failed to %s: [%s]. ", verb, strings.Join(ids, ", "))
}

// provCtx returns the provider context for a resource of s.
func (e *Engine) provCtx(r *region, s *stack, logical, typ string) *provCtx {
	return &provCtx{fx: e.fx, account: r.account, region: r.name, stackName: s.name, stackID: s.id, logicalID: logical, resourceType: typ}
}

// fault asks Effects whether the operation on the resource fails now.
func (e *Engine) fault(r *region, s *stack, logical, typ string) (string, bool) {
	reason, fail := e.fx.ResourceFault(r.account, r.name, s.name, logical, typ)
	if fail && reason == "" {
		reason = "Resource handler returned message: \"Injected fault\""
	}
	return reason, fail
}

// createPhysical creates the physical resource for a logical resource whose properties are
// props: fault check, validation, the effect. It returns the new physical resource or the
// failure reason.
func (e *Engine) createPhysical(r *region, s *stack, logical, typ string, props map[string]any) (physical, string) {
	pv := providerFor(typ)
	if reason, fail := e.fault(r, s, logical, typ); fail {
		return physical{}, reason
	}
	if reason := pv.missingProperty(props); reason != "" {
		return physical{}, reason
	}
	if pv.validate != nil {
		if err := pv.validate(props); err != nil {
			return physical{}, err.Error()
		}
	}
	c := e.provCtx(r, s, logical, typ)
	p := physical{ID: pv.newID(c, props), Props: props}
	if pv.create != nil {
		if err := pv.create(c, &p); err != nil {
			return physical{}, err.Error()
		}
	}
	return p, ""
}

// updatePhysical updates old in place to props.
func (e *Engine) updatePhysical(r *region, s *stack, logical, typ string, old physical, props map[string]any, checkFault bool) (physical, string) {
	pv := providerFor(typ)
	if checkFault {
		if reason, fail := e.fault(r, s, logical, typ); fail {
			return old, reason
		}
	}
	if reason := pv.missingProperty(props); reason != "" {
		return old, reason
	}
	if pv.validate != nil {
		if err := pv.validate(props); err != nil {
			return old, err.Error()
		}
	}
	p := physical{ID: old.ID, Aux: old.Aux, Props: props}
	if pv.update != nil {
		if err := pv.update(e.provCtx(r, s, logical, typ), &old, &p); err != nil {
			return old, err.Error()
		}
	}
	return p, ""
}

// deletePhysical deletes p; checkFault is false for resources whose creation failed.
func (e *Engine) deletePhysical(r *region, s *stack, logical, typ string, p physical, checkFault bool) string {
	if checkFault {
		if reason, fail := e.fault(r, s, logical, typ); fail {
			return reason
		}
	}
	if p.ID == "" {
		return ""
	}
	pv := providerFor(typ)
	if pv != nil && pv.delete != nil {
		if err := pv.delete(e.provCtx(r, s, logical, typ), &p); err != nil {
			return err.Error()
		}
	}
	return ""
}

// createResource creates one logical resource of the stack's template with CREATE_* events
// (or, for a replacement, UPDATE_* events on a new resource state). It returns the failure
// reason, or "".
func (e *Engine) createResource(r *region, s *stack, env *evalEnv, logical string, replacing *resource) (*resource, string) {
	r.mu.Lock()
	decl := env.t.resources[logical]
	res := &resource{logicalID: logical, typ: decl.Type}
	inProgress, complete := stCreateInProgress, stCreateComplete
	if replacing != nil {
		inProgress, complete = stUpdateInProgress, stUpdateComplete
		res.phys = replacing.phys
		s.setResource(e.now(), res, inProgress, reasonReplacementInitiated)
		res.phys = physical{}
		s.res[logical] = res
	} else {
		s.addResource(res)
		s.setResource(e.now(), res, inProgress, "")
	}
	props, err := env.props(logical)
	r.mu.Unlock()

	reason := ""
	var p physical
	if err != nil {
		reason = errorMessage(err)
	} else {
		p, reason = e.createPhysical(r, s, logical, decl.Type, props)
	}
	if reason == "" {
		r.mu.Lock()
		res.phys = p
		s.setResource(e.now(), res, inProgress, reasonCreationInitiated)
		r.mu.Unlock()
		e.sleep()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if reason != "" {
		failed := stCreateFailed
		if replacing != nil {
			failed = stUpdateFailed
		}
		s.setResource(e.now(), res, failed, reason)
		return res, reason
	}
	s.setResource(e.now(), res, complete, "")
	return res, ""
}

// keepPolicy maps a DeletionPolicy to what a deletion does: "Retain" keeps the resource.
// RetainExceptOnCreate retains except when rolling back the stack's creation; Snapshot deletes
// (the sandbox keeps no snapshots).
func keepPolicy(policy string, createRollback bool) string {
	if policy == "Retain" || policy == "RetainExceptOnCreate" && !createRollback {
		return "Retain"
	}
	return ""
}

// deleteResource deletes one resource with DELETE_* events; policy "Retain" (see keepPolicy)
// skips the deletion. It returns the failure reason, or "".
func (e *Engine) deleteResource(r *region, s *stack, res *resource, policy string, checkFault bool) string {
	r.mu.Lock()
	if policy == "Retain" {
		s.setResource(e.now(), res, stDeleteSkipped, "")
		r.mu.Unlock()
		return ""
	}
	if res.status == stCreateFailed || res.phys.ID == "" {
		// Nothing was created: AWS reports the deletion complete at once.
		s.setResource(e.now(), res, stDeleteComplete, "")
		r.mu.Unlock()
		return ""
	}
	s.setResource(e.now(), res, stDeleteInProgress, "")
	p := res.phys
	r.mu.Unlock()
	reason := e.deletePhysical(r, s, res.logicalID, res.typ, p, checkFault)
	if reason == "" {
		e.sleep()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if reason != "" {
		s.setResource(e.now(), res, stDeleteFailed, reason)
		return reason
	}
	s.setResource(e.now(), res, stDeleteComplete, "")
	return ""
}

// runCreate creates the resources of a stack whose cfg is set and whose status is
// CREATE_IN_PROGRESS. onFailure is ROLLBACK, DELETE or DO_NOTHING.
func (e *Engine) runCreate(r *region, s *stack, onFailure string) {
	r.mu.Lock()
	env, err := e.newEnv(r, s, s.cfg)
	r.mu.Unlock()
	var failed []string
	stackReason := ""
	if err != nil {
		stackReason = errorMessage(err)
	} else {
		for _, logical := range env.order() {
			r.mu.Lock()
			cancelled := s.deleteRequested
			r.mu.Unlock()
			if cancelled {
				// DeleteStack during creation: stop creating and delete what exists.
				r.mu.Lock()
				s.deleteRequested, s.token = false, s.deleteToken
				s.setStatus(e.now(), stDeleteInProgress, reasonUserInitiated)
				r.mu.Unlock()
				e.runDelete(r, s, nil)
				return
			}
			if _, reason := e.createResource(r, s, env, logical, nil); reason != "" {
				failed = append(failed, logical)
				break
			}
		}
	}
	if failed == nil && stackReason == "" {
		r.mu.Lock()
		outs, err := env.outputs()
		if err == nil {
			err = e.publishExports(r, s, outs, env.imports)
		}
		if err == nil {
			s.outputs, s.imports = outs, env.imports
			s.setStatus(e.now(), stCreateComplete, "")
			e.release(r, s)
			r.mu.Unlock()
			return
		}
		stackReason = errorMessage(err)
		r.mu.Unlock()
	}
	if failed != nil {
		stackReason = failedList("create", failed)
	}

	r.mu.Lock()
	if onFailure == "DO_NOTHING" {
		s.setStatus(e.now(), stCreateFailed, stackReason)
		e.release(r, s)
		r.mu.Unlock()
		return
	}
	if !strings.HasSuffix(stackReason, " ") {
		stackReason += ". "
	}
	s.setStatus(e.now(), stRollbackInProgress, stackReason+"Rollback requested by user.")
	toDelete := slices.Clone(s.orderedResources())
	r.mu.Unlock()

	var delFailed []string
	for _, res := range slices.Backward(toDelete) {
		policy := ""
		if d := env.t.resources[res.logicalID]; d != nil {
			policy = keepPolicy(d.DeletionPolicy, true)
		}
		if reason := e.deleteResource(r, s, res, policy, true); reason != "" {
			delFailed = append(delFailed, res.logicalID)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, res := range toDelete {
		if res.status == stDeleteComplete {
			s.removeResource(res.logicalID)
		}
	}
	if delFailed != nil {
		s.setStatus(e.now(), stRollbackFailed, failedList("delete", delFailed))
		e.release(r, s)
		return
	}
	s.setStatus(e.now(), stRollbackComplete, "")
	if onFailure == "DELETE" {
		s.setStatus(e.now(), stDeleteInProgress, reasonUserInitiated)
		e.finishDelete(r, s)
		return
	}
	e.release(r, s)
}

// release ends the operation that owns s; a DeleteStack accepted while it ran starts now.
// r.mu is held.
func (e *Engine) release(r *region, s *stack) {
	s.busy = false
	if !s.deleteRequested || !s.deleted.IsZero() {
		return
	}
	s.deleteRequested, s.token = false, s.deleteToken
	s.busy = true
	s.setStatus(e.now(), stDeleteInProgress, reasonUserInitiated)
	if !e.goOp(func() { e.runDelete(r, s, nil) }) {
		s.busy = false
		s.setStatus(e.now(), stDeleteFailed, "The CloudFormation service is shutting down.")
	}
}

// runDelete deletes a stack's resources in reverse creation order; retain lists logical ids
// to keep (allowed for DELETE_FAILED stacks).
func (e *Engine) runDelete(r *region, s *stack, retain map[string]bool) {
	r.mu.Lock()
	if msg := e.exportInUse(r, s, nil); msg != "" {
		s.setStatus(e.now(), stDeleteFailed, msg)
		s.busy = false
		r.mu.Unlock()
		return
	}
	// Orphans come first, so that they are deleted last.
	resources := append(slices.Clone(s.orphans), s.orderedResources()...)
	policies := make([]string, len(resources))
	for i, res := range resources {
		if s.cfg != nil && s.cfg.tmpl != nil && i >= len(s.orphans) {
			if d := s.cfg.tmpl.resources[res.logicalID]; d != nil {
				policies[i] = keepPolicy(d.DeletionPolicy, false)
			}
		}
		if retain[res.logicalID] {
			policies[i] = "Retain"
		}
	}
	r.mu.Unlock()

	var failed []string
	for i, res := range slices.Backward(resources) {
		if res.status == stDeleteComplete || res.status == stDeleteSkipped {
			continue
		}
		if reason := e.deleteResource(r, s, res, policies[i], true); reason != "" {
			failed = append(failed, res.logicalID)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if failed != nil {
		slices.Reverse(failed)
		s.setStatus(e.now(), stDeleteFailed, failedList("delete", failed))
		s.busy = false
		return
	}
	e.finishDelete(r, s)
}

// finishDelete marks s DELETE_COMPLETE and frees its name and exports. r.mu is held.
func (e *Engine) finishDelete(r *region, s *stack) {
	now := e.now()
	for name, ex := range r.exports {
		if ex.stackID == s.id {
			delete(r.exports, name)
		}
	}
	for _, name := range s.imports {
		if ex := r.exports[name]; ex != nil {
			delete(ex.importers, s.id)
		}
	}
	s.imports, s.orphans = nil, nil
	for _, cs := range s.changeSets {
		delete(r.changeSets, cs.id)
	}
	s.changeSets = nil
	s.setStatus(now, stDeleteComplete, "")
	s.deleted = now
	s.busy = false
	s.pendingRollback = nil
	if r.live[s.name] == s {
		delete(r.live, s.name)
	}
	// A deleted stack keeps its events and resource summaries; properties are no longer needed.
	for _, res := range s.res {
		res.phys.Props, res.actual = nil, nil
	}
}

// updateStep records what the forward phase of an update did to one logical resource, for
// rollback and cleanup.
type updateStep struct {
	logical string
	kind    string // "add", "modify", "replace"
	old     *resource
	new     *resource
	failed  bool
}

// updateOp is an update in flight: the previous configuration and resource states, and the
// steps taken. After a failed rollback it is kept on the stack for ContinueUpdateRollback.
type updateOp struct {
	oldCfg     *stackConfig
	oldRes     map[string]*resource
	oldOrder   []string
	oldOutputs []outputValue
	oldImports []string
	steps      []updateStep
	// next is the index of the next step to roll back, counting down.
	next int
}

// newUpdateOp snapshots the stack for an update. r.mu is held.
func newUpdateOp(s *stack) *updateOp {
	op := &updateOp{
		oldCfg: s.cfg, oldRes: make(map[string]*resource, len(s.res)), oldOrder: slices.Clone(s.resOrder),
		oldOutputs: s.outputs, oldImports: s.imports,
	}
	for k, v := range s.res {
		op.oldRes[k] = v
	}
	return op
}

// runUpdate moves the stack from op.oldCfg to s.cfg (already set, status UPDATE_IN_PROGRESS).
func (e *Engine) runUpdate(r *region, s *stack, op *updateOp) {
	r.mu.Lock()
	env, err := e.newEnv(r, s, s.cfg)
	r.mu.Unlock()
	var failed []string
	stackReason := ""
	if err != nil {
		stackReason = errorMessage(err)
	}
	keep := map[string]bool{}
	if err == nil {
		for _, logical := range env.order() {
			keep[logical] = true
			step, reason := e.updateResource(r, s, env, logical, op)
			if step.kind != "" {
				op.steps = append(op.steps, step)
			}
			if reason != "" {
				failed = append(failed, logical)
				break
			}
		}
	}
	r.mu.Lock()
	if failed == nil && stackReason == "" {
		outs, err := env.outputs()
		if err == nil {
			err = e.checkExportUpdate(r, s, outs)
		}
		if err != nil {
			stackReason = errorMessage(err)
		} else {
			e.replaceExports(r, s, outs, env.imports)
			s.outputs, s.imports = outs, env.imports
		}
	}
	if failed != nil || stackReason != "" {
		switch {
		case s.cancelRequested:
			stackReason = reasonStackUpdateCancelled
		case failed != nil:
			stackReason = failedList("update", failed)
		}
		s.setStatus(e.now(), stUpdateRollbackInProgress, stackReason)
		op.next = len(op.steps) - 1
		r.mu.Unlock()
		e.runUpdateRollback(r, s, op, nil)
		return
	}
	s.setStatus(e.now(), stUpdateCleanup, "")
	// Cleanup: old physical resources of replacements, then resources no longer in the
	// template, newest first.
	type victim struct {
		res    *resource
		policy string
	}
	var victims []victim
	for _, st := range slices.Backward(op.steps) {
		if st.kind == "replace" {
			policy := ""
			if d := env.t.resources[st.logical]; d != nil {
				policy = keepPolicy(d.UpdateReplacePolicy, false)
			}
			victims = append(victims, victim{st.old, policy})
		}
	}
	for _, id := range slices.Backward(op.oldOrder) {
		if !keep[id] {
			if res := s.res[id]; res != nil {
				policy := ""
				if op.oldCfg != nil && op.oldCfg.tmpl != nil {
					if d := op.oldCfg.tmpl.resources[id]; d != nil {
						policy = keepPolicy(d.DeletionPolicy, false)
					}
				}
				victims = append(victims, victim{res, policy})
			}
		}
	}
	r.mu.Unlock()
	for _, v := range victims {
		// Cleanup failures are reported on the resource but do not fail the update, as in AWS.
		e.deleteResource(r, s, v.res, v.policy, true)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range op.oldOrder {
		if !keep[id] {
			s.removeResource(id)
		}
	}
	s.resOrder = slices.DeleteFunc(s.resOrder, func(id string) bool { return s.res[id] == nil })
	s.setStatus(e.now(), stUpdateComplete, "")
	s.busy, s.cancelRequested = false, false
	e.obsoleteChangeSets(s, "")
}

// updateResource brings one logical resource to the new template: create, replace, modify
// in place, or nothing.
func (e *Engine) updateResource(r *region, s *stack, env *evalEnv, logical string, op *updateOp) (updateStep, string) {
	r.mu.Lock()
	if s.cancelRequested {
		r.mu.Unlock()
		return updateStep{}, reasonCancelled
	}
	decl := env.t.resources[logical]
	old := op.oldRes[logical]
	if old == nil || old.status == stCreateFailed || old.phys.ID == "" {
		r.mu.Unlock()
		res, reason := e.createResource(r, s, env, logical, nil)
		return updateStep{logical: logical, kind: "add", old: old, new: res, failed: reason != ""}, reason
	}
	props, err := env.props(logical)
	if err != nil {
		s.setResource(e.now(), old, stUpdateFailed, errorMessage(err))
		r.mu.Unlock()
		return updateStep{logical: logical, kind: "modify", old: old, new: old, failed: true}, errorMessage(err)
	}
	pv := providerFor(decl.Type)
	revert := s.cfg.revertDrift && old.actual != nil
	if old.typ == decl.Type && valuesEqual(normalize(props), normalize(old.phys.Props)) && !revert {
		r.mu.Unlock()
		return updateStep{}, ""
	}
	if old.typ != decl.Type || pv.needsReplacement(old.phys.Props, props) {
		if pv.nameProp != "" {
			if name := propString(props, pv.nameProp); name != "" && name == propString(old.phys.Props, pv.nameProp) && old.typ == decl.Type {
				reason := fmt.Sprintf("CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename %s and update the stack again.", name)
				s.setResource(e.now(), old, stUpdateFailed, reason)
				r.mu.Unlock()
				return updateStep{logical: logical, kind: "modify", old: old, new: old, failed: true}, reason
			}
		}
		r.mu.Unlock()
		res, reason := e.createResource(r, s, env, logical, old)
		return updateStep{logical: logical, kind: "replace", old: old, new: res, failed: reason != ""}, reason
	}
	// In-place update on a copy, so the pre-update state stays intact for rollback.
	res := &resource{logicalID: logical, typ: old.typ, phys: old.phys, actual: maps.Clone(old.actual)}
	s.res[logical] = res
	s.setResource(e.now(), res, stUpdateInProgress, "")
	r.mu.Unlock()

	p, reason := e.updatePhysical(r, s, logical, decl.Type, old.phys, props, true)
	if reason == "" {
		e.sleep()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	step := updateStep{logical: logical, kind: "modify", old: old, new: res, failed: reason != ""}
	if reason != "" {
		s.setResource(e.now(), res, stUpdateFailed, reason)
		return step, reason
	}
	res.phys = p
	res.clearDrift(changedProps(old.phys.Props, props))
	if revert {
		res.actual = nil // the template's properties were written back over the drift
	}
	s.setResource(e.now(), res, stUpdateComplete, "")
	return step, ""
}

// runUpdateRollback undoes op's steps from op.next down, restores the previous configuration
// and deletes the resources the update created. skip lists logical ids whose rollback is
// skipped (ContinueUpdateRollback's ResourcesToSkip).
func (e *Engine) runUpdateRollback(r *region, s *stack, op *updateOp, skip map[string]bool) {
	for ; op.next >= 0; op.next-- {
		st := op.steps[op.next]
		r.mu.Lock()
		switch {
		case st.kind == "add":
			// Deleted in cleanup.
			r.mu.Unlock()
			continue
		case st.kind == "replace" || st.failed || skip[st.logical]:
			// The previous physical resource is untouched: put it back.
			s.res[st.logical] = st.old
			s.setResource(e.now(), st.old, stUpdateComplete, "")
			r.mu.Unlock()
			continue
		}
		res := st.new
		s.setResource(e.now(), res, stUpdateInProgress, "")
		cur := res.phys
		r.mu.Unlock()
		p, reason := e.updatePhysical(r, s, st.logical, st.old.typ, cur, st.old.phys.Props, true)
		if reason == "" {
			e.sleep()
		}
		r.mu.Lock()
		if reason != "" {
			s.setResource(e.now(), res, stUpdateFailed, reason)
			s.setStatus(e.now(), stUpdateRollbackFailed, failedList("update", []string{st.logical}))
			s.pendingRollback = op
			s.busy = false
			r.mu.Unlock()
			return
		}
		st.old.phys = p
		s.res[st.logical] = st.old
		s.setResource(e.now(), st.old, stUpdateComplete, "")
		r.mu.Unlock()
	}

	r.mu.Lock()
	s.pendingRollback = nil
	s.cfg, s.outputs = op.oldCfg, op.oldOutputs
	e.restoreImports(r, s, op.oldImports)
	s.setStatus(e.now(), stUpdateRollbackCleanup, "")
	var victims []*resource
	for _, st := range slices.Backward(op.steps) {
		if st.kind == "add" || st.kind == "replace" {
			victims = append(victims, st.new)
		}
	}
	r.mu.Unlock()
	for _, v := range victims {
		e.deleteResource(r, s, v, "", true)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range op.steps {
		if st.kind == "add" {
			if st.old != nil {
				s.res[st.logical] = st.old
			} else {
				s.removeResource(st.logical)
			}
		}
	}
	// Resources keep their previous creation order.
	s.resOrder = slices.DeleteFunc(slices.Clone(op.oldOrder), func(id string) bool { return s.res[id] == nil })
	s.setStatus(e.now(), stUpdateRollbackComplete, "")
	s.busy, s.cancelRequested = false, false
}
