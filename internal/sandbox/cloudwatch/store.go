// Package cloudwatch implements the sandbox's Amazon CloudWatch: metric and composite alarms,
// custom metric datapoints and their statistics, partitioned by account and region. One
// Handle serves every wire protocol clients use (awsQuery from the AWS CLI v2, Smithy RPC v2
// CBOR from aws-sdk-go-v2, awsJson1_0 from recent botocore), and the CloudFormation engine
// manages alarms through Go methods.
//
// Alarms are evaluated against the stored datapoints whenever data arrives and whenever alarms
// are read, with the injected clock. A metric alarm looks at its last EvaluationPeriods
// periods, each a sliding window of Period seconds ending at now minus a whole number of
// periods, so a datapoint counts as soon as it is stored:
//
//   - each period with data yields the statistic of its datapoints, which breaches or not;
//   - a period without data is missing; TreatMissingData "breaching" and "notBreaching" count
//     it as such, "missing" (the default) and "ignore" leave it out;
//   - DatapointsToAlarm (default EvaluationPeriods) breaching periods make the state ALARM;
//     otherwise the state is OK if any period counted, else INSUFFICIENT_DATA ("missing") or
//     unchanged ("ignore").
//
// A state set with SetAlarmState holds until the alarm's metric receives new data and an
// evaluation sees data; a composite alarm's set state holds until one of its children changes
// state. Datapoints older than the longest window any alarm needs (at least 24 hours) are
// dropped, each metric keeps at most 10,000 datapoints (the oldest go first) and an account
// keeps at most 10,000 metrics per region. As in AWS, PutMetricData rejects datapoints more
// than two weeks old or more than two hours ahead.
package cloudwatch

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Alarm states.
const (
	StateOK               = "OK"
	StateAlarm            = "ALARM"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// Error codes as CloudWatch spells them in awsQuery responses and the X-Amzn-Query-Error
// header; awsproto maps them to the Smithy error shapes for RPC v2 CBOR.
const (
	codeValidationError             = "ValidationError"
	codeInvalidParameterValue       = "InvalidParameterValue"
	codeInvalidParameterCombination = "InvalidParameterCombination"
	codeMissingParameter            = "MissingParameter"
	codeResourceNotFound            = "ResourceNotFound"
	codeInvalidNextToken            = "InvalidNextToken"
	codeInvalidFormat               = "InvalidFormat"
	codeLimitExceeded               = "LimitExceeded"
)

// Limits.
const (
	maxPointsPerSeries  = 10000 // oldest datapoints of a metric are dropped beyond it
	maxSeriesPerRegion  = 10000 // PutMetricData of a new metric fails beyond it
	minRetention        = 24 * time.Hour
	maxAlarmNameLength  = 255
	maxDescription      = 1024
	maxActions          = 5
	maxDimensions       = 30
	maxRuleLength       = 10240
	maxStateReason      = 1023
	maxStateReasonData  = 4000
	initialStateReason  = "Unchecked: Initial alarm creation"
	stateReasonDataVers = "1.0"
)

// Alarm is a metric alarm or, when AlarmRule is set, a composite alarm.
//
// ActionsEnabled has no default in Go: set it to true for the API's default behaviour.
// DatapointsToAlarm 0 means EvaluationPeriods. TreatMissingData "" means "missing".
type Alarm struct {
	Name, Description, Namespace, MetricName, Statistic, ComparisonOperator, TreatMissingData string
	Dimensions                                                                                map[string]string
	Threshold                                                                                 float64
	Period, EvaluationPeriods, DatapointsToAlarm                                              int32
	ActionsEnabled                                                                            bool
	AlarmActions, OKActions, InsufficientDataActions                                          []string
	// ExtendedStatistic is a percentile ("p99", "p99.9") used instead of Statistic.
	ExtendedStatistic string
	// Unit, when set, restricts the alarm to datapoints stored with that unit.
	Unit string
	// AlarmRule makes the alarm a composite alarm over other alarms' states, e.g.
	// `ALARM("cpu-high") AND NOT OK(disk)`; metric fields are then unused.
	AlarmRule string
	// Filled by the store:
	ARN, State, StateReason string
	// StateReasonData is the JSON detail of the last state change.
	StateReasonData string
	// StateUpdated changes with the state or its reason; StateTransitioned with the state only.
	StateUpdated, StateTransitioned, ConfigurationUpdated time.Time
}

// composite reports whether a is a composite alarm.
func (a *Alarm) composite() bool { return a.AlarmRule != "" }

type scope struct{ account, region string }

// alarmRec is a stored alarm and its evaluation bookkeeping.
type alarmRec struct {
	Alarm
	// Manual is set by SetAlarmState and cleared by the first evaluation that may override it;
	// ManualSeq is the store sequence number at that call.
	Manual    bool
	ManualSeq uint64
	// ChangedSeq is the sequence number of the last state change (composites watch it).
	ChangedSeq uint64

	rule *ruleExpr // parsed AlarmRule of a composite; rebuilt on Restore
	key  string    // series key of a metric alarm
}

// region holds one account's alarms and metrics in one region.
type region struct {
	alarms map[string]*alarmRec
	series map[string]*series
}

// Store holds CloudWatch alarms and metrics of every account and region. It is safe for
// concurrent use.
type Store struct {
	now func() time.Time

	mu      sync.Mutex
	seq     uint64 // orders data arrival, manual state changes and state transitions
	regions map[scope]*region
}

// New returns an empty store reading time from now (time.Now when nil).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, regions: make(map[scope]*region)}
}

