package ssm

import (
	"context"
	"encoding/base64"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Page sizes of the listing operations.
const (
	maxByPathResults    = 10
	maxDescribeResults  = 50
	maxHistoryResults   = 50
	maxDeleteParameters = 10
)

// Handle serves GetParameter, GetParameters, PutParameter, GetParametersByPath,
// DeleteParameter, DeleteParameters, DescribeParameters, GetParameterHistory,
// AddTagsToResource, RemoveTagsFromResource and ListTagsForResource for account in
// req.Region. API errors are *awsproto.Error values.
func (s *Store) Handle(ctx context.Context, account string, req *awsproto.Request) (awsproto.Object, error) {
	var (
		out  awsproto.Object
		aerr *awsproto.Error
	)
	p := req.Params
	if p == nil {
		p = awsproto.Object{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.Action {
	case "PutParameter":
		out, aerr = s.putParameter(account, req.Region, p)
	case "GetParameter":
		out, aerr = s.getParameter(account, req.Region, p)
	case "GetParameters":
		out, aerr = s.getParameters(account, req.Region, p)
	case "GetParametersByPath":
		out, aerr = s.getParametersByPath(account, req.Region, p)
	case "DeleteParameter":
		out, aerr = s.deleteParameter(account, req.Region, p)
	case "DeleteParameters":
		out, aerr = s.deleteParameters(account, req.Region, p)
	case "DescribeParameters":
		out, aerr = s.describeParameters(account, req.Region, p)
	case "GetParameterHistory":
		out, aerr = s.getParameterHistory(account, req.Region, p)
	case "AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource":
		out, aerr = s.tagging(account, req.Region, req.Action, p)
	default:
		aerr = awsproto.Errorf(400, "UnknownOperationException", "The operation %s is not supported by the sandbox's Systems Manager.", req.Action)
	}
	if aerr != nil {
		return nil, aerr
	}
	return out, nil
}

func required(member, v string) *awsproto.Error {
	if v == "" {
		return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(member))
	}
	return nil
}

func (s *Store) putParameter(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	var in Parameter
	var err *awsproto.Error
	fields := []struct {
		member string
		dst    *string
	}{
		{"Name", &in.Name}, {"Value", &in.Value}, {"Type", &in.Type}, {"Description", &in.Description},
		{"KeyId", &in.KeyID}, {"AllowedPattern", &in.AllowedPattern}, {"Tier", &in.Tier}, {"DataType", &in.DataType},
	}
	for _, f := range fields {
		if *f.dst, err = str(p, f.member); err != nil {
			return nil, err
		}
	}
	if err := required("Name", in.Name); err != nil {
		return nil, err
	}
	if _, ok := p["Value"]; !ok {
		return nil, required("Value", "")
	}
	overwrite, _, err := boolean(p, "Overwrite")
	if err != nil {
		return nil, err
	}
	tags, err := objList(p, "Tags")
	if err != nil {
		return nil, err
	}
	if len(tags) > 0 {
		in.Tags = make(map[string]string, len(tags))
		for _, t := range tags {
			k, err := str(t, "Key")
			if err != nil {
				return nil, err
			}
			v, err := str(t, "Value")
			if err != nil {
				return nil, err
			}
			in.Tags[k] = v
		}
	}
	np, err := s.put(account, region, in, overwrite)
	if err != nil {
		return nil, err
	}
	return awsproto.Object{"Version": np.Version, "Tier": np.Tier}, nil
}

// ref is a parsed parameter reference of a read: name, optional ":version" or ":label".
type ref struct {
	name     string
	selector string
}

// parseRef accepts a name or ARN with an optional selector. ok is false for a well-formed
// reference that cannot name a parameter of account in region (another account's ARN).
func parseRef(account, region, raw string) (r ref, ok bool, err *awsproto.Error) {
	raw = strings.TrimSpace(raw)
	if rest, isARN := strings.CutPrefix(raw, "arn:"); isARN {
		parts := strings.SplitN(rest, ":", 5)
		if len(parts) != 5 || parts[1] != "ssm" || !strings.HasPrefix(parts[4], "parameter/") {
			return ref{}, false, validation(msgNameChars)
		}
		if parts[2] != region || (parts[3] != account && parts[3] != "") {
			return ref{}, false, nil
		}
		raw = strings.TrimPrefix(parts[4], "parameter")
		if !strings.Contains(raw[1:], "/") {
			raw = raw[1:]
		}
	}
	name, selector, _ := strings.Cut(raw, ":")
	if err := checkName(name); err != nil {
		return ref{}, false, err
	}
	return ref{name, selector}, true, nil
}

// resolve finds the version a reference names. notFound carries the error AWS gives when the
// parameter exists but the selected version does not.
func (s *Store) resolve(account, region string, r ref) (e *entry, p Parameter, found bool, notFound *awsproto.Error) {
	e = s.lookup(account, region, r.name)
	if e == nil {
		return nil, Parameter{}, false, nil
	}
	if r.selector == "" {
		return e, e.latest(), true, nil
	}
	v, perr := strconv.ParseInt(r.selector, 10, 64)
	if perr != nil {
		// Labels are not supported, so no label selects a version.
		return e, Parameter{}, false, nil
	}
	for _, ver := range e.versions {
		if ver.Version == v {
			return e, ver, true, nil
		}
	}
	return e, Parameter{}, false, awsproto.Errorf(400, "ParameterVersionNotFound",
		"Systems Manager could not find version %d of %s. Verify the version and try again.", v, r.name)
}

// paramARN returns the ARN of p as seen from account; public parameters have no account.
func paramARN(account, region string, p Parameter) string {
	if strings.HasPrefix(p.Name, publicPrefix) {
		return arn("", region, p.Name)
	}
	return arn(account, region, p.Name)
}

func value(p Parameter, decrypt bool) string {
	if p.Type == typeSecureString && !decrypt {
		return opaque(p)
	}
	return p.Value
}

func paramObject(account, region string, p Parameter, decrypt bool, selector string) awsproto.Object {
	o := awsproto.Object{
		"Name":             p.Name,
		"Type":             p.Type,
		"Value":            value(p, decrypt),
		"Version":          p.Version,
		"LastModifiedDate": p.LastModified,
		"ARN":              paramARN(account, region, p),
		"DataType":         p.DataType,
	}
	if selector != "" {
		o["Selector"] = ":" + selector
	}
	return o
}

func (s *Store) getParameter(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	raw, err := str(p, "Name")
	if err != nil {
		return nil, err
	}
	if err := required("Name", raw); err != nil {
		return nil, err
	}
	decrypt, _, err := boolean(p, "WithDecryption")
	if err != nil {
		return nil, err
	}
	r, ok, err := parseRef(account, region, raw)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, awsproto.Errorf(400, "ParameterNotFound", "")
	}
	_, ver, found, verErr := s.resolve(account, region, r)
	if verErr != nil {
		return nil, verErr
	}
	if !found {
		// AWS answers a missing parameter with an empty message.
		return nil, awsproto.Errorf(400, "ParameterNotFound", "")
	}
	return awsproto.Object{"Parameter": paramObject(account, region, ver, decrypt, r.selector)}, nil
}

func (s *Store) getParameters(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	names, err := strList(p, "Names")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, validation("1 validation error detected: Value null at 'names' failed to satisfy constraint: Member must not be null")
	}
	if len(names) > maxGetParametersLen {
		return nil, validation("1 validation error detected: Value '[%s]' at 'names' failed to satisfy constraint: Member must have length less than or equal to %d.", strings.Join(names, ", "), maxGetParametersLen)
	}
	decrypt, _, err := boolean(p, "WithDecryption")
	if err != nil {
		return nil, err
	}
	params, invalid := []any{}, []any{}
	seen := make(map[string]bool)
	for _, raw := range names {
		if seen[raw] {
			continue
		}
		seen[raw] = true
		r, ok, rerr := parseRef(account, region, raw)
		if rerr != nil || !ok {
			invalid = append(invalid, raw)
			continue
		}
		_, ver, found, _ := s.resolve(account, region, r)
		if !found {
			invalid = append(invalid, raw)
			continue
		}
		params = append(params, paramObject(account, region, ver, decrypt, r.selector))
	}
	return awsproto.Object{"Parameters": params, "InvalidParameters": invalid}, nil
}

