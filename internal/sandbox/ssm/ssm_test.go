package ssm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/ssm"
)

const (
	acct   = "111111111111"
	other  = "222222222222"
	region = "us-east-1"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newStore() (*ssm.Store, *clock) {
	c := &clock{t: t0}
	return ssm.New(c.now), c
}

func do(s *ssm.Store, account, reg, action string, params awsproto.Object) (awsproto.Object, *awsproto.Error) {
	out, err := s.Handle(context.Background(), account, &awsproto.Request{
		Protocol: awsproto.JSON11, Service: "ssm", Action: action, Region: reg, Params: params,
	})
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			panic(fmt.Sprintf("%s returned a non-API error %T: %v", action, err, err))
		}
		return nil, ae
	}
	return out, nil
}

func mustDo(t *testing.T, s *ssm.Store, account, reg, action string, params awsproto.Object) awsproto.Object {
	t.Helper()
	out, err := do(s, account, reg, action, params)
	if err != nil {
		t.Fatalf("%s(%v): %v", action, params, err)
	}
	return out
}

func put(t *testing.T, s *ssm.Store, name, typ, value string, extra ...any) awsproto.Object {
	t.Helper()
	p := awsproto.Object{"Name": name, "Type": typ, "Value": value}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i].(string)] = extra[i+1]
	}
	return mustDo(t, s, acct, region, "PutParameter", p)
}

// errOf reduces an error to code and message for comparison.
func errOf(e *awsproto.Error) string {
	if e == nil {
		return "<nil>"
	}
	return e.Code + ": " + e.Message
}

func TestPutAndGetParameter(t *testing.T) {
	s, c := newStore()
	got := put(t, s, "/app/db/host", "String", "db.internal", "Description", "the host")
	if diff := cmp.Diff(awsproto.Object{"Version": int64(1), "Tier": "Standard"}, got); diff != "" {
		t.Errorf("PutParameter (-want +got):\n%s", diff)
	}
	out := mustDo(t, s, acct, region, "GetParameter", awsproto.Object{"Name": "/app/db/host"})
	want := awsproto.Object{"Parameter": awsproto.Object{
		"Name": "/app/db/host", "Type": "String", "Value": "db.internal", "Version": int64(1),
		"LastModifiedDate": t0, "ARN": "arn:aws:ssm:us-east-1:111111111111:parameter/app/db/host", "DataType": "text",
	}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("GetParameter (-want +got):\n%s", diff)
	}

	c.advance(time.Minute)
	got = put(t, s, "/app/db/host", "", "db2.internal", "Overwrite", true)
	if got["Version"] != int64(2) {
		t.Errorf("overwrite version = %v, want 2", got["Version"])
	}
	p, ok := s.Get(acct, region, "/app/db/host")
	want2 := ssm.Parameter{
		Name: "/app/db/host", Type: "String", Value: "db2.internal", Description: "the host", DataType: "text",
		Tier: "Standard", Version: 2, LastModified: t0.Add(time.Minute),
	}
	if diff := cmp.Diff(want2, p); !ok || diff != "" {
		t.Errorf("Get after overwrite ok=%v (-want +got):\n%s", ok, diff)
	}

	// Version selectors and the history.
	out = mustDo(t, s, acct, region, "GetParameter", awsproto.Object{"Name": "/app/db/host:1"})
	if v := out["Parameter"].(awsproto.Object); v["Value"] != "db.internal" || v["Selector"] != ":1" {
		t.Errorf("GetParameter :1 = %v", v)
	}
	_, err := do(s, acct, region, "GetParameter", awsproto.Object{"Name": "/app/db/host:7"})
	if diff := cmp.Diff("ParameterVersionNotFound: Systems Manager could not find version 7 of /app/db/host. Verify the version and try again.", errOf(err)); diff != "" {
		t.Error(diff)
	}
}

