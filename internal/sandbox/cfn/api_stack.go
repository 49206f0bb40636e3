package cfn

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/stackfleet/stackfleet/internal/cfntemplate"
	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

var stackNameRE = regexp.MustCompile(`^[a-zA-Z][-a-zA-Z0-9]*$`)

func checkStackName(name string) error {
	if name == "" {
		return validationError("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
	}
	if len(name) > 128 || !stackNameRE.MatchString(name) {
		return validationError("1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", name)
	}
	return nil
}

func stackNotFound(name string) error {
	return validationError("Stack with id %s does not exist", name)
}

// maxTemplateURLBody is CloudFormation's limit on a template read from S3.
const maxTemplateURLBody = 1_000_000

// templateBody returns the template of a call: TemplateBody (at most 51,200 bytes), or the
// object TemplateURL names (at most 1 MB), read from S3 with the caller's permissions.
func (e *Engine) templateBody(account string, p params, required bool) (string, bool, error) {
	url := p.str("TemplateURL")
	switch {
	case url != "" && p.str("TemplateBody") != "":
		return "", false, validationError("Specify exactly one of TemplateBody or TemplateURL.")
	case url != "":
		return e.readTemplateURL(account, url)
	case !p.has("TemplateBody"):
		if required {
			return "", false, validationError("Either Template URL or Template Body must be specified.")
		}
		return "", false, nil
	}
	body := p.str("TemplateBody")
	if len(body) > maxTemplateBody {
		return "", false, validationError("1 validation error detected: Value '%s' at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to %d", body[:32]+"...", maxTemplateBody)
	}
	return body, true, nil
}

func (e *Engine) readTemplateURL(account, url string) (string, bool, error) {
	if len(url) > 1024 {
		return "", false, validationError("1 validation error detected: Value '%s' at 'templateURL' failed to satisfy constraint: Member must have length less than or equal to 1024", url[:32]+"...")
	}
	data, err := e.fx.ReadObject(account, url)
	switch {
	case errors.Is(err, ErrObjectURL):
		return "", false, validationError("TemplateURL must be a supported URL.")
	case errors.Is(err, ErrObjectNotFound):
		return "", false, validationError("S3 error: The specified key does not exist.")
	case errors.Is(err, ErrObjectAccessDenied):
		return "", false, validationError("S3 error: Access Denied For more information check http://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html")
	case err != nil:
		return "", false, validationError("S3 error: %v", err)
	case len(data) > maxTemplateURLBody:
		return "", false, validationError("Template may not exceed %d bytes in size.", maxTemplateURLBody)
	}
	return string(data), true, nil
}

// paramInput is one member of an operation's Parameters.
type paramInput struct {
	Key, Value  string
	UsePrevious bool
}

func paramInputs(p params) []paramInput {
	var out []paramInput
	for _, o := range p.objects("Parameters") {
		use, _ := o.boolean("UsePreviousValue")
		out = append(out, paramInput{Key: o.str("ParameterKey"), Value: o.str("ParameterValue"), UsePrevious: use})
	}
	return out
}

func tagInputs(p params) ([]tag, error) {
	var out []tag
	for _, o := range p.objects("Tags") {
		k := o.str("Key")
		if k == "" {
			return nil, validationError("1 validation error detected: Value null at 'tags.%d.member.key' failed to satisfy constraint: Member must not be null", len(out)+1)
		}
		if strings.HasPrefix(k, "aws:") {
			return nil, validationError("Invalid tag key: aws: prefix is reserved")
		}
		out = append(out, tag{Key: k, Value: o.str("Value")})
	}
	if len(out) > 50 {
		return nil, validationError("1 validation error detected: Value '[...]' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	return out, nil
}

// checkCapabilities returns InsufficientCapabilitiesException if t needs capabilities that
// were not acknowledged.
func checkCapabilities(t *tmpl, given []string) error {
	var missing []string
	for _, c := range t.capabilities {
		if slices.Contains(given, c) {
			continue
		}
		// CAPABILITY_NAMED_IAM covers CAPABILITY_IAM.
		if c == "CAPABILITY_IAM" && slices.Contains(given, "CAPABILITY_NAMED_IAM") {
			continue
		}
		missing = append(missing, c)
	}
	if missing == nil {
		return nil
	}
	return awsproto.Errorf(400, "InsufficientCapabilitiesException", "Requires capabilities : [%s]", strings.Join(missing, ", "))
}

// configInput is the part of CreateStack/UpdateStack/CreateChangeSet input that builds a
// stackConfig.
type configInput struct {
	body             string
	hasBody          bool
	usePrevious      bool
	params           []paramInput
	tags             []tag
	hasTags          bool
	capabilities     []string
	roleARN          string
	notificationARNs []string
	hasNotifications bool
}

func (e *Engine) readConfigInput(account string, p params, bodyRequired bool) (*configInput, error) {
	in := &configInput{}
	var err error
	in.body, in.hasBody, err = e.templateBody(account, p, false)
	if err != nil {
		return nil, err
	}
	in.usePrevious, _ = p.boolean("UsePreviousTemplate")
	if in.hasBody && in.usePrevious {
		return nil, validationError("Exactly one of TemplateBody or TemplateUrl must be specified when UsePreviousTemplate is false.")
	}
	if bodyRequired && !in.hasBody && !in.usePrevious {
		return nil, validationError("Either Template URL or Template Body must be specified.")
	}
	in.params = paramInputs(p)
	in.hasTags = p.has("Tags")
	if in.tags, err = tagInputs(p); err != nil {
		return nil, err
	}
	in.capabilities = p.strings("Capabilities")
	in.roleARN = p.str("RoleARN")
	in.hasNotifications = p.has("NotificationARNs")
	in.notificationARNs = p.strings("NotificationARNs")
	return in, nil
}

// buildConfig turns input into a configuration, relative to prev (nil for a new stack).
// r.mu need not be held: prev is immutable once deployed.
func (e *Engine) buildConfig(r *region, in *configInput, prev *stackConfig, noBodyMsg string) (*stackConfig, error) {
	cfg := &stackConfig{capabilities: in.capabilities, roleARN: in.roleARN, tags: in.tags, notificationARNs: in.notificationARNs}
	switch {
	case in.usePrevious:
		if prev == nil || prev.tmpl == nil {
			return nil, validationError("UsePreviousTemplate can only be used when updating a stack that has a template.")
		}
		cfg.tmpl = prev.tmpl
	case in.hasBody:
		t, err := e.parseTemplate(in.body)
		if err != nil {
			return nil, err
		}
		cfg.tmpl = t
	default:
		return nil, validationError("%s", noBodyMsg)
	}
	var prevParams []paramValue
	if prev != nil {
		prevParams = prev.params
		if !in.hasTags {
			cfg.tags = prev.tags
		}
		if !in.hasNotifications {
			cfg.notificationARNs = prev.notificationARNs
		}
		if in.roleARN == "" {
			cfg.roleARN = prev.roleARN
		}
		cfg.disableRollback = prev.disableRollback
		cfg.timeoutMinutes = prev.timeoutMinutes
	}
	vals, err := e.resolveParams(r, cfg.tmpl, in.params, prevParams, prev != nil)
	if err != nil {
		return nil, err
	}
	cfg.params = vals
	if len(cfg.tmpl.src.Rules) > 0 {
		env := cfntemplate.Env{AccountID: r.account, Region: r.name, Params: paramEnv(cfg.tmpl, vals)}
		if err := cfg.tmpl.src.CheckRules(&env); err != nil {
			return nil, templateError(err)
		}
	}
	if err := checkCapabilities(cfg.tmpl, in.capabilities); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (e *Engine) createStack(r *region, p params) (awsproto.Object, error) {
	name := p.str("StackName")
	if err := checkStackName(name); err != nil {
		return nil, err
	}
	in, err := e.readConfigInput(r.account, p, true)
	if err != nil {
		return nil, err
	}
	if in.usePrevious {
		return nil, validationError("UsePreviousTemplate is not valid for CreateStack")
	}
	disable, disableSet := p.boolean("DisableRollback")
	onFailure := p.str("OnFailure")
	if disableSet && onFailure != "" {
		return nil, validationError("You cannot specify both OnFailure and DisableRollback")
	}
	switch onFailure {
	case "":
		onFailure = "ROLLBACK"
		if disable {
			onFailure = "DO_NOTHING"
		}
	case "ROLLBACK", "DELETE", "DO_NOTHING":
	default:
		return nil, validationError("1 validation error detected: Value '%s' at 'onFailure' failed to satisfy constraint: Member must satisfy enum value set: [DO_NOTHING, ROLLBACK, DELETE]", onFailure)
	}
	token := p.str("ClientRequestToken")
	r.mu.Lock()
	existing := r.live[name]
	var existingID, existingToken string
	if existing != nil {
		existingID, existingToken = existing.id, existing.token
	}
	r.mu.Unlock()
	if existing != nil {
		if token != "" && token == existingToken {
			// A retry of the request that created the stack.
			return awsproto.Object{"StackId": existingID}, nil
		}
		return nil, awsproto.Errorf(400, "AlreadyExistsException", "Stack [%s] already exists", name)
	}
	cfg, err := e.buildConfig(r, in, nil, "")
	if err != nil {
		return nil, err
	}
	cfg.disableRollback = onFailure == "DO_NOTHING"
	cfg.timeoutMinutes, _ = p.integer("TimeoutInMinutes")
	// Conditions, references to conditional resources and imports are checked before the
	// stack exists, as CloudFormation does. Imports need a full evaluation; the rest only
	// the conditions.
	r.mu.Lock()
	if cfg.tmpl.hasImports {
		_, err = e.plan(r, &stack{name: name, res: map[string]*resource{}}, cfg)
	} else {
		_, err = e.newEnv(r, &stack{name: name}, cfg)
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	protect, _ := p.boolean("EnableTerminationProtection")

	r.mu.Lock()
	if r.live[name] != nil {
		r.mu.Unlock()
		return nil, awsproto.Errorf(400, "AlreadyExistsException", "Stack [%s] already exists", name)
	}
	s := e.newStack(r, name)
	s.cfg, s.termProtection, s.busy, s.token = cfg, protect, true, token
	s.setStatus(s.created, stCreateInProgress, reasonUserInitiated)
	r.mu.Unlock()
	if !e.goOp(func() { e.runCreate(r, s, onFailure) }) {
		e.abandon(r, s)
		return nil, errClosed()
	}
	return awsproto.Object{"StackId": s.id}, nil
}

// newStack registers a new stack. r.mu is held.
func (e *Engine) newStack(r *region, name string) *stack {
	s := &stack{id: e.stackARN(r, name), name: name, created: e.now()}
	r.live[name] = s
	r.byID[s.id] = s
	r.all = append(r.all, s)
	return s
}

// abandon removes a stack whose operation could not start because the engine is closing.
func (e *Engine) abandon(r *region, s *stack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.busy = false
	if s.status == stCreateInProgress {
		s.setStatus(e.now(), stCreateFailed, "The CloudFormation service is shutting down.")
	}
}

// stateError is the ValidationError for an operation the stack's status does not allow.
func stateError(s *stack, verb string) error {
	return validationError("Stack:%s is in %s state and can not be %s.", s.id, s.status, verb)
}

// updatable reports whether UpdateStack/ExecuteChangeSet may start from the stack's status.
func updatable(status string) bool {
	switch status {
	case stCreateComplete, stUpdateComplete, stUpdateRollbackComplete, "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE":
		return true
	}
	return false
}

func (e *Engine) updateStack(r *region, p params) (awsproto.Object, error) {
	name := p.str("StackName")
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
	}
	in, err := e.readConfigInput(r.account, p, false)
	if err != nil {
		return nil, err
	}
	if !in.hasBody && !in.usePrevious {
		return nil, validationError("Either Template URL or Template Body must be specified.")
	}
	token := p.str("ClientRequestToken")
	r.mu.Lock()
	s := r.lookup(name)
	if s == nil || !s.deleted.IsZero() {
		r.mu.Unlock()
		return nil, stackNotFound(name)
	}
	if token != "" && token == s.token {
		// A retry of the request that started the stack's current or last operation.
		id := s.id
		r.mu.Unlock()
		return awsproto.Object{"StackId": id}, nil
	}
	if s.busy || !updatable(s.status) {
		err := stateError(s, "updated")
		r.mu.Unlock()
		return nil, err
	}
	prev := s.cfg
	r.mu.Unlock()

	cfg, err := e.buildConfig(r, in, prev, "")
	if err != nil {
		return nil, err
	}
	if v, set := p.boolean("DisableRollback"); set {
		cfg.disableRollback = v
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.busy || !updatable(s.status) || s.cfg != prev {
		return nil, stateError(s, "updated")
	}
	changes, err := e.plan(r, s, cfg)
	if err != nil {
		return nil, err
	}
	if !changes.any() {
		return nil, validationError(reasonNoUpdates)
	}
	if err := e.startUpdate(r, s, cfg, token); err != nil {
		return nil, err
	}
	return awsproto.Object{"StackId": s.id}, nil
}

// startUpdate switches s to cfg and starts the update operation. r.mu is held.
func (e *Engine) startUpdate(r *region, s *stack, cfg *stackConfig, token string) error {
	op := newUpdateOp(s)
	s.cfg, s.busy, s.cancelRequested, s.token = cfg, true, false, token
	s.updated = e.now()
	s.setStatus(s.updated, stUpdateInProgress, reasonUserInitiated)
	e.obsoleteChangeSets(s, "")
	if !e.goOp(func() { e.runUpdate(r, s, op) }) {
		s.cfg, s.busy = op.oldCfg, false
		s.setStatus(e.now(), stUpdateRollbackComplete, "The CloudFormation service is shutting down.")
		return errClosed()
	}
	return nil
}

func (e *Engine) deleteStack(r *region, p params) (awsproto.Object, error) {
	name := p.str("StackName")
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
	}
	retain := map[string]bool{}
	for _, id := range p.strings("RetainResources") {
		retain[id] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.lookup(name)
	if s == nil || !s.deleted.IsZero() {
		// Deleting a stack that does not exist (or no longer does) succeeds, as in AWS.
		return awsproto.Object{}, nil
	}
	if s.termProtection {
		return nil, validationError("Stack [%s] cannot be deleted while TerminationProtection is enabled", s.name)
	}
	if s.status == stDeleteInProgress {
		return awsproto.Object{}, nil
	}
	if len(retain) > 0 && s.status != stDeleteFailed {
		return nil, validationError("Invalid operation on stack [%s]. RetainResources can only be specified when the stack is in the DELETE_FAILED state", s.id)
	}
	token := p.str("ClientRequestToken")
	if s.busy {
		if s.status == stCreateInProgress || s.status == stRollbackInProgress {
			// As in AWS, the creation stops and the stack is deleted once it has.
			s.deleteRequested, s.deleteToken = true, token
			return awsproto.Object{}, nil
		}
		return nil, stateError(s, "deleted")
	}
	s.busy, s.token = true, token
	if op := s.pendingRollback; op != nil {
		// The previous physical resources of replacements not rolled back are no longer in
		// s.res; the deletion removes them too.
		for _, st := range op.steps[:op.next+1] {
			if st.kind == "replace" && st.old != nil && s.res[st.logical] != st.old {
				s.orphans = append(s.orphans, st.old)
			}
		}
		s.pendingRollback = nil
	}
	if s.status == stReviewInProgress {
		// Nothing was deployed: the stack goes away at once.
		s.setStatus(e.now(), stDeleteInProgress, reasonUserInitiated)
		e.finishDelete(r, s)
		return awsproto.Object{}, nil
	}
	s.setStatus(e.now(), stDeleteInProgress, reasonUserInitiated)
	if !e.goOp(func() { e.runDelete(r, s, retain) }) {
		s.busy = false
		s.setStatus(e.now(), stDeleteFailed, "The CloudFormation service is shutting down.")
		return nil, errClosed()
	}
	return awsproto.Object{}, nil
}

func (e *Engine) cancelUpdateStack(r *region, p params) (awsproto.Object, error) {
	name := p.str("StackName")
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.lookup(name)
	if s == nil || !s.deleted.IsZero() {
		return nil, stackNotFound(name)
	}
	if s.status != stUpdateInProgress {
		return nil, validationError("CancelUpdateStack cannot be called from current stack status")
	}
	s.cancelRequested = true
	return awsproto.Object{}, nil
}

func (e *Engine) continueUpdateRollback(r *region, p params) (awsproto.Object, error) {
	name := p.str("StackName")
	skip := map[string]bool{}
	for _, id := range p.strings("ResourcesToSkip") {
		skip[id] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.lookup(name)
	if s == nil || !s.deleted.IsZero() {
		return nil, stackNotFound(name)
	}
	if s.status != stUpdateRollbackFailed || s.busy {
		return nil, validationError("Stack %s is in %s state and can not continue update rollback.", s.id, s.status)
	}
	s.token = p.str("ClientRequestToken")
	op := s.pendingRollback
	if op == nil {
		// Interrupted by a restart: the previous state is what the stack holds.
		s.setStatus(e.now(), stUpdateRollbackInProgress, "")
		s.setStatus(e.now(), stUpdateRollbackComplete, "")
		return awsproto.Object{}, nil
	}
	for id := range skip {
		if s.res[id] == nil {
			return nil, validationError("ResourcesToSkip [%s] do not exist in the stack", id)
		}
	}
	s.busy = true
	s.setStatus(e.now(), stUpdateRollbackInProgress, "")
	if !e.goOp(func() { e.runUpdateRollback(r, s, op, skip) }) {
		s.busy = false
		s.setStatus(e.now(), stUpdateRollbackFailed, "The CloudFormation service is shutting down.")
		return nil, errClosed()
	}
	return awsproto.Object{}, nil
}

func (e *Engine) updateTerminationProtection(r *region, p params) (awsproto.Object, error) {
	name := p.str("StackName")
	v, set := p.boolean("EnableTerminationProtection")
	if !set {
		return nil, validationError("1 validation error detected: Value null at 'enableTerminationProtection' failed to satisfy constraint: Member must not be null")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.lookup(name)
	if s == nil || !s.deleted.IsZero() {
		return nil, stackNotFound(name)
	}
	s.termProtection = v
	return awsproto.Object{"StackId": s.id}, nil
}

// errorMessage returns the message of an error for a stack reason.
func errorMessage(err error) string {
	if ae, ok := err.(*awsproto.Error); ok {
		return ae.Message
	}
	return fmt.Sprint(err)
}
