// Package ssm implements the sandbox's AWS Systems Manager Parameter Store: versioned String,
// StringList and SecureString parameters partitioned by account and region, served over
// awsJson1_1 (X-Amz-Target: AmazonSSM.<Op>) and to the CloudFormation engine through Go methods.
//
// SecureString values are stored in plain text (the sandbox has no KMS). Reads with
// WithDecryption return them as stored; reads without it return an opaque, deterministic
// base64 string derived from a SHA-256 of the key ID and the value, so the plaintext never
// leaks and equal values under the same key compare equal, as real ciphertext never would but
// tests may rely on.
package ssm

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Limits Parameter Store enforces.
const (
	maxNameLength       = 2048 // model constraint on Name
	maxNameWithARN      = 1011 // documented limit including the ARN prefix
	maxHierarchyDepth   = 15
	maxStandardValue    = 4096
	maxAdvancedValue    = 8192
	maxDescription      = 1024
	maxAllowedPattern   = 1024
	maxVersions         = 100 // versions kept per parameter; the oldest is dropped beyond it
	defaultKeyID        = "alias/aws/ssm"
	publicPrefix        = "/aws/service/"
	tierStandard        = "Standard"
	tierAdvanced        = "Advanced"
	tierIntelligent     = "Intelligent-Tiering"
	typeString          = "String"
	typeStringList      = "StringList"
	typeSecureString    = "SecureString"
	dataTypeText        = "text"
	maxGetParametersLen = 10
)

// Parameter is one version of an SSM parameter.
//
// On Put, Version and LastModified are ignored (the store assigns them) and empty Type,
// Description, AllowedPattern, DataType, Tier and KeyID are inherited from the previous version
// when overwriting, as PutParameter does for omitted members; Tags are applied only when the
// parameter is created. Value is always in plain text, SecureString included.
type Parameter struct {
	Name, Type, Value, Description, DataType, AllowedPattern, Tier string
	Version                                                        int64
	LastModified                                                   time.Time
	// KeyID is the KMS key of a SecureString ("alias/aws/ssm" when not given); empty otherwise.
	KeyID string
	// Tags are the parameter's tags (shared by all its versions).
	Tags map[string]string
}

type scope struct{ account, region string }

// entry is one parameter: its versions, oldest first (never empty), and its tags.
type entry struct {
	versions []Parameter
	tags     map[string]string
}

func (e *entry) latest() Parameter { return e.versions[len(e.versions)-1] }

// Store holds SSM parameters of every account and region. It is safe for concurrent use.
type Store struct {
	now func() time.Time

	mu     sync.Mutex
	params map[scope]map[string]*entry // key: normalized name
	public map[string]map[string]*entry
}

// New returns an empty store reading time from now (time.Now when nil).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:    now,
		params: make(map[scope]map[string]*entry),
		public: make(map[string]map[string]*entry),
	}
}

// normalize maps a parameter name to its storage key: "/x" and "x" name the same parameter
// (AWS treats a single leading slash on a non-hierarchical name as optional).
func normalize(name string) string {
	if rest, ok := strings.CutPrefix(name, "/"); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return name
}

// arn returns the parameter's ARN. Public parameters have no account.
func arn(account, region, name string) string {
	return "arn:aws:ssm:" + region + ":" + account + ":parameter/" + strings.TrimPrefix(name, "/")
}

// opaque stands in for a SecureString's ciphertext when WithDecryption is false.
func opaque(p Parameter) string {
	sum := sha256.Sum256([]byte("stackfleet-sandbox-kms\x00" + p.KeyID + "\x00" + p.Value))
	return "AQICAH" + base64.StdEncoding.EncodeToString(sum[:])
}

var (
	segmentChars = regexp.MustCompile(`^[a-zA-Z0-9_.\-]+$`)
	// Real AWS keys: a key ID (UUID or mrk-), a key/alias ARN, or an alias name.
	keyIDPattern = regexp.MustCompile(`^(alias/[a-zA-Z0-9/_\-]+|(mrk-)?[0-9a-fA-F\-]{32,36}|arn:aws[a-z\-]*:kms:[a-z0-9\-]+:\d{12}:(key/(mrk-)?[0-9a-fA-F\-]{32,36}|alias/[a-zA-Z0-9/_\-]+))$`)
)

const (
	msgNameChars    = `Parameter name: can't be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`
	msgNamePrefix   = `Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive).`
	msgFullyQualify = "Parameter name must be a fully qualified name."
	// GetParametersByPath words path errors differently (the backslashes are AWS's own).
	msgPathInvalid   = `The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash "/". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol "/". Valid example: /get/parameters2-/by1./path0_.`
	msgAlreadyExists = "The parameter already exists. To overwrite this value, set the overwrite option in the request to true."
)

func validation(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(400, "ValidationException", format, args...)
}

