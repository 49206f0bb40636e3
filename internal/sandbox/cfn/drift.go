package cfn

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// driftInfo is the result of a stack's last drift detection.
type driftInfo struct {
	id      string
	checked time.Time
	status  string // DRIFTED or IN_SYNC; "" before the first detection
	// resources are the per-resource results of the last detection, in creation order.
	resources []resourceDrift
}

type resourceDrift struct {
	Logical  string         `json:"l"`
	Physical string         `json:"p"`
	Type     string         `json:"t"`
	Status   string         `json:"s"` // IN_SYNC or MODIFIED
	Expected map[string]any `json:"e,omitempty"`
	Actual   map[string]any `json:"a,omitempty"`
	Diffs    []propertyDiff `json:"d,omitempty"`
}

type propertyDiff struct {
	Path     string `json:"p"`
	Expected string `json:"e"`
	Actual   string `json:"a"`
	Type     string `json:"t"` // ADD, REMOVE, NOT_EQUAL
}

func (s *stack) driftObject() awsproto.Object {
	o := awsproto.Object{"StackDriftStatus": "NOT_CHECKED"}
	if s.drift.status != "" {
		o["StackDriftStatus"] = s.drift.status
		o["LastCheckTimestamp"] = s.drift.checked
	}
	return o
}

func (s *stack) driftSummary() awsproto.Object { return s.driftObject() }

// driftStatus is the resource's StackResourceDriftStatus as of the last detection.
func (res *resource) driftStatus(s *stack) string {
	for _, d := range s.drift.resources {
		if d.Logical == res.logicalID && d.Physical == res.phys.ID {
			return d.Status
		}
	}
	return "NOT_CHECKED"
}

// liveProps returns the resource's live properties: the deployed ones with drift applied (a
// nil value in actual means the property was removed).
func (res *resource) liveProps() map[string]any {
	if res.actual == nil {
		return res.phys.Props
	}
	live := maps.Clone(res.phys.Props)
	if live == nil {
		live = map[string]any{}
	}
	for k, v := range res.actual {
		if v == nil {
			delete(live, k)
		} else {
			live[k] = v
		}
	}
	return live
}

