package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// State file format: a JSON envelope whose sha256 covers the exact bytes of "state", so that
// truncation and corruption are detected rather than half-loaded.
const (
	stateFileName   = "sandbox-state.json"
	stateFormat     = "stackfleet-sandbox-state"
	stateVersion    = 1
	defaultSaveWait = 500 * time.Millisecond
)

type stateEnvelope struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	SavedAt time.Time       `json:"savedAt"`
	SHA256  string          `json:"sha256"`
	State   json.RawMessage `json:"state"`
}

// persistedState is the whole sandbox state: the seed, the regions and the management key,
// and one section per part (see Sandbox.parts), opaque here: each part owns its format. The
// sections are members of the same JSON object as the rest: {"Seed":…,"Org":{…},"CFN":{…}}.
type persistedState struct {
	Seed       int64
	Regions    []string
	AdminKeyID string
	Sections   map[string]json.RawMessage
}

// persistedHead are the members of the state that are not sections.
var persistedHead = []string{"Seed", "Regions", "AdminKeyID"}

func (st *persistedState) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	head, err := json.Marshal(struct {
		Seed       int64
		Regions    []string
		AdminKeyID string
	}{st.Seed, st.Regions, st.AdminKeyID})
	if err != nil {
		return nil, err
	}
	b.Write(head[:len(head)-1])
	for _, k := range slices.Sorted(maps.Keys(st.Sections)) {
		fmt.Fprintf(&b, ",%q:", k)
		b.Write(st.Sections[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (st *persistedState) UnmarshalJSON(data []byte) error {
	var head struct {
		Seed       int64
		Regions    []string
		AdminKeyID string
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return err
	}
	for _, k := range persistedHead {
		delete(members, k)
	}
	*st = persistedState{Seed: head.Seed, Regions: head.Regions, AdminKeyID: head.AdminKeyID, Sections: members}
	return nil
}

func statePath(dir string) string { return filepath.Join(dir, stateFileName) }

// loadState reads the state file; a missing file is (nil, nil).
func loadState(path string) (*persistedState, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	st, err := decodeState(data)
	if err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (delete it to start afresh): %w", path, err)
	}
	return st, nil
}

// decodeState parses and verifies a state file.
func decodeState(data []byte) (*persistedState, error) {
	var env stateEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("invalid JSON at byte %d: %w", se.Offset, err)
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if env.Format != stateFormat {
		return nil, fmt.Errorf("not a sandbox state file (format %q)", env.Format)
	}
	if env.Version != stateVersion {
		return nil, fmt.Errorf("unsupported state version %d (this build reads %d)", env.Version, stateVersion)
	}
	sum := sha256.Sum256(env.State)
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return nil, errors.New("checksum mismatch: the file was modified or partially written")
	}
	var st persistedState
	if err := json.Unmarshal(env.State, &st); err != nil {
		return nil, fmt.Errorf("invalid state: %w", err)
	}
	if err := checkRegions(st.Regions); err != nil || len(st.Regions) == 0 {
		return nil, fmt.Errorf("invalid regions %q", st.Regions)
	}
	return &st, nil
}

// encodeState renders a state file; sum is the checksum of the state proper, which does not
// depend on savedAt, so that unchanged states can be recognized. The envelope is written by
// hand so that the (large) state is not scanned again by json.Marshal.
func encodeState(st *persistedState, savedAt time.Time) (data []byte, sum string, err error) {
	inner, err := json.Marshal(st)
	if err != nil {
		return nil, "", fmt.Errorf("encode state: %w", err)
	}
	h := sha256.Sum256(inner)
	sum = hex.EncodeToString(h[:])
	head, err := json.Marshal(struct {
		Format  string    `json:"format"`
		Version int       `json:"version"`
		SavedAt time.Time `json:"savedAt"`
		SHA256  string    `json:"sha256"`
	}{stateFormat, stateVersion, savedAt.UTC(), sum})
	if err != nil {
		return nil, "", fmt.Errorf("encode state: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(head) + len(inner) + 16)
	b.Write(head[:len(head)-1]) // without the closing brace
	b.WriteString(`,"state":`)
	b.Write(inner)
	b.WriteString("}\n")
	return b.Bytes(), sum, nil
}

// capture takes a snapshot of the whole sandbox. The parts are snapshotted one after the
// other, not atomically together; each snapshot is consistent in itself.
func (s *Sandbox) capture() (*persistedState, error) {
	st := &persistedState{Seed: s.seed, Regions: s.regions, AdminKeyID: s.adminKey.ID, Sections: map[string]json.RawMessage{}}
	for _, p := range s.parts {
		if p.state == nil {
			continue
		}
		data, err := p.state.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", p.key, err)
		}
		if data != nil { // nil: a section only read, from older state files
			st.Sections[p.key] = data
		}
	}
	return st, nil
}

// restore installs a loaded state into a new sandbox. Every section must belong to a part; a
// part without a section starts empty.
func (s *Sandbox) restore(st *persistedState) error {
	known := map[string]bool{}
	for _, p := range s.parts {
		if p.state == nil {
			continue
		}
		known[p.key] = true
		data, ok := st.Sections[p.key]
		if !ok {
			if p.key == "Org" {
				return errors.New("the organization is missing")
			}
			continue
		}
		if err := p.state.Restore(data); err != nil {
			return fmt.Errorf("restore %s: %w", p.key, err)
		}
	}
	for k := range st.Sections {
		if !known[k] {
			return fmt.Errorf("unknown section %q", k)
		}
	}
	admin, ok := s.keys.Lookup(st.AdminKeyID)
	if !ok || !admin.Expires.IsZero() || admin.Principal.Account != s.org.Management() {
		return fmt.Errorf("management access key %q missing or invalid", st.AdminKeyID)
	}
	s.adminKey = admin
	return nil
}

// writeFileAtomic writes data to path through a synced temporary file in the same directory
// and a rename, so that readers see the old or the new file, never a partial one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Make the rename durable; not all platforms can sync a directory, hence best effort.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// saver writes the state after changes, debounced: a burst of changes produces one write
// delay after its first change. Stack operations go on after the call that started them, so
// the saver then checks every followUp whether the state still changes and writes it until it
// settles.
type saver struct {
	s        *Sandbox
	path     string
	delay    time.Duration
	followUp time.Duration

	mu      sync.Mutex // serializes writes; guards lastSum and lastCost
	lastSum string
	// lastCost is how long the last save took; the saver waits at least four times as long
	// between saves, so that saving a large state takes at most a fifth of the time.
	lastCost time.Duration

	kicks chan struct{}
	quit  chan struct{}
	done  chan struct{}
}

func newSaver(s *Sandbox, path string, delay time.Duration) *saver {
	if delay <= 0 {
		delay = defaultSaveWait
	}
	return &saver{
		s: s, path: path, delay: delay, followUp: max(delay, time.Second),
		kicks: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
}

// kick schedules a save; it never blocks.
func (v *saver) kick() {
	select {
	case v.kicks <- struct{}{}:
	default:
	}
}

// wait sleeps for d; it reports false if the saver is stopping.
func (v *saver) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-v.quit:
		return false
	case <-t.C:
		return true
	}
}

func (v *saver) run() {
	defer close(v.done)
	for {
		select {
		case <-v.quit:
			return
		case <-v.kicks:
		}
		if !v.wait(max(v.delay, 4*v.cost())) {
			return
		}
		for {
			changed, err := v.saveIfChanged()
			if err != nil {
				v.s.log.Error("sandbox: saving state", "err", err)
			}
			if !changed || !v.wait(max(v.followUp, 4*v.cost())) {
				break
			}
		}
	}
}

func (v *saver) cost() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lastCost
}

// save writes the state now.
func (v *saver) save() error {
	_, err := v.saveIfChanged()
	return err
}

// saveIfChanged writes the state unless it equals the last state written.
func (v *saver) saveIfChanged() (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t0 := time.Now()
	defer func() { v.lastCost = time.Since(t0) }()
	st, err := v.s.capture()
	if err != nil {
		return false, fmt.Errorf("sandbox: save: %w", err)
	}
	data, sum, err := encodeState(st, v.s.now())
	if err != nil {
		return false, fmt.Errorf("sandbox: save: %w", err)
	}
	if sum == v.lastSum {
		return false, nil
	}
	if err := writeFileAtomic(v.path, data); err != nil {
		return false, fmt.Errorf("sandbox: save %s: %w", v.path, err)
	}
	v.lastSum = sum
	return true, nil
}

// stop ends the background loop and writes the final state.
func (v *saver) stop() error {
	close(v.quit)
	<-v.done
	return v.save()
}