// pageToken and parseToken make NextToken values: the sort key of the last item returned, so
// paging stays consistent while parameters are added or deleted between pages.
func pageToken(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1|" + last))
}

func parseToken(tok string) (string, *awsproto.Error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "v1|") {
		return "", awsproto.Errorf(400, "InvalidNextToken", "The specified token isn't valid.")
	}
	return string(b[3:]), nil
}

// maxResults reads MaxResults in [1, limit], defaulting to limit.
func maxResults(p awsproto.Object, limit int64) (int, *awsproto.Error) {
	n, ok, err := integer(p, "MaxResults")
	if err != nil {
		return 0, err
	}
	if !ok {
		return int(limit), nil
	}
	if n < 1 {
		return 0, validation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1", n)
	}
	if n > limit {
		return 0, validation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to %d", n, limit)
	}
	return int(n), nil
}

// fullName spells every name with its leading slash, the form paths and sorting use.
func fullName(name string) string { return "/" + strings.TrimPrefix(name, "/") }

// listing is one candidate of a paged listing.
type listing struct {
	sortKey string
	e       *entry
}

// page returns the items after token (sorted by sortKey) and the next token.
func page(items []listing, token string, size int) ([]listing, string, *awsproto.Error) {
	slices.SortFunc(items, func(a, b listing) int { return strings.Compare(a.sortKey, b.sortKey) })
	if token != "" {
		after, err := parseToken(token)
		if err != nil {
			return nil, "", err
		}
		i, _ := slices.BinarySearchFunc(items, after, func(l listing, k string) int { return strings.Compare(l.sortKey, k) })
		if i < len(items) && items[i].sortKey == after {
			i++
		}
		items = items[i:]
	}
	if len(items) > size {
		return items[:size], pageToken(items[size-1].sortKey), nil
	}
	return items, "", nil
}

