package cloudwatch

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

// Listing limits.
const (
	defaultMaxRecords   = 50
	maxMaxRecords       = 100
	maxAlarmNames       = 100
	listMetricsPageSize = 500
	maxMetricData       = 1000
	maxValues           = 150
	maxDatapoints       = 1440
	recentlyActive      = 3 * time.Hour
	maxDataAge          = 14 * 24 * time.Hour // PutMetricData rejects older datapoints
	maxDataLead         = 2 * time.Hour       // and datapoints further in the future
)

// maxMagnitude is the largest metric value CloudWatch accepts (2^360).
var maxMagnitude = math.Ldexp(1, 360)

// Handle serves PutMetricAlarm, PutCompositeAlarm, DescribeAlarms, DescribeAlarmsForMetric,
// SetAlarmState, DeleteAlarms, EnableAlarmActions, DisableAlarmActions, PutMetricData,
// GetMetricStatistics and ListMetrics for account in req.Region, whatever the protocol. API
// errors are *awsproto.Error values whose Code is the awsQuery code (awsproto derives the
// Smithy shape for CBOR and JSON).
func (s *Store) Handle(ctx context.Context, account string, req *awsproto.Request) (awsproto.Object, error) {
	p := req.Params
	if p == nil {
		p = awsproto.Object{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		out  awsproto.Object
		aerr *awsproto.Error
	)
	switch req.Action {
	case "PutMetricAlarm":
		out, aerr = s.putMetricAlarm(account, req.Region, p)
	case "PutCompositeAlarm":
		out, aerr = s.putCompositeAlarm(account, req.Region, p)
	case "DescribeAlarms":
		out, aerr = s.describeAlarms(account, req.Region, p)
	case "DescribeAlarmsForMetric":
		out, aerr = s.describeAlarmsForMetric(account, req.Region, p)
	case "SetAlarmState":
		out, aerr = s.setAlarmState(account, req.Region, p)
	case "DeleteAlarms":
		out, aerr = s.deleteAlarms(account, req.Region, p)
	case "EnableAlarmActions", "DisableAlarmActions":
		out, aerr = s.alarmActions(account, req.Region, p, req.Action == "EnableAlarmActions")
	case "PutMetricData":
		out, aerr = s.putMetricData(account, req.Region, p)
	case "GetMetricStatistics":
		out, aerr = s.getMetricStatistics(account, req.Region, p)
	case "ListMetrics":
		out, aerr = s.listMetrics(account, req.Region, p)
	default:
		aerr = awsproto.Errorf(400, "InvalidAction", "Could not find operation %s for version 2010-08-01", req.Action)
	}
	if aerr != nil {
		return nil, aerr
	}
	return out, nil
}

// dimensions reads a list of {Name, Value} into a map.
func dimensions(p awsproto.Object, member string) (map[string]string, *awsproto.Error) {
	objs, err := objList(p, member)
	if err != nil {
		return nil, err
	}
	if len(objs) > maxDimensions {
		return nil, validationf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", lowerFirst(member), maxDimensions)
	}
	m := make(map[string]string, len(objs))
	for _, o := range objs {
		name, err := str(o, "Name")
		if err != nil {
			return nil, err
		}
		value, err := str(o, "Value")
		if err != nil {
			return nil, err
		}
		if name == "" || value == "" {
			return nil, awsproto.Errorf(400, codeInvalidParameterValue, "The dimension name and value must not be empty (dimension %q=%q).", name, value)
		}
		if _, dup := m[name]; dup {
			return nil, awsproto.Errorf(400, codeInvalidParameterValue, "No duplicate dimension names are allowed: %s", name)
		}
		m[name] = value
	}
	return m, nil
}

func dimensionList(m map[string]string) []any {
	out := make([]any, 0, len(m))
	for _, d := range sortedDims(m) {
		out = append(out, awsproto.Object{"Name": d.Name, "Value": d.Value})
	}
	return out
}

func strAny(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

// alarmCommon reads the members metric and composite alarms share.
func alarmCommon(p awsproto.Object) (Alarm, *awsproto.Error) {
	var a Alarm
	var err *awsproto.Error
	if a.Name, err = requiredStr(p, "AlarmName"); err != nil {
		return a, err
	}
	if a.Description, err = str(p, "AlarmDescription"); err != nil {
		return a, err
	}
	enabled, present, err := boolean(p, "ActionsEnabled")
	if err != nil {
		return a, err
	}
	a.ActionsEnabled = enabled || !present
	for _, l := range []struct {
		member string
		dst    *[]string
	}{{"AlarmActions", &a.AlarmActions}, {"OKActions", &a.OKActions}, {"InsufficientDataActions", &a.InsufficientDataActions}} {
		if *l.dst, err = strList(p, l.member); err != nil {
			return a, err
		}
	}
	return a, nil
}

func (s *Store) putMetricAlarm(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	a, err := alarmCommon(p)
	if err != nil {
		return nil, err
	}
	if metrics, err := list(p, "Metrics"); err != nil {
		return nil, err
	} else if len(metrics) > 0 {
		return nil, validationf("Metric math alarms (Metrics) are not supported by the stackfleet sandbox.")
	}
	if id, _ := str(p, "ThresholdMetricId"); id != "" {
		return nil, validationf("Anomaly detection alarms (ThresholdMetricId) are not supported by the stackfleet sandbox.")
	}
	for _, f := range []struct {
		member string
		dst    *string
	}{
		{"Namespace", &a.Namespace}, {"MetricName", &a.MetricName}, {"Statistic", &a.Statistic},
		{"ExtendedStatistic", &a.ExtendedStatistic}, {"ComparisonOperator", &a.ComparisonOperator},
		{"TreatMissingData", &a.TreatMissingData}, {"Unit", &a.Unit},
	} {
		if *f.dst, err = str(p, f.member); err != nil {
			return nil, err
		}
	}
	if a.Dimensions, err = dimensions(p, "Dimensions"); err != nil {
		return nil, err
	}
	if _, ok := p["EvaluationPeriods"]; !ok {
		return nil, nullMember("EvaluationPeriods")
	}
	if _, ok := p["ComparisonOperator"]; !ok {
		return nil, nullMember("ComparisonOperator")
	}
	for _, f := range []struct {
		member string
		dst    *int32
	}{{"Period", &a.Period}, {"EvaluationPeriods", &a.EvaluationPeriods}, {"DatapointsToAlarm", &a.DatapointsToAlarm}} {
		if *f.dst, _, err = int32Member(p, f.member); err != nil {
			return nil, err
		}
	}
	if _, ok := p["DatapointsToAlarm"]; ok && a.DatapointsToAlarm < 1 {
		return nil, validationf("1 validation error detected: Value '%d' at 'datapointsToAlarm' failed to satisfy constraint: Member must have value greater than or equal to 1", a.DatapointsToAlarm)
	}
	threshold, ok, err := float(p, "Threshold")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, validationf("Threshold must not be null")
	}
	a.Threshold = threshold
	if err := s.put(account, region, a); err != nil {
		return nil, err
	}
	return awsproto.Object{}, nil
}

func (s *Store) putCompositeAlarm(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	a, err := alarmCommon(p)
	if err != nil {
		return nil, err
	}
	if a.AlarmRule, err = requiredStr(p, "AlarmRule"); err != nil {
		return nil, err
	}
	if err := s.put(account, region, a); err != nil {
		return nil, err
	}
	return awsproto.Object{}, nil
}

// common returns the members every alarm description carries.
func (rec *alarmRec) common() awsproto.Object {
	o := awsproto.Object{
		"AlarmName":                          rec.Name,
		"AlarmArn":                           rec.ARN,
		"AlarmConfigurationUpdatedTimestamp": rec.ConfigurationUpdated,
		"ActionsEnabled":                     rec.ActionsEnabled,
		"OKActions":                          strAny(rec.OKActions),
		"AlarmActions":                       strAny(rec.AlarmActions),
		"InsufficientDataActions":            strAny(rec.InsufficientDataActions),
		"StateValue":                         rec.State,
		"StateReason":                        rec.StateReason,
		"StateUpdatedTimestamp":              rec.StateUpdated,
		"StateTransitionedTimestamp":         rec.StateTransitioned,
	}
	if rec.Description != "" {
		o["AlarmDescription"] = rec.Description
	}
	if rec.StateReasonData != "" {
		o["StateReasonData"] = rec.StateReasonData
	}
	return o
}

func (rec *alarmRec) object() awsproto.Object {
	o := rec.common()
	if rec.composite() {
		o["AlarmRule"] = rec.AlarmRule
		return o
	}
	o["MetricName"] = rec.MetricName
	o["Namespace"] = rec.Namespace
	if rec.Statistic != "" {
		o["Statistic"] = rec.Statistic
	} else {
		o["ExtendedStatistic"] = rec.ExtendedStatistic
	}
	o["Dimensions"] = dimensionList(rec.Dimensions)
	o["Period"] = int64(rec.Period)
	o["EvaluationPeriods"] = int64(rec.EvaluationPeriods)
	if rec.DatapointsToAlarm != 0 {
		o["DatapointsToAlarm"] = int64(rec.DatapointsToAlarm)
	}
	o["Threshold"] = rec.Threshold
	o["ComparisonOperator"] = rec.ComparisonOperator
	if rec.TreatMissingData != "" {
		o["TreatMissingData"] = rec.TreatMissingData
	}
	if rec.Unit != "" {
		o["Unit"] = rec.Unit
	}
	return o
}

// token and parseToken make NextToken values from the sort key of the last item returned, so
// paging stays consistent while items are added or removed between pages.
func token(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1|" + last))
}

func parseToken(tok string) (string, *awsproto.Error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "v1|") {
		return "", awsproto.Errorf(400, codeInvalidNextToken, "The service returned an error with Error Code InvalidNextToken.")
	}
	return string(b[3:]), nil
}

