package cfntemplate

import (
	"fmt"
	"strings"
)

// ValidationError is a template or parameter error worded exactly as CloudFormation words it.
// The engine returns it to clients as an AWS ValidationError with Message unchanged.
type ValidationError struct {
	Message string
}

// Error returns Message unchanged, so the text clients see is CloudFormation's.
func (e *ValidationError) Error() string { return e.Message }

// errorf returns a *ValidationError with a formatted message.
func errorf(format string, args ...any) error {
	return &ValidationError{Message: fmt.Sprintf(format, args...)}
}

// list formats names the way CloudFormation prints sets in messages: "[A, B]".
func list(names []string) string { return "[" + strings.Join(names, ", ") + "]" }

// Message builders shared by parsing and evaluation, so that a check made statically at Parse
// and again at evaluation time reports identically.

func errUnresolved(names []string, block string) error {
	return errorf("Template format error: Unresolved resource dependencies %s in the %s block of the template", list(names), block)
}

func errGetAttUndefined(name string) error {
	return errorf("Template error: instance of Fn::GetAtt references undefined resource %s", name)
}

func errConditionsRefResource(names []string) error {
	return errorf("Template format error: Unresolved dependencies %s. Cannot reference resources in the Conditions block of the template", list(names))
}

func errIfCondition(name string) error {
	return errorf("Template error: unresolved condition dependency %s in Fn::If", name)
}

func errUnsupportedFunction(name string) error {
	return errorf("Template format error: Encountered unsupported function: %s Supported functions are: [Fn::Base64, Fn::GetAtt, Fn::GetAZs, Fn::ImportValue, Fn::Join, Fn::Split, Fn::FindInMap, Fn::Select, Ref, Fn::Equals, Fn::If, Fn::Not, Condition, Fn::And, Fn::Or, Fn::Sub, Fn::Cidr]", name)
}

func errTransform() error {
	return errorf("Template format error: Transforms are not supported by the sandbox; expand the template before deploying it")
}

func errNotBoolean() error {
	return errorf("Template format error: Conditions can only be boolean operations on parameters and other conditions")
}

const (
	msgGetAtt  = "Template error: every Fn::GetAtt object requires two non-empty parameters"
	msgSub     = "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string"
	msgIf      = "Template error: Fn::If requires a list argument with three elements"
	msgJoin    = "Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined."
	msgSelect  = "Template error: Fn::Select requires a list argument with two elements: an integer index and a list"
	msgSplit   = "Template error: every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string to be split or a function that returns a string to be split."
	msgEquals  = "Template error: every Fn::Equals object requires a list of 2 string parameters."
	msgNot     = "Template error: every Fn::Not object requires a list with exactly 1 boolean parameter."
	msgFind    = "Template error: every Fn::FindInMap object requires three parameters, the map name, map key and the attribute for return value"
	msgBase64  = "Template error: every Fn::Base64 object must have a String-typed value."
	msgGetAZs  = "Template error: every Fn::GetAZs object must have a String-typed value."
	msgImport  = "Template error: every Fn::ImportValue object must have a String-typed value."
	msgImpDeps = "Template error: the attribute in Fn::ImportValue must not depend on any resources, imported values, or Fn::GetAZs"
	msgCidr    = "Template error: Fn::Cidr requires a list argument with three elements: an IP block, a count of CIDRs and the number of subnet bits"
	msgRefType = "Template error: All References must be of type string"
)

func errAndOr(fn string) error {
	return errorf("Template error: every %s object requires a list of at least 2 and at most 10 boolean parameters.", fn)
}
