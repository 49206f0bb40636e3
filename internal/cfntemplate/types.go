package cfntemplate

import (
	_ "embed"
	"strings"
	"sync"
)

//go:embed resource-types.txt
var resourceTypesFile string

// resourceTypes are the types of the CloudFormation resource specification (see
// scripts/resource-types.sh), by lower-case name.
var resourceTypes = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for line := range strings.SplitSeq(resourceTypesFile, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = line
		}
	}
	return m
})

// KnownType looks typ up in CloudFormation's resource specification: canonical is the type
// as CloudFormation spells it (it differs from typ only in case), ok whether there is one.
func KnownType(typ string) (canonical string, ok bool) {
	canonical, ok = resourceTypes()[strings.ToLower(typ)]
	return canonical, ok
}