func (s *Store) describeAlarms(account, regionName string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	names, err := strList(p, "AlarmNames")
	if err != nil {
		return nil, err
	}
	if len(names) > maxAlarmNames {
		return nil, validationf("1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to %d", maxAlarmNames)
	}
	prefix, err := str(p, "AlarmNamePrefix")
	if err != nil {
		return nil, err
	}
	if prefix != "" && len(names) > 0 {
		return nil, awsproto.Errorf(400, codeInvalidParameterCombination, "AlarmNamePrefix and AlarmNames cannot be specified together.")
	}
	types, err := strList(p, "AlarmTypes")
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		if t != "MetricAlarm" && t != "CompositeAlarm" {
			return nil, validationf("1 validation error detected: Value '[%s]' at 'alarmTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [CompositeAlarm, MetricAlarm]]", strings.Join(types, ", "))
		}
	}
	if len(types) == 0 {
		types = []string{"MetricAlarm"} // AWS returns composite alarms only when asked to
	}
	state, err := str(p, "StateValue")
	if err != nil {
		return nil, err
	}
	if state != "" && !slices.Contains([]string{StateOK, StateAlarm, StateInsufficientData}, state) {
		return nil, validationf("1 validation error detected: Value '%s' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]", state)
	}
	actionPrefix, err := str(p, "ActionPrefix")
	if err != nil {
		return nil, err
	}
	size := int64(defaultMaxRecords)
	if n, ok, err := integer(p, "MaxRecords"); err != nil {
		return nil, err
	} else if ok {
		switch {
		case n < 1:
			return nil, validationf("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value greater than or equal to 1", n)
		case n > maxMaxRecords:
			return nil, validationf("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to %d", n, maxMaxRecords)
		}
		size = n
	}
	tok, err := str(p, "NextToken")
	if err != nil {
		return nil, err
	}
	after := ""
	if tok != "" {
		if after, err = parseToken(tok); err != nil {
			return nil, err
		}
	}

	metricAlarms, compositeAlarms := []any{}, []any{}
	r := s.region(account, regionName, false)
	if r == nil {
		return awsproto.Object{"MetricAlarms": metricAlarms, "CompositeAlarms": compositeAlarms}, nil
	}
	s.evaluate(r)
	// Metric alarms page before composite alarms; each group is in name order.
	type item struct {
		key string
		rec *alarmRec
	}
	var items []item
	for _, rec := range r.alarms {
		kind := "MetricAlarm"
		if rec.composite() {
			kind = "CompositeAlarm"
		}
		switch {
		case !slices.Contains(types, kind),
			len(names) > 0 && !slices.Contains(names, rec.Name),
			prefix != "" && !strings.HasPrefix(rec.Name, prefix),
			state != "" && rec.State != state,
			actionPrefix != "" && !slices.ContainsFunc(rec.AlarmActions, func(a string) bool { return strings.HasPrefix(a, actionPrefix) }):
			continue
		}
		key := "0" + rec.Name
		if rec.composite() {
			key = "1" + rec.Name
		}
		if key > after {
			items = append(items, item{key, rec})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.key, b.key) })
	out := awsproto.Object{}
	if int64(len(items)) > size {
		items = items[:size]
		out["NextToken"] = token(items[len(items)-1].key)
	}
	for _, it := range items {
		if it.rec.composite() {
			compositeAlarms = append(compositeAlarms, it.rec.object())
		} else {
			metricAlarms = append(metricAlarms, it.rec.object())
		}
	}
	out["MetricAlarms"] = metricAlarms
	out["CompositeAlarms"] = compositeAlarms
	return out, nil
}