func (s *Store) clock() time.Time { return s.now().UTC() }

func (s *Store) next() uint64 {
	s.seq++
	return s.seq
}

// region returns the state of account in name, creating it when create is set.
func (s *Store) region(account, name string, create bool) *region {
	sc := scope{account, name}
	r := s.regions[sc]
	if r == nil && create {
		r = &region{alarms: make(map[string]*alarmRec), series: make(map[string]*series)}
		s.regions[sc] = r
	}
	return r
}

func alarmARN(account, region, name string) string {
	return "arn:aws:cloudwatch:" + region + ":" + account + ":alarm:" + name
}

func validationf(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(400, codeValidationError, format, args...)
}

var (
	statistics          = []string{"SampleCount", "Average", "Sum", "Minimum", "Maximum"}
	comparisonOperators = []string{"GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"}
	anomalyOperators    = []string{"LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold"}
	treatMissing        = []string{"breaching", "notBreaching", "ignore", "missing"}
	units               = []string{
		"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
		"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
		"Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
		"Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
	}
	percentile = regexp.MustCompile(`^p(\d{1,2}(\.\d{1,2})?|100)$`)
)

// percentileValue returns the percentile of an ExtendedStatistic such as "p99.5".
func percentileValue(stat string) (float64, bool) {
	if !percentile.MatchString(stat) {
		return 0, false
	}
	f, err := strconv.ParseFloat(stat[1:], 64)
	return f, err == nil && f >= 0 && f <= 100
}

func checkUnit(member, unit string) *awsproto.Error {
	if unit != "" && !slices.Contains(units, unit) {
		return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", unit, lowerFirst(member), strings.Join(units, ", "))
	}
	return nil
}

func checkActions(a *Alarm) *awsproto.Error {
	for _, l := range []struct {
		member  string
		actions []string
	}{{"AlarmActions", a.AlarmActions}, {"OKActions", a.OKActions}, {"InsufficientDataActions", a.InsufficientDataActions}} {
		if len(l.actions) > maxActions {
			return validationf("1 validation error detected: Value '[%s]' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", strings.Join(l.actions, ", "), lowerFirst(l.member), maxActions)
		}
		for _, act := range l.actions {
			if parts := strings.SplitN(act, ":", 6); len(parts) != 6 || parts[0] != "arn" || parts[2] == "" || parts[5] == "" {
				return validationf("Invalid arn syntax: %s", act)
			}
		}
	}
	return nil
}

