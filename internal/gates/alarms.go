package gates

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/stackfleet/stackfleet/internal/fleet"
	"github.com/stackfleet/stackfleet/internal/gates/expand"
)

// maxNamesPerCall is DescribeAlarms' limit on AlarmNames (and on MaxRecords).
const maxNamesPerCall = 100

// Alarm states as CloudWatch spells them.
const (
	stateOK               = string(cwtypes.StateValueOk)
	stateAlarm            = string(cwtypes.StateValueAlarm)
	stateInsufficientData = string(cwtypes.StateValueInsufficientData)
)

// Alarms checks CloudWatch alarms in the account and region of each target.
type Alarms struct {
	// Config returns the SDK configuration for account and region (typically with a role
	// assumed in account). It is called once per Check.
	Config func(ctx context.Context, account, region string) (aws.Config, error)
}

// alarm is the part of a metric or composite alarm a check looks at.
type alarm struct{ state, reason string }

// Check reads the alarms spec selects for t and fails if any is in ALARM, or in
// INSUFFICIENT_DATA when spec.InsufficientDataFails, or if an alarm named by spec.Names or
// spec.ARNs does not exist when spec.MissingFails. Metric and composite alarms both count.
//
// Names are read with DescribeAlarms by name, up to 100 per call; prefixes with DescribeAlarms
// by prefix, every page. ARNs are reduced to alarm names and must be in t's account and
// region. A template, configuration or API error is a failed Result naming it. If ctx ends, the
// Result is not OK and its Reason says the check was interrupted; callers tell that apart from a
// failed check with ctx.Err().
func (a *Alarms) Check(ctx context.Context, spec fleet.AlarmSpec, t fleet.GateTarget) Result {
	where := t.Account + "/" + t.Region
	names, prefixes, err := alarmSelectors(spec, t)
	if err != nil {
		return Result{Reason: fmt.Sprintf("alarms in %s: %v", where, err)}
	}
	if len(names) == 0 && len(prefixes) == 0 {
		return Result{OK: true, Reason: "no alarms to check in " + where}
	}
	if a.Config == nil {
		return Result{Reason: fmt.Sprintf("alarms in %s: no AWS configuration", where)}
	}
	cfg, err := a.Config(ctx, t.Account, t.Region)
	if err != nil {
		return a.failure(ctx, where, "get credentials", err)
	}
	cw := cloudwatch.NewFromConfig(cfg)

	found := map[string]alarm{}
	for chunk := range slices.Chunk(names, maxNamesPerCall) {
		if err := describe(ctx, cw, &cloudwatch.DescribeAlarmsInput{AlarmNames: chunk}, found); err != nil {
			return a.failure(ctx, where, "describe alarms", err)
		}
	}
	for _, p := range prefixes {
		if err := describe(ctx, cw, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(p)}, found); err != nil {
			return a.failure(ctx, where, fmt.Sprintf("describe alarms with prefix %q", p), err)
		}
	}

	var failing []string // names, sorted
	for _, name := range slices.Sorted(maps.Keys(found)) {
		if st := found[name].state; st == stateAlarm || st == stateInsufficientData && spec.InsufficientDataFails {
			failing = append(failing, name)
		}
	}
	var missing []string
	if spec.MissingFails {
		for _, name := range names {
			if _, ok := found[name]; !ok {
				missing = append(missing, name)
			}
		}
	}
	switch {
	case len(failing) > 0:
		first := found[failing[0]]
		reason := fmt.Sprintf("alarm %s in %s is %s", failing[0], where, first.state)
		if r := oneLine(first.reason); r != "" {
			reason += ": " + r
		}
		more := slices.Clone(failing[1:])
		for _, m := range missing {
			more = append(more, m+" (missing)")
		}
		if len(more) > 0 {
			reason += fmt.Sprintf(" (%d more failing: %s)", len(more), joinMax(more, 5))
		}
		return Result{Reason: reason}
	case len(missing) == 1:
		return Result{Reason: fmt.Sprintf("alarm %s does not exist in %s", missing[0], where)}
	case len(missing) > 1:
		return Result{Reason: fmt.Sprintf("%d alarms do not exist in %s: %s", len(missing), where, joinMax(missing, 5))}
	}
	return Result{OK: true, Reason: fmt.Sprintf("%d alarm%s checked in %s, none failing", len(found), plural(len(found)), where)}
}

