package cfn

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// snapshotVersion identifies the Snapshot format.
const snapshotVersion = 1

type snapState struct {
	Version int          `json:"version"`
	Regions []snapRegion `json:"regions"`
}

type snapRegion struct {
	Account string       `json:"account"`
	Region  string       `json:"region"`
	Stacks  []snapStack  `json:"stacks"`
	Exports []snapExport `json:"exports,omitempty"`
}

type snapExport struct {
	Name      string   `json:"name"`
	StackID   string   `json:"stackId"`
	Value     string   `json:"value"`
	Importers []string `json:"importers,omitempty"`
}

type snapConfig struct {
	Template         string       `json:"template"`
	Params           []paramValue `json:"params,omitempty"`
	Tags             []tag        `json:"tags,omitempty"`
	Capabilities     []string     `json:"capabilities,omitempty"`
	RoleARN          string       `json:"roleArn,omitempty"`
	NotificationARNs []string     `json:"notificationArns,omitempty"`
	DisableRollback  bool         `json:"disableRollback,omitempty"`
	TimeoutMinutes   int64        `json:"timeout,omitempty"`
}

type snapResource struct {
	Logical string         `json:"logical"`
	Type    string         `json:"type"`
	Status  string         `json:"status"`
	Reason  string         `json:"reason,omitempty"`
	Updated time.Time      `json:"updated"`
	Phys    physical       `json:"physical"`
	Actual  map[string]any `json:"actual,omitempty"`
}

type snapEvent struct {
	TS       time.Time `json:"ts"`
	Logical  string    `json:"l"`
	Physical string    `json:"p,omitempty"`
	Type     string    `json:"t"`
	Status   string    `json:"s"`
	Reason   string    `json:"r,omitempty"`
	Token    string    `json:"k,omitempty"`
}

type snapChangeSet struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Type        string      `json:"type"`
	Description string      `json:"description,omitempty"`
	Config      *snapConfig `json:"config"`
	Created     time.Time   `json:"created"`
	Status      string      `json:"status"`
	Reason      string      `json:"reason,omitempty"`
	ExecStatus  string      `json:"execStatus"`
	Changes     []change    `json:"changes,omitempty"`
	OnFailure   string      `json:"onFailure,omitempty"`
}

type snapDrift struct {
	ID        string          `json:"id"`
	Checked   time.Time       `json:"checked"`
	Status    string          `json:"status"`
	Resources []resourceDrift `json:"resources,omitempty"`
}

type snapStack struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Status         string          `json:"status"`
	Reason         string          `json:"reason,omitempty"`
	Created        time.Time       `json:"created"`
	Updated        time.Time       `json:"updated,omitzero"`
	Deleted        time.Time       `json:"deleted,omitzero"`
	Config         *snapConfig     `json:"config,omitempty"`
	Resources      []snapResource  `json:"resources,omitempty"`
	Outputs        []outputValue   `json:"outputs,omitempty"`
	Imports        []string        `json:"imports,omitempty"`
	Events         []snapEvent     `json:"events,omitempty"`
	TermProtection bool            `json:"terminationProtection,omitempty"`
	Token          string          `json:"token,omitempty"`
	ChangeSets     []snapChangeSet `json:"changeSets,omitempty"`
	Drift          *snapDrift      `json:"drift,omitempty"`
}

func snapCfg(c *stackConfig) *snapConfig {
	if c == nil {
		return nil
	}
	return &snapConfig{
		Template: c.tmpl.body, Params: c.params, Tags: c.tags, Capabilities: c.capabilities,
		RoleARN: c.roleARN, NotificationARNs: c.notificationARNs, DisableRollback: c.disableRollback,
		TimeoutMinutes: c.timeoutMinutes,
	}
}

// Snapshot serializes all stacks, change sets, exports and drift results as JSON. Operations
// in flight are captured as they stand; Restore turns them into failures, so snapshot after
// Close for a clean state.
func (e *Engine) Snapshot() ([]byte, error) {
	e.mu.Lock()
	keys := slices.SortedFunc(maps.Keys(e.regions), func(a, b regionKey) int {
		return strings.Compare(a.account+"/"+a.region, b.account+"/"+b.region)
	})
	regions := make([]*region, len(keys))
	for i, k := range keys {
		regions[i] = e.regions[k]
	}
	e.mu.Unlock()

	st := snapState{Version: snapshotVersion}
	for _, r := range regions {
		r.mu.Lock()
		sr := snapRegion{Account: r.account, Region: r.name}
		for _, s := range r.all {
			ss := snapStack{
				ID: s.id, Name: s.name, Status: s.status, Reason: s.reason, Created: s.created,
				Updated: s.updated, Deleted: s.deleted, Config: snapCfg(s.cfg), Outputs: s.outputs,
				Imports: s.imports, TermProtection: s.termProtection, Token: s.token,
			}
			for _, res := range s.orderedResources() {
				ss.Resources = append(ss.Resources, snapResource{
					Logical: res.logicalID, Type: res.typ, Status: res.status, Reason: res.reason,
					Updated: res.updated, Phys: res.phys, Actual: res.actual,
				})
			}
			ss.Events = make([]snapEvent, len(s.events))
			for i, ev := range s.events {
				ss.Events[i] = snapEvent{TS: ev.ts, Logical: ev.logical, Physical: ev.physical, Type: ev.typ, Status: ev.status, Reason: ev.reason, Token: ev.token}
			}
			for _, cs := range s.changeSets {
				ss.ChangeSets = append(ss.ChangeSets, snapChangeSet{
					ID: cs.id, Name: cs.name, Type: cs.typ, Description: cs.description, Config: snapCfg(cs.cfg),
					Created: cs.created, Status: cs.status, Reason: cs.reason, ExecStatus: cs.execStatus,
					Changes: cs.changes, OnFailure: cs.onFailure,
				})
			}
			if s.drift.id != "" {
				ss.Drift = &snapDrift{ID: s.drift.id, Checked: s.drift.checked, Status: s.drift.status, Resources: s.drift.resources}
			}
			sr.Stacks = append(sr.Stacks, ss)
		}
		for _, name := range slices.Sorted(maps.Keys(r.exports)) {
			ex := r.exports[name]
			sr.Exports = append(sr.Exports, snapExport{Name: name, StackID: ex.stackID, Value: ex.value, Importers: slices.Sorted(maps.Keys(ex.importers))})
		}
		r.mu.Unlock()
		st.Regions = append(st.Regions, sr)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("cfn snapshot: %w", err)
	}
	return b, nil
}

