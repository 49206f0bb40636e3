package ssm_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox/awsproto"
	"github.com/stackfleet/stackfleet/internal/sandbox/ssm"
)

// sdkClient serves s over awsJson1_1 on an httptest server, for account acct, and returns an
// aws-sdk-go-v2 client talking to it.
func sdkClient(t *testing.T, s *ssm.Store) *awsssm.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := awsproto.Decode(r)
		var out awsproto.Object
		if err == nil {
			out, err = s.Handle(r.Context(), acct, req)
		}
		awsproto.Encode(w, req, out, err)
	}))
	t.Cleanup(srv.Close)
	return awsssm.NewFromConfig(aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

func TestSDKRoundTrip(t *testing.T) {
	s, _ := newStore()
	c := sdkClient(t, s)
	ctx := t.Context()

	put, err := c.PutParameter(ctx, &awsssm.PutParameterInput{
		Name: aws.String("/app/db/password"), Value: aws.String("hunter2"), Type: ssmtypes.ParameterTypeSecureString,
		Description: aws.String("db password"),
	})
	if err != nil {
		t.Fatalf("PutParameter: %v", err)
	}
	if put.Version != 1 || put.Tier != ssmtypes.ParameterTierStandard {
		t.Errorf("PutParameter = version %d tier %s", put.Version, put.Tier)
	}
	_, err = c.PutParameter(ctx, &awsssm.PutParameterInput{
		Name: aws.String("/app/db/password"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeSecureString,
	})
	var exists *ssmtypes.ParameterAlreadyExists
	if !errors.As(err, &exists) {
		t.Errorf("second PutParameter: %v, want ParameterAlreadyExists", err)
	}

	got, err := c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/app/db/password"), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatalf("GetParameter: %v", err)
	}
	p := got.Parameter
	if diff := cmp.Diff(
		[]any{"/app/db/password", "hunter2", ssmtypes.ParameterTypeSecureString, int64(1), "arn:aws:ssm:us-east-1:111111111111:parameter/app/db/password", t0},
		[]any{aws.ToString(p.Name), aws.ToString(p.Value), p.Type, p.Version, aws.ToString(p.ARN), aws.ToTime(p.LastModifiedDate)},
	); diff != "" {
		t.Errorf("GetParameter (-want +got):\n%s", diff)
	}

	_, err = c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/nope")})
	var notFound *ssmtypes.ParameterNotFound
	var api smithy.APIError
	if !errors.As(err, &notFound) || !errors.As(err, &api) || api.ErrorCode() != "ParameterNotFound" {
		t.Errorf("GetParameter(/nope): %v, want ParameterNotFound", err)
	}

	for i := range 12 {
		if _, err := c.PutParameter(ctx, &awsssm.PutParameterInput{
			Name: aws.String(fmt.Sprintf("/app/cfg/k%02d", i)), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString,
		}); err != nil {
			t.Fatalf("PutParameter %d: %v", i, err)
		}
	}
	var names []string
	pages := 0
	pg := awsssm.NewGetParametersByPathPaginator(c, &awsssm.GetParametersByPathInput{Path: aws.String("/app"), Recursive: aws.Bool(true), MaxResults: aws.Int32(5)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("GetParametersByPath: %v", err)
		}
		pages++
		for _, p := range out.Parameters {
			names = append(names, aws.ToString(p.Name))
		}
	}
	if len(names) != 13 || pages != 3 || names[0] != "/app/cfg/k00" || names[12] != "/app/db/password" {
		t.Errorf("GetParametersByPath: %d names in %d pages: %v", len(names), pages, names)
	}

	desc, err := c.DescribeParameters(ctx, &awsssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{
		{Key: aws.String("Type"), Values: []string{"SecureString"}},
	}})
	if err != nil {
		t.Fatalf("DescribeParameters: %v", err)
	}
	if len(desc.Parameters) != 1 || aws.ToString(desc.Parameters[0].KeyId) != "alias/aws/ssm" || aws.ToString(desc.Parameters[0].Description) != "db password" {
		t.Errorf("DescribeParameters = %+v", desc.Parameters)
	}

	del, err := c.DeleteParameters(ctx, &awsssm.DeleteParametersInput{Names: []string{"/app/cfg/k00", "/app/none"}})
	if err != nil {
		t.Fatalf("DeleteParameters: %v", err)
	}
	if diff := cmp.Diff([][]string{{"/app/cfg/k00"}, {"/app/none"}}, [][]string{del.DeletedParameters, del.InvalidParameters}); diff != "" {
		t.Errorf("DeleteParameters (-want +got):\n%s", diff)
	}
}
