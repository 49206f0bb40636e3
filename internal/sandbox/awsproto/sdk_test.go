package awsproto_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
)

const (
	testAKID   = "AKIDSANDBOX0001"
	testRegion = "eu-west-1"
)

// handlerFunc answers one decoded call.
type handlerFunc func(req *awsproto.Request) (awsproto.Object, error)

// fakeAWS is an httptest server that decodes every call with awsproto.Decode, answers it with
// the handler registered for its action and records what it decoded.
type fakeAWS struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	handlers map[string]handlerFunc
	reqs     []*awsproto.Request
	headers  []http.Header
}

func newFakeAWS(t *testing.T) *fakeAWS {
	t.Helper()
	f := &fakeAWS{t: t, handlers: map[string]handlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAWS) handle(action string, h handlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[action] = h
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	req, err := awsproto.Decode(r)
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.headers = append(f.headers, r.Header.Clone())
	h := f.handlers[req.Action]
	f.mu.Unlock()
	var result awsproto.Object
	if err == nil {
		if h == nil {
			err = awsproto.Errorf(http.StatusBadRequest, "InvalidAction", "no handler for %s", req.Action)
		} else {
			result, err = h(req)
		}
	}
	awsproto.Encode(w, req, result, err)
}

// last returns the last decoded request and its raw headers.
func (f *fakeAWS) last() (*awsproto.Request, http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		f.t.Fatal("no request reached the server")
	}
	return f.reqs[len(f.reqs)-1], f.headers[len(f.headers)-1]
}

func (f *fakeAWS) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// config returns SDK settings pointing at the server with static credentials and no retries.
func (f *fakeAWS) config() aws.Config {
	return aws.Config{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testAKID, "secret", "session-token-1"),
		BaseEndpoint: aws.String(f.srv.URL),
		HTTPClient:   f.srv.Client(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// fastRetries is a retryer that retries immediately, to observe which errors the SDK retries.
func fastRetries() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

var (
	created = time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)
	joined  = time.Date(2025, 12, 31, 23, 59, 58, 125e6, time.UTC)
)

// checkScope asserts the SigV4 and session fields the server decoded.
func checkScope(t *testing.T, req *awsproto.Request, protocol awsproto.Protocol, service, action string) {
	t.Helper()
	got := []string{req.Protocol.String(), req.Service, req.Action, req.AccessKeyID, req.Region, req.SessionToken}
	want := []string{protocol.String(), service, action, testAKID, testRegion, "session-token-1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded request scope (-want +got):\n%s", diff)
	}
	if len(req.RequestID) != 36 {
		t.Errorf("RequestID = %q, want a UUID", req.RequestID)
	}
}