func (s *Store) describeAlarmsForMetric(account, regionName string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	name, err := requiredStr(p, "MetricName")
	if err != nil {
		return nil, err
	}
	namespace, err := requiredStr(p, "Namespace")
	if err != nil {
		return nil, err
	}
	var stat, ext, unit string
	for _, f := range []struct {
		member string
		dst    *string
	}{{"Statistic", &stat}, {"ExtendedStatistic", &ext}, {"Unit", &unit}} {
		if *f.dst, err = str(p, f.member); err != nil {
			return nil, err
		}
	}
	dims, err := dimensions(p, "Dimensions")
	if err != nil {
		return nil, err
	}
	period, hasPeriod, err := int32Member(p, "Period")
	if err != nil {
		return nil, err
	}
	alarms := []any{}
	r := s.region(account, regionName, false)
	if r == nil {
		return awsproto.Object{"MetricAlarms": alarms}, nil
	}
	s.evaluate(r)
	_, hasDims := p["Dimensions"]
	key := seriesKey(namespace, name, dims)
	for _, rec := range r.sortedAlarms() {
		switch {
		case rec.composite(), rec.Namespace != namespace, rec.MetricName != name,
			hasDims && rec.key != key,
			stat != "" && rec.Statistic != stat,
			ext != "" && rec.ExtendedStatistic != ext,
			unit != "" && rec.Unit != unit,
			hasPeriod && rec.Period != period:
			continue
		}
		alarms = append(alarms, rec.object())
	}
	return awsproto.Object{"MetricAlarms": alarms}, nil
}

