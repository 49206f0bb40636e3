package config

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// Schema returns the JSON Schema (draft 2020-12) of stackfleet.yaml, generated from the Config
// types and their desc/enum/min/max tags, for editors (yaml-language-server) and CI linting.
func Schema() []byte {
	s := schemaOf(reflect.TypeFor[Config]())
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://stackfleet.dev/schema/stackfleet.schema.json"
	s["title"] = "stackfleet.yaml"
	s["required"] = []string{"version", "organization", "execution"}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // the schema is built from static types; failure is a programming error
	}
	return append(out, '\n')
}

func schemaOf(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := schemaOf(f.Type)
			if d := f.Tag.Get("desc"); d != "" {
				p["description"] = d
			}
			if e := f.Tag.Get("enum"); e != "" {
				values := strings.Split(e, ",")
				if p["type"] == "array" {
					p["items"] = map[string]any{"type": "string", "enum": values}
				} else {
					p["enum"] = values
				}
			}
			for _, k := range []string{"min", "max"} {
				if v := f.Tag.Get(k); v != "" {
					n, _ := strconv.Atoi(v)
					p[map[string]string{"min": "minimum", "max": "maximum"}[k]] = n
				}
			}
			props[name] = p
		}
		return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return map[string]any{"type": "object", "additionalProperties": map[string]any{
				"type": []string{"string", "number", "boolean", "array"}}}
		}
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	default:
		return map[string]any{}
	}
}