func TestSDKCloudFormationDescribeStacks(t *testing.T) {
	f := newFakeAWS(t)
	f.handle("DescribeStacks", func(req *awsproto.Request) (awsproto.Object, error) {
		name := req.Params.String("StackName")
		return awsproto.Object{
			"Stacks": []any{
				awsproto.Object{
					"StackName":    name,
					"StackId":      "arn:aws:cloudformation:eu-west-1:111111111111:stack/" + name + "/1",
					"StackStatus":  "CREATE_COMPLETE",
					"CreationTime": created,
					"Description":  `<a & "b">`,
					"Capabilities": []string{"CAPABILITY_IAM"},
					"Parameters": []any{
						awsproto.Object{"ParameterKey": "Env", "ParameterValue": "prod"},
						awsproto.Object{"ParameterKey": "Size", "ParameterValue": "3"},
					},
					"Outputs":                     []awsproto.Object{{"OutputKey": "Url", "OutputValue": "https://x", "ExportName": nil}},
					"Tags":                        []any{awsproto.Object{"Key": "team", "Value": "infra"}},
					"EnableTerminationProtection": true,
				},
			},
		}, nil
	})
	c := cloudformation.NewFromConfig(f.config())
	out, err := c.DescribeStacks(t.Context(), &cloudformation.DescribeStacksInput{StackName: aws.String("web")})
	if err != nil {
		t.Fatalf("DescribeStacks: %v", err)
	}
	req, _ := f.last()
	checkScope(t, req, awsproto.Query, "cloudformation", "DescribeStacks")
	if len(out.Stacks) != 1 {
		t.Fatalf("got %d stacks, want 1", len(out.Stacks))
	}
	s := out.Stacks[0]
	type stack struct {
		Name, Status, Description string
		Created                   time.Time
		Capabilities              []cftypes.Capability
		Params, Outputs, Tags     [][2]string
		Protected                 bool
	}
	got := stack{
		Name: aws.ToString(s.StackName), Status: string(s.StackStatus), Description: aws.ToString(s.Description),
		Created: aws.ToTime(s.CreationTime), Capabilities: s.Capabilities, Protected: aws.ToBool(s.EnableTerminationProtection),
	}
	for _, p := range s.Parameters {
		got.Params = append(got.Params, [2]string{aws.ToString(p.ParameterKey), aws.ToString(p.ParameterValue)})
	}
	for _, o := range s.Outputs {
		got.Outputs = append(got.Outputs, [2]string{aws.ToString(o.OutputKey), aws.ToString(o.OutputValue)})
	}
	for _, tg := range s.Tags {
		got.Tags = append(got.Tags, [2]string{aws.ToString(tg.Key), aws.ToString(tg.Value)})
	}
	want := stack{
		Name: "web", Status: "CREATE_COMPLETE", Description: `<a & "b">`, Created: created,
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityIam},
		Params:       [][2]string{{"Env", "prod"}, {"Size", "3"}},
		Outputs:      [][2]string{{"Url", "https://x"}},
		Tags:         [][2]string{{"team", "infra"}},
		Protected:    true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DescribeStacks result (-want +got):\n%s", diff)
	}
}

func TestSDKCloudFormationCreateStackParams(t *testing.T) {
	f := newFakeAWS(t)
	f.handle("CreateStack", func(req *awsproto.Request) (awsproto.Object, error) {
		return awsproto.Object{"StackId": "arn:stack/" + req.Params.String("StackName")}, nil
	})
	f.handle("UpdateStack", func(req *awsproto.Request) (awsproto.Object, error) {
		return awsproto.Object{"StackId": "arn:stack/" + req.Params.String("StackName")}, nil
	})
	c := cloudformation.NewFromConfig(f.config())
	out, err := c.CreateStack(t.Context(), &cloudformation.CreateStackInput{
		StackName:    aws.String("web"),
		TemplateBody: aws.String("Resources: {}"),
		Parameters: []cftypes.Parameter{
			{ParameterKey: aws.String("Env"), ParameterValue: aws.String("prod")},
			{ParameterKey: aws.String("Size"), UsePreviousValue: aws.Bool(true)},
		},
		Capabilities:     []cftypes.Capability{cftypes.CapabilityCapabilityIam, cftypes.CapabilityCapabilityAutoExpand},
		Tags:             []cftypes.Tag{{Key: aws.String("team"), Value: aws.String("infra")}},
		TimeoutInMinutes: aws.Int32(30),
	})
	if err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	if got, want := aws.ToString(out.StackId), "arn:stack/web"; got != want {
		t.Errorf("StackId = %q, want %q", got, want)
	}
	req, _ := f.last()
	checkScope(t, req, awsproto.Query, "cloudformation", "CreateStack")
	want := awsproto.Object{
		"StackName":    "web",
		"TemplateBody": "Resources: {}",
		"Parameters": []any{
			awsproto.Object{"ParameterKey": "Env", "ParameterValue": "prod"},
			awsproto.Object{"ParameterKey": "Size", "UsePreviousValue": "true"},
		},
		"Capabilities":     []any{"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"},
		"Tags":             []any{awsproto.Object{"Key": "team", "Value": "infra"}},
		"TimeoutInMinutes": "30",
	}
	if diff := cmp.Diff(want, req.Params); diff != "" {
		t.Errorf("decoded CreateStack params (-want +got):\n%s", diff)
	}
	if n, ok := req.Params.Int("TimeoutInMinutes"); !ok || n != 30 {
		t.Errorf("Int(TimeoutInMinutes) = %d, %v; want 30, true", n, ok)
	}
	if b, ok := req.Params.Objects("Parameters")[1].Bool("UsePreviousValue"); !ok || !b {
		t.Errorf("Bool(UsePreviousValue) = %v, %v; want true, true", b, ok)
	}

	// An empty list is sent as "Tags=" and must read as given-but-empty.
	if _, err := c.UpdateStack(t.Context(), &cloudformation.UpdateStackInput{
		StackName: aws.String("web"), UsePreviousTemplate: aws.Bool(true), Tags: []cftypes.Tag{},
	}); err != nil {
		t.Fatalf("UpdateStack: %v", err)
	}
	req, _ = f.last()
	if tags := req.Params.Objects("Tags"); tags == nil || len(tags) != 0 {
		t.Errorf("Objects(Tags) of an empty list = %#v, want a non-nil empty slice", tags)
	}
	if caps := req.Params.Strings("Capabilities"); caps != nil {
		t.Errorf("Strings(Capabilities) of an absent list = %#v, want nil", caps)
	}
}

