package cfntemplate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// maxDepth bounds nesting so that hostile bodies cannot exhaust the stack of the decoder or of
// the recursive walks that follow it. Real templates nest a few dozen levels at most.
const maxDepth = 512

// omap is a decoded mapping that remembers key order. Only the decoder produces it; sections
// whose order matters (Parameters, Resources, Outputs, Conditions) read keys from it and every
// value handed out of the package is converted to a plain map[string]any by plain.
type omap struct {
	keys []string
	vals map[string]any
}

func newOmap() *omap { return &omap{vals: map[string]any{}} }

func (m *omap) set(k string, v any) {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

// plain converts a decoded tree to the package's public value model: map[string]any, []any,
// string, int64, float64, bool (and nil, which Parse rejects).
func plain(v any) any {
	switch v := v.(type) {
	case *omap:
		out := make(map[string]any, len(v.keys))
		for _, k := range v.keys {
			out[k] = plain(v.vals[k])
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// decode parses a template body. Like CloudFormation, a body whose first non-blank character is
// '{' is JSON and anything else is YAML, so broken JSON is reported as JSON.
func decode(body []byte) (any, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return decodeJSON(body)
	}
	return decodeYAML(body)
}

func notWellFormed(format string, line, col int) error {
	return errorf("Template format error: %s not well-formed. (line %d, column %d)", format, line, col)
}

// --- JSON ---

func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	v, err := jsonValue(dec, 0)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return v, nil
		} else if err == nil {
			err = errors.New("trailing data")
		}
	}
	// The streaming decoder's SyntaxError offsets are relative to its buffer; a whole-body
	// check reports the absolute offset of the first syntax error.
	off := dec.InputOffset()
	var whole any
	if se, ok := errors.AsType[*json.SyntaxError](json.Unmarshal(body, &whole)); ok {
		off = se.Offset
		if !strings.HasPrefix(se.Error(), "unexpected end") {
			off-- // Offset counts the offending byte; report the byte's own position.
		}
	}
	line, col := position(body, off)
	return nil, notWellFormed("JSON", line, col)
}

// position converts a byte offset to the 1-based line and column Jackson reports.
func position(body []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(body)))
	before := body[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

var errTooDeep = errors.New("nesting too deep")

func jsonValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := newOmap()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := jsonValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				m.set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return m, nil
		case '[':
			l := []any{}
			for dec.More() {
				v, err := jsonValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return l, nil
		}
		return nil, errors.New("unexpected delimiter")
	case json.Number:
		return number(string(t)), nil
	default: // string, bool, nil
		return t, nil
	}
}

// number keeps integers exact as int64 and everything else as float64.
func number(s string) any {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		// Out of range: keep the literal rather than invent a value.
		return s
	}
	return f
}

// --- YAML ---

// shortForms maps YAML short-form tags to the long-form keys they abbreviate.
var shortForms = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!And": "Fn::And", "!Equals": "Fn::Equals",
	"!If": "Fn::If", "!Not": "Fn::Not", "!Or": "Fn::Or", "!FindInMap": "Fn::FindInMap",
	"!GetAtt": "Fn::GetAtt", "!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue",
	"!Join": "Fn::Join", "!Select": "Fn::Select", "!Split": "Fn::Split", "!Sub": "Fn::Sub",
	"!Transform": "Fn::Transform", "!Length": "Fn::Length", "!ToJsonString": "Fn::ToJsonString",
	// Rule functions (the Rules section).
	"!Contains": "Fn::Contains", "!EachMemberEquals": "Fn::EachMemberEquals", "!EachMemberIn": "Fn::EachMemberIn",
	"!RefAll": "Fn::RefAll", "!ValueOf": "Fn::ValueOf", "!ValueOfAll": "Fn::ValueOfAll",
}

type yamlDecoder struct{}

// blockHeader matches a line ending in a block scalar header: "key: |+", "- >-", "key: |2".
var blockHeader = regexp.MustCompile(`^(\s*)(.*?(?::|-))[ \t]+([|>])([+-]?)[1-9]?[ \t]*(#.*)?$`)