func checkPath(path string) *awsproto.Error {
	if path == "/" {
		return nil
	}
	if !strings.HasPrefix(path, "/") {
		return validation(msgPathInvalid)
	}
	trimmed := strings.TrimSuffix(path, "/")
	for _, seg := range strings.Split(trimmed[1:], "/") {
		if !segmentChars.MatchString(seg) {
			return validation(msgPathInvalid)
		}
	}
	if strings.Count(trimmed, "/") > maxHierarchyDepth {
		return awsproto.Errorf(400, "HierarchyLevelLimitExceededException",
			"A hierarchy can have a maximum of %d levels. For more information, see Requirements and constraints for parameter names in the Amazon Web Services Systems Manager User Guide.", maxHierarchyDepth)
	}
	return nil
}

// underPath reports whether name lies under path: directly, or at any depth when recursive.
func underPath(name, path string, recursive bool) bool {
	prefix := strings.TrimSuffix(path, "/") + "/"
	full := fullName(name)
	rest, ok := strings.CutPrefix(full, prefix)
	if !ok || rest == "" {
		return false
	}
	return recursive || !strings.Contains(rest, "/")
}

func (s *Store) getParametersByPath(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	path, err := str(p, "Path")
	if err != nil {
		return nil, err
	}
	if err := required("Path", path); err != nil {
		return nil, err
	}
	if err := checkPath(path); err != nil {
		return nil, err
	}
	recursive, _, err := boolean(p, "Recursive")
	if err != nil {
		return nil, err
	}
	decrypt, _, err := boolean(p, "WithDecryption")
	if err != nil {
		return nil, err
	}
	size, err := maxResults(p, maxByPathResults)
	if err != nil {
		return nil, err
	}
	token, err := str(p, "NextToken")
	if err != nil {
		return nil, err
	}
	filters, err := parseFilters(p, byPathFilterKeys)
	if err != nil {
		return nil, err
	}
	source := s.params[scope{account, region}]
	if strings.HasPrefix(fullName(path)+"/", publicPrefix) {
		source = s.public[region]
	}
	var items []listing
	for _, e := range source {
		latest := e.latest()
		if underPath(latest.Name, path, recursive) && matchAll(filters, e) {
			items = append(items, listing{fullName(latest.Name), e})
		}
	}
	got, next, err := page(items, token, size)
	if err != nil {
		return nil, err
	}
	params := make([]any, 0, len(got))
	for _, l := range got {
		params = append(params, paramObject(account, region, l.e.latest(), decrypt, ""))
	}
	out := awsproto.Object{"Parameters": params}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Store) deleteParameter(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	name, err := str(p, "Name")
	if err != nil {
		return nil, err
	}
	if err := required("Name", name); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if err := checkName(name); err != nil {
		return nil, err
	}
	if !s.delete(account, region, name) {
		return nil, awsproto.Errorf(400, "ParameterNotFound", "")
	}
	return awsproto.Object{}, nil
}

func (s *Store) deleteParameters(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	names, err := strList(p, "Names")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, validation("1 validation error detected: Value null at 'names' failed to satisfy constraint: Member must not be null")
	}
	if len(names) > maxDeleteParameters {
		return nil, validation("1 validation error detected: Value '[%s]' at 'names' failed to satisfy constraint: Member must have length less than or equal to %d.", strings.Join(names, ", "), maxDeleteParameters)
	}
	deleted, invalid := []any{}, []any{}
	for _, n := range names {
		if checkName(strings.TrimSpace(n)) == nil && s.delete(account, region, strings.TrimSpace(n)) {
			deleted = append(deleted, n)
		} else {
			invalid = append(invalid, n)
		}
	}
	return awsproto.Object{"DeletedParameters": deleted, "InvalidParameters": invalid}, nil
}

func metadataObject(account, region string, p Parameter) awsproto.Object {
	o := awsproto.Object{
		"Name":             p.Name,
		"ARN":              paramARN(account, region, p),
		"Type":             p.Type,
		"LastModifiedDate": p.LastModified,
		"Version":          p.Version,
		"Tier":             p.Tier,
		"Policies":         []any{},
		"DataType":         p.DataType,
	}
	if p.KeyID != "" {
		o["KeyId"] = p.KeyID
	}
	if p.Description != "" {
		o["Description"] = p.Description
	}
	if p.AllowedPattern != "" {
		o["AllowedPattern"] = p.AllowedPattern
	}
	return o
}

