// Package expand renders the templates of release checks — alarm names, prefixes and ARNs,
// health-check URLs — against one target: {{.Account}}, {{.Region}}, {{.Stack}} and
// {{.Outputs.Key}} (stack outputs), with Go's text/template. Check validates a template when the
// configuration is loaded, against the outputs its stack declares; Render renders it per target.
// It imports no AWS SDK, so the configuration can check templates without the gate adapters.
package expand

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// templateName names parsed templates; it appears in text/template's own error messages only.
const templateName = "gate"

// isField reports whether name is a field of fleet.GateTarget.
func isField(name string) bool {
	return name == "Account" || name == "Region" || name == "Stack" || name == "Outputs"
}

// Render renders tmpl against t. A syntax error, a reference to an output t does not have or
// any other execution error is an error; for an unknown output the error names the key and
// lists the outputs t has.
func Render(tmpl string, t fleet.GateTarget) (string, error) {
	tr, err := parseTemplate(tmpl)
	if err != nil {
		return "", err
	}
	keys := slices.Sorted(maps.Keys(t.Outputs))
	// The static walk catches unknown keys before execution and names them without relying on
	// the wording of text/template's errors; execution still catches the dynamic cases.
	if err := checkTree(tmpl, tr, keys, "stack outputs"); err != nil {
		return "", err
	}
	var b limitedBuilder
	if err := tr.Execute(&b, t); err != nil {
		return "", execError(tmpl, err, keys, "stack outputs")
	}
	return b.String(), nil
}

// maxExpansion bounds what a template may produce; names and URLs are far shorter, and the
// bound stops a runaway {{range}} from exhausting memory.
const maxExpansion = 64 << 10

var errTooLong = fmt.Errorf("expands to more than %d bytes", maxExpansion)

// limitedBuilder is a strings.Builder refusing to grow beyond maxExpansion.
type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxExpansion {
		return 0, errTooLong
	}
	return b.Builder.Write(p)
}

// Check validates tmpl at configuration time against the declared output keys of its
// stack: it must parse, refer only to fields of Target, and every {{.Outputs.X}} must name one
// of outputs. It also renders tmpl once against placeholder values to catch other errors. The
// error is written for the user.
func Check(tmpl string, outputs []string) error {
	tr, err := parseTemplate(tmpl)
	if err != nil {
		return err
	}
	keys := slices.Sorted(slices.Values(outputs))
	keys = slices.Compact(keys)
	if err := checkTree(tmpl, tr, keys, "declared outputs"); err != nil {
		return err
	}
	sample := fleet.GateTarget{Account: "123456789012", Region: "us-east-1", Stack: "stack", Outputs: map[string]string{}}
	for _, k := range keys {
		sample.Outputs[k] = "value"
	}
	if err := tr.Execute(&limitedBuilder{}, sample); err != nil {
		return execError(tmpl, err, keys, "declared outputs")
	}
	return nil
}

func parseTemplate(tmpl string) (*template.Template, error) {
	tr, err := template.New(templateName).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", tmpl, err)
	}
	return tr, nil
}

// UnknownOutputError reports a template reference to a stack output that does not exist.
// Available is sorted.
type UnknownOutputError struct {
	Template  string
	Key       string
	Available []string
	// what introduces Available in the message ("declared outputs", "stack outputs").
	what string
}

// Error names the template, the key and the outputs available.
func (e *UnknownOutputError) Error() string {
	avail := "none"
	if len(e.Available) > 0 {
		avail = strings.Join(e.Available, ", ")
	}
	return fmt.Sprintf("template %q: unknown stack output %q (%s: %s)", e.Template, e.Key, e.what, avail)
}

// missingKeyRE extracts the key from text/template's missingkey=error message, the fallback
// for references the static walk cannot see (e.g. index with a computed key).
var missingKeyRE = regexp.MustCompile(`map has no entry for key "((?:[^"\\]|\\.)*)"`)