func TestSDKSTSGetCallerIdentity(t *testing.T) {
	f := newFakeAWS(t)
	f.handle("GetCallerIdentity", func(req *awsproto.Request) (awsproto.Object, error) {
		return awsproto.Object{
			"Account": "111111111111",
			"Arn":     "arn:aws:iam::111111111111:user/" + req.AccessKeyID,
			"UserId":  req.AccessKeyID,
		}, nil
	})
	out, err := sts.NewFromConfig(f.config()).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	req, _ := f.last()
	checkScope(t, req, awsproto.Query, "sts", "GetCallerIdentity")
	got := []string{aws.ToString(out.Account), aws.ToString(out.Arn), aws.ToString(out.UserId)}
	want := []string{"111111111111", "arn:aws:iam::111111111111:user/" + testAKID, testAKID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetCallerIdentity (-want +got):\n%s", diff)
	}
}

func TestSDKOrganizationsListAccounts(t *testing.T) {
	f := newFakeAWS(t)
	f.handle("ListAccounts", func(req *awsproto.Request) (awsproto.Object, error) {
		n, _ := req.Params.Int("MaxResults")
		accts := []any{}
		for i := range n {
			accts = append(accts, awsproto.Object{
				"Id":              fmt.Sprintf("%012d", i+1),
				"Name":            fmt.Sprintf("acct-%d", i+1),
				"Status":          "ACTIVE",
				"JoinedTimestamp": joined,
			})
		}
		return awsproto.Object{"Accounts": accts, "NextToken": "next-" + req.Params.String("NextToken")}, nil
	})
	c := organizations.NewFromConfig(f.config())
	out, err := c.ListAccounts(t.Context(), &organizations.ListAccountsInput{MaxResults: aws.Int32(2), NextToken: aws.String("t1")})
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	req, _ := f.last()
	checkScope(t, req, awsproto.JSON11, "organizations", "ListAccounts")
	if diff := cmp.Diff(awsproto.Object{"MaxResults": int64(2), "NextToken": "t1"}, req.Params); diff != "" {
		t.Errorf("decoded ListAccounts params (-want +got):\n%s", diff)
	}
	type acct struct {
		ID, Name string
		Status   orgtypes.AccountStatus
		Joined   time.Time
	}
	var got []acct
	for _, a := range out.Accounts {
		got = append(got, acct{aws.ToString(a.Id), aws.ToString(a.Name), a.Status, aws.ToTime(a.JoinedTimestamp)})
	}
	want := []acct{
		{"000000000001", "acct-1", orgtypes.AccountStatusActive, joined},
		{"000000000002", "acct-2", orgtypes.AccountStatusActive, joined},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListAccounts (-want +got):\n%s", diff)
	}
	if got, want := aws.ToString(out.NextToken), "next-t1"; got != want {
		t.Errorf("NextToken = %q, want %q", got, want)
	}
}

