package ssm

import (
	"slices"
	"strings"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// filter is one ParameterStringFilter (or legacy ParametersFilter) of a listing.
type filter struct {
	key, option string
	values      []string
}

// filterKeys describes the keys an operation accepts: key → allowed options, the first being
// the default. tag:<name> keys are accepted everywhere with Equals and BeginsWith.
type filterKeys struct {
	keys    map[string][]string
	keyList string // as AWS lists them in InvalidFilterKey messages
}

var (
	describeFilterKeys = filterKeys{
		keys: map[string][]string{
			"Name":     {"Equals", "BeginsWith", "Contains"},
			"Path":     {"OneLevel", "Recursive"},
			"Type":     {"Equals", "BeginsWith"},
			"KeyId":    {"Equals", "BeginsWith"},
			"Tier":     {"Equals", "BeginsWith"},
			"DataType": {"Equals"},
			"Label":    {"Equals"},
		},
		keyList: "[Path, Name, Type, KeyId, Tier, DataType, Label]",
	}
	byPathFilterKeys = filterKeys{
		keys: map[string][]string{
			"Type":     {"Equals", "BeginsWith"},
			"KeyId":    {"Equals", "BeginsWith"},
			"Tier":     {"Equals", "BeginsWith"},
			"DataType": {"Equals"},
			"Label":    {"Equals"},
		},
		keyList: "[Type, KeyId, Tier, DataType, Label]",
	}
	tagOptions = []string{"Equals", "BeginsWith"}
)

func parseFilters(p awsproto.Object, allowed filterKeys) ([]filter, *awsproto.Error) {
	objs, err := objList(p, "ParameterFilters")
	if err != nil {
		return nil, err
	}
	out := make([]filter, 0, len(objs))
	for _, o := range objs {
		var f filter
		if f.key, err = str(o, "Key"); err != nil {
			return nil, err
		}
		if f.option, err = str(o, "Option"); err != nil {
			return nil, err
		}
		if f.values, err = strList(o, "Values"); err != nil {
			return nil, err
		}
		options, ok := allowed.keys[f.key]
		if strings.HasPrefix(f.key, "tag:") && len(f.key) > len("tag:") {
			options, ok = tagOptions, true
		}
		if !ok {
			return nil, awsproto.Errorf(400, "InvalidFilterKey",
				"The following filter key is not valid: %s. Valid filter keys include: %s.", f.key, allowed.keyList)
		}
		if f.option == "" {
			f.option = options[0]
		}
		if !slices.Contains(options, f.option) {
			return nil, awsproto.Errorf(400, "InvalidFilterOption",
				"The following filter option is not valid: %s. Valid options include: [%s].", f.option, strings.Join(options, ", "))
		}
		if len(f.values) == 0 && !strings.HasPrefix(f.key, "tag:") {
			return nil, awsproto.Errorf(400, "InvalidFilterValue",
				"The following filter values are missing : null for filter key %s.", f.key)
		}
		out = append(out, f)
	}
	return out, nil
}

// parseLegacyFilters reads DescribeParameters' deprecated Filters (Name, Type, KeyId).
func parseLegacyFilters(p awsproto.Object) ([]filter, *awsproto.Error) {
	objs, err := objList(p, "Filters")
	if err != nil {
		return nil, err
	}
	out := make([]filter, 0, len(objs))
	for i, o := range objs {
		var f filter
		if f.key, err = str(o, "Key"); err != nil {
			return nil, err
		}
		if f.values, err = strList(o, "Values"); err != nil {
			return nil, err
		}
		switch f.key {
		case "Name":
			f.option = "BeginsWith"
		case "Type", "KeyId":
			f.option = "Equals"
		default:
			return nil, validation("1 validation error detected: Value '%s' at 'filters.%d.member.key' failed to satisfy constraint: Member must satisfy enum value set: [Name, Type, KeyId]", f.key, i+1)
		}
		out = append(out, f)
	}
	return out, nil
}

func matchAll(filters []filter, e *entry) bool {
	for _, f := range filters {
		if !f.match(e) {
			return false
		}
	}
	return true
}

// match reports whether the latest version of e passes f; any one of the values suffices.
func (f filter) match(e *entry) bool {
	p := e.latest()
	var subject string
	switch {
	case f.key == "Path":
		return slices.ContainsFunc(f.values, func(v string) bool {
			return underPath(p.Name, v, f.option == "Recursive")
		})
	case f.key == "Label":
		return false // labels are not supported, so no version carries one
	case strings.HasPrefix(f.key, "tag:"):
		tv, ok := e.tags[f.key[len("tag:"):]]
		if !ok {
			return false
		}
		if len(f.values) == 0 {
			return true
		}
		subject = tv
	case f.key == "Name":
		subject = fullName(p.Name)
	case f.key == "Type":
		subject = p.Type
	case f.key == "KeyId":
		subject = p.KeyID
	case f.key == "Tier":
		subject = p.Tier
	case f.key == "DataType":
		subject = p.DataType
	}
	for _, v := range f.values {
		if f.key == "Name" && f.option != "Contains" {
			v = fullName(v)
		}
		switch f.option {
		case "Equals":
			if subject == v {
				return true
			}
		case "BeginsWith":
			if strings.HasPrefix(subject, v) {
				return true
			}
		case "Contains":
			if strings.Contains(subject, v) {
				return true
			}
		}
	}
	return false
}