func (s *Store) setAlarmState(account, region string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	name, err := requiredStr(p, "AlarmName")
	if err != nil {
		return nil, err
	}
	state, err := requiredStr(p, "StateValue")
	if err != nil {
		return nil, err
	}
	reason, err := str(p, "StateReason")
	if err != nil {
		return nil, err
	}
	if _, ok := p["StateReason"]; !ok {
		return nil, nullMember("StateReason")
	}
	data, err := str(p, "StateReasonData")
	if err != nil {
		return nil, err
	}
	if data != "" && (!json.Valid([]byte(data)) || utf8.RuneCountInString(data) > maxStateReasonData) {
		return nil, awsproto.Errorf(400, codeInvalidFormat, "StateReasonData must be valid JSON of at most %d characters.", maxStateReasonData)
	}
	if err := s.setState(account, region, name, state, reason, data); err != nil {
		return nil, err
	}
	return awsproto.Object{}, nil
}

func (s *Store) deleteAlarms(account, regionName string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	names, err := strList(p, "AlarmNames")
	if err != nil {
		return nil, err
	}
	if len(names) > maxAlarmNames {
		return nil, validationf("1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to %d", maxAlarmNames)
	}
	r := s.region(account, regionName, false)
	// Either every named alarm is deleted or none is.
	for _, n := range names {
		if r == nil || r.alarms[n] == nil {
			return nil, awsproto.Errorf(400, codeResourceNotFound, "The alarm %s does not exist.", n)
		}
	}
	for _, n := range names {
		delete(r.alarms, n)
	}
	return awsproto.Object{}, nil
}

