package ssm

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

const snapshotVersion = 1

type snapshotEntry struct {
	Account  string            `json:"account,omitempty"` // empty for public parameters
	Region   string            `json:"region"`
	Public   bool              `json:"public,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	Versions []Parameter       `json:"versions"`
}

func (se snapshotEntry) sortKey() string {
	return strings.Join([]string{strconv.FormatBool(se.Public), se.Account, se.Region, normalize(se.Versions[0].Name)}, "\x00")
}

type snapshot struct {
	Version    int             `json:"version"`
	Parameters []snapshotEntry `json:"parameters"`
}

// Snapshot serializes every parameter (all kept versions, tags, public parameters) as JSON,
// in a stable order so equal stores give equal bytes.
func (s *Store) Snapshot() ([]byte, error) {
	s.mu.Lock()
	snap := snapshot{Version: snapshotVersion, Parameters: []snapshotEntry{}}
	for sc, m := range s.params {
		for _, k := range sortedKeys(m) {
			e := m[k]
			snap.Parameters = append(snap.Parameters, snapshotEntry{
				Account: sc.account, Region: sc.region, Tags: maps.Clone(e.tags), Versions: slices.Clone(e.versions),
			})
		}
	}
	for region, m := range s.public {
		for _, k := range sortedKeys(m) {
			snap.Parameters = append(snap.Parameters, snapshotEntry{
				Region: region, Public: true, Versions: slices.Clone(m[k].versions),
			})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(snap.Parameters, func(a, b snapshotEntry) int {
		return strings.Compare(a.sortKey(), b.sortKey())
	})
	b, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("marshal ssm snapshot: %w", err)
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
		return fmt.Errorf("unmarshal ssm snapshot: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("unsupported ssm snapshot version %d", snap.Version)
	}
	params := make(map[scope]map[string]*entry)
	public := make(map[string]map[string]*entry)
	for i, se := range snap.Parameters {
		if len(se.Versions) == 0 || se.Region == "" {
			return fmt.Errorf("ssm snapshot parameter %d: missing versions or region", i)
		}
		name := se.Versions[0].Name
		if err := checkName(name); err != nil {
			return fmt.Errorf("ssm snapshot parameter %d: %w", i, err)
		}
		e := &entry{versions: se.Versions, tags: se.Tags}
		if se.Public {
			if public[se.Region] == nil {
				public[se.Region] = make(map[string]*entry)
			}
			public[se.Region][name] = e
			continue
		}
		sc := scope{se.Account, se.Region}
		if params[sc] == nil {
			params[sc] = make(map[string]*entry)
		}
		params[sc][normalize(name)] = e
	}
	s.mu.Lock()
	s.params, s.public = params, public
	s.mu.Unlock()
	return nil
}