func TestSDKSSMGetParameter(t *testing.T) {
	f := newFakeAWS(t)
	f.handle("GetParameter", func(req *awsproto.Request) (awsproto.Object, error) {
		dec, _ := req.Params.Bool("WithDecryption")
		return awsproto.Object{"Parameter": awsproto.Object{
			"Name":             req.Params.String("Name"),
			"Type":             "String",
			"Value":            fmt.Sprintf("decrypted=%v", dec),
			"Version":          int64(7),
			"LastModifiedDate": joined,
		}}, nil
	})
	out, err := ssm.NewFromConfig(f.config()).GetParameter(t.Context(), &ssm.GetParameterInput{
		Name: aws.String("/app/db"), WithDecryption: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("GetParameter: %v", err)
	}
	req, _ := f.last()
	checkScope(t, req, awsproto.JSON11, "ssm", "GetParameter")
	p := out.Parameter
	got := []any{aws.ToString(p.Name), p.Type, aws.ToString(p.Value), p.Version, aws.ToTime(p.LastModifiedDate)}
	want := []any{"/app/db", ssmtypes.ParameterTypeString, "decrypted=true", int64(7), joined}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetParameter (-want +got):\n%s", diff)
	}
}

func TestSDKCloudWatchDescribeAlarms(t *testing.T) {
	f := newFakeAWS(t)
	f.handle("DescribeAlarms", func(req *awsproto.Request) (awsproto.Object, error) {
		var alarms []any
		for _, name := range req.Params.Strings("AlarmNames") {
			alarms = append(alarms, awsproto.Object{
				"AlarmName":             name,
				"StateValue":            "ALARM",
				"Threshold":             2.5,
				"EvaluationPeriods":     int64(3),
				"DatapointsToAlarm":     3.0, // an integral float must still decode into an int32
				"ActionsEnabled":        false,
				"StateUpdatedTimestamp": created,
				"Dimensions":            []any{awsproto.Object{"Name": "Stack", "Value": "web"}},
			})
		}
		return awsproto.Object{"MetricAlarms": alarms}, nil
	})
	c := cloudwatch.NewFromConfig(f.config())
	out, err := c.DescribeAlarms(t.Context(), &cloudwatch.DescribeAlarmsInput{
		AlarmNames: []string{"a1", "a2"}, MaxRecords: aws.Int32(10),
	})
	if err != nil {
		t.Fatalf("DescribeAlarms: %v", err)
	}
	req, hdr := f.last()
	checkScope(t, req, awsproto.RPCv2CBOR, "monitoring", "DescribeAlarms")
	if got := hdr.Get("Smithy-Protocol"); got != "rpc-v2-cbor" {
		t.Errorf("client sent Smithy-Protocol %q; the test does not exercise CBOR", got)
	}
	if diff := cmp.Diff(awsproto.Object{"AlarmNames": []any{"a1", "a2"}, "MaxRecords": int64(10)}, req.Params); diff != "" {
		t.Errorf("decoded DescribeAlarms params (-want +got):\n%s", diff)
	}
	type alarm struct {
		Name              string
		State             cwtypes.StateValue
		Threshold         float64
		Periods, ToAlarm  int32
		Enabled           bool
		Updated           time.Time
		DimName, DimValue string
	}
	var got []alarm
	for _, a := range out.MetricAlarms {
		al := alarm{aws.ToString(a.AlarmName), a.StateValue, aws.ToFloat64(a.Threshold), aws.ToInt32(a.EvaluationPeriods),
			aws.ToInt32(a.DatapointsToAlarm), aws.ToBool(a.ActionsEnabled), aws.ToTime(a.StateUpdatedTimestamp), "", ""}
		if len(a.Dimensions) == 1 {
			al.DimName, al.DimValue = aws.ToString(a.Dimensions[0].Name), aws.ToString(a.Dimensions[0].Value)
		}
		got = append(got, al)
	}
	want := []alarm{
		{"a1", cwtypes.StateValueAlarm, 2.5, 3, 3, false, created, "Stack", "web"},
		{"a2", cwtypes.StateValueAlarm, 2.5, 3, 3, false, created, "Stack", "web"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DescribeAlarms (-want +got):\n%s", diff)
	}
}

func TestSDKCloudWatchPutMetricDataGzip(t *testing.T) {
	f := newFakeAWS(t)
	f.handle("PutMetricData", func(req *awsproto.Request) (awsproto.Object, error) { return nil, nil })
	c := cloudwatch.NewFromConfig(f.config(), func(o *cloudwatch.Options) {
		o.DisableRequestCompression = false
		o.RequestMinCompressSizeBytes = 0 // compress even this small body
	})
	_, err := c.PutMetricData(t.Context(), &cloudwatch.PutMetricDataInput{
		Namespace: aws.String("Stackfleet"),
		MetricData: []cwtypes.MetricDatum{{
			MetricName: aws.String("Deploys"),
			Value:      aws.Float64(1.5),
			Unit:       cwtypes.StandardUnitCount,
			Timestamp:  aws.Time(created),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("Stack"), Value: aws.String("web")}},
		}},
	})
	if err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
	req, hdr := f.last()
	checkScope(t, req, awsproto.RPCv2CBOR, "monitoring", "PutMetricData")
	if got := hdr.Get("Content-Encoding"); got != "gzip" {
		t.Errorf("client sent Content-Encoding %q; the test does not exercise gzip", got)
	}
	want := awsproto.Object{
		"Namespace": "Stackfleet",
		"MetricData": []any{awsproto.Object{
			"MetricName": "Deploys",
			"Value":      1.5,
			"Unit":       "Count",
			"Timestamp":  created,
			"Dimensions": []any{awsproto.Object{"Name": "Stack", "Value": "web"}},
		}},
	}
	if diff := cmp.Diff(want, req.Params); diff != "" {
		t.Errorf("decoded PutMetricData params (-want +got):\n%s", diff)
	}
	if ts, ok := req.Params.Objects("MetricData")[0].Time("Timestamp"); !ok || !ts.Equal(created) {
		t.Errorf("Time(Timestamp) = %v, %v; want %v", ts, ok, created)
	}
}