// Drift makes the live properties of a stack's resource differ from the template (admin
// endpoint): each key of actual replaces that top-level property (nil removes it) until an
// update rewrites the property. The next DetectStackDrift reports the resource MODIFIED.
func (e *Engine) Drift(account, regionName, stackName, logicalID string, actual map[string]any) error {
	r := e.region(account, regionName, false)
	if r == nil {
		return fmt.Errorf("drift: stack %s does not exist", stackName)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.lookup(stackName)
	if s == nil || !s.deleted.IsZero() {
		return fmt.Errorf("drift: stack %s does not exist", stackName)
	}
	res := s.res[logicalID]
	if res == nil || res.phys.ID == "" {
		return fmt.Errorf("drift: resource %s does not exist in stack %s", logicalID, stackName)
	}
	merged := maps.Clone(res.actual)
	if merged == nil {
		merged = map[string]any{}
	}
	for k, v := range actual {
		merged[k] = normalize(v)
	}
	res.actual = merged
	return nil
}

// clearDrift forgets drift of the properties an update rewrote.
func (res *resource) clearDrift(rewritten []string) {
	for _, k := range rewritten {
		delete(res.actual, k)
	}
	if len(res.actual) == 0 {
		res.actual = nil
	}
}

func jsonText(v any) string {
	b, err := json.Marshal(normalize(v))
	if err != nil {
		return ""
	}
	return string(b)
}

func (e *Engine) detectStackDrift(r *region, p params) (awsproto.Object, error) {
	only := p.strings("LogicalResourceIds")
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := findStack(r, p)
	if err != nil {
		return nil, err
	}
	if !s.deleted.IsZero() {
		return nil, stackNotFound(p.str("StackName"))
	}
	if s.busy || inProgress(s.status) {
		return nil, validationError("Drift detection cannot be performed on stack [%s] while it is in [%s] state", s.id, s.status)
	}
	now := e.now()
	info := driftInfo{id: newUUID(), checked: now, status: "IN_SYNC"}
	for _, res := range s.orderedResources() {
		if res.phys.ID == "" || len(only) > 0 && !slices.Contains(only, res.logicalID) {
			continue
		}
		expected := normalize(res.phys.Props)
		live := normalize(res.liveProps())
		d := resourceDrift{Logical: res.logicalID, Physical: res.phys.ID, Type: res.typ, Status: "IN_SYNC"}
		d.Expected, _ = expected.(map[string]any)
		d.Actual, _ = live.(map[string]any)
		for _, name := range changedProps(d.Expected, d.Actual) {
			ev, inE := d.Expected[name]
			av, inA := d.Actual[name]
			diff := propertyDiff{Path: "/" + name, Type: "NOT_EQUAL"}
			switch {
			case !inE:
				diff.Type = "ADD"
			case !inA:
				diff.Type = "REMOVE"
			}
			if inE {
				diff.Expected = scalarOrJSON(ev)
			}
			if inA {
				diff.Actual = scalarOrJSON(av)
			}
			d.Diffs = append(d.Diffs, diff)
		}
		if len(d.Diffs) > 0 {
			d.Status = "MODIFIED"
			info.status = "DRIFTED"
		}
		info.resources = append(info.resources, d)
	}
	delete(r.detections, s.drift.id)
	s.drift = info
	r.detections[info.id] = s
	return awsproto.Object{"StackDriftDetectionId": info.id}, nil
}

func scalarOrJSON(v any) string {
	switch v.(type) {
	case map[string]any, []any:
		return jsonText(v)
	}
	return scalarString(v)
}

func (e *Engine) describeStackDriftDetectionStatus(r *region, p params) (awsproto.Object, error) {
	id := p.str("StackDriftDetectionId")
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.detections[id]
	if s == nil || s.drift.id != id {
		return nil, validationError("Stack drift detection with id %s does not exist", id)
	}
	drifted := int64(0)
	for _, d := range s.drift.resources {
		if d.Status != "IN_SYNC" {
			drifted++
		}
	}
	return awsproto.Object{
		"StackId": s.id, "StackDriftDetectionId": id, "StackDriftStatus": s.drift.status,
		"DetectionStatus": "DETECTION_COMPLETE", "DriftedStackResourceCount": drifted,
		"Timestamp": s.drift.checked,
	}, nil
}

func (e *Engine) describeStackResourceDrifts(r *region, p params) (awsproto.Object, error) {
	filter := p.strings("StackResourceDriftStatusFilters")
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
	pageSize := resourcesPageSize
	if n, ok := p.integer("MaxResults"); ok && n > 0 {
		pageSize = int(min(n, 100))
	}
	var matching []*resourceDrift
	for i := range s.drift.resources {
		d := &s.drift.resources[i]
		if len(filter) == 0 || slices.Contains(filter, d.Status) {
			matching = append(matching, d)
		}
	}
	out := []any{}
	i := start
	for ; i < len(matching) && len(out) < pageSize; i++ {
		d := matching[i]
		diffs := make([]any, len(d.Diffs))
		for j, df := range d.Diffs {
			diffs[j] = awsproto.Object{"PropertyPath": df.Path, "ExpectedValue": df.Expected, "ActualValue": df.Actual, "DifferenceType": df.Type}
		}
		out = append(out, awsproto.Object{
			"StackId": s.id, "LogicalResourceId": d.Logical, "PhysicalResourceId": d.Physical,
			"ResourceType": d.Type, "ExpectedProperties": jsonText(d.Expected), "ActualProperties": jsonText(d.Actual),
			"PropertyDifferences": diffs, "StackResourceDriftStatus": d.Status, "Timestamp": s.drift.checked,
		})
	}
	o := awsproto.Object{"StackResourceDrifts": out}
	if i < len(matching) {
		o["NextToken"] = encodeToken(i)
	}
	return o, nil
}
