package awsproto

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxQueryDepth bounds the number of dot-separated segments in a query parameter name. AWS
// shapes nest a handful of levels deep; the bound keeps a hostile name from building a
// pathologically deep tree.
const maxQueryDepth = 64

// DecodeQuery turns flat awsQuery parameters into an Object tree (Action, Version and signing
// parameters must already be removed):
//
//	Name=v                          → {"Name": "v"}
//	Name=                           → {"Name": ""} (an empty list or an empty string)
//	A.B=v                           → {"A": {"B": "v"}}
//	Name.member.N=v                 → {"Name": ["v", …]}
//	Name.member.N.Field=v           → {"Name": [{"Field": "v"}, …]}
//	Name.entry.N.key=k, ….value=v   → {"Name": {"k": "v"}}
//
// List items are ordered by their index N, which must be a positive decimal integer without
// leading zeros; gaps between indexes are closed up. When a name is sent twice its first value
// counts. Every leaf is a string. Errors are *Error with code InvalidQueryParameter.
func DecodeQuery(vals url.Values) (Object, error) {
	o, err := decodeQuery(vals)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// qnode is one dotted-name prefix of the flat parameters.
type qnode struct {
	value    string
	hasValue bool
	kids     map[string]*qnode
}

func decodeQuery(vals url.Values) (Object, *Error) {
	root := &qnode{}
	for name, vs := range vals {
		segs := strings.Split(name, ".")
		if len(segs) > maxQueryDepth {
			return nil, queryError("parameter name %q is nested too deeply", truncate(name, 128))
		}
		n := root
		for _, s := range segs {
			if s == "" {
				return nil, queryError("malformed parameter name %q", truncate(name, 128))
			}
			if n.kids == nil {
				n.kids = map[string]*qnode{}
			}
			kid := n.kids[s]
			if kid == nil {
				kid = &qnode{}
				n.kids[s] = kid
			}
			n = kid
		}
		n.hasValue = true
		if len(vs) > 0 {
			n.value = vs[0]
		}
	}
	return root.structure("")
}

func queryError(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "InvalidQueryParameter", format, args...)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// build converts n to a string, list ("member"), map ("entry") or structure.
func (n *qnode) build(path string) (any, *Error) {
	if len(n.kids) == 0 {
		return n.value, nil
	}
	// "Name=" next to "Name.member.1=…" is harmless (an empty list and a list); a non-empty
	// scalar next to members is contradictory.
	if n.value != "" {
		return nil, queryError("parameter %q has both a value and members", truncate(path, 128))
	}
	if m, ok := n.kids["member"]; ok {
		if len(n.kids) != 1 {
			return nil, queryError("list parameter %q mixes members with other fields", truncate(path, 128))
		}
		return m.list(join(path, "member"))
	}
	if e, ok := n.kids["entry"]; ok {
		if len(n.kids) != 1 {
			return nil, queryError("map parameter %q mixes entries with other fields", truncate(path, 128))
		}
		return e.mapping(join(path, "entry"))
	}
	return n.structure(path)
}

func (n *qnode) structure(path string) (Object, *Error) {
	o := make(Object, len(n.kids))
	for name, kid := range n.kids {
		v, err := kid.build(join(path, name))
		if err != nil {
			return nil, err
		}
		o[name] = v
	}
	return o, nil
}

// indexed returns the children of a member/entry node ordered by their positive indexes.
func (n *qnode) indexed(path string) ([]*qnode, *Error) {
	if len(n.kids) == 0 {
		return nil, queryError("parameter %q needs an index", truncate(path, 128))
	}
	type item struct {
		idx  int
		node *qnode
	}
	items := make([]item, 0, len(n.kids))
	for k, kid := range n.kids {
		idx, err := strconv.Atoi(k)
		if err != nil || idx < 1 || k[0] < '1' || k[0] > '9' {
			return nil, queryError("index %q of parameter %q is not a positive integer", truncate(k, 32), truncate(path, 128))
		}
		items = append(items, item{idx, kid})
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.idx, b.idx) })
	out := make([]*qnode, len(items))
	for i, it := range items {
		out[i] = it.node
	}
	return out, nil
}

func (n *qnode) list(path string) ([]any, *Error) {
	items, err := n.indexed(path)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(items))
	for i, it := range items {
		if out[i], err = it.build(path); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (n *qnode) mapping(path string) (Object, *Error) {
	items, err := n.indexed(path)
	if err != nil {
		return nil, err
	}
	out := make(Object, len(items))
	for _, it := range items {
		k := it.kids["key"]
		if k == nil || len(k.kids) > 0 {
			return nil, queryError("map parameter %q has an entry without a key", truncate(path, 128))
		}
		var v any = ""
		for name, kid := range it.kids {
			switch name {
			case "key":
			case "value":
				if v, err = kid.build(path + ".value"); err != nil {
					return nil, err
				}
			default:
				return nil, queryError("map parameter %q has an unexpected field %q", truncate(path, 128), truncate(name, 64))
			}
		}
		out[k.value] = v
	}
	return out, nil
}
