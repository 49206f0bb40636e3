package cfn_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
)

// newSDKClient serves e over HTTP with the awsproto codec and returns a real SDK client.
func newSDKClient(t *testing.T, e *cfn.Engine) *cloudformation.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := awsproto.Decode(r)
		var out awsproto.Object
		if err == nil {
			out, err = e.Handle(r.Context(), acct, req)
		}
		awsproto.Encode(w, req, out, err)
	}))
	t.Cleanup(srv.Close)
	return cloudformation.NewFromConfig(aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

func fastWaiter[T any](o *T) {
	switch w := any(o).(type) {
	case *cloudformation.StackCreateCompleteWaiterOptions:
		w.MinDelay, w.MaxDelay = time.Millisecond, 10*time.Millisecond
	case *cloudformation.StackUpdateCompleteWaiterOptions:
		w.MinDelay, w.MaxDelay = time.Millisecond, 10*time.Millisecond
	case *cloudformation.StackDeleteCompleteWaiterOptions:
		w.MinDelay, w.MaxDelay = time.Millisecond, 10*time.Millisecond
	case *cloudformation.ChangeSetCreateCompleteWaiterOptions:
		w.MinDelay, w.MaxDelay = time.Millisecond, 10*time.Millisecond
	case *cloudformation.StackRollbackCompleteWaiterOptions:
		w.MinDelay, w.MaxDelay = time.Millisecond, 10*time.Millisecond
	}
}

func TestSDKLifecycle(t *testing.T) {
	fx := newFakeEffects()
	e, err := cfn.New(cfn.Options{Effects: fx, ResourceDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	c := newSDKClient(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err = c.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String("sdk"), TemplateBody: aws.String(appTemplate),
		Capabilities: []types.Capability{types.CapabilityCapabilityIam},
		Parameters:   []types.Parameter{{ParameterKey: aws.String("Env"), ParameterValue: aws.String("sdk")}},
		Tags:         []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := cloudformation.NewStackCreateCompleteWaiter(c, fastWaiter).WaitForOutput(ctx,
		&cloudformation.DescribeStacksInput{StackName: aws.String("sdk")}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := out.Stacks[0]
	if s.StackStatus != types.StackStatusCreateComplete || len(s.Outputs) != 6 || aws.ToString(s.Description) != "app stack" {
		t.Errorf("stack = %v, %d outputs, %q", s.StackStatus, len(s.Outputs), aws.ToString(s.Description))
	}
	if diff := cmp.Diff([]string{"Env=sdk", "Secret=****"}, paramStrings(s.Parameters)); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	if s.CreationTime == nil || s.DriftInformation == nil || s.DriftInformation.StackDriftStatus != types.StackDriftStatusNotChecked {
		t.Errorf("CreationTime %v DriftInformation %+v", s.CreationTime, s.DriftInformation)
	}

	// Typed errors.
	_, err = c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("sdk"), TemplateBody: aws.String(appTemplate)})
	var exists *types.AlreadyExistsException
	if !errors.As(err, &exists) || exists.ErrorMessage() != "Stack [sdk] already exists" {
		t.Errorf("CreateStack existing: %v", err)
	}
	_, err = c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("sdk"), UsePreviousTemplate: aws.Bool(true),
		Capabilities: []types.Capability{types.CapabilityCapabilityIam},
		Parameters: []types.Parameter{
			{ParameterKey: aws.String("Env"), UsePreviousValue: aws.Bool(true)},
			{ParameterKey: aws.String("Secret"), UsePreviousValue: aws.Bool(true)},
		}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationError" || apiErr.ErrorMessage() != "No updates are to be performed." {
		t.Errorf("no-op update: %v", err)
	}
	_, err = c.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{StackName: aws.String("sdk"), ChangeSetName: aws.String("nope")})
	var notFound *types.ChangeSetNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("DescribeChangeSet missing: %v", err)
	}

	// Change set → execute → update complete.
	_, err = c.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{
		StackName: aws.String("sdk"), ChangeSetName: aws.String("cs"), UsePreviousTemplate: aws.Bool(true),
		Capabilities: []types.Capability{types.CapabilityCapabilityIam},
		Parameters:   []types.Parameter{{ParameterKey: aws.String("Env"), ParameterValue: aws.String("sdk2")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := cloudformation.NewChangeSetCreateCompleteWaiter(c, fastWaiter).WaitForOutput(ctx,
		&cloudformation.DescribeChangeSetInput{StackName: aws.String("sdk"), ChangeSetName: aws.String("cs")}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Changes) != 1 || cs.Changes[0].ResourceChange.Replacement != types.ReplacementTrue ||
		aws.ToString(cs.Changes[0].ResourceChange.LogicalResourceId) != "Param" {
		t.Errorf("changes = %+v", cs.Changes)
	}
	if _, err := c.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{StackName: aws.String("sdk"), ChangeSetName: aws.String("cs")}); err != nil {
		t.Fatal(err)
	}
	if err := cloudformation.NewStackUpdateCompleteWaiter(c, fastWaiter).Wait(ctx,
		&cloudformation.DescribeStacksInput{StackName: aws.String("sdk")}, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	// Events through the paginator.
	n := 0
	for p := cloudformation.NewDescribeStackEventsPaginator(c, &cloudformation.DescribeStackEventsInput{StackName: aws.String("sdk")}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.StackEvents {
			if ev.EventId == nil || ev.Timestamp == nil || ev.ResourceStatus == "" {
				t.Errorf("incomplete event %+v", ev)
			}
		}
		n += len(page.StackEvents)
	}
	if n < 20 {
		t.Errorf("%d events", n)
	}

	// Delete; the waiter treats "does not exist" as success.
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("sdk")}); err != nil {
		t.Fatal(err)
	}
	if err := cloudformation.NewStackDeleteCompleteWaiter(c, fastWaiter).Wait(ctx,
		&cloudformation.DescribeStacksInput{StackName: aws.String("sdk")}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := fx.roleNames(); len(got) != 0 {
		t.Errorf("roles left after delete: %v", got)
	}
}

func paramStrings(ps []types.Parameter) []string {
	var out []string
	for _, p := range ps {
		out = append(out, aws.ToString(p.ParameterKey)+"="+aws.ToString(p.ParameterValue))
	}
	return out
}
