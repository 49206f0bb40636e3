package sandbox_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// rawRequest builds an AWS request by hand; the sandbox reads the credential scope but does
// not verify signatures.
func rawRequest(key, region, service, target, contentType, body string) *http.Request {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if key != "" {
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20250101/"+region+"/"+service+
			"/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000")
	}
	r.Header.Set("X-Amz-Date", "20250101T000000Z")
	if target != "" {
		r.Header.Set("X-Amz-Target", target)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

const (
	formCT = "application/x-www-form-urlencoded; charset=utf-8"
	jsonCT = "application/x-amz-json-1.1"
)

func TestMalformedRequests(t *testing.T) {
	sb, err := sandbox.New(sandbox.Options{Accounts: 1, Seed: 1, Regions: []string{"us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	key := sb.ManagementCredentials().AccessKeyID
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantBody   []string
	}{
		{"no auth", rawRequest("", "", "", "", formCT, "Action=GetCallerIdentity&Version=2011-06-15"),
			403, []string{"<Code>MissingAuthenticationToken</Code>"}},
		{"unknown key query", rawRequest("AKIAXXXXXXXXXXXXXXXX", "us-east-1", "sts", "", formCT, "Action=GetCallerIdentity&Version=2011-06-15"),
			403, []string{"<Code>InvalidClientTokenId</Code>", "<Type>Sender</Type>"}},
		{"unknown key json", rawRequest("AKIAXXXXXXXXXXXXXXXX", "us-east-1", "organizations", "AWSOrganizationsV20161128.ListRoots", jsonCT, "{}"),
			400, []string{`"__type":"UnrecognizedClientException"`}},
		{"unknown sts action", rawRequest(key, "us-east-1", "sts", "", formCT, "Action=StealCredentials&Version=2011-06-15"),
			400, []string{"<Code>InvalidAction</Code>", "StealCredentials"}},
		{"unknown organizations action", rawRequest(key, "us-east-1", "organizations", "AWSOrganizationsV20161128.Nope", jsonCT, "{}"),
			400, []string{`"__type":"UnknownOperationException"`}},
		{"bad json", rawRequest(key, "us-east-1", "organizations", "AWSOrganizationsV20161128.ListAccounts", jsonCT, "{nope"),
			400, []string{`SerializationException`}},
		{"unknown service", rawRequest(key, "us-east-1", "ec2", "", formCT, "Action=DescribeVpcs&Version=2016-11-15"),
			400, []string{"<Code>InvalidAction</Code>", "ec2"}},
		{"disabled region", rawRequest(key, "ap-south-1", "ssm", "AmazonSSM.GetParameter", jsonCT, `{"Name":"x"}`),
			400, []string{"UnrecognizedClientException", "ap-south-1", "not enabled"}},
		{"missing required member", rawRequest(key, "us-east-1", "organizations", "AWSOrganizationsV20161128.DescribeAccount", jsonCT, "{}"),
			400, []string{"InvalidInputException", "AccountId"}},
		{"sts without role", rawRequest(key, "us-east-1", "sts", "", formCT, "Action=AssumeRole&Version=2011-06-15&RoleSessionName=x"),
			400, []string{"<Code>ValidationError</Code>", "roleArn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			sb.Handler().ServeHTTP(rec, tt.req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d (body %s)", rec.Code, tt.wantStatus, body)
			}
			for _, w := range tt.wantBody {
				if !strings.Contains(string(body), w) {
					t.Errorf("body %s does not contain %q", body, w)
				}
			}
			if rec.Header().Get("x-amzn-RequestId") == "" {
				t.Errorf("no request id header")
			}
		})
	}
}

// FuzzServeAWS sends arbitrary bodies and targets to every service as the management
// account: the sandbox must answer with an AWS-shaped client error, never a server error.
func FuzzServeAWS(f *testing.F) {
	sb, err := sandbox.New(sandbox.Options{Accounts: 2, OUs: 1, Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sb.Close() })
	key := sb.ManagementCredentials().AccessKeyID
	f.Add("sts", "", formCT, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/x&RoleSessionName=s&DurationSeconds=99999999999999999999")
	f.Add("sts", "", formCT, "Action=GetCallerIdentity")
	f.Add("organizations", "AWSOrganizationsV20161128.ListAccounts", jsonCT, `{"MaxResults":1.5,"NextToken":7}`)
	f.Add("organizations", "AWSOrganizationsV20161128.CreateAccount", jsonCT, `{"Email":"a@b.co","AccountName":"x","Tags":[{"Key":null}]}`)
	f.Add("organizations", "AWSOrganizationsV20161128.MoveAccount", jsonCT, `{"AccountId":[],"SourceParentId":{}}`)
	f.Add("organizations", "AWSOrganizationsV20161128.TagResource", jsonCT, `{"ResourceId":"r-abcd","Tags":"x"}`)
	f.Add("organizations", "AWSOrganizationsV20161128.ListChildren", jsonCT, `{"ParentId":"r-abcd","ChildType":"ACCOUNT","MaxResults":-1}`)
	f.Add("nothing", "", "", "\x00\xff")
	f.Fuzz(func(t *testing.T, service, target, contentType, body string) {
		if service == "cloudformation" || service == "ssm" || service == "monitoring" {
			return // their own packages fuzz their handlers
		}
		rec := httptest.NewRecorder()
		sb.Handler().ServeHTTP(rec, rawRequest(key, "us-east-1", service, target, contentType, body))
		if rec.Code >= 500 {
			t.Errorf("status %d for %s %q %q: %s", rec.Code, service, target, body, rec.Body)
		}
	})
}