// apiErr asserts err is a smithy.APIError with the given code and message.
func apiErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not a smithy.APIError", err, err)
	}
	if got := [2]string{ae.ErrorCode(), ae.ErrorMessage()}; got != [2]string{code, msg} {
		t.Errorf("API error = %q, want %q", got, [2]string{code, msg})
	}
}

func TestSDKErrors(t *testing.T) {
	f := newFakeAWS(t)
	var errToReturn error
	var mu sync.Mutex
	fail := func(*awsproto.Request) (awsproto.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		return nil, errToReturn
	}
	for _, a := range []string{"DescribeStacks", "GetCallerIdentity", "DescribeAccount", "GetParameter", "DescribeAlarms"} {
		f.handle(a, fail)
	}
	cfg := f.config()
	cf, st := cloudformation.NewFromConfig(cfg), sts.NewFromConfig(cfg)
	org, sm, cw := organizations.NewFromConfig(cfg), ssm.NewFromConfig(cfg), cloudwatch.NewFromConfig(cfg)
	calls := map[string]func(context.Context) error{
		"cloudformation": func(ctx context.Context) error {
			_, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("x")})
			return err
		},
		"sts": func(ctx context.Context) error {
			_, err := st.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		},
		"organizations": func(ctx context.Context) error {
			_, err := org.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String("000000000009")})
			return err
		},
		"ssm": func(ctx context.Context) error {
			_, err := sm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/nope")})
			return err
		},
		"cloudwatch": func(ctx context.Context) error {
			_, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
			return err
		},
	}
	tests := []struct {
		name, service string
		err           error
		code, msg     string
		typed         func(error) bool // optional: the SDK's modeled error type
	}{
		{"query validation", "cloudformation", awsproto.Errorf(400, "ValidationError", "Stack with id %s does not exist", "x"),
			"ValidationError", "Stack with id x does not exist", nil},
		{"query throttling", "cloudformation", awsproto.ThrottlingError(awsproto.Query), "Throttling", "Rate exceeded", nil},
		{"query wrapped", "sts", fmt.Errorf("lookup: %w", awsproto.Errorf(403, "ExpiredToken", "The security token included in the request is expired")),
			"ExpiredToken", "The security token included in the request is expired", nil},
		{"query internal", "sts", errors.New("disk on fire"), "InternalFailure", "disk on fire", nil},
		{"json modeled", "organizations", awsproto.Errorf(400, "AccountNotFoundException", "You specified an account that doesn't exist."),
			"AccountNotFoundException", "You specified an account that doesn't exist.",
			func(err error) bool { var e *orgtypes.AccountNotFoundException; return errors.As(err, &e) }},
		{"json ssm modeled", "ssm", awsproto.Errorf(400, "ParameterNotFound", ""), "ParameterNotFound", "",
			func(err error) bool { var e *ssmtypes.ParameterNotFound; return errors.As(err, &e) }},
		{"json throttling", "ssm", awsproto.ThrottlingError(awsproto.JSON11), "ThrottlingException", "Rate exceeded", nil},
		{"json internal", "organizations", errors.New("boom"), "InternalFailure", "boom", nil},
		{"cbor query code", "cloudwatch", awsproto.Errorf(404, "ResourceNotFound", "alarm x not found"), "ResourceNotFound", "alarm x not found",
			func(err error) bool { var e *cwtypes.ResourceNotFound; return errors.As(err, &e) }},
		{"cbor mapped query code", "cloudwatch", awsproto.Errorf(400, "InvalidParameterValue", "bad value"), "InvalidParameterValue", "bad value",
			func(err error) bool { var e *cwtypes.InvalidParameterValueException; return errors.As(err, &e) }},
		{"cbor shape name", "cloudwatch", awsproto.Errorf(400, "InvalidParameterValueException", "bad value"), "InvalidParameterValue", "bad value",
			func(err error) bool { var e *cwtypes.InvalidParameterValueException; return errors.As(err, &e) }},
		{"cbor throttling", "cloudwatch", awsproto.ThrottlingError(awsproto.RPCv2CBOR), "ThrottlingException", "Rate exceeded", nil},
		{"cbor internal", "cloudwatch", errors.New("kaput"), "InternalFailure", "kaput", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			errToReturn = tt.err
			mu.Unlock()
			err := calls[tt.service](t.Context())
			if err == nil {
				t.Fatal("call succeeded, want an error")
			}
			apiErr(t, err, tt.code, tt.msg)
			if tt.typed != nil && !tt.typed(err) {
				t.Errorf("error %T is not the SDK's modeled error type", err)
			}
		})
	}
}

