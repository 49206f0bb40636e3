package cfntemplate

import "slices"

// iamTypes are the resource types that need CAPABILITY_IAM, with the property that gives the
// resource an explicit name (which needs CAPABILITY_NAMED_IAM instead).
var iamTypes = map[string]string{
	"AWS::IAM::AccessKey":           "",
	"AWS::IAM::Group":               "GroupName",
	"AWS::IAM::InstanceProfile":     "InstanceProfileName",
	"AWS::IAM::ManagedPolicy":       "ManagedPolicyName",
	"AWS::IAM::Policy":              "",
	"AWS::IAM::Role":                "RoleName",
	"AWS::IAM::User":                "UserName",
	"AWS::IAM::UserToGroupAddition": "",
}

// Capabilities returns the capability CreateStack must be given for this template:
// ["CAPABILITY_NAMED_IAM"] when an IAM resource sets an explicit name, ["CAPABILITY_IAM"] when
// it has IAM resources otherwise, and nil when it needs none.
func (t *Template) Capabilities() []string {
	iam, named := false, false
	for _, r := range t.Resources {
		nameProp, ok := iamTypes[r.Type]
		if !ok {
			continue
		}
		iam = true
		if _, set := r.Properties[nameProp]; set && nameProp != "" {
			named = true
		}
	}
	switch {
	case named:
		return []string{"CAPABILITY_NAMED_IAM"}
	case iam:
		return []string{"CAPABILITY_IAM"}
	}
	return nil
}

// CapabilitiesReason is ValidateTemplate's CapabilitiesReason: the resource types that need
// the capability, or "" when none do.
func (t *Template) CapabilitiesReason() string {
	var types []string
	for _, r := range t.Resources {
		if _, ok := iamTypes[r.Type]; ok && !slices.Contains(types, r.Type) {
			types = append(types, r.Type)
		}
	}
	if len(types) == 0 {
		return ""
	}
	return "The following resource(s) require capabilities: " + list(types)
}
