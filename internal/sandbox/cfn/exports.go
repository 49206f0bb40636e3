package cfn

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Exports are unique per account and region. An export's importers are the stacks whose
// deployed template imports it; while it has any, its stack can neither remove nor change it,
// nor be deleted.

// importerNames lists the names of the stacks importing ex, other than self. r.mu is held.
func (r *region) importerNames(ex *export, self string) []string {
	var names []string
	for id := range ex.importers {
		if id == self {
			continue
		}
		if s := r.byID[id]; s != nil && s.deleted.IsZero() {
			names = append(names, s.name)
		}
	}
	slices.Sort(names)
	return names
}

// checkNewExports reports an export of outs already exported by another stack. r.mu is held.
func (r *region) checkNewExports(s *stack, outs []outputValue) error {
	seen := map[string]bool{}
	for _, o := range outs {
		if o.ExportName == "" {
			continue
		}
		if seen[o.ExportName] {
			return fmt.Errorf("Template error: duplicate Export name %s", o.ExportName)
		}
		seen[o.ExportName] = true
		if ex := r.exports[o.ExportName]; ex != nil && ex.stackID != s.id {
			owner := ex.stackID
			if os := r.byID[ex.stackID]; os != nil {
				owner = os.name
			}
			return fmt.Errorf("Export with name %s is already exported by stack %s", o.ExportName, owner)
		}
	}
	return nil
}

// publishExports registers the exports and imports of a newly created stack. r.mu is held.
func (e *Engine) publishExports(r *region, s *stack, outs []outputValue, imports []string) error {
	if err := r.checkNewExports(s, outs); err != nil {
		return err
	}
	e.replaceExports(r, s, outs, imports)
	return nil
}

// checkExportUpdate checks that an update's outputs neither clash with other stacks' exports
// nor remove or change an export another stack imports. r.mu is held.
func (e *Engine) checkExportUpdate(r *region, s *stack, outs []outputValue) error {
	if err := r.checkNewExports(s, outs); err != nil {
		return err
	}
	newVals := map[string]string{}
	for _, o := range outs {
		if o.ExportName != "" {
			newVals[o.ExportName] = o.Value
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.exports)) {
		ex := r.exports[name]
		if ex.stackID != s.id {
			continue
		}
		users := r.importerNames(ex, s.id)
		if len(users) == 0 {
			continue
		}
		v, kept := newVals[name]
		switch {
		case !kept:
			return fmt.Errorf("Cannot delete export %s as it is in use by %s", name, strings.Join(users, ", "))
		case v != ex.value:
			return fmt.Errorf("Cannot update export %s as it is in use by %s", name, strings.Join(users, ", "))
		}
	}
	return nil
}

// replaceExports makes outs the exports of s and imports its imports. r.mu is held.
func (e *Engine) replaceExports(r *region, s *stack, outs []outputValue, imports []string) {
	kept := map[string]map[string]bool{}
	for name, ex := range r.exports {
		if ex.stackID == s.id {
			kept[name] = ex.importers
			delete(r.exports, name)
		}
	}
	for _, o := range outs {
		if o.ExportName == "" {
			continue
		}
		importers := kept[o.ExportName]
		if importers == nil {
			importers = map[string]bool{}
		}
		r.exports[o.ExportName] = &export{stackID: s.id, value: o.Value, importers: importers}
	}
	e.restoreImports(r, s, imports)
}

// restoreImports makes imports the exports s imports. r.mu is held.
func (e *Engine) restoreImports(r *region, s *stack, imports []string) {
	for _, name := range s.imports {
		if ex := r.exports[name]; ex != nil {
			delete(ex.importers, s.id)
		}
	}
	for _, name := range imports {
		if ex := r.exports[name]; ex != nil {
			ex.importers[s.id] = true
		}
	}
	s.imports = imports
}

// exportInUse returns why s cannot be deleted because of its exports, or "". r.mu is held.
func (e *Engine) exportInUse(r *region, s *stack, _ []outputValue) string {
	for _, name := range slices.Sorted(maps.Keys(r.exports)) {
		ex := r.exports[name]
		if ex.stackID != s.id {
			continue
		}
		if users := r.importerNames(ex, s.id); len(users) > 0 {
			return fmt.Sprintf("Export %s cannot be deleted as it is in use by %s", name, strings.Join(users, ", "))
		}
	}
	return ""
}

func (e *Engine) listExports(r *region, p params) (awsproto.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := slices.Sorted(maps.Keys(r.exports))
	start := 0
	if tok := p.str("NextToken"); tok != "" {
		var err error
		if start, err = decodeToken(tok); err != nil {
			return nil, err
		}
	}
	out := []any{}
	i := start
	for ; i < len(names) && len(out) < stacksPageSize; i++ {
		ex := r.exports[names[i]]
		out = append(out, awsproto.Object{"ExportingStackId": ex.stackID, "Name": names[i], "Value": ex.value})
	}
	o := awsproto.Object{"Exports": out}
	if i < len(names) {
		o["NextToken"] = encodeToken(i)
	}
	return o, nil
}

func (e *Engine) listImports(r *region, p params) (awsproto.Object, error) {
	name := p.str("ExportName")
	r.mu.Lock()
	defer r.mu.Unlock()
	ex := r.exports[name]
	var users []string
	if ex != nil {
		users = r.importerNames(ex, "")
	}
	if len(users) == 0 {
		return nil, validationError("Export '%s' is not imported by any stack.", name)
	}
	return awsproto.Object{"Imports": stringList(users)}, nil
}