func checkName(name string) *awsproto.Error {
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return nullMember("AlarmName")
	case n > maxAlarmNameLength:
		return validationf("1 validation error detected: Value '%s' at 'alarmName' failed to satisfy constraint: Member must have length less than or equal to %d", name, maxAlarmNameLength)
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return validationf("AlarmName must not contain ASCII control characters")
		}
	}
	return nil
}

// checkMetricAlarm validates a metric alarm as PutMetricAlarm does.
func checkMetricAlarm(a *Alarm) *awsproto.Error {
	if err := checkName(a.Name); err != nil {
		return err
	}
	if utf8.RuneCountInString(a.Description) > maxDescription {
		return validationf("1 validation error detected: Value '%s' at 'alarmDescription' failed to satisfy constraint: Member must have length less than or equal to %d", a.Description, maxDescription)
	}
	switch {
	case a.ComparisonOperator == "":
		return nullMember("ComparisonOperator")
	case slices.Contains(anomalyOperators, a.ComparisonOperator):
		return validationf("Anomaly detection alarms (ComparisonOperator %s) are not supported by the stackfleet sandbox.", a.ComparisonOperator)
	case !slices.Contains(comparisonOperators, a.ComparisonOperator):
		return validationf("1 validation error detected: Value '%s' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
			a.ComparisonOperator, strings.Join(append(slices.Clone(anomalyOperators), comparisonOperators...), ", "))
	}
	if a.EvaluationPeriods < 1 {
		return validationf("1 validation error detected: Value '%d' at 'evaluationPeriods' failed to satisfy constraint: Member must have value greater than or equal to 1", a.EvaluationPeriods)
	}
	if a.DatapointsToAlarm < 0 {
		return validationf("1 validation error detected: Value '%d' at 'datapointsToAlarm' failed to satisfy constraint: Member must have value greater than or equal to 1", a.DatapointsToAlarm)
	}
	if a.DatapointsToAlarm > a.EvaluationPeriods {
		return validationf("DatapointsToAlarm must be less than or equal to EvaluationPeriods")
	}
	if a.MetricName == "" {
		return validationf("MetricName must not be null")
	}
	if a.Namespace == "" {
		return validationf("Namespace must not be null")
	}
	switch {
	case a.Statistic != "" && a.ExtendedStatistic != "":
		return awsproto.Errorf(400, codeInvalidParameterCombination, "Statistic and ExtendedStatistic cannot both be specified.")
	case a.Statistic == "" && a.ExtendedStatistic == "":
		return awsproto.Errorf(400, codeInvalidParameterCombination, "Either Statistic or ExtendedStatistic must be specified.")
	case a.Statistic != "" && !slices.Contains(statistics, a.Statistic):
		return validationf("1 validation error detected: Value '%s' at 'statistic' failed to satisfy constraint: Member must satisfy enum value set: [Maximum, SampleCount, Sum, Minimum, Average]", a.Statistic)
	case a.ExtendedStatistic != "":
		if _, ok := percentileValue(a.ExtendedStatistic); !ok {
			return awsproto.Errorf(400, codeInvalidParameterValue, "The value %s for parameter ExtendedStatistic is not supported.", a.ExtendedStatistic)
		}
	}
	if a.Period == 0 {
		return validationf("Period must not be null")
	}
	if a.Period < 10 || (a.Period > 30 && a.Period%60 != 0) || (a.Period < 60 && a.Period%10 != 0) {
		return validationf("The parameter Period must be 10, 20, 30 or a multiple of 60.")
	}
	window := int64(a.Period) * int64(a.EvaluationPeriods)
	if a.Period < 3600 && window > 86400 {
		return validationf("Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400)")
	}
	if window > 7*86400 {
		return validationf("Metrics cannot be checked across more than a week (EvaluationPeriods * Period must be <= 604800)")
	}
	if math.IsNaN(a.Threshold) || math.IsInf(a.Threshold, 0) {
		return awsproto.Errorf(400, codeInvalidParameterValue, "The value %v for parameter Threshold is invalid.", a.Threshold)
	}
	if a.TreatMissingData != "" && !slices.Contains(treatMissing, a.TreatMissingData) {
		return validationf("Supported values for TreatMissingData are breaching, notBreaching, ignore, and missing.")
	}
	if err := checkUnit("Unit", a.Unit); err != nil {
		return err
	}
	if len(a.Dimensions) > maxDimensions {
		return validationf("1 validation error detected: Value at 'dimensions' failed to satisfy constraint: Member must have length less than or equal to %d", maxDimensions)
	}
	for k, v := range a.Dimensions {
		if k == "" || v == "" {
			return awsproto.Errorf(400, codeInvalidParameterValue, "The dimension name and value must not be empty (dimension %q=%q).", k, v)
		}
	}
	return checkActions(a)
}