func (s *Store) alarmActions(account, regionName string, p awsproto.Object, enabled bool) (awsproto.Object, *awsproto.Error) {
	names, err := strList(p, "AlarmNames")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nullMember("AlarmNames")
	}
	if r := s.region(account, regionName, false); r != nil {
		for _, n := range names {
			if rec := r.alarms[n]; rec != nil {
				rec.ActionsEnabled = enabled
			}
		}
	}
	return awsproto.Object{}, nil
}

// datum is one validated MetricData member.
type datum struct {
	key    string
	name   string
	dims   map[string]string
	points []point
}

func (s *Store) putMetricData(account, regionName string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	namespace, err := requiredStr(p, "Namespace")
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(namespace, "AWS/") {
		return nil, awsproto.Errorf(400, codeInvalidParameterValue, "The value %s for parameter Namespace is invalid.", namespace)
	}
	objs, err := objList(p, "MetricData")
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, nullMember("MetricData")
	}
	if len(objs) > maxMetricData {
		return nil, validationf("1 validation error detected: Value at 'metricData' failed to satisfy constraint: Member must have length less than or equal to %d", maxMetricData)
	}
	now := s.clock()
	data := make([]datum, 0, len(objs))
	for i, o := range objs {
		d, err := parseDatum(namespace, i+1, o, now)
		if err != nil {
			return nil, err
		}
		data = append(data, d)
	}
	r := s.region(account, regionName, true)
	fresh := make(map[string]bool)
	for _, d := range data {
		if r.series[d.key] == nil {
			fresh[d.key] = true
		}
	}
	if len(r.series)+len(fresh) > maxSeriesPerRegion {
		return nil, awsproto.Errorf(400, codeLimitExceeded, "The sandbox keeps at most %d metrics per account and region.", maxSeriesPerRegion)
	}
	seq := s.next()
	for _, d := range data {
		se := r.series[d.key]
		if se == nil {
			se = &series{Namespace: namespace, MetricName: d.name, Dims: sortedDims(d.dims)}
			r.series[d.key] = se
		}
		for _, pt := range d.points {
			se.add(pt)
		}
		se.PutSeq = seq
	}
	s.evaluate(r)
	return awsproto.Object{}, nil
}

