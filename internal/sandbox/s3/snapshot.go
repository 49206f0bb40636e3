package s3

import (
	"encoding/json"
	"fmt"
	"maps"
)

const snapshotVersion = 1

type snapshotBucket struct {
	Bucket
	Objects map[string]*Object `json:",omitempty"`
}

type snapshot struct {
	Version int              `json:"version"`
	Buckets []snapshotBucket `json:"buckets"`
}

// Snapshot serializes every bucket with its objects (content base64-encoded) as JSON, in a
// stable order. Multipart uploads in progress are not kept.
func (s *Store) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := snapshot{Version: snapshotVersion, Buckets: []snapshotBucket{}}
	for _, name := range sortedNames(s.buckets) {
		b := s.buckets[name]
		snap.Buckets = append(snap.Buckets, snapshotBucket{Bucket: b.clone(), Objects: maps.Clone(b.objects)})
	}
	return json.Marshal(snap)
}

// Restore replaces the store's buckets with a snapshot.
func (s *Store) Restore(data []byte) error {
	var snap snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return err
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("s3 snapshot version %d, want %d", snap.Version, snapshotVersion)
	}
	buckets := make(map[string]*bucket, len(snap.Buckets))
	for _, sb := range snap.Buckets {
		if !ValidBucketName(sb.Name) || sb.Account == "" {
			return fmt.Errorf("s3 snapshot: invalid bucket %q", sb.Name)
		}
		objects := sb.Objects
		if objects == nil {
			objects = map[string]*Object{}
		}
		buckets[sb.Name] = &bucket{Bucket: sb.Bucket, objects: objects, uploads: map[string]*upload{}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets = buckets
	return nil
}
