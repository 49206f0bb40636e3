package cloudwatch

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

const snapshotVersion = 1

type snapshotRegion struct {
	Account string      `json:"account"`
	Region  string      `json:"region"`
	Alarms  []*alarmRec `json:"alarms"`
	Metrics []*series   `json:"metrics"`
}

type snapshot struct {
	Version int              `json:"version"`
	Seq     uint64           `json:"seq"`
	Regions []snapshotRegion `json:"regions"`
}

// Snapshot serializes every alarm (with its evaluation bookkeeping) and every stored datapoint
// as JSON, in a stable order so equal stores give equal bytes.
func (s *Store) Snapshot() ([]byte, error) {
	s.mu.Lock()
	snap := snapshot{Version: snapshotVersion, Seq: s.seq, Regions: []snapshotRegion{}}
	for sc, r := range s.regions {
		sr := snapshotRegion{Account: sc.account, Region: sc.region, Alarms: []*alarmRec{}, Metrics: []*series{}}
		for _, rec := range r.sortedAlarms() {
			c := *rec
			c.Alarm = rec.public()
			sr.Alarms = append(sr.Alarms, &c)
		}
		for _, k := range slices.Sorted(maps.Keys(r.series)) {
			se := *r.series[k]
			se.Dims, se.Points = slices.Clone(se.Dims), slices.Clone(se.Points)
			sr.Metrics = append(sr.Metrics, &se)
		}
		snap.Regions = append(snap.Regions, sr)
	}
	s.mu.Unlock()
	slices.SortFunc(snap.Regions, func(a, b snapshotRegion) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	b, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("marshal cloudwatch snapshot: %w", err)
	}
	return b, nil
}

// Restore replaces the store's content with a Snapshot; empty data empties the store. On error
// the store is unchanged.
func (s *Store) Restore(data []byte) error {
	var snap snapshot
	if len(data) == 0 {
		data = []byte(`{"version":1}`)
	}
	if err := json.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("unmarshal cloudwatch snapshot: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("unsupported cloudwatch snapshot version %d", snap.Version)
	}
	regions := make(map[scope]*region, len(snap.Regions))
	for _, sr := range snap.Regions {
		r := &region{alarms: make(map[string]*alarmRec), series: make(map[string]*series)}
		for _, rec := range sr.Alarms {
			if rec == nil || rec.Name == "" {
				return fmt.Errorf("cloudwatch snapshot %s/%s: alarm without a name", sr.Account, sr.Region)
			}
			if rec.composite() {
				rule, err := parseRule(rec.AlarmRule)
				if err != nil {
					return fmt.Errorf("cloudwatch snapshot alarm %s: %w", rec.Name, err)
				}
				rec.rule = rule
			} else {
				if rec.Period <= 0 || rec.EvaluationPeriods <= 0 {
					return fmt.Errorf("cloudwatch snapshot alarm %s: invalid period", rec.Name)
				}
				rec.key = seriesKey(rec.Namespace, rec.MetricName, rec.Dimensions)
			}
			r.alarms[rec.Name] = rec
		}
		for _, se := range sr.Metrics {
			if se == nil || len(se.Points) == 0 {
				continue
			}
			slices.SortStableFunc(se.Points, func(a, b point) int { return a.T.Compare(b.T) })
			r.series[seriesKey(se.Namespace, se.MetricName, se.dimMap())] = se
		}
		regions[scope{sr.Account, sr.Region}] = r
	}
	s.mu.Lock()
	s.regions = regions
	s.seq = max(s.seq, snap.Seq)
	s.mu.Unlock()
	return nil
}
