package expand_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/gates/expand"
)

var target = fleet.GateTarget{
	Account: "222222222222", Region: "eu-west-1", Stack: "web",
	Outputs: map[string]string{"LoadBalancerDNS": "lb.example.com", "ApiId": "abc123", "dash-key": "d"},
}

func TestExpand(t *testing.T) {
	tests := []struct {
		name, tmpl string
		want       string
		// wantErr lists substrings of the error; nil means no error.
		wantErr []string
	}{
		{name: "plain", tmpl: "web-5xx", want: "web-5xx"},
		{name: "empty", tmpl: "", want: ""},
		{name: "fields", tmpl: "{{.Stack}}-{{.Account}}-{{.Region}}", want: "web-222222222222-eu-west-1"},
		{name: "output", tmpl: "https://{{.Outputs.LoadBalancerDNS}}/health", want: "https://lb.example.com/health"},
		{name: "index output", tmpl: `{{index .Outputs "dash-key"}}`, want: "d"},
		{name: "dollar output", tmpl: `{{with .Region}}{{$.Outputs.ApiId}}-{{.}}{{end}}`, want: "abc123-eu-west-1"},
		{name: "builtin func", tmpl: `{{printf "%s/%s" .Account .Region}}`, want: "222222222222/eu-west-1"},
		{
			name: "unknown output", tmpl: "{{.Outputs.Missing}}",
			wantErr: []string{`unknown stack output "Missing"`, "ApiId, LoadBalancerDNS, dash-key"},
		},
		{
			name: "unknown output in untaken branch", tmpl: `{{if eq .Region "xx"}}{{.Outputs.Nope}}{{end}}`,
			wantErr: []string{`"Nope"`},
		},
		{
			name: "unknown output via index", tmpl: `{{index .Outputs "Nope"}}`,
			wantErr: []string{`unknown stack output "Nope"`, "ApiId"},
		},
		{
			name: "unknown output via computed index", tmpl: `{{index .Outputs (printf "N%s" "ope")}}`,
			// index does not honour missingkey=error; a computed key yields "" like Go maps do.
			want: "",
		},
		{
			name: "unknown output via $ in range", tmpl: `{{range $k, $v := .Outputs}}{{$.Outputs.Zed}}{{end}}`,
			wantErr: []string{`"Zed"`},
		},
		{name: "unknown field", tmpl: "{{.Acount}}", wantErr: []string{"unknown field .Acount", ".Account"}},
		{name: "field of string", tmpl: "{{.Region.Name}}", wantErr: []string{".Region is a string"}},
		{name: "field of output", tmpl: "{{.Outputs.ApiId.X}}", wantErr: []string{".Outputs.ApiId is a string"}},
		{name: "syntax", tmpl: "{{.Account", wantErr: []string{`template "{{.Account"`, "unclosed action"}},
		{name: "unknown function", tmpl: "{{lower .Account}}", wantErr: []string{`function "lower" not defined`}},
		{name: "exec error", tmpl: "{{index .Account 99}}", wantErr: []string{"index out of range"}},
		{name: "runaway", tmpl: "{{range 1000000000}}{{$.Region}}{{end}}", wantErr: []string{"expands to more than 65536 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := expand.Render(tt.tmpl, target)
			checkErr(t, err, tt.wantErr)
			if err == nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Expand(%q) (-want +got):\n%s", tt.tmpl, diff)
				}
			}
		})
	}
}

func TestExpandNoOutputs(t *testing.T) {
	_, err := expand.Render("{{.Outputs.X}}", fleet.GateTarget{Account: "1"})
	checkErr(t, err, []string{`unknown stack output "X"`, "stack outputs: none"})
	var uo *expand.UnknownOutputError
	if !errors.As(err, &uo) {
		t.Fatalf("error %T is not an *UnknownOutputError", err)
	}
	got := []any{uo.Template, uo.Key, len(uo.Available)}
	if diff := cmp.Diff([]any{"{{.Outputs.X}}", "X", 0}, got); diff != "" {
		t.Errorf("UnknownOutputError (-want +got):\n%s", diff)
	}
}

func TestCheckTemplate(t *testing.T) {
	outputs := []string{"Url", "ApiId", "Url"}
	tests := []struct {
		name, tmpl string
		wantErr    []string
	}{
		{name: "plain", tmpl: "web-5xx"},
		{name: "declared output", tmpl: "{{.Stack}}-{{.Outputs.Url}}"},
		{name: "index", tmpl: `{{index .Outputs "ApiId"}}`},
		{name: "range", tmpl: `{{range $k, $v := .Outputs}}{{$k}}{{end}}`},
		{name: "with", tmpl: `{{with .Outputs.ApiId}}{{.}}{{end}}`},
		{name: "undeclared output", tmpl: "{{.Outputs.Nope}}", wantErr: []string{`unknown stack output "Nope"`, "declared outputs: ApiId, Url"}},
		{name: "undeclared in else", tmpl: `{{if .Outputs.Url}}x{{else}}{{.Outputs.Gone}}{{end}}`, wantErr: []string{`"Gone"`}},
		{name: "undeclared via index", tmpl: `{{index .Outputs "Gone"}}`, wantErr: []string{`"Gone"`}},
		{name: "unknown field", tmpl: "{{.Acount}}", wantErr: []string{"unknown field .Acount"}},
		{name: "unknown field in define", tmpl: `{{define "x"}}{{$.Nope}}{{end}}{{template "x" .}}`, wantErr: []string{"can't evaluate field Nope"}},
		{name: "define with other data", tmpl: `{{define "x"}}{{$.Foo}}{{end}}{{template "x" .Outputs}}`, wantErr: []string{`unknown stack output "Foo"`}},
		{name: "define with declared output", tmpl: `{{define "x"}}{{.Url}}{{end}}{{template "x" .Outputs}}`},
		{name: "syntax", tmpl: "{{if}}", wantErr: []string{"missing value for if"}},
		{name: "exec error", tmpl: "{{index .Stack 10}}", wantErr: []string{"index out of range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, expand.Check(tt.tmpl, outputs), tt.wantErr)
		})
	}
}

// checkErr fails t unless err contains every part of want, or is nil when want is nil.
func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"", "x", "{{.Account}}", "{{.Outputs.ApiId}}", `{{index .Outputs "x"}}`, "{{.Outputs}}",
		"{{range .Outputs}}{{.}}{{end}}", "{{$.Region.X}}", "{{template \"a\"}}", "{{define \"a\"}}{{.Nope}}{{end}}",
		"{{with $x := .Stack}}{{$x}}{{end}}", "{{block \"b\" .}}{{.Outputs.Q}}{{end}}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		got1, err1 := expand.Render(tmpl, target)
		got2, err2 := expand.Render(tmpl, target)
		if got1 != got2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("Expand(%q) is not deterministic: %q, %v / %q, %v", tmpl, got1, err1, got2, err2)
		}
		_ = expand.Check(tmpl, []string{"ApiId", "LoadBalancerDNS", "dash-key"})
		var uo *expand.UnknownOutputError
		if errors.As(err1, &uo) {
			if _, ok := target.Outputs[uo.Key]; ok {
				t.Fatalf("Expand(%q) reports existing output %q as unknown: %v", tmpl, uo.Key, err1)
			}
		}
	})
}