// checkName validates the structure and characters of a parameter name (shared by reads and
// writes). It does not check reserved prefixes, which only writes reject.
func checkName(name string) *awsproto.Error {
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return validation("1 validation error detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case n > maxNameLength:
		return validation("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must have length less than or equal to %d", name, maxNameLength)
	}
	if !strings.HasPrefix(name, "/") {
		if strings.Contains(name, "/") {
			return validation(msgFullyQualify)
		}
		if !segmentChars.MatchString(name) {
			return validation(msgNameChars)
		}
		return nil
	}
	segs := strings.Split(name[1:], "/")
	for _, s := range segs {
		if !segmentChars.MatchString(s) {
			return validation(msgNameChars)
		}
	}
	if len(segs) > maxHierarchyDepth {
		return awsproto.Errorf(400, "HierarchyLevelLimitExceededException",
			"A hierarchy can have a maximum of %d levels. For more information, see Requirements and constraints for parameter names in the Amazon Web Services Systems Manager User Guide.", maxHierarchyDepth)
	}
	return nil
}

// checkWritableName adds the rules only writes enforce: reserved prefixes and the length limit
// that counts the ARN prefix.
func checkWritableName(account, region, name string) *awsproto.Error {
	if err := checkName(name); err != nil {
		return err
	}
	bare := strings.TrimPrefix(name, "/")
	lower := strings.ToLower(bare)
	if strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm") {
		hierarchical := strings.HasPrefix(name, "/") && strings.Contains(bare, "/")
		switch {
		case strings.HasPrefix(strings.ToLower(name), "/aws/"):
			return awsproto.Errorf(400, "AccessDeniedException", "No access to reserved parameter name: %s.", name)
		case hierarchical:
			return validation(msgNameChars)
		default:
			return validation(msgNamePrefix)
		}
	}
	if utf8.RuneCountInString(arn(account, region, name)) > maxNameWithARN {
		return validation("Parameter name: the name and the ARN prefix %q must not exceed %d characters.", arn(account, region, ""), maxNameWithARN)
	}
	return nil
}