func parseDatum(namespace string, n int, o awsproto.Object, now time.Time) (datum, *awsproto.Error) {
	member := "MetricData.member." + strconv.Itoa(n)
	name, err := str(o, "MetricName")
	if err != nil {
		return datum{}, err
	}
	if name == "" {
		return datum{}, awsproto.Errorf(400, codeMissingParameter, "The parameter %s.MetricName is required.", member)
	}
	dims, err := dimensions(o, "Dimensions")
	if err != nil {
		return datum{}, err
	}
	unit, err := str(o, "Unit")
	if err != nil {
		return datum{}, err
	}
	if err := checkUnit(member+".Unit", unit); err != nil {
		return datum{}, err
	}
	ts, ok, err := timestamp(o, "Timestamp")
	if err != nil {
		return datum{}, err
	}
	switch {
	case !ok:
		ts = now
	case ts.Before(now.Add(-maxDataAge)):
		return datum{}, awsproto.Errorf(400, codeInvalidParameterValue, "The parameter %s.Timestamp must specify a time within the past two weeks.", member)
	case ts.After(now.Add(maxDataLead)):
		return datum{}, awsproto.Errorf(400, codeInvalidParameterValue, "The parameter %s.Timestamp must specify a time no more than two hours in the future.", member)
	}
	value, hasValue, err := float(o, "Value")
	if err != nil {
		return datum{}, err
	}
	values, err := floatList(o, "Values")
	if err != nil {
		return datum{}, err
	}
	counts, err := floatList(o, "Counts")
	if err != nil {
		return datum{}, err
	}
	statObj, hasStats := asObject(o["StatisticValues"])
	if o["StatisticValues"] != nil && !hasStats {
		return datum{}, badValue(member+".StatisticValues", o["StatisticValues"])
	}
	// CloudWatch accepts magnitudes up to 2^360; the bound also keeps sums finite.
	finite := func(f float64) bool { return !math.IsNaN(f) && math.Abs(f) <= maxMagnitude }
	d := datum{key: seriesKey(namespace, name, dims), name: name, dims: dims}
	switch {
	case hasValue && len(values) > 0:
		return datum{}, awsproto.Errorf(400, codeInvalidParameterValue, "The parameters %s.Value and %s.Values are mutually exclusive and you have specified both.", member, member)
	case hasValue && hasStats:
		return datum{}, awsproto.Errorf(400, codeInvalidParameterCombination, "The parameters %s.Value and %s.StatisticValues are mutually exclusive and you have specified both.", member, member)
	case len(values) > 0 && hasStats:
		return datum{}, awsproto.Errorf(400, codeInvalidParameterCombination, "The parameters %s.Values and %s.StatisticValues are mutually exclusive and you have specified both.", member, member)
	case hasValue:
		if !finite(value) {
			return datum{}, awsproto.Errorf(400, codeInvalidParameterValue, "The value %s for parameter %s.Value is invalid.", formatFloat(value), member)
		}
		d.points = []point{{T: ts, Sum: value, Min: value, Max: value, Count: 1, Raw: true, Unit: unit}}
	case len(values) > 0:
		if len(values) > maxValues {
			return datum{}, awsproto.Errorf(400, codeInvalidParameterValue, "The collection %s.Values must not have a size greater than %d.", member, maxValues)
		}
		if len(counts) > 0 && len(counts) != len(values) {
			return datum{}, awsproto.Errorf(400, codeInvalidParameterValue, "The parameters %s.Values and %s.Counts must be of the same size.", member, member)
		}
		for i, v := range values {
			c := 1.0
			if len(counts) > 0 {
				c = counts[i]
			}
			if !finite(v) {
				return datum{}, awsproto.Errorf(400, codeInvalidParameterValue, "The value %s for parameter %s.Values is invalid.", formatFloat(v), member)
			}
			if !finite(c) || c < 0 {
				return datum{}, awsproto.Errorf(400, codeInvalidParameterValue, "The value %s for parameter %s.Counts is invalid.", formatFloat(c), member)
			}
			if c > 0 {
				d.points = append(d.points, point{T: ts, Sum: v * c, Min: v, Max: v, Count: c, Raw: true, Unit: unit})
			}
		}
	case hasStats:
		var st [4]float64
		for i, f := range []string{"SampleCount", "Sum", "Minimum", "Maximum"} {
			v, ok, err := float(statObj, f)
			if err != nil {
				return datum{}, err
			}
			if !ok {
				return datum{}, awsproto.Errorf(400, codeMissingParameter, "The parameter %s.StatisticValues.%s is required.", member, f)
			}
			if !finite(v) {
				return datum{}, awsproto.Errorf(400, codeInvalidParameterValue, "The value %s for parameter %s.StatisticValues.%s is invalid.", formatFloat(v), member, f)
			}
			st[i] = v
		}
		if st[0] <= 0 || st[2] > st[3] {
			return datum{}, awsproto.Errorf(400, codeInvalidParameterValue, "The parameter %s.StatisticValues must have a positive SampleCount and Minimum <= Maximum.", member)
		}
		d.points = []point{{T: ts, Sum: st[1], Min: st[2], Max: st[3], Count: st[0], Unit: unit}}
	default:
		return datum{}, awsproto.Errorf(400, codeInvalidParameterCombination, "At least one of the parameters %s.Value, %s.Values or %s.StatisticValues must be specified.", member, member, member)
	}
	return d, nil
}

