package cli

import (
	"maps"
	"path/filepath"
	"strings"
	"sync"

	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/secrets"
	"github.com/stackfleet/stackfleet/internal/templates"
)

// keyring loads the secret key once, when a value is first sealed or opened: a configuration
// without NoEcho parameters never needs one.
type keyring struct {
	dir  string
	once sync.Once
	box  *secrets.Box
	err  error
}

func (k *keyring) get() (*secrets.Box, error) {
	k.once.Do(func() { k.box, k.err = secrets.Load(k.dir) })
	return k.box, k.err
}

// open returns params with sealed values opened, for the deploy call only.
func (k *keyring) open(params map[string]string) (map[string]string, error) {
	if !secrets.Sealed(params) {
		return params, nil
	}
	box, err := k.get()
	if err != nil {
		return nil, err
	}
	return box.OpenAll(params)
}

// seal replaces, in place, the values of params that info declares NoEcho with their sealed form.
func (k *keyring) seal(params map[string]string, info *templates.Info) error {
	for name, v := range params {
		if p, ok := info.Parameter(name); !ok || !p.NoEcho || secrets.Passthrough(v) || strings.Contains(v, "{{") {
			continue
		}
		box, err := k.get()
		if err != nil {
			return err
		}
		params[name] = box.Seal(v)
	}
	return nil
}

func newKeyring(configDir string) *keyring {
	return &keyring{dir: filepath.Join(configDir, ".stackfleet")}
}

// sealValue seals one value (for a NoEcho parameter a reference resolved).
func (k *keyring) sealValue(v string) (string, error) {
	box, err := k.get()
	if err != nil {
		return "", err
	}
	return box.Seal(v), nil
}

// sealStackSets seals the NoEcho parameter values of the resolved stack sets, base and
// overrides: from here on plans, the state and every output hold only sealed values.
func (w *workspace) sealStackSets() error {
	for _, s := range w.resolved.StackSets {
		info := w.resolved.Templates[s.Name]
		if info == nil {
			continue
		}
		s.Parameters = maps.Clone(s.Parameters)
		if err := w.keys.seal(s.Parameters, info); err != nil {
			return err
		}
		for i := range s.Overrides {
			s.Overrides[i].Parameters = maps.Clone(s.Overrides[i].Parameters)
			if err := w.keys.seal(s.Overrides[i].Parameters, info); err != nil {
				return err
			}
		}
	}
	return nil
}

// sealPipeline seals the NoEcho parameter values of a pipeline's stacks and stage overrides.
func (w *workspace) sealPipeline(spec *fleet.Pipeline) error {
	for i := range spec.Stacks {
		s := &spec.Stacks[i]
		info, err := templates.Parse(s.TemplateBody)
		if err != nil {
			continue // config resolution reported it
		}
		s.Parameters = maps.Clone(s.Parameters)
		if err := w.keys.seal(s.Parameters, info); err != nil {
			return err
		}
		for j := range spec.Stages {
			st := &spec.Stages[j]
			if st.Parameters[s.Name] == nil {
				continue
			}
			st.Parameters = maps.Clone(st.Parameters)
			st.Parameters[s.Name] = maps.Clone(st.Parameters[s.Name])
			if err := w.keys.seal(st.Parameters[s.Name], info); err != nil {
				return err
			}
		}
	}
	return nil
}