func (e *Engine) restoreCfg(c *snapConfig) (*stackConfig, error) {
	if c == nil {
		return nil, nil
	}
	t, err := e.parseTemplate(c.Template)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return &stackConfig{
		tmpl: t, params: c.Params, tags: c.Tags, capabilities: c.Capabilities, roleARN: c.RoleARN,
		notificationARNs: c.NotificationARNs, disableRollback: c.DisableRollback, timeoutMinutes: c.TimeoutMinutes,
	}, nil
}

// interruptedStatus is where an operation that a restart interrupted leaves its stack.
func interruptedStatus(status string) string {
	switch {
	case status == stReviewInProgress || !inProgress(status):
		return status
	case status == stCreateInProgress:
		return stCreateFailed
	case status == stRollbackInProgress:
		return stRollbackFailed
	case status == stDeleteInProgress:
		return stDeleteFailed
	default:
		return stUpdateRollbackFailed
	}
}

// Restore replaces all state with a Snapshot. Operations interrupted by the snapshot are
// marked failed (CREATE_FAILED, UPDATE_ROLLBACK_FAILED, …) so the stacks can be deleted or
// continued; resources in progress keep their last status.
func (e *Engine) Restore(data []byte) error {
	var st snapState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("cfn restore: %w", err)
	}
	if st.Version != snapshotVersion {
		return fmt.Errorf("cfn restore: unsupported snapshot version %d", st.Version)
	}
	regions := map[regionKey]*region{}
	for _, sr := range st.Regions {
		r := newRegion(sr.Account, sr.Region)
		for _, ss := range sr.Stacks {
			cfg, err := e.restoreCfg(ss.Config)
			if err != nil {
				return fmt.Errorf("cfn restore: stack %s: %w", ss.ID, err)
			}
			s := &stack{
				id: ss.ID, name: ss.Name, status: ss.Status, reason: ss.Reason, created: ss.Created,
				updated: ss.Updated, deleted: ss.Deleted, cfg: cfg, outputs: ss.Outputs, imports: ss.Imports,
				termProtection: ss.TermProtection, token: ss.Token, res: map[string]*resource{},
			}
			for _, sres := range ss.Resources {
				s.addResource(&resource{
					logicalID: sres.Logical, typ: sres.Type, status: sres.Status, reason: sres.Reason,
					updated: sres.Updated, phys: sres.Phys, actual: sres.Actual,
				})
			}
			s.events = make([]event, len(ss.Events))
			for i, ev := range ss.Events {
				s.events[i] = event{ts: ev.TS, logical: ev.Logical, physical: ev.Physical, typ: ev.Type, status: ev.Status, reason: ev.Reason, token: ev.Token}
			}
			if next := interruptedStatus(s.status); next != s.status {
				s.setStatus(e.now(), next, "Operation interrupted by a sandbox restart")
			}
			for _, scs := range ss.ChangeSets {
				ccfg, err := e.restoreCfg(scs.Config)
				if err != nil {
					return fmt.Errorf("cfn restore: change set %s: %w", scs.ID, err)
				}
				cs := &changeSet{
					id: scs.ID, name: scs.Name, s: s, typ: scs.Type, description: scs.Description, cfg: ccfg,
					created: scs.Created, status: scs.Status, reason: scs.Reason, execStatus: scs.ExecStatus,
					changes: scs.Changes, onFailure: scs.OnFailure,
				}
				if cs.status == csCreatePending || cs.status == csCreateInProgress {
					cs.status, cs.reason = csFailed, "Operation interrupted by a sandbox restart"
				}
				if cs.execStatus == exInProgress {
					cs.execStatus = exFailed
				}
				s.changeSets = append(s.changeSets, cs)
				r.changeSets[cs.id] = cs
			}
			if d := ss.Drift; d != nil {
				s.drift = driftInfo{id: d.ID, checked: d.Checked, status: d.Status, resources: d.Resources}
				r.detections[d.ID] = s
			}
			r.all = append(r.all, s)
			r.byID[s.id] = s
			if s.deleted.IsZero() {
				r.live[s.name] = s
			}
		}
		for _, ex := range sr.Exports {
			imp := map[string]bool{}
			for _, id := range ex.Importers {
				imp[id] = true
			}
			r.exports[ex.Name] = &export{stackID: ex.StackID, value: ex.Value, importers: imp}
		}
		regions[regionKey{sr.Account, sr.Region}] = r
	}
	e.mu.Lock()
	e.regions = regions
	e.mu.Unlock()
	return nil
}