func execError(tmpl string, err error, keys []string, what string) error {
	if m := missingKeyRE.FindStringSubmatch(err.Error()); m != nil {
		return &UnknownOutputError{Template: tmpl, Key: m[1], Available: keys, what: what}
	}
	return fmt.Errorf("template %q: %w", tmpl, err)
}

// checkTree walks the parse tree for field references whose meaning is known statically: those
// evaluated with dot at the root (outside range/with bodies) and those through $.
func checkTree(tmpl string, tr *template.Template, keys []string, what string) error {
	w := walker{tmpl: tmpl, keys: keys, what: what}
	for _, t := range tr.Templates() {
		if t.Tree == nil || t.Root == nil {
			continue
		}
		// Dot and $ are the Target only in the main template; associated templates receive
		// whatever {{template}} passes them, so execution checks those.
		if t.Name() == templateName {
			w.node(t.Root, true)
		}
		if w.err != nil {
			return w.err
		}
	}
	return nil
}

type walker struct {
	tmpl string
	keys []string
	what string
	err  error
}

func (w *walker) node(n parse.Node, rootDot bool) {
	if w.err != nil || n == nil {
		return
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			w.node(c, rootDot)
		}
	case *parse.ActionNode:
		w.node(n.Pipe, rootDot)
	case *parse.IfNode:
		w.node(n.Pipe, rootDot)
		w.node(n.List, rootDot)
		w.node(n.ElseList, rootDot)
	case *parse.RangeNode:
		w.node(n.Pipe, rootDot)
		w.node(n.List, false)
		w.node(n.ElseList, rootDot)
	case *parse.WithNode:
		w.node(n.Pipe, rootDot)
		w.node(n.List, false)
		w.node(n.ElseList, rootDot)
	case *parse.TemplateNode:
		w.node(n.Pipe, rootDot)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			w.node(c, rootDot)
		}
	case *parse.CommandNode:
		w.command(n, rootDot)
		for _, a := range n.Args {
			w.node(a, rootDot)
		}
	case *parse.FieldNode:
		if rootDot {
			w.fields(n.Ident)
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			w.fields(n.Ident[1:])
		}
	case *parse.ChainNode:
		w.node(n.Node, rootDot)
	}
}

// command checks {{index .Outputs "Key"}} with a constant key.
func (w *walker) command(n *parse.CommandNode, rootDot bool) {
	if len(n.Args) != 3 {
		return
	}
	if id, ok := n.Args[0].(*parse.IdentifierNode); !ok || id.Ident != "index" {
		return
	}
	key, ok := n.Args[2].(*parse.StringNode)
	if !ok {
		return
	}
	var ident []string
	switch m := n.Args[1].(type) {
	case *parse.FieldNode:
		if !rootDot {
			return
		}
		ident = m.Ident
	case *parse.VariableNode:
		if m.Ident[0] != "$" {
			return
		}
		ident = m.Ident[1:]
	default:
		return
	}
	if len(ident) == 1 && ident[0] == "Outputs" {
		w.fields([]string{"Outputs", key.Text})
	}
}

// fields checks a field chain evaluated on a Target.
func (w *walker) fields(ident []string) {
	switch {
	case !isField(ident[0]):
		w.err = fmt.Errorf("template %q: unknown field .%s (available: .Account, .Region, .Stack, .Outputs.<Key>)", w.tmpl, ident[0])
	case ident[0] != "Outputs" && len(ident) > 1:
		w.err = fmt.Errorf("template %q: .%s is a string and has no field .%s", w.tmpl, ident[0], ident[1])
	case ident[0] == "Outputs" && len(ident) > 1 && !slices.Contains(w.keys, ident[1]):
		w.err = &UnknownOutputError{Template: w.tmpl, Key: ident[1], Available: w.keys, what: w.what}
	case len(ident) > 2:
		w.err = fmt.Errorf("template %q: .Outputs.%s is a string and has no field .%s", w.tmpl, ident[1], ident[2])
	}
}