// checkCompositeAlarm validates a composite alarm as PutCompositeAlarm does and parses its rule.
func checkCompositeAlarm(r *region, a *Alarm) (*ruleExpr, *awsproto.Error) {
	if err := checkName(a.Name); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(a.Description) > maxDescription {
		return nil, validationf("1 validation error detected: Value '%s' at 'alarmDescription' failed to satisfy constraint: Member must have length less than or equal to %d", a.Description, maxDescription)
	}
	if utf8.RuneCountInString(a.AlarmRule) > maxRuleLength {
		return nil, validationf("1 validation error detected: Value at 'alarmRule' failed to satisfy constraint: Member must have length less than or equal to %d", maxRuleLength)
	}
	rule, err := parseRule(a.AlarmRule)
	if err != nil {
		return nil, validationf("Error in alarm rule: %s", err.Error())
	}
	var missing []string
	for _, name := range rule.refs() {
		if name == a.Name {
			return nil, validationf("The alarm rule of %s must not reference the alarm itself.", a.Name)
		}
		if r == nil || r.alarms[name] == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, validationf("Could not save the composite alarm as alarms [%s] in the alarm rule do not exist", strings.Join(missing, ", "))
	}
	return rule, checkActions(a)
}

// put stores a validated alarm; the caller holds s.mu. An existing alarm keeps its state, as
// an update through PutMetricAlarm/PutCompositeAlarm does.
func (s *Store) put(account, regionName string, a Alarm) *awsproto.Error {
	r := s.region(account, regionName, false)
	rec := &alarmRec{}
	if a.composite() {
		rule, err := checkCompositeAlarm(r, &a)
		if err != nil {
			return err
		}
		rec.rule = rule
		a.Namespace, a.MetricName, a.Statistic, a.ExtendedStatistic, a.ComparisonOperator = "", "", "", "", ""
		a.TreatMissingData, a.Unit, a.Dimensions = "", "", nil
		a.Threshold, a.Period, a.EvaluationPeriods, a.DatapointsToAlarm = 0, 0, 0, 0
	} else {
		if err := checkMetricAlarm(&a); err != nil {
			return err
		}
		a.Dimensions = maps.Clone(a.Dimensions)
		rec.key = seriesKey(a.Namespace, a.MetricName, a.Dimensions)
	}
	r = s.region(account, regionName, true)
	now := s.clock()
	a.AlarmActions = slices.Clone(a.AlarmActions)
	a.OKActions = slices.Clone(a.OKActions)
	a.InsufficientDataActions = slices.Clone(a.InsufficientDataActions)
	a.ARN = alarmARN(account, regionName, a.Name)
	a.ConfigurationUpdated = now
	if old := r.alarms[a.Name]; old != nil && old.composite() == a.composite() {
		a.State, a.StateReason, a.StateReasonData = old.State, old.StateReason, old.StateReasonData
		a.StateUpdated, a.StateTransitioned = old.StateUpdated, old.StateTransitioned
		rec.Manual, rec.ManualSeq, rec.ChangedSeq = old.Manual, old.ManualSeq, old.ChangedSeq
	} else {
		a.State, a.StateReason, a.StateReasonData = StateInsufficientData, initialStateReason, ""
		a.StateUpdated, a.StateTransitioned = now, now
		rec.ChangedSeq = s.next()
	}
	rec.Alarm = a
	r.alarms[a.Name] = rec
	return nil
}