// TestSDKRetriesThrottling checks that each protocol's throttling error is one the SDK retries.
func TestSDKRetriesThrottling(t *testing.T) {
	for _, p := range []awsproto.Protocol{awsproto.Query, awsproto.JSON11, awsproto.RPCv2CBOR} {
		t.Run(p.String(), func(t *testing.T) {
			f := newFakeAWS(t)
			var mu sync.Mutex
			n := 0
			h := func(*awsproto.Request) (awsproto.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				if n++; n == 1 {
					return nil, awsproto.ThrottlingError(p)
				}
				return awsproto.Object{}, nil
			}
			cfg := f.config()
			cfg.Retryer = fastRetries
			var err error
			switch p {
			case awsproto.Query:
				f.handle("DescribeStacks", h)
				_, err = cloudformation.NewFromConfig(cfg).DescribeStacks(t.Context(), &cloudformation.DescribeStacksInput{})
			case awsproto.JSON11:
				f.handle("ListAccounts", h)
				_, err = organizations.NewFromConfig(cfg).ListAccounts(t.Context(), &organizations.ListAccountsInput{})
			case awsproto.RPCv2CBOR:
				f.handle("DescribeAlarms", h)
				_, err = cloudwatch.NewFromConfig(cfg).DescribeAlarms(t.Context(), &cloudwatch.DescribeAlarmsInput{})
			}
			if err != nil {
				t.Fatalf("call failed after a throttle: %v", err)
			}
			if got := f.calls(); got != 2 {
				t.Errorf("server saw %d calls, want 2 (one throttled, one retried)", got)
			}
		})
	}
}

// TestSDKMissingAuthentication sends unsigned calls (anonymous credentials).
func TestSDKMissingAuthentication(t *testing.T) {
	f := newFakeAWS(t)
	cfg := f.config()
	cfg.Credentials = aws.AnonymousCredentials{}
	_, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	apiErr(t, err, "MissingAuthenticationToken", "Request is missing Authentication Token")
	_, err = ssm.NewFromConfig(cfg).GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("x")})
	apiErr(t, err, "MissingAuthenticationTokenException", "Missing Authentication Token")
	_, err = cloudwatch.NewFromConfig(cfg).DescribeAlarms(t.Context(), &cloudwatch.DescribeAlarmsInput{})
	apiErr(t, err, "MissingAuthenticationTokenException", "Missing Authentication Token")
}
