package fleet

import "fmt"

// OwnerKind says what declares a stack instance.
type OwnerKind string

// Owner kinds.
const (
	OwnedByStackSet OwnerKind = "stack-set"
	OwnedByPipeline OwnerKind = "pipeline"
)

// Owner is what declares a stack instance: a stack set, or one stack of a release pipeline.
// Each owner's instances are its own: plan, apply and destroy act only on stack-set owners,
// releases and rollbacks only on pipeline owners. The zero Owner is invalid.
type Owner struct {
	Kind OwnerKind `json:"kind"`
	// Name is the stack set's or the pipeline's name.
	Name string `json:"name"`
	// Stack is the pipeline stack's name; empty for a stack set.
	Stack string `json:"stack,omitempty"`
}

// StackSetOwner is the owner of a stack set's instances.
func StackSetOwner(name string) Owner { return Owner{Kind: OwnedByStackSet, Name: name} }

// PipelineOwner is the owner of one pipeline stack's instances.
func PipelineOwner(pipeline, stack string) Owner {
	return Owner{Kind: OwnedByPipeline, Name: pipeline, Stack: stack}
}

// IsStackSet reports whether a stack set owns the instances.
func (o Owner) IsStackSet() bool { return o.Kind == OwnedByStackSet }

// StackName is the CloudFormation stack name of the owner's instances in every target.
func (o Owner) StackName() string {
	if o.Kind == OwnedByPipeline {
		return o.Stack
	}
	return o.Name
}

// String names the owner for people: "stack set base", "pipeline web stack web-app".
func (o Owner) String() string {
	switch o.Kind {
	case OwnedByStackSet:
		return "stack set " + o.Name
	case OwnedByPipeline:
		return fmt.Sprintf("pipeline %s stack %s", o.Name, o.Stack)
	default:
		return fmt.Sprintf("owner %q/%q/%q", o.Kind, o.Name, o.Stack)
	}
}

// OwnerTag is the tag every stack stackfleet deploys carries, naming its owner (see Owner.Tag),
// so that a stack found in an account leads back to what manages it. ConfigTag names the
// configuration file.
const (
	OwnerTag  = "stackfleet:owner"
	ConfigTag = "stackfleet:config"
)

// Tag is the owner as the OwnerTag value: "stack-set/base", "pipeline/web/web-app".
func (o Owner) Tag() string {
	if o.Kind == OwnedByPipeline {
		return string(o.Kind) + "/" + o.Name + "/" + o.Stack
	}
	return string(o.Kind) + "/" + o.Name
}

// Ref is the owner's short reference as commands take it: "base", "web/web-app".
func (o Owner) Ref() string {
	if o.Kind == OwnedByPipeline {
		return o.Name + "/" + o.Stack
	}
	return o.Name
}

// Validate reports an owner that cannot be stored.
func (o Owner) Validate() error {
	switch {
	case o.Kind == OwnedByStackSet && o.Name != "" && o.Stack == "":
		return nil
	case o.Kind == OwnedByPipeline && o.Name != "" && o.Stack != "":
		return nil
	default:
		return fmt.Errorf("invalid %s", o)
	}
}