func TestOverwriteRules(t *testing.T) {
	s, _ := newStore()
	put(t, s, "plain", "String", "v1")
	_, err := do(s, acct, region, "PutParameter", awsproto.Object{"Name": "plain", "Type": "String", "Value": "v2"})
	want := "ParameterAlreadyExists: The parameter already exists. To overwrite this value, set the overwrite option in the request to true."
	if diff := cmp.Diff(want, errOf(err)); diff != "" {
		t.Error(diff)
	}
	// "/plain" and "plain" are the same parameter.
	got := put(t, s, "/plain", "String", "v2", "Overwrite", "true")
	if got["Version"] != int64(2) {
		t.Errorf("overwrite through /plain: version %v, want 2", got["Version"])
	}
	p, _ := s.Get(acct, region, "/plain")
	if p.Name != "plain" || p.Value != "v2" {
		t.Errorf("Get(/plain) = %+v, want name plain value v2", p)
	}
	// Overwrite of a missing parameter creates version 1.
	if got := put(t, s, "fresh", "String", "x", "Overwrite", true); got["Version"] != int64(1) {
		t.Errorf("overwrite-create version %v, want 1", got["Version"])
	}
}

func TestPutParameterValidation(t *testing.T) {
	long := strings.Repeat("a", 4097)
	tests := []struct {
		name   string
		params awsproto.Object
		want   string
	}{
		{"not fully qualified", awsproto.Object{"Name": "a/b", "Type": "String", "Value": "v"},
			"ValidationException: Parameter name must be a fully qualified name."},
		{"space", awsproto.Object{"Name": "/a/b c", "Type": "String", "Value": "v"},
			`ValidationException: Parameter name: can't be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`},
		{"empty segment", awsproto.Object{"Name": "/a//b", "Type": "String", "Value": "v"},
			`ValidationException: Parameter name: can't be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`},
		{"aws prefix", awsproto.Object{"Name": "awsThing", "Type": "String", "Value": "v"},
			`ValidationException: Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive).`},
		{"SSM prefix", awsproto.Object{"Name": "SSM-x", "Type": "String", "Value": "v"},
			`ValidationException: Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive).`},
		{"reserved path", awsproto.Object{"Name": "/aws/x", "Type": "String", "Value": "v"},
			"AccessDeniedException: No access to reserved parameter name: /aws/x."},
		{"too deep", awsproto.Object{"Name": "/" + strings.Repeat("l/", 15) + "p", "Type": "String", "Value": "v"},
			"HierarchyLevelLimitExceededException: A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the Amazon Web Services Systems Manager User Guide."},
		{"missing type", awsproto.Object{"Name": "x", "Value": "v"},
			"ValidationException: A parameter type is required when you create a parameter."},
		{"bad type", awsproto.Object{"Name": "x", "Type": "Int", "Value": "v"},
			"ValidationException: 1 validation error detected: Value 'Int' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"},
		{"empty value", awsproto.Object{"Name": "x", "Type": "String", "Value": ""},
			"ValidationException: 1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1."},
		{"too long for standard", awsproto.Object{"Name": "x", "Type": "String", "Value": long},
			"ValidationException: Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"},
		{"bad data type", awsproto.Object{"Name": "x", "Type": "String", "Value": "v", "DataType": "Text"},
			"ValidationException: The following data type is not supported: Text (Data type names are all lowercase.)"},
		{"pattern mismatch", awsproto.Object{"Name": "x", "Type": "String", "Value": "abc", "AllowedPattern": `^\d+$`},
			`ParameterPatternMismatchException: Parameter value, cannot be validated against allowedPattern: ^\d+$`},
		{"bad pattern", awsproto.Object{"Name": "x", "Type": "String", "Value": "abc", "AllowedPattern": `(`},
			"InvalidAllowedPatternException: The request doesn't meet the regular expression requirement."},
		{"bad key", awsproto.Object{"Name": "x", "Type": "SecureString", "Value": "abc", "KeyId": "not a key"},
			"InvalidKeyId: Invalid keyId not a key"},
		{"key on String", awsproto.Object{"Name": "x", "Type": "String", "Value": "abc", "KeyId": "alias/k"},
			"ValidationException: KeyId is required for SecureString type parameter only."},
		{"tags with overwrite", awsproto.Object{"Name": "x", "Type": "String", "Value": "abc", "Overwrite": true,
			"Tags": []any{awsproto.Object{"Key": "k", "Value": "v"}}},
			"ValidationException: Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource."},
		{"missing name", awsproto.Object{"Type": "String", "Value": "abc"},
			"ValidationException: 1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"},
		{"bad overwrite type", awsproto.Object{"Name": "x", "Type": "String", "Value": "abc", "Overwrite": "maybe"},
			"ValidationException: 1 validation error detected: Value 'maybe' at 'overwrite' failed to satisfy constraint: Member has an invalid type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore()
			_, err := do(s, acct, region, "PutParameter", tt.params)
			if diff := cmp.Diff(tt.want, errOf(err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if _, ok := s.Get(acct, region, fmt.Sprint(tt.params["Name"])); ok {
				t.Error("the rejected parameter was stored")
			}
		})
	}
}

func TestTiers(t *testing.T) {
	s, _ := newStore()
	big := strings.Repeat("v", 5000)
	if got := put(t, s, "big", "String", big, "Tier", "Intelligent-Tiering"); got["Tier"] != "Advanced" {
		t.Errorf("intelligent tiering of 5000 chars chose %v, want Advanced", got["Tier"])
	}
	if got := put(t, s, "small", "String", "v", "Tier", "Intelligent-Tiering"); got["Tier"] != "Standard" {
		t.Errorf("intelligent tiering of 1 char chose %v, want Standard", got["Tier"])
	}
	// An advanced parameter stays advanced when the tier is omitted, and can't be downgraded.
	if got := put(t, s, "big", "String", "v", "Overwrite", true); got["Tier"] != "Advanced" {
		t.Errorf("overwrite without tier gave %v, want Advanced", got["Tier"])
	}
	_, err := do(s, acct, region, "PutParameter", awsproto.Object{"Name": "big", "Value": "v", "Overwrite": true, "Tier": "Standard"})
	if err == nil || err.Code != "ValidationException" || !strings.Contains(err.Message, "can't downgrade") {
		t.Errorf("downgrade: got %v, want ValidationException about downgrading", err)
	}
}

func TestSecureString(t *testing.T) {
	s, _ := newStore()
	put(t, s, "/app/secret", "SecureString", "hunter2")
	put(t, s, "/app/secret2", "SecureString", "hunter2", "KeyId", "alias/custom")

	enc := mustDo(t, s, acct, region, "GetParameter", awsproto.Object{"Name": "/app/secret"})["Parameter"].(awsproto.Object)["Value"].(string)
	if enc == "hunter2" || strings.Contains(enc, "hunter2") {
		t.Errorf("value without decryption leaks the plaintext: %q", enc)
	}
	enc2 := mustDo(t, s, acct, region, "GetParameter", awsproto.Object{"Name": "/app/secret2"})["Parameter"].(awsproto.Object)["Value"].(string)
	if enc == enc2 {
		t.Errorf("different keys gave the same opaque value %q", enc)
	}
	again := mustDo(t, s, acct, region, "GetParameter", awsproto.Object{"Name": "/app/secret"})["Parameter"].(awsproto.Object)["Value"]
	if again != enc {
		t.Errorf("opaque value not deterministic: %q then %q", enc, again)
	}
	dec := mustDo(t, s, acct, region, "GetParameter", awsproto.Object{"Name": "/app/secret", "WithDecryption": true})
	if v := dec["Parameter"].(awsproto.Object)["Value"]; v != "hunter2" {
		t.Errorf("with decryption = %q, want hunter2", v)
	}
	desc := mustDo(t, s, acct, region, "DescribeParameters", awsproto.Object{})
	var keys []any
	for _, p := range desc["Parameters"].([]any) {
		keys = append(keys, p.(awsproto.Object)["KeyId"])
	}
	if diff := cmp.Diff([]any{"alias/aws/ssm", "alias/custom"}, keys); diff != "" {
		t.Errorf("KeyIds (-want +got):\n%s", diff)
	}
	if p, _ := s.Get(acct, region, "/app/secret"); p.Value != "hunter2" || p.KeyID != "alias/aws/ssm" {
		t.Errorf("Go Get = %+v, want plaintext and default key", p)
	}
}

func TestGetParameterErrors(t *testing.T) {
	s, _ := newStore()
	put(t, s, "/a/b", "String", "v")
	tests := []struct {
		name, param, want string
	}{
		{"missing", "/a/c", "ParameterNotFound: "},
		{"invalid chars", "/a/b c", `ValidationException: Parameter name: can't be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`},
		{"not fully qualified", "a/b", "ValidationException: Parameter name must be a fully qualified name."},
		{"other account ARN", "arn:aws:ssm:us-east-1:999999999999:parameter/a/b", "ParameterNotFound: "},
		{"own ARN", "arn:aws:ssm:us-east-1:111111111111:parameter/a/b", "<nil>"},
		{"label", "/a/b:prod", "ParameterNotFound: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := do(s, acct, region, "GetParameter", awsproto.Object{"Name": tt.param})
			if diff := cmp.Diff(tt.want, errOf(err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetParameters(t *testing.T) {
	s, _ := newStore()
	put(t, s, "/a/one", "String", "1")
	put(t, s, "two", "StringList", "x,y")
	out := mustDo(t, s, acct, region, "GetParameters", awsproto.Object{
		"Names": []any{"/a/one", "/missing", "/two", "bad name", "/a/one"},
	})
	var names []any
	for _, p := range out["Parameters"].([]any) {
		names = append(names, p.(awsproto.Object)["Name"])
	}
	if diff := cmp.Diff([]any{"/a/one", "two"}, names); diff != "" {
		t.Errorf("Parameters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"/missing", "bad name"}, out["InvalidParameters"]); diff != "" {
		t.Errorf("InvalidParameters (-want +got):\n%s", diff)
	}
	many := make([]any, 11)
	for i := range many {
		many[i] = fmt.Sprint("p", i)
	}
	_, err := do(s, acct, region, "GetParameters", awsproto.Object{"Names": many})
	if err == nil || err.Code != "ValidationException" || !strings.Contains(err.Message, "less than or equal to 10") {
		t.Errorf("11 names: %v, want ValidationException", err)
	}
}

// collect pages through a listing operation and returns the names in order.
func collect(t *testing.T, s *ssm.Store, action string, params awsproto.Object) (names []string, pages int) {
	t.Helper()
	for {
		out := mustDo(t, s, acct, region, action, params)
		pages++
		for _, p := range out["Parameters"].([]any) {
			names = append(names, p.(awsproto.Object)["Name"].(string))
		}
		tok, ok := out["NextToken"].(string)
		if !ok {
			return names, pages
		}
		params["NextToken"] = tok
		if pages > 100 {
			t.Fatal("paging does not end")
		}
	}
}

func TestGetParametersByPath(t *testing.T) {
	s, _ := newStore()
	for _, n := range []string{"/app/a", "/app/b", "/app/c", "/app/sub/d", "/app/sub/deeper/e", "/apple", "/other/x", "top"} {
		put(t, s, n, "String", "v")
	}
	tests := []struct {
		name   string
		params awsproto.Object
		want   []string
		pages  int
	}{
		{"one level", awsproto.Object{"Path": "/app"}, []string{"/app/a", "/app/b", "/app/c"}, 1},
		{"trailing slash", awsproto.Object{"Path": "/app/"}, []string{"/app/a", "/app/b", "/app/c"}, 1},
		{"recursive", awsproto.Object{"Path": "/app", "Recursive": true},
			[]string{"/app/a", "/app/b", "/app/c", "/app/sub/d", "/app/sub/deeper/e"}, 1},
		{"paged", awsproto.Object{"Path": "/app", "Recursive": true, "MaxResults": int64(2)},
			[]string{"/app/a", "/app/b", "/app/c", "/app/sub/d", "/app/sub/deeper/e"}, 3},
		{"query strings", awsproto.Object{"Path": "/app", "Recursive": "true", "MaxResults": "4"},
			[]string{"/app/a", "/app/b", "/app/c", "/app/sub/d", "/app/sub/deeper/e"}, 2},
		{"root", awsproto.Object{"Path": "/"}, []string{"/apple", "top"}, 1},
		{"root recursive", awsproto.Object{"Path": "/", "Recursive": true, "MaxResults": float64(10)},
			[]string{"/app/a", "/app/b", "/app/c", "/app/sub/d", "/app/sub/deeper/e", "/apple", "/other/x", "top"}, 1},
		{"nothing", awsproto.Object{"Path": "/none"}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pages := collect(t, s, "GetParametersByPath", tt.params)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if pages != tt.pages {
				t.Errorf("pages = %d, want %d", pages, tt.pages)
			}
		})
	}

	errs := []struct {
		name   string
		params awsproto.Object
		code   string
	}{
		{"max results", awsproto.Object{"Path": "/app", "MaxResults": int64(11)}, "ValidationException"},
		{"relative path", awsproto.Object{"Path": "app"}, "ValidationException"},
		{"bad token", awsproto.Object{"Path": "/app", "NextToken": "!!"}, "InvalidNextToken"},
		{"bad filter", awsproto.Object{"Path": "/app", "ParameterFilters": []any{awsproto.Object{"Key": "Name", "Values": []any{"x"}}}}, "InvalidFilterKey"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := do(s, acct, region, "GetParametersByPath", tt.params)
			if err == nil || err.Code != tt.code {
				t.Errorf("got %v, want %s", err, tt.code)
			}
		})
	}
	_, err := do(s, acct, region, "GetParametersByPath", awsproto.Object{"Path": "app"})
	if !strings.HasPrefix(err.Message, `The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash "/".`) {
		t.Errorf("relative path message = %q", err.Message)
	}
}

func TestPagingIsStableUnderDeletes(t *testing.T) {
	s, _ := newStore()
	for i := range 6 {
		put(t, s, fmt.Sprintf("/p/%d", i), "String", "v")
	}
	out := mustDo(t, s, acct, region, "GetParametersByPath", awsproto.Object{"Path": "/p", "MaxResults": int64(3)})
	s.Delete(acct, region, "/p/1") // already returned
	s.Delete(acct, region, "/p/4") // not yet returned
	out = mustDo(t, s, acct, region, "GetParametersByPath", awsproto.Object{"Path": "/p", "MaxResults": int64(3), "NextToken": out["NextToken"]})
	var got []any
	for _, p := range out["Parameters"].([]any) {
		got = append(got, p.(awsproto.Object)["Name"])
	}
	if diff := cmp.Diff([]any{"/p/3", "/p/5"}, got); diff != "" {
		t.Errorf("second page (-want +got):\n%s", diff)
	}
}

func TestDescribeParameters(t *testing.T) {
	s, _ := newStore()
	put(t, s, "/app/a", "String", "v", "Tags", []any{awsproto.Object{"Key": "team", "Value": "blue"}})
	put(t, s, "/app/b", "SecureString", "v")
	put(t, s, "/app/sub/c", "StringList", "v,w")
	put(t, s, "d", "String", "v")
	filter := func(key, option string, values ...any) awsproto.Object {
		o := awsproto.Object{"Key": key, "Values": values}
		if option != "" {
			o["Option"] = option
		}
		return o
	}
	tests := []struct {
		name   string
		params awsproto.Object
		want   []string
	}{
		{"all", awsproto.Object{}, []string{"/app/a", "/app/b", "/app/sub/c", "d"}},
		{"name equals", awsproto.Object{"ParameterFilters": []any{filter("Name", "", "/app/a", "d")}}, []string{"/app/a", "d"}},
		{"name begins", awsproto.Object{"ParameterFilters": []any{filter("Name", "BeginsWith", "/app/s")}}, []string{"/app/sub/c"}},
		{"name contains", awsproto.Object{"ParameterFilters": []any{filter("Name", "Contains", "b")}}, []string{"/app/b", "/app/sub/c"}},
		{"path one level", awsproto.Object{"ParameterFilters": []any{filter("Path", "", "/app")}}, []string{"/app/a", "/app/b"}},
		{"path recursive", awsproto.Object{"ParameterFilters": []any{filter("Path", "Recursive", "/app")}}, []string{"/app/a", "/app/b", "/app/sub/c"}},
		{"type", awsproto.Object{"ParameterFilters": []any{filter("Type", "", "SecureString", "StringList")}}, []string{"/app/b", "/app/sub/c"}},
		{"tag", awsproto.Object{"ParameterFilters": []any{filter("tag:team", "", "blue")}}, []string{"/app/a"}},
		{"tag exists", awsproto.Object{"ParameterFilters": []any{filter("tag:team", "")}}, []string{"/app/a"}},
		{"and", awsproto.Object{"ParameterFilters": []any{filter("Path", "Recursive", "/app"), filter("Type", "", "String")}}, []string{"/app/a"}},
		{"legacy name", awsproto.Object{"Filters": []any{filter("Name", "", "/app/")}}, []string{"/app/a", "/app/b", "/app/sub/c"}},
		{"paged", awsproto.Object{"MaxResults": int64(1)}, []string{"/app/a", "/app/b", "/app/sub/c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := collect(t, s, "DescribeParameters", tt.params)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
	errs := []struct {
		name   string
		params awsproto.Object
		want   string
	}{
		{"both filter kinds", awsproto.Object{"Filters": []any{filter("Name", "", "a")}, "ParameterFilters": []any{filter("Name", "", "a")}},
			"ValidationException: You can use either Filters or ParameterFilters in a single request."},
		{"bad option", awsproto.Object{"ParameterFilters": []any{filter("Path", "Equals", "/a")}},
			"InvalidFilterOption: The following filter option is not valid: Equals. Valid options include: [OneLevel, Recursive]."},
		{"bad key", awsproto.Object{"ParameterFilters": []any{filter("Colour", "", "x")}},
			"InvalidFilterKey: The following filter key is not valid: Colour. Valid filter keys include: [Path, Name, Type, KeyId, Tier, DataType, Label]."},
		{"max results", awsproto.Object{"MaxResults": int64(51)},
			"ValidationException: 1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := do(s, acct, region, "DescribeParameters", tt.params)
			if diff := cmp.Diff(tt.want, errOf(err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Metadata carries no value.
	out := mustDo(t, s, acct, region, "DescribeParameters", awsproto.Object{"ParameterFilters": []any{filter("Name", "", "d")}})
	want := []any{awsproto.Object{
		"Name": "d", "ARN": "arn:aws:ssm:us-east-1:111111111111:parameter/d", "Type": "String",
		"LastModifiedDate": t0, "Version": int64(1), "Tier": "Standard", "Policies": []any{}, "DataType": "text",
	}}
	if diff := cmp.Diff(want, out["Parameters"]); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}

func TestDelete(t *testing.T) {
	s, _ := newStore()
	put(t, s, "/a/1", "String", "v")
	put(t, s, "/a/2", "String", "v")
	put(t, s, "/a/3", "String", "v")
	mustDo(t, s, acct, region, "DeleteParameter", awsproto.Object{"Name": "/a/1"})
	_, err := do(s, acct, region, "DeleteParameter", awsproto.Object{"Name": "/a/1"})
	if diff := cmp.Diff("ParameterNotFound: ", errOf(err)); diff != "" {
		t.Error(diff)
	}
	out := mustDo(t, s, acct, region, "DeleteParameters", awsproto.Object{"Names": []any{"/a/2", "/a/9", "/a/3"}})
	want := awsproto.Object{"DeletedParameters": []any{"/a/2", "/a/3"}, "InvalidParameters": []any{"/a/9"}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("DeleteParameters (-want +got):\n%s", diff)
	}
	if s.Delete(acct, region, "/a/2") {
		t.Error("Delete of a deleted parameter reported true")
	}
	// A deleted parameter starts again at version 1.
	if got := put(t, s, "/a/2", "String", "v"); got["Version"] != int64(1) {
		t.Errorf("recreated version %v, want 1", got["Version"])
	}
}

func TestHistoryAndTags(t *testing.T) {
	s, c := newStore()
	put(t, s, "/h", "String", "v1", "Tags", []any{awsproto.Object{"Key": "a", "Value": "1"}})
	for i := 2; i <= 5; i++ {
		c.advance(time.Second)
		put(t, s, "/h", "String", fmt.Sprint("v", i), "Overwrite", true)
	}
	var values []any
	params := awsproto.Object{"Name": "/h", "MaxResults": int64(2)}
	for range 10 {
		out := mustDo(t, s, acct, region, "GetParameterHistory", params)
		for _, h := range out["Parameters"].([]any) {
			values = append(values, h.(awsproto.Object)["Value"])
		}
		if out["NextToken"] == nil {
			break
		}
		params["NextToken"] = out["NextToken"]
	}
	if diff := cmp.Diff([]any{"v1", "v2", "v3", "v4", "v5"}, values); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}

	mustDo(t, s, acct, region, "AddTagsToResource", awsproto.Object{"ResourceType": "Parameter", "ResourceId": "/h",
		"Tags": []any{awsproto.Object{"Key": "b", "Value": "2"}}})
	mustDo(t, s, acct, region, "RemoveTagsFromResource", awsproto.Object{"ResourceType": "Parameter", "ResourceId": "/h", "TagKeys": []any{"a"}})
	out := mustDo(t, s, acct, region, "ListTagsForResource", awsproto.Object{"ResourceType": "Parameter", "ResourceId": "/h"})
	if diff := cmp.Diff(awsproto.Object{"TagList": []any{awsproto.Object{"Key": "b", "Value": "2"}}}, out); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	_, err := do(s, acct, region, "ListTagsForResource", awsproto.Object{"ResourceType": "Parameter", "ResourceId": "/nope"})
	if diff := cmp.Diff("InvalidResourceId: Invalid Resource Id", errOf(err)); diff != "" {
		t.Error(diff)
	}
}

func TestAccountsAndRegionsAreIndependent(t *testing.T) {
	s, _ := newStore()
	for _, sc := range []struct{ account, region, value string }{
		{acct, "us-east-1", "a-east"}, {acct, "eu-west-1", "a-west"}, {other, "us-east-1", "b-east"},
	} {
		if _, err := s.Put(sc.account, sc.region, ssm.Parameter{Name: "/shared", Type: "String", Value: sc.value}, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, sc := range []struct{ account, region, want string }{
		{acct, "us-east-1", "a-east"}, {acct, "eu-west-1", "a-west"}, {other, "us-east-1", "b-east"}, {other, "eu-west-1", ""},
	} {
		out, err := do(s, sc.account, sc.region, "GetParameter", awsproto.Object{"Name": "/shared"})
		var got string
		if err == nil {
			got = out["Parameter"].(awsproto.Object)["Value"].(string)
			if arn := out["Parameter"].(awsproto.Object)["ARN"]; arn != "arn:aws:ssm:"+sc.region+":"+sc.account+":parameter/shared" {
				t.Errorf("ARN = %v", arn)
			}
		}
		if got != sc.want {
			t.Errorf("%s/%s: value %q, want %q", sc.account, sc.region, got, sc.want)
		}
	}
	s.Delete(acct, "us-east-1", "/shared")
	if _, ok := s.Get(other, "us-east-1", "/shared"); !ok {
		t.Error("deleting in one account removed another account's parameter")
	}
}

func TestGoAPI(t *testing.T) {
	s, _ := newStore()
	v, err := s.Put(acct, region, ssm.Parameter{Name: "/cfn/p", Type: "String", Value: "x", Tags: map[string]string{"k": "v"}}, false)
	if err != nil || v != 1 {
		t.Fatalf("Put = %d, %v", v, err)
	}
	_, err = s.Put(acct, region, ssm.Parameter{Name: "/cfn/p", Type: "String", Value: "y"}, false)
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Code != "ParameterAlreadyExists" {
		t.Errorf("second Put error = %v, want ParameterAlreadyExists", err)
	}
	if v, err = s.Put(acct, region, ssm.Parameter{Name: "/cfn/p", Value: "y"}, true); err != nil || v != 2 {
		t.Errorf("overwrite Put = %d, %v", v, err)
	}
	p, ok := s.Get(acct, region, "/cfn/p")
	if !ok || p.Type != "String" || p.Value != "y" || p.Tags["k"] != "v" {
		t.Errorf("Get = %+v, %v", p, ok)
	}
	if !s.Delete(acct, region, "/cfn/p") {
		t.Error("Delete = false")
	}
	if _, ok := s.Get(acct, region, "/cfn/p"); ok {
		t.Error("Get after Delete found the parameter")
	}
}

func TestPublicParameters(t *testing.T) {
	s, _ := newStore()
	name := "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
	if err := s.PutPublic(region, ssm.Parameter{Name: name, Value: "ami-0123456789abcdef0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPublic(region, ssm.Parameter{Name: "/mine", Value: "x"}); err == nil {
		t.Error("PutPublic accepted a name outside /aws/service/")
	}
	for _, account := range []string{acct, other} {
		out := mustDo(t, s, account, region, "GetParameter", awsproto.Object{"Name": name})["Parameter"].(awsproto.Object)
		if out["Value"] != "ami-0123456789abcdef0" || out["ARN"] != "arn:aws:ssm:us-east-1::parameter"+name {
			t.Errorf("%s: %v", account, out)
		}
	}
	got, _ := collect(t, s, "GetParametersByPath", awsproto.Object{"Path": "/aws/service/ami-amazon-linux-latest"})
	if diff := cmp.Diff([]string{name}, got); diff != "" {
		t.Errorf("by path (-want +got):\n%s", diff)
	}
	if _, ok := s.Get(acct, "eu-west-1", name); ok {
		t.Error("public parameter visible in another region")
	}
}

func TestSnapshotRestore(t *testing.T) {
	s, c := newStore()
	put(t, s, "/a/b", "String", "1", "Tags", []any{awsproto.Object{"Key": "t", "Value": "v"}})
	c.advance(time.Hour)
	put(t, s, "/a/b", "String", "2", "Overwrite", true)
	put(t, s, "sec", "SecureString", "pw", "Description", "d")
	if _, err := s.Put(other, "eu-west-1", ssm.Parameter{Name: "x", Type: "StringList", Value: "a,b"}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPublic(region, ssm.Parameter{Name: "/aws/service/x", Value: "p"}); err != nil {
		t.Fatal(err)
	}
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := newStore()
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	again, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(data), string(again)); diff != "" {
		t.Errorf("snapshot of restored store differs (-want +got):\n%s", diff)
	}
	for _, q := range []struct{ account, region, name string }{
		{acct, region, "/a/b"}, {acct, region, "sec"}, {other, "eu-west-1", "x"}, {acct, region, "/aws/service/x"},
	} {
		want, _ := s.Get(q.account, q.region, q.name)
		got, ok := r.Get(q.account, q.region, q.name)
		if diff := cmp.Diff(want, got); !ok || diff != "" {
			t.Errorf("%v (-want +got):\n%s", q, diff)
		}
	}
	out := mustDo(t, r, acct, region, "GetParameter", awsproto.Object{"Name": "/a/b:1"})
	if v := out["Parameter"].(awsproto.Object)["Value"]; v != "1" {
		t.Errorf("restored version 1 value = %v", v)
	}
	if err := r.Restore([]byte(`{"version":99}`)); err == nil {
		t.Error("Restore accepted an unknown version")
	}
	if err := r.Restore([]byte(`not json`)); err == nil {
		t.Error("Restore accepted garbage")
	}
	if _, ok := r.Get(acct, region, "/a/b"); !ok {
		t.Error("a failed Restore changed the store")
	}
}

func TestUnknownOperation(t *testing.T) {
	s, _ := newStore()
	_, err := do(s, acct, region, "SendCommand", awsproto.Object{})
	if err == nil || err.Code != "UnknownOperationException" {
		t.Errorf("got %v, want UnknownOperationException", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s, _ := newStore()
	var wg sync.WaitGroup
	const workers, ops = 8, 50
	for w := range workers {
		wg.Go(func() {
			account := fmt.Sprintf("%012d", w%2)
			for i := range ops {
				name := fmt.Sprintf("/c/%d", i%5)
				if _, err := do(s, account, region, "PutParameter", awsproto.Object{"Name": name, "Type": "String", "Value": "v", "Overwrite": true}); err != nil {
					t.Error(err)
					return
				}
				if _, err := do(s, account, region, "GetParametersByPath", awsproto.Object{"Path": "/c"}); err != nil {
					t.Error(err)
					return
				}
				s.Get(account, region, name)
				if i%7 == 0 {
					s.Delete(account, region, name)
				}
				if i%10 == 0 {
					if _, err := s.Snapshot(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func FuzzParameterNames(f *testing.F) {
	for _, seed := range []string{"/a/b", "a", "/a/b:3", "arn:aws:ssm:us-east-1:111111111111:parameter/a/b", "arn:aws:ssm", "a/b", "/", "//", "/aws/service/x", " /x ", "x:"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		s, _ := newStore()
		_, perr := do(s, acct, region, "PutParameter", awsproto.Object{"Name": name, "Type": "String", "Value": "v"})
		out, gerr := do(s, acct, region, "GetParameter", awsproto.Object{"Name": name})
		if perr == nil && gerr != nil {
			t.Fatalf("put %q succeeded but get failed: %v", name, gerr)
		}
		if gerr == nil && out["Parameter"].(awsproto.Object)["Value"] != "v" {
			t.Fatalf("get %q = %v", name, out)
		}
		for _, action := range []string{"GetParametersByPath", "DeleteParameter"} {
			do(s, acct, region, action, awsproto.Object{"Name": name, "Path": name})
		}
		do(s, acct, region, "GetParametersByPath", awsproto.Object{"Path": "/", "NextToken": name})
	})
}