// PutAlarm creates or updates an alarm, validating it as PutMetricAlarm (or, with AlarmRule,
// PutCompositeAlarm) does. The store fills ARN, State, StateReason and the timestamps; a new
// alarm starts in INSUFFICIENT_DATA, an updated one keeps its state. Errors are *awsproto.Error.
func (s *Store) PutAlarm(account, region string, a Alarm) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.put(account, region, a); err != nil {
		return err
	}
	return nil
}

// DeleteAlarm deletes an alarm and reports whether it existed.
func (s *Store) DeleteAlarm(account, region, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.region(account, region, false)
	if r == nil || r.alarms[name] == nil {
		return false
	}
	delete(r.alarms, name)
	return true
}

// SetAlarmState sets the state as the API and the admin endpoint do (state: OK, ALARM,
// INSUFFICIENT_DATA). The state holds until new data (or, for a composite alarm, a child's
// state change) lets an evaluation override it. Errors are *awsproto.Error: ResourceNotFound
// for a missing alarm, ValidationError for a bad state or reason.
func (s *Store) SetAlarmState(account, region, name, state, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.setState(account, region, name, state, reason, ""); err != nil {
		return err
	}
	return nil
}

func (s *Store) setState(account, regionName, name, state, reason, reasonData string) *awsproto.Error {
	if !slices.Contains([]string{StateOK, StateAlarm, StateInsufficientData}, state) {
		return validationf("1 validation error detected: Value '%s' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]", state)
	}
	if utf8.RuneCountInString(reason) > maxStateReason {
		return validationf("1 validation error detected: Value '%s' at 'stateReason' failed to satisfy constraint: Member must have length less than or equal to %d", reason, maxStateReason)
	}
	r := s.region(account, regionName, false)
	var rec *alarmRec
	if r != nil {
		rec = r.alarms[name]
	}
	if rec == nil {
		return awsproto.Errorf(400, codeResourceNotFound, "The alarm %s does not exist.", name)
	}
	// Bring the alarm up to date first, so the manual state is not undone by data that
	// arrived before this call.
	s.evaluate(r)
	s.transition(rec, state, reason, reasonData)
	rec.Manual = true
	rec.ManualSeq = s.next()
	return nil
}

// transition records a state (and reason) change.
func (s *Store) transition(rec *alarmRec, state, reason, reasonData string) {
	now := s.clock()
	if rec.State != state {
		rec.StateTransitioned = now
		rec.ChangedSeq = s.next()
	}
	rec.State, rec.StateReason, rec.StateReasonData = state, reason, reasonData
	rec.StateUpdated = now
}

// Alarm returns an alarm after bringing its region's alarms up to date.
func (s *Store) Alarm(account, region, name string) (Alarm, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.region(account, region, false)
	if r == nil {
		return Alarm{}, false
	}
	s.evaluate(r)
	rec := r.alarms[name]
	if rec == nil {
		return Alarm{}, false
	}
	return rec.public(), true
}

// public returns a copy of the alarm that shares no memory with the store.
func (rec *alarmRec) public() Alarm {
	a := rec.Alarm
	a.Dimensions = maps.Clone(a.Dimensions)
	a.AlarmActions = slices.Clone(a.AlarmActions)
	a.OKActions = slices.Clone(a.OKActions)
	a.InsufficientDataActions = slices.Clone(a.InsufficientDataActions)
	return a
}

// sortedAlarms returns the region's alarms in name order.
func (r *region) sortedAlarms() []*alarmRec {
	out := slices.Collect(maps.Values(r.alarms))
	slices.SortFunc(out, func(a, b *alarmRec) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !math.IsNaN(f) && !math.IsInf(f, 0) && !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
