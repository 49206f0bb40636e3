package cloudwatch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ruleExpr is a parsed composite alarm rule:
//
//	rule   = term { "OR" term }
//	term   = factor { "AND" factor }
//	factor = "NOT" factor | "(" rule ")" | "TRUE" | "FALSE" | state "(" alarm ")"
//	state  = "ALARM" | "OK" | "INSUFFICIENT_DATA"
//	alarm  = a double-quoted or bare alarm name or alarm ARN
type ruleExpr struct {
	kind  ruleKind
	kids  []*ruleExpr // and, or: two or more; not: one
	state string      // ruleState: the state tested
	alarm string      // ruleState: the alarm name
	value bool        // ruleConst
}

type ruleKind int

const (
	ruleConst ruleKind = iota
	ruleState
	ruleNot
	ruleAnd
	ruleOr
)

// maxRuleDepth bounds nesting so hostile rules cannot exhaust the stack.
const maxRuleDepth = 100

// eval evaluates the rule with stateOf giving each alarm's current state.
func (e *ruleExpr) eval(stateOf func(name string) string) bool {
	switch e.kind {
	case ruleConst:
		return e.value
	case ruleState:
		return stateOf(e.alarm) == e.state
	case ruleNot:
		return !e.kids[0].eval(stateOf)
	case ruleAnd:
		for _, k := range e.kids {
			if !k.eval(stateOf) {
				return false
			}
		}
		return true
	default:
		for _, k := range e.kids {
			if k.eval(stateOf) {
				return true
			}
		}
		return false
	}
}

// refs returns the names of the alarms the rule references, sorted and unique.
func (e *ruleExpr) refs() []string {
	var out []string
	var walk func(*ruleExpr)
	walk = func(x *ruleExpr) {
		if x.kind == ruleState {
			out = append(out, x.alarm)
		}
		for _, k := range x.kids {
			walk(k)
		}
	}
	walk(e)
	slices.Sort(out)
	return slices.Compact(out)
}

type ruleParser struct {
	src   string
	pos   int
	depth int
}

// parseRule parses a composite alarm rule.
func parseRule(src string) (*ruleExpr, error) {
	p := &ruleParser{src: src}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("unexpected %q at position %d", p.rest(10), p.pos)
	}
	return e, nil
}

func (p *ruleParser) rest(n int) string {
	r := p.src[p.pos:]
	if len(r) > n {
		r = r[:n]
	}
	return r
}

func (p *ruleParser) space() {
	for p.pos < len(p.src) && strings.ContainsRune(" \t\r\n", rune(p.src[p.pos])) {
		p.pos++
	}
}

// keyword consumes word if it comes next as a whole word.
func (p *ruleParser) keyword(word string) bool {
	p.space()
	if !strings.HasPrefix(p.src[p.pos:], word) {
		return false
	}
	end := p.pos + len(word)
	if end < len(p.src) && isWordByte(p.src[end]) {
		return false
	}
	p.pos = end
	return true
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

func (p *ruleParser) punct(c byte) bool {
	p.space()
	if p.pos < len(p.src) && p.src[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *ruleParser) enter() error {
	p.depth++
	if p.depth > maxRuleDepth {
		return fmt.Errorf("the rule is nested more than %d levels deep", maxRuleDepth)
	}
	return nil
}

func (p *ruleParser) or() (*ruleExpr, error) {
	return p.binary(ruleOr, "OR", p.and)
}

func (p *ruleParser) and() (*ruleExpr, error) {
	return p.binary(ruleAnd, "AND", p.factor)
}

func (p *ruleParser) binary(kind ruleKind, word string, operand func() (*ruleExpr, error)) (*ruleExpr, error) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	kids := []*ruleExpr{first}
	for p.keyword(word) {
		next, err := operand()
		if err != nil {
			return nil, err
		}
		kids = append(kids, next)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &ruleExpr{kind: kind, kids: kids}, nil
}

func (p *ruleParser) factor() (*ruleExpr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch {
	case p.keyword("NOT"):
		e, err := p.factor()
		if err != nil {
			return nil, err
		}
		return &ruleExpr{kind: ruleNot, kids: []*ruleExpr{e}}, nil
	case p.punct('('):
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.punct(')') {
			return nil, fmt.Errorf("missing ')' at position %d", p.pos)
		}
		return e, nil
	case p.keyword("TRUE"):
		return &ruleExpr{kind: ruleConst, value: true}, nil
	case p.keyword("FALSE"):
		return &ruleExpr{kind: ruleConst, value: false}, nil
	}
	for _, state := range []string{StateAlarm, StateOK, StateInsufficientData} {
		if p.keyword(state) {
			if !p.punct('(') {
				return nil, fmt.Errorf("expected '(' after %s at position %d", state, p.pos)
			}
			name, err := p.alarmName()
			if err != nil {
				return nil, err
			}
			if !p.punct(')') {
				return nil, fmt.Errorf("missing ')' at position %d", p.pos)
			}
			return &ruleExpr{kind: ruleState, state: state, alarm: name}, nil
		}
	}
	if p.pos >= len(p.src) {
		return nil, errors.New("unexpected end of rule")
	}
	return nil, fmt.Errorf("unexpected %q at position %d", p.rest(10), p.pos)
}

// alarmName reads a quoted or bare alarm name (or ARN, reduced to its name).
func (p *ruleParser) alarmName() (string, error) {
	p.space()
	var name string
	if p.pos < len(p.src) && p.src[p.pos] == '"' {
		end := strings.IndexByte(p.src[p.pos+1:], '"')
		if end < 0 {
			return "", fmt.Errorf("unterminated alarm name at position %d", p.pos)
		}
		name = p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
	} else {
		end := strings.IndexAny(p.src[p.pos:], ") \t\r\n")
		if end < 0 {
			end = len(p.src) - p.pos
		}
		name = p.src[p.pos : p.pos+end]
		p.pos += end
	}
	if strings.HasPrefix(name, "arn:") {
		if i := strings.Index(name, ":alarm:"); i >= 0 {
			name = name[i+len(":alarm:"):]
		}
	}
	if name == "" {
		return "", fmt.Errorf("empty alarm name at position %d", p.pos)
	}
	return name, nil
}