// thousands formats n with comma separators, as CloudWatch quotes datapoint counts.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (s *Store) getMetricStatistics(account, regionName string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	namespace, err := requiredStr(p, "Namespace")
	if err != nil {
		return nil, err
	}
	name, err := requiredStr(p, "MetricName")
	if err != nil {
		return nil, err
	}
	start, ok, err := timestamp(p, "StartTime")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nullMember("StartTime")
	}
	end, ok, err := timestamp(p, "EndTime")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nullMember("EndTime")
	}
	period, ok, err := int32Member(p, "Period")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nullMember("Period")
	}
	stats, err := strList(p, "Statistics")
	if err != nil {
		return nil, err
	}
	ext, err := strList(p, "ExtendedStatistics")
	if err != nil {
		return nil, err
	}
	unit, err := str(p, "Unit")
	if err != nil {
		return nil, err
	}
	if err := checkUnit("Unit", unit); err != nil {
		return nil, err
	}
	dims, err := dimensions(p, "Dimensions")
	if err != nil {
		return nil, err
	}
	switch {
	case len(stats) == 0 && len(ext) == 0:
		return nil, awsproto.Errorf(400, codeInvalidParameterCombination, "Must specify either Statistics or ExtendedStatistics")
	case len(stats) > 0 && len(ext) > 0:
		return nil, awsproto.Errorf(400, codeInvalidParameterCombination, "Only one of Statistics or ExtendedStatistics may be specified")
	}
	for _, st := range stats {
		if !slices.Contains(statistics, st) {
			return nil, validationf("1 validation error detected: Value '[%s]' at 'statistics' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [Maximum, SampleCount, Sum, Minimum, Average]]", strings.Join(stats, ", "))
		}
	}
	for _, st := range ext {
		if _, ok := percentileValue(st); !ok {
			return nil, awsproto.Errorf(400, codeInvalidParameterValue, "The value %s for parameter ExtendedStatistics is not supported.", st)
		}
	}
	if period < 1 || (period > 60 && period%60 != 0) {
		return nil, awsproto.Errorf(400, codeInvalidParameterValue, "The parameter Period must be a multiple of 60.")
	}
	if !start.Before(end) {
		return nil, awsproto.Errorf(400, codeInvalidParameterValue, "The parameter StartTime must be less than the parameter EndTime.")
	}
	step := time.Duration(period) * time.Second
	// Count in whole seconds: time.Duration would saturate for ranges over 292 years.
	secs, nanos := end.Unix()-start.Unix(), end.Nanosecond()-start.Nanosecond()
	if nanos < 0 {
		secs, nanos = secs-1, nanos+1e9
	}
	n := secs / int64(period)
	if secs%int64(period) != 0 || nanos > 0 {
		n++
	}
	if n > maxDatapoints {
		return nil, awsproto.Errorf(400, codeInvalidParameterCombination,
			"You have requested up to %s datapoints, which exceeds the limit of %s. You may reduce the datapoints requested by increasing Period, or decreasing the time range.",
			thousands(n), thousands(maxDatapoints))
	}
	datapoints := []any{}
	out := awsproto.Object{"Label": name, "Datapoints": datapoints}
	r := s.region(account, regionName, false)
	if r == nil {
		return out, nil
	}
	r.prune(s.clock())
	se := r.series[seriesKey(namespace, name, dims)]
	if se == nil {
		return out, nil
	}
	for bucket := start; bucket.Before(end); bucket = bucket.Add(step) {
		hi := bucket.Add(step)
		if hi.After(end) {
			hi = end
		}
		agg, ok := aggregateOf(se.window(bucket, hi, true), unit)
		if !ok {
			continue
		}
		dp := awsproto.Object{"Timestamp": bucket, "Unit": cmp.Or(agg.unit, "None")}
		for _, st := range stats {
			v, _ := agg.stat(st)
			dp[st] = v
		}
		if len(ext) > 0 {
			e := awsproto.Object{}
			for _, st := range ext {
				if v, ok := agg.stat(st); ok {
					e[st] = v
				}
			}
			dp["ExtendedStatistics"] = e
		}
		datapoints = append(datapoints, dp)
	}
	out["Datapoints"] = datapoints
	return out, nil
}