// prepare validates p as a new version of prev (nil when creating) and fills inherited and
// default members. It returns the version to store.
func prepare(account, region string, p Parameter, prev *entry, overwrite bool) (Parameter, *awsproto.Error) {
	p.Name = strings.TrimSpace(p.Name)
	if err := checkWritableName(account, region, p.Name); err != nil {
		return Parameter{}, err
	}
	if prev != nil && !overwrite {
		return Parameter{}, awsproto.Errorf(400, "ParameterAlreadyExists", msgAlreadyExists)
	}
	if overwrite && len(p.Tags) > 0 {
		return Parameter{}, validation("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	if p.Value == "" {
		return Parameter{}, validation("1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.")
	}
	keyIDGiven := p.KeyID != ""
	if prev != nil {
		old := prev.latest()
		p.Name = old.Name // the first spelling ("/x" or "x") is kept
		p.Type = cmp.Or(p.Type, old.Type)
		p.Description = cmp.Or(p.Description, old.Description)
		p.AllowedPattern = cmp.Or(p.AllowedPattern, old.AllowedPattern)
		p.DataType = cmp.Or(p.DataType, old.DataType)
		if p.Type == old.Type {
			p.KeyID = cmp.Or(p.KeyID, old.KeyID)
		}
		if p.Tier == "" && old.Tier == tierAdvanced {
			p.Tier = tierAdvanced
		}
		if p.Tier == tierStandard && old.Tier == tierAdvanced {
			return Parameter{}, validation("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.")
		}
	}
	switch p.Type {
	case "":
		return Parameter{}, validation("A parameter type is required when you create a parameter.")
	case typeString, typeStringList, typeSecureString:
	default:
		return Parameter{}, validation("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", p.Type)
	}
	if p.Type == typeSecureString {
		p.KeyID = cmp.Or(p.KeyID, defaultKeyID)
		if !keyIDPattern.MatchString(p.KeyID) {
			return Parameter{}, awsproto.Errorf(400, "InvalidKeyId", "Invalid keyId %s", p.KeyID)
		}
	} else if keyIDGiven {
		return Parameter{}, validation("KeyId is required for SecureString type parameter only.")
	} else {
		p.KeyID = ""
	}
	p.DataType = cmp.Or(p.DataType, dataTypeText)
	switch p.DataType {
	case dataTypeText, "aws:ec2:image", "aws:ssm:integration":
	default:
		return Parameter{}, validation("The following data type is not supported: %s (Data type names are all lowercase.)", p.DataType)
	}
	if utf8.RuneCountInString(p.Description) > maxDescription {
		return Parameter{}, validation("1 validation error detected: Value '%s' at 'description' failed to satisfy constraint: Member must have length less than or equal to %d", p.Description, maxDescription)
	}
	n := utf8.RuneCountInString(p.Value)
	switch p.Tier {
	case "", tierStandard:
		if n > maxStandardValue {
			return Parameter{}, validation("Standard tier parameters support a maximum parameter value of %d characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html", maxStandardValue)
		}
		p.Tier = tierStandard
	case tierIntelligent:
		p.Tier = tierStandard
		if n > maxStandardValue {
			p.Tier = tierAdvanced
		}
	case tierAdvanced:
	default:
		return Parameter{}, validation("1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]", p.Tier)
	}
	if n > maxAdvancedValue {
		return Parameter{}, validation("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to %d", maxAdvancedValue)
	}
	if p.AllowedPattern != "" {
		if utf8.RuneCountInString(p.AllowedPattern) > maxAllowedPattern {
			return Parameter{}, validation("1 validation error detected: Value '%s' at 'allowedPattern' failed to satisfy constraint: Member must have length less than or equal to %d", p.AllowedPattern, maxAllowedPattern)
		}
		re, err := regexp.Compile(p.AllowedPattern)
		if err != nil {
			return Parameter{}, awsproto.Errorf(400, "InvalidAllowedPatternException", "The request doesn't meet the regular expression requirement.")
		}
		if !re.MatchString(p.Value) {
			return Parameter{}, awsproto.Errorf(400, "ParameterPatternMismatchException", "Parameter value, cannot be validated against allowedPattern: %s", p.AllowedPattern)
		}
	}
	if prev == nil {
		p.Tags = maps.Clone(p.Tags)
	}
	return p, nil
}

// put stores p; the caller holds s.mu.
func (s *Store) put(account, region string, p Parameter, overwrite bool) (Parameter, *awsproto.Error) {
	sc := scope{account, region}
	key := normalize(strings.TrimSpace(p.Name))
	prev := s.params[sc][key]
	np, err := prepare(account, region, p, prev, overwrite)
	if err != nil {
		return Parameter{}, err
	}
	np.LastModified = s.now().UTC()
	if prev == nil {
		if s.params[sc] == nil {
			s.params[sc] = make(map[string]*entry)
		}
		np.Version = 1
		prev = &entry{tags: np.Tags}
		s.params[sc][key] = prev
	} else {
		np.Version = prev.latest().Version + 1
		if len(prev.versions) >= maxVersions {
			prev.versions = slices.Delete(prev.versions, 0, len(prev.versions)-maxVersions+1)
		}
	}
	np.Tags = nil // tags live on the entry
	prev.versions = append(prev.versions, np)
	return np, nil
}

// Put creates or (with overwrite) updates a parameter, validating it as PutParameter does, and
// returns the new version. Errors are *awsproto.Error values.
func (s *Store) Put(account, region string, p Parameter, overwrite bool) (version int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	np, perr := s.put(account, region, p, overwrite)
	if perr != nil {
		return 0, perr
	}
	return np.Version, nil
}

// lookup finds the entry for name (already stripped of ARN and selector) in the account's
// parameters or, for /aws/service/ names, the region's public parameters.
func (s *Store) lookup(account, region, name string) *entry {
	if strings.HasPrefix(name, publicPrefix) {
		if e := s.public[region][name]; e != nil {
			return e
		}
	}
	return s.params[scope{account, region}][normalize(name)]
}

func withTags(e *entry, p Parameter) Parameter {
	p.Tags = maps.Clone(e.tags)
	return p
}

// Get returns the latest version of a parameter, including a public (/aws/service/…) one.
func (s *Store) Get(account, region, name string) (Parameter, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(account, region, strings.TrimSpace(name))
	if e == nil {
		return Parameter{}, false
	}
	return withTags(e, e.latest()), true
}

// Delete removes a parameter with all its versions and reports whether it existed.
func (s *Store) Delete(account, region, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delete(account, region, strings.TrimSpace(name))
}

func (s *Store) delete(account, region, name string) bool {
	m := s.params[scope{account, region}]
	key := normalize(name)
	if _, ok := m[key]; !ok {
		return false
	}
	delete(m, key)
	return true
}

// PutPublic sets an AWS public parameter (a name under /aws/service/, such as
// /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64) readable from every
// account in region, the way AWS publishes AMI IDs and region data. Each call adds a version.
func (s *Store) PutPublic(region string, p Parameter) error {
	if !strings.HasPrefix(p.Name, publicPrefix) {
		return validation("public parameter names must start with %s", publicPrefix)
	}
	if err := checkName(p.Name); err != nil {
		return err
	}
	p.Type = cmp.Or(p.Type, typeString)
	if p.Type != typeString && p.Type != typeStringList {
		return validation("public parameters must be String or StringList")
	}
	if p.Value == "" {
		return validation("1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.")
	}
	p.DataType = cmp.Or(p.DataType, dataTypeText)
	p.Tier = cmp.Or(p.Tier, tierStandard)
	p.KeyID, p.Tags = "", nil
	s.mu.Lock()
	defer s.mu.Unlock()
	p.LastModified = s.now().UTC()
	if s.public[region] == nil {
		s.public[region] = make(map[string]*entry)
	}
	e := s.public[region][p.Name]
	if e == nil {
		e = &entry{}
		s.public[region][p.Name] = e
		p.Version = 1
	} else {
		p.Version = e.latest().Version + 1
	}
	e.versions = append(e.versions, p)
	return nil
}

// sortedKeys returns the keys of m in name order, which is the order listings page in.
func sortedKeys(m map[string]*entry) []string {
	return slices.Sorted(maps.Keys(m))
}
