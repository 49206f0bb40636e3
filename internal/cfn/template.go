package cfn

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// template is the little of a template the Deployer reads itself. YAML and JSON templates
// both parse; intrinsic-function tags (!Ref, !Sub…) are accepted and ignored.
type template struct {
	Parameters map[string]struct {
		Default any `yaml:"Default"`
	} `yaml:"Parameters"`
	Resources map[string]struct {
		Type string `yaml:"Type"`
	} `yaml:"Resources"`
}

// templateDefaults returns each parameter's default as CloudFormation would pass it (nil for a
// parameter without one), or nil when the template does not parse.
func templateDefaults(body []byte) map[string]*string {
	var t template
	if err := yaml.Unmarshal(body, &t); err != nil {
		return nil
	}
	out := make(map[string]*string, len(t.Parameters))
	for name, p := range t.Parameters {
		switch v := p.Default.(type) {
		case nil:
			out[name] = nil
		case []any: // a CommaDelimitedList default written as a list
			parts := make([]string, len(v))
			for i, x := range v {
				parts[i] = fmt.Sprint(x)
			}
			s := strings.Join(parts, ",")
			out[name] = &s
		default:
			s := fmt.Sprint(v)
			out[name] = &s
		}
	}
	return out
}

// templateAdds lists the template's resources as additions, sorted by logical id. Conditions
// are not evaluated, so a conditional resource is listed whether or not it would be created.
func templateAdds(body []byte) ([]fleet.ResourceChange, error) {
	var t template
	if err := yaml.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	var out []fleet.ResourceChange
	for _, id := range slices.Sorted(maps.Keys(t.Resources)) {
		out = append(out, fleet.ResourceChange{Action: "Add", LogicalID: id, Type: t.Resources[id].Type})
	}
	return out, nil
}