// failure is the Result of a failed call — unreadable, not failing: interrupted if ctx ended,
// else the error.
func (a *Alarms) failure(ctx context.Context, where, what string, err error) Result {
	if ctx.Err() != nil {
		return Result{Unreadable: true, Reason: fmt.Sprintf("alarms in %s: interrupted: %v", where, context.Cause(ctx))}
	}
	return Result{Unreadable: true, Reason: fmt.Sprintf("alarms in %s: %s: %s", where, what, apiMessage(err))}
}

// describe reads every page of in (both alarm types) into found.
func describe(ctx context.Context, cw *cloudwatch.Client, in *cloudwatch.DescribeAlarmsInput, found map[string]alarm) error {
	in.AlarmTypes = []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm}
	in.MaxRecords = aws.Int32(maxNamesPerCall)
	pages := cloudwatch.NewDescribeAlarmsPaginator(cw, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, m := range out.MetricAlarms {
			found[aws.ToString(m.AlarmName)] = alarm{string(m.StateValue), aws.ToString(m.StateReason)}
		}
		for _, c := range out.CompositeAlarms {
			found[aws.ToString(c.AlarmName)] = alarm{string(c.StateValue), aws.ToString(c.StateReason)}
		}
	}
	return nil
}

// alarmSelectors expands spec for t: the alarm names (from Names and ARNs, deduplicated, in
// order of first appearance) and the prefixes.
func alarmSelectors(spec fleet.AlarmSpec, t fleet.GateTarget) (names, prefixes []string, err error) {
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	for _, tmpl := range spec.Names {
		name, err := expandNonEmpty("alarm name", tmpl, t)
		if err != nil {
			return nil, nil, err
		}
		add(name)
	}
	for _, tmpl := range spec.ARNs {
		arn, err := expandNonEmpty("alarm ARN", tmpl, t)
		if err != nil {
			return nil, nil, err
		}
		name, err := alarmNameFromARN(arn, t.Account, t.Region)
		if err != nil {
			return nil, nil, err
		}
		add(name)
	}
	for _, tmpl := range spec.Prefixes {
		// An empty prefix would select every alarm of the account, which no one means.
		p, err := expandNonEmpty("alarm prefix", tmpl, t)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Contains(prefixes, p) {
			prefixes = append(prefixes, p)
		}
	}
	return names, prefixes, nil
}

func expandNonEmpty(what, tmpl string, t fleet.GateTarget) (string, error) {
	s, err := expand.Render(tmpl, t)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if s == "" {
		return "", fmt.Errorf("%s: template %q expands to an empty string", what, tmpl)
	}
	return s, nil
}

// alarmNameFromARN returns the alarm name of arn
// (arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>), which must be in account and
// region. The name may itself contain colons.
func alarmNameFromARN(arn, account, region string) (string, error) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[1] == "" || parts[2] != "cloudwatch" || parts[5] != "alarm" || parts[6] == "" {
		return "", fmt.Errorf("%q is not a CloudWatch alarm ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>)", arn)
	}
	if parts[3] != region || parts[4] != account {
		return "", fmt.Errorf("alarm ARN %q is in %s/%s, not in the target's %s/%s", arn, parts[4], parts[3], account, region)
	}
	return parts[6], nil
}

// apiMessage is the useful part of an SDK error: "Code: message" for API errors, without the
// operation, status and request id the SDK wraps around it.
func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if msg := ae.ErrorMessage(); msg != "" {
			return oneLine(ae.ErrorCode() + ": " + msg)
		}
		return ae.ErrorCode()
	}
	return oneLine(err.Error())
}

// joinMax joins up to n of list, eliding the rest.
func joinMax(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:n], ", ") + fmt.Sprintf(" and %d more", len(list)-n)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