func (s *Store) listMetrics(account, regionName string, p awsproto.Object) (awsproto.Object, *awsproto.Error) {
	namespace, err := str(p, "Namespace")
	if err != nil {
		return nil, err
	}
	name, err := str(p, "MetricName")
	if err != nil {
		return nil, err
	}
	filters, err := objList(p, "Dimensions")
	if err != nil {
		return nil, err
	}
	type dimFilter struct {
		name, value string
	}
	var dfs []dimFilter
	for _, f := range filters {
		var df dimFilter
		if df.name, err = requiredStr(f, "Name"); err != nil {
			return nil, err
		}
		if df.value, err = str(f, "Value"); err != nil {
			return nil, err
		}
		dfs = append(dfs, df)
	}
	recent, err := str(p, "RecentlyActive")
	if err != nil {
		return nil, err
	}
	if recent != "" && recent != "PT3H" {
		return nil, validationf("1 validation error detected: Value '%s' at 'recentlyActive' failed to satisfy constraint: Member must satisfy enum value set: [PT3H]", recent)
	}
	tok, err := str(p, "NextToken")
	if err != nil {
		return nil, err
	}
	after := ""
	if tok != "" {
		if after, err = parseToken(tok); err != nil {
			return nil, err
		}
	}
	metrics := []any{}
	out := awsproto.Object{"Metrics": metrics}
	r := s.region(account, regionName, false)
	if r == nil {
		return out, nil
	}
	now := s.clock()
	r.prune(now)
	var keys []string
	for k, se := range r.series {
		if k <= after || (namespace != "" && se.Namespace != namespace) || (name != "" && se.MetricName != name) {
			continue
		}
		if recent != "" && se.Points[len(se.Points)-1].T.Before(now.Add(-recentlyActive)) {
			continue
		}
		dm := se.dimMap()
		if !slices.ContainsFunc(dfs, func(f dimFilter) bool {
			v, ok := dm[f.name]
			return !ok || (f.value != "" && v != f.value)
		}) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) > listMetricsPageSize {
		keys = keys[:listMetricsPageSize]
		out["NextToken"] = token(keys[len(keys)-1])
	}
	for _, k := range keys {
		se := r.series[k]
		metrics = append(metrics, awsproto.Object{
			"Namespace": se.Namespace, "MetricName": se.MetricName, "Dimensions": dimensionList(se.dimMap()),
		})
	}
	out["Metrics"] = metrics
	return out, nil
}