// emptyBlockScalars rewrites block scalars that hold only empty lines (valid YAML: "|+"
// followed by a blank line is "\n"; "|" and "|-" are "") as quoted scalars of the same value,
// since the YAML library rejects them ("could not find multi-line content"). Line numbers do
// not change.
func emptyBlockScalars(src string) string {
	if !strings.Contains(src, "|") && !strings.Contains(src, ">") {
		return src
	}
	lines := strings.Split(src, "\n")
	changed := false
	for i, line := range lines {
		m := blockHeader.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		indent := len(m[1])
		blank := 0
		j := i + 1
		for ; j < len(lines) && strings.TrimSpace(lines[j]) == ""; j++ {
			blank++
		}
		if j < len(lines) && len(lines[j])-len(strings.TrimLeft(lines[j], " ")) > indent {
			continue // the scalar has content
		}
		value := ""
		if m[4] == "+" {
			value = strings.Repeat("\\n", blank)
		}
		lines[i] = m[1] + m[2] + ` "` + value + `"`
		changed = true
	}
	if !changed {
		return src
	}
	return strings.Join(lines, "\n")
}

func decodeYAML(body []byte) (v any, err error) {
	// The YAML library is third-party code fed with untrusted input; a panic inside it must
	// surface as a template error, not take the sandbox down.
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, notWellFormed("YAML", 1, 1)
		}
	}()
	f, err := parser.Parse(fixTaggedFlowScalars(lexer.Tokenize(emptyBlockScalars(string(body)))), 0)
	if err != nil {
		if se, ok := errors.AsType[*yaml.SyntaxError](err); ok && se.Token != nil && se.Token.Position != nil {
			return nil, notWellFormed("YAML", se.Token.Position.Line, se.Token.Position.Column)
		}
		return nil, notWellFormed("YAML", 1, 1)
	}
	var docs []ast.Node
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d.Body)
		}
	}
	switch len(docs) {
	case 0:
		return nil, nil
	case 1:
		var d yamlDecoder
		return d.node(docs[0], 0)
	default:
		return nil, yamlErrAt(docs[1])
	}
}

// fixTaggedFlowScalars works around a scanner bug in goccy/go-yaml: inside a flow mapping, a
// plain scalar that follows a tag is split at each colon, so {Key: !Ref AWS::Region} scans as
// the tag, "AWS", ':' and ":Region" and then fails to parse, or parses to the wrong tree. A colon
// with no blank on either side cannot be a mapping indicator there, so such runs are joined
// back into one scalar.
func fixTaggedFlowScalars(tokens token.Tokens) token.Tokens {
	adjacent := func(a, b *token.Token, gap int) bool {
		return a.Position != nil && b.Position != nil && a.Position.Line == b.Position.Line &&
			b.Position.Column == a.Position.Column+utf8.RuneCountInString(a.Value)+gap
	}
	plainString := func(tk *token.Token) bool {
		return tk.Type == token.StringType && tk.Indicator == token.NotIndicator
	}
	var out token.Tokens
	for i := 0; i < len(tokens); i++ {
		tk := tokens[i]
		tk.Prev, tk.Next = nil, nil
		out.Add(tk)
		if tk.Type != token.TagType || i+1 >= len(tokens) || !plainString(tokens[i+1]) {
			continue
		}
		scalar := tokens[i+1]
		i++
		for i+2 < len(tokens) {
			colon, rest := tokens[i+1], tokens[i+2]
			if colon.Type != token.MappingValueType || !plainString(rest) ||
				!adjacent(scalar, colon, 0) || colon.Position.Line != rest.Position.Line ||
				rest.Position.Column != colon.Position.Column+1 {
				break
			}
			scalar = token.New(scalar.Value+":"+rest.Value, scalar.Origin+":"+rest.Origin, scalar.Position)
			i += 2
		}
		scalar.Prev, scalar.Next = nil, nil
		out.Add(scalar)
	}
	return out
}

func yamlErrAt(n ast.Node) error {
	line, col := 1, 1
	if n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			line, col = tk.Position.Line, tk.Position.Column
		}
	}
	return notWellFormed("YAML", line, col)
}