func (s *Store) describeParameters(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	size, err := maxResults(p, maxDescribeResults)
	if err != nil {
		return nil, err
	}
	token, err := str(p, "NextToken")
	if err != nil {
		return nil, err
	}
	legacy, err := parseLegacyFilters(p)
	if err != nil {
		return nil, err
	}
	filters, err := parseFilters(p, describeFilterKeys)
	if err != nil {
		return nil, err
	}
	if len(legacy) > 0 && len(filters) > 0 {
		return nil, validation("You can use either Filters or ParameterFilters in a single request.")
	}
	filters = append(filters, legacy...)
	var items []listing
	for _, e := range s.params[scope{account, region}] {
		if matchAll(filters, e) {
			items = append(items, listing{fullName(e.latest().Name), e})
		}
	}
	got, next, err := page(items, token, size)
	if err != nil {
		return nil, err
	}
	params := make([]any, 0, len(got))
	for _, l := range got {
		params = append(params, metadataObject(account, region, l.e.latest()))
	}
	out := awsproto.Object{"Parameters": params}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Store) getParameterHistory(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	raw, err := str(p, "Name")
	if err != nil {
		return nil, err
	}
	if err := required("Name", raw); err != nil {
		return nil, err
	}
	decrypt, _, err := boolean(p, "WithDecryption")
	if err != nil {
		return nil, err
	}
	size, err := maxResults(p, maxHistoryResults)
	if err != nil {
		return nil, err
	}
	token, err := str(p, "NextToken")
	if err != nil {
		return nil, err
	}
	r, ok, err := parseRef(account, region, raw)
	if err != nil {
		return nil, err
	}
	var e *entry
	if ok && r.selector == "" {
		e = s.lookup(account, region, r.name)
	}
	if e == nil {
		return nil, awsproto.Errorf(400, "ParameterNotFound", "")
	}
	start := 0
	if token != "" {
		after, err := parseToken(token)
		if err != nil {
			return nil, err
		}
		v, perr := strconv.ParseInt(after, 10, 64)
		if perr != nil {
			return nil, awsproto.Errorf(400, "InvalidNextToken", "The specified token isn't valid.")
		}
		start = slices.IndexFunc(e.versions, func(p Parameter) bool { return p.Version > v })
		if start < 0 {
			start = len(e.versions)
		}
	}
	versions := e.versions[start:]
	next := ""
	if len(versions) > size {
		versions = versions[:size]
		next = pageToken(strconv.FormatInt(versions[size-1].Version, 10))
	}
	hist := make([]any, 0, len(versions))
	for _, v := range versions {
		o := metadataObject(account, region, v)
		delete(o, "ARN")
		o["Value"] = value(v, decrypt)
		o["Labels"] = []any{}
		hist = append(hist, o)
	}
	out := awsproto.Object{"Parameters": hist}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Store) tagging(account, region, action string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	rtype, err := str(p, "ResourceType")
	if err != nil {
		return nil, err
	}
	if err := required("ResourceType", rtype); err != nil {
		return nil, err
	}
	id, err := str(p, "ResourceId")
	if err != nil {
		return nil, err
	}
	if err := required("ResourceId", id); err != nil {
		return nil, err
	}
	if rtype != "Parameter" {
		return nil, awsproto.Errorf(400, "InvalidResourceType", "Invalid Resource Type")
	}
	e := s.params[scope{account, region}][normalize(strings.TrimSpace(id))]
	if e == nil {
		return nil, awsproto.Errorf(400, "InvalidResourceId", "Invalid Resource Id")
	}
	switch action {
	case "AddTagsToResource":
		tags, err := objList(p, "Tags")
		if err != nil {
			return nil, err
		}
		if e.tags == nil {
			e.tags = make(map[string]string, len(tags))
		}
		for _, t := range tags {
			k, err := str(t, "Key")
			if err != nil {
				return nil, err
			}
			v, err := str(t, "Value")
			if err != nil {
				return nil, err
			}
			e.tags[k] = v
		}
		return awsproto.Object{}, nil
	case "RemoveTagsFromResource":
		keys, err := strList(p, "TagKeys")
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			delete(e.tags, k)
		}
		return awsproto.Object{}, nil
	default:
		list := make([]any, 0, len(e.tags))
		for _, k := range slices.Sorted(maps.Keys(e.tags)) {
			list = append(list, awsproto.Object{"Key": k, "Value": e.tags[k]})
		}
		return awsproto.Object{"TagList": list}, nil
	}
}
