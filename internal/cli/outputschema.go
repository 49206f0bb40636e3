package cli

import (
	"encoding"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/stackfleet/stackfleet/internal/events"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

// The output schema (schema/output.schema.json) is generated from the types the commands
// print, so it cannot drift from them; a test keeps the shipped file current and validates
// every command's -o json against it.

// outputDocuments are the documents of the commands that print one JSON object.
var outputDocuments = map[string]reflect.Type{
	"plan":           reflect.TypeFor[fleet.Plan](),
	"status":         reflect.TypeFor[statusDocument](),
	"drift":          reflect.TypeFor[driftDocument](),
	"outputs":        reflect.TypeFor[outputsDocument](),
	"outputsExport":  reflect.TypeFor[exportResult](),
	"pipelineStatus": reflect.TypeFor[pipelineStatusDocument](),
	"decision":       reflect.TypeFor[decisionDocument](),
}

// outputRecords are the records of the commands that print one JSON object per line (apply,
// destroy, release, rollback, bootstrap, reconcile): "type" says which; the payload of the
// plan, summary and reconcile records is under the member named as the type.
var outputRecords = map[string]reflect.Type{
	"event":        reflect.TypeFor[events.EventRecord](),
	"releaseEvent": reflect.TypeFor[events.ReleaseEventRecord](),
	"plan":         reflect.TypeFor[fleet.Plan](),
	"summary":      reflect.TypeFor[[]fleet.Operation](),
	"reconcile":    reflect.TypeFor[reconcileRecord](),
}

// OutputSchema returns the JSON Schema (draft 2020-12) of stackfleet's JSON output.
func OutputSchema() []byte {
	g := &schemaGen{defs: map[string]any{}}
	var records []any
	for _, name := range slices.Sorted(maps.Keys(outputDocuments)) {
		s := g.of(outputDocuments[name])
		s = g.resolve(s)
		props := s["properties"].(map[string]any)
		props["apiVersion"] = map[string]any{"const": events.APIVersion}
		s["required"] = append([]string{"apiVersion"}, s["required"].([]string)...)
		g.defs[name+"Document"] = s
	}
	for _, name := range slices.Sorted(maps.Keys(outputRecords)) {
		t := outputRecords[name]
		var s map[string]any
		if name == "event" || name == "releaseEvent" {
			s = g.resolve(g.of(t))
			s["properties"].(map[string]any)["type"] = map[string]any{"const": name}
			s["properties"].(map[string]any)["apiVersion"] = map[string]any{"const": events.APIVersion}
		} else {
			s = map[string]any{
				"type": "object",
				"properties": map[string]any{
					"type": map[string]any{"const": name}, "apiVersion": map[string]any{"const": events.APIVersion}, name: g.of(t),
				},
				"required": []string{"type", "apiVersion", name}, "additionalProperties": false,
			}
		}
		g.defs[name+"Record"] = s
		records = append(records, map[string]any{"$ref": "#/$defs/" + name + "Record"})
	}
	g.defs["record"] = map[string]any{"description": "One line of a streaming command's output.", "oneOf": records}
	out := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://stackfleet.dev/schema/output.schema.json",
		"title":       "stackfleet -o json output, apiVersion " + events.APIVersion,
		"description": "Documents (plan, status, drift, outputs, pipeline status, approve/reject) are one object with apiVersion; streams (apply, destroy, release, rollback, bootstrap, reconcile, --events-file) are one record per line, oneOf #/$defs/record.",
		"$defs":       g.defs,
	}
	body, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		panic(err) // built from static types
	}
	return append(body, '\n')
}

type schemaGen struct {
	defs map[string]any
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
)

// resolve returns the schema a $ref points to (a copy of the definition), or s itself.
func (g *schemaGen) resolve(s map[string]any) map[string]any {
	ref, ok := s["$ref"].(string)
	if !ok {
		return s
	}
	def := g.defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	c := map[string]any{}
	for k, v := range def {
		c[k] = v
	}
	props := map[string]any{}
	for k, v := range def["properties"].(map[string]any) {
		props[k] = v
	}
	c["properties"] = props
	c["required"] = slices.Clone(def["required"].([]string))
	return c
}

// of returns the schema of the JSON encoding of t; named structs go to $defs.
func (g *schemaGen) of(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType):
		return map[string]any{"description": "custom encoding"}
	case t.Implements(textType):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Struct:
		name := strings.ReplaceAll(t.String(), ".", "_")
		if t.Name() == "" {
			return g.structSchema(t)
		}
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder against recursion
			g.defs[name] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": []string{"array", "null"}, "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": g.of(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

// structSchema lists the members of a struct as encoding/json writes them: json tags (lowerCamel
// names), embedded structs flattened; members without omitempty/omitzero are required.
func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.of(f.Type)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	slices.Sort(required)
	return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
}