func (d *yamlDecoder) node(n ast.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, yamlErrAt(n)
	}
	switch n := n.(type) {
	case nil, *ast.NullNode:
		return nil, nil
	case *ast.StringNode:
		return n.Value, nil
	case *ast.LiteralNode:
		if n.Value == nil {
			return "", nil
		}
		return n.Value.Value, nil
	case *ast.IntegerNode:
		switch v := n.Value.(type) {
		case int64:
			return v, nil
		case uint64:
			if v <= math.MaxInt64 {
				return int64(v), nil
			}
			return float64(v), nil
		}
		return n.Token.Value, nil
	case *ast.FloatNode:
		return n.Value, nil
	case *ast.BoolNode:
		return n.Value, nil
	case *ast.InfinityNode, *ast.NanNode:
		// Not representable in JSON; keep the literal text.
		return n.GetToken().Value, nil
	case *ast.MappingNode:
		m := newOmap()
		for _, mv := range n.Values {
			if err := d.pair(m, mv, depth); err != nil {
				return nil, err
			}
		}
		return m, nil
	case *ast.MappingValueNode:
		m := newOmap()
		if err := d.pair(m, n, depth); err != nil {
			return nil, err
		}
		return m, nil
	case *ast.SequenceNode:
		l := make([]any, 0, len(n.Values))
		for _, e := range n.Values {
			v, err := d.node(e, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case *ast.AnchorNode:
		// An anchor alone is harmless; only aliases are refused.
		return d.node(n.Value, depth+1)
	case *ast.AliasNode:
		return nil, errorf("Template format error: YAML aliases are not allowed in CloudFormation templates")
	case *ast.MappingKeyNode:
		return d.node(n.Value, depth+1)
	case *ast.TagNode:
		return d.tag(n, depth)
	}
	return nil, yamlErrAt(n)
}

func (d *yamlDecoder) pair(m *omap, mv *ast.MappingValueNode, depth int) error {
	if mv.Key == nil || mv.Key.IsMergeKey() {
		// CloudFormation does not support hash merges.
		return yamlErrAt(mv)
	}
	k, err := d.key(mv.Key)
	if err != nil {
		return err
	}
	// The parser attaches a block mapping that follows "Key: !Tag" at the same indentation to
	// the tag instead of to the parent mapping; YAML says the tag applies to an empty scalar, so
	// such a document is refused rather than silently restructured.
	if tn, ok := mv.Value.(*ast.TagNode); ok {
		if inner, ok := tn.Value.(*ast.MappingNode); ok && !inner.IsFlowStyle && len(inner.Values) > 0 {
			kt, it := mv.Key.GetToken(), inner.Values[0].Key.GetToken()
			if kt != nil && it != nil && kt.Position != nil && it.Position != nil && it.Position.Column <= kt.Position.Column {
				return yamlErrAt(inner.Values[0])
			}
		}
	}
	v, err := d.node(mv.Value, depth+1)
	if err != nil {
		return err
	}
	m.set(k, v)
	return nil
}

func (d *yamlDecoder) key(n ast.Node) (string, error) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, nil
	case *ast.MappingKeyNode:
		return d.key(n.Value)
	case *ast.TagNode:
		return d.key(n.Value)
	case *ast.AnchorNode:
		return d.key(n.Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, nil
	}
	return "", yamlErrAt(n)
}

func (d *yamlDecoder) tag(n *ast.TagNode, depth int) (any, error) {
	name := ""
	if n.Start != nil {
		name = n.Start.Value
	}
	if long, ok := shortForms[name]; ok {
		v, err := d.node(n.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if long == "Fn::GetAtt" {
			// !GetAtt Res.Attr.Sub splits at the first dot only; attribute names may contain dots.
			if s, ok := v.(string); ok {
				if res, attr, ok := strings.Cut(s, "."); ok {
					v = []any{res, attr}
				}
			}
		}
		m := newOmap()
		m.set(long, v)
		return m, nil
	}
	switch name {
	case "!!str":
		v, err := d.node(n.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if s, ok := scalarString(v); ok {
			return s, nil
		}
		return v, nil
	case "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq":
		return d.node(n.Value, depth+1)
	}
	// Unknown local tags and the unsupported standard ones (binary, timestamp, omap, pairs, set).
	return nil, yamlErrAt(n)
}

// scalarString renders a scalar the way CloudFormation does when it needs a string.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case int:
		return strconv.Itoa(v), true
	}
	return "", false
}

// sortedKeys returns a map's keys in a stable order for deterministic walks and messages.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
