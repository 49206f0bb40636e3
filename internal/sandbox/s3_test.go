package sandbox_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

func s3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// TestS3Objects drives the SDK's S3 client unmodified (its default checksums, response
// checksum validation, paginators) through buckets and objects.
func TestS3Objects(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 3})
	ctx := context.Background()
	c := s3Client(e.cfg)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("assets-1")}); err != nil {
		t.Fatal(err)
	}
	// A regional bucket needs its location constraint, as on AWS.
	west := s3Client(withRegion(e.cfg, "us-west-2"))
	if _, err := west.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("assets-2")}); errCode(err) != "IllegalLocationConstraintException" {
		t.Errorf("CreateBucket without constraint in us-west-2: %v", err)
	}
	if _, err := west.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("assets-2"),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: "us-west-2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := west.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("assets-2"),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: "us-west-2"}}); errCode(err) != "BucketAlreadyOwnedByYou" {
		t.Errorf("second CreateBucket: %v", err)
	}
	loc, err := west.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("assets-2")})
	if err != nil || loc.LocationConstraint != "us-west-2" {
		t.Errorf("GetBucketLocation: %+v, %v", loc, err)
	}

	for _, k := range []string{"a/1.txt", "a/2.txt", "b/x/3.txt", "top.txt", "sp ace+plus.txt"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("assets-1"), Key: aws.String(k),
			Body: strings.NewReader("content of " + k), ContentType: aws.String("text/plain")}); err != nil {
			t.Fatalf("PutObject %s: %v", k, err)
		}
	}
	// Every checksum algorithm is verified and kept.
	for _, alg := range []s3types.ChecksumAlgorithm{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("assets-1"), Key: aws.String("sum/" + string(alg)),
			Body: bytes.NewReader([]byte("checksummed")), ChecksumAlgorithm: alg}); err != nil {
			t.Errorf("PutObject with %s: %v", alg, err)
		}
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("assets-1"), Key: aws.String("sum/" + string(alg)), ChecksumMode: s3types.ChecksumModeEnabled})
		if err != nil {
			t.Fatalf("GetObject %s: %v", alg, err)
		}
		if body, err := io.ReadAll(got.Body); err != nil || string(body) != "checksummed" {
			t.Errorf("GetObject %s: %q, %v (the SDK validates the checksum)", alg, body, err)
		}
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("assets-1"), Key: aws.String("sp ace+plus.txt")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	if string(body) != "content of sp ace+plus.txt" || aws.ToString(got.ContentType) != "text/plain" {
		t.Errorf("GetObject: %q %s", body, aws.ToString(got.ContentType))
	}
	rng, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("assets-1"), Key: aws.String("top.txt"), Range: aws.String("bytes=0-6")})
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(rng.Body); string(body) != "content" {
		t.Errorf("ranged GetObject: %q", body)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("assets-1"), Key: aws.String("nope")}); errCode(err) != "NotFound" {
		t.Errorf("HeadObject of a missing key: %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("assets-1"), Key: aws.String("nope")}); errCode(err) != "NoSuchKey" {
		t.Errorf("GetObject of a missing key: %v", err)
	}

	// Listing with a delimiter, two keys per page.
	var keys, prefixes []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("assets-1"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		for _, cp := range page.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(cp.Prefix))
		}
	}
	if diff := cmp.Diff([]string{"sp ace+plus.txt", "top.txt"}, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a/", "b/", "sum/"}, prefixes); diff != "" {
		t.Errorf("common prefixes (-want +got):\n%s", diff)
	}

	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("assets-1")}); errCode(err) != "BucketNotEmpty" {
		t.Errorf("DeleteBucket of a full bucket: %v", err)
	}
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("assets-1"), Delete: &s3types.Delete{
		Objects: []s3types.ObjectIdentifier{{Key: aws.String("a/1.txt")}, {Key: aws.String("a/2.txt")}}}})
	if err != nil || len(del.Deleted) != 2 {
		t.Errorf("DeleteObjects: %+v, %v", del, err)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("assets-1"), Prefix: aws.String("a/")})
	if err != nil || aws.ToInt32(list.KeyCount) != 0 {
		t.Errorf("after DeleteObjects: %+v, %v", list, err)
	}
	buckets, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(buckets.Buckets) != 2 {
		t.Errorf("ListBuckets: %+v, %v", buckets, err)
	}
}

// TestS3Multipart uploads an object in three parts, as the SDKs' upload managers do.
func TestS3Multipart(t *testing.T) {
	e := start(t, sandbox.Options{Seed: 3})
	ctx := context.Background()
	c := s3Client(e.cfg)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("big"), Key: aws.String("blob"), ChecksumAlgorithm: "CRC32"})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	var parts []s3types.CompletedPart
	for i, size := range []int{5 << 20, 5 << 20, 1234} {
		data := bytes.Repeat([]byte{byte('a' + i)}, size)
		want.Write(data)
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("big"), Key: aws.String("blob"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data), ChecksumAlgorithm: "CRC32"})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1)), ChecksumCRC32: out.ChecksumCRC32})
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("big"), Key: aws.String("blob"),
		UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(done.ETag), `-3"`) {
		t.Errorf("ETag %s, want a multipart ETag", aws.ToString(done.ETag))
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("big"), Key: aws.String("blob")})
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(got.Body); !bytes.Equal(body, want.Bytes()) {
		t.Errorf("object of %d bytes, want %d", len(body), want.Len())
	}
	// A part below 5 MiB that is not the last one is refused.
	up2, _ := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("big"), Key: aws.String("small")})
	var small []s3types.CompletedPart
	for i := range 2 {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("big"), Key: aws.String("small"), UploadId: up2.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: strings.NewReader("tiny")})
		if err != nil {
			t.Fatal(err)
		}
		small = append(small, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("big"), Key: aws.String("small"),
		UploadId: up2.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: small}}); errCode(err) != "EntityTooSmall" {
		t.Errorf("completing with a small part: %v", err)
	}
}

// TestS3Access checks the bucket policy across accounts: another account is denied without a
// grant, admitted with one naming its account, and an explicit Deny binds the owner too; a
// public access block refuses a public policy.
func TestS3Access(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 2, Seed: 3})
	ctx := context.Background()
	owner := s3Client(e.cfg)
	members := e.sb.Org().Members()
	other := s3Client(e.member(t, members[0].ID))
	if _, err := owner.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("shared-artifacts")}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared-artifacts"), Key: aws.String("t.json"), Body: strings.NewReader("{}")}); err != nil {
		t.Fatal(err)
	}
	read := func(c *s3.Client) error {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("shared-artifacts"), Key: aws.String("t.json")})
		return err
	}
	if err := read(other); errCode(err) != "AccessDenied" {
		t.Errorf("another account without a grant: %v", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + members[0].ID + `:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared-artifacts/*"},
	  {"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::shared-artifacts","arn:aws:s3:::shared-artifacts/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}},
	  {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared-artifacts/secret/*"}]}`
	if _, err := owner.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("shared-artifacts"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if err := read(other); err != nil {
		t.Errorf("another account with a grant: %v", err)
	}
	if err := read(owner); err != nil {
		t.Errorf("the owner, under a deny of insecure transport: %v", err)
	}
	if _, err := owner.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared-artifacts"), Key: aws.String("secret/k"), Body: strings.NewReader("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("shared-artifacts"), Key: aws.String("secret/k")}); errCode(err) != "AccessDenied" {
		t.Errorf("the owner under an explicit deny: %v", err)
	}
	if _, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared-artifacts"), Key: aws.String("x"), Body: strings.NewReader("x")}); errCode(err) != "AccessDenied" {
		t.Errorf("another account writing with a read grant: %v", err)
	}
	if _, err := other.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("shared-artifacts")}); errCode(err) != "AccessDenied" {
		t.Errorf("another account reading the location: %v", err)
	}
	if _, err := owner.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("shared-artifacts"), ExpectedBucketOwner: aws.String(members[0].ID)}); errCode(err) != "AccessDenied" {
		t.Errorf("expected bucket owner mismatch: %v", err)
	}
	if _, err := owner.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("shared-artifacts"),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	public := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared-artifacts/*"}]}`
	if _, err := owner.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("shared-artifacts"), Policy: aws.String(public)}); errCode(err) != "AccessDenied" {
		t.Errorf("public policy under a public access block: %v", err)
	}
	// The namespace is global: another account cannot take the name.
	if _, err := other.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("shared-artifacts")}); errCode(err) != "BucketAlreadyExists" {
		t.Errorf("CreateBucket of a taken name: %v", err)
	}
}

// TestS3VirtualHosted addresses buckets by host name, as clients do by default for a
// non-IP endpoint.
func TestS3VirtualHosted(t *testing.T) {
	e := start(t, sandbox.Options{Seed: 3})
	ctx := context.Background()
	addr := strings.TrimPrefix(e.url, "http://")
	_, port, _ := net.SplitHostPort(addr)
	cfg := e.cfg.Copy()
	cfg.BaseEndpoint = aws.String("http://s3.localhost:" + port)
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	var hosts []string
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, recordHost(&hosts))
	})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vhost-bucket")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vhost-bucket"), Key: aws.String("dir//k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	// The same object, path-style.
	got, err := s3Client(e.cfg).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vhost-bucket"), Key: aws.String("dir//k")})
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(got.Body); string(body) != "v" {
		t.Errorf("body %q", body)
	}
	if len(hosts) == 0 || !strings.HasPrefix(hosts[0], "vhost-bucket.s3.localhost") {
		t.Errorf("hosts %q, want virtual-hosted requests", hosts)
	}
}

// TestStackBucketsAreBuckets: a bucket a stack creates is an S3 bucket of the stack's account;
// deleting the stack while the bucket holds objects fails as on AWS, and succeeds once empty.
func TestStackBucketsAreBuckets(t *testing.T) {
	e := start(t, sandbox.Options{Seed: 3})
	ctx := context.Background()
	cf := cloudformation.NewFromConfig(e.cfg)
	tmpl := `Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: stack-made-bucket
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: "aws:kms"}
`
	createStack(t, cf, "bk", tmpl)
	c := s3Client(e.cfg)
	enc, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("stack-made-bucket")})
	if err != nil || enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != "aws:kms" {
		t.Fatalf("GetBucketEncryption: %+v, %v", enc, err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("stack-made-bucket"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	if status := deleteStack(t, cf, "bk"); status != "DELETE_FAILED" {
		t.Errorf("deleting a stack whose bucket holds objects: %s", status)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("stack-made-bucket"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if status := deleteStack(t, cf, "bk"); status != "DELETE_COMPLETE" {
		t.Errorf("deleting the stack of an empty bucket: %s", status)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("stack-made-bucket")}); errCode(err) != "NotFound" {
		t.Errorf("HeadBucket after the stack is gone: %v", err)
	}
}

// recordHost is an SDK middleware that records the Host of each request.
func recordHost(hosts *[]string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("recordHost", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				*hosts = append(*hosts, req.URL.Host)
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
	}
}

// createStack creates a stack and waits for CREATE_COMPLETE.
func createStack(t *testing.T, c *cloudformation.Client, name, body string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
	w := cloudformation.NewStackCreateCompleteWaiter(c, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := w.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)}, waitFor); err != nil {
		t.Fatalf("stack %s: %v", name, err)
	}
}

// deleteStack deletes a stack and returns the status it ends in.
func deleteStack(t *testing.T, c *cloudformation.Client, name string) cfntypes.StackStatus {
	t.Helper()
	ctx := context.Background()
	d, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	id := d.Stacks[0].StackId
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		d, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: id})
		if err != nil {
			t.Fatal(err)
		}
		if st := d.Stacks[0].StackStatus; st != cfntypes.StackStatusDeleteInProgress {
			return st
		}
		time.Sleep(waitMin)
	}
	t.Fatalf("stack %s still deleting", name)
	return ""
}

// TestTemplateURLAcrossAccounts: a member account's CloudFormation reads a TemplateURL of the
// management account's bucket only when the bucket policy lets it (here: the organization).
func TestTemplateURLAcrossAccounts(t *testing.T) {
	e := start(t, sandbox.Options{Accounts: 1, Seed: 5})
	ctx := context.Background()
	owner := s3Client(e.cfg)
	member := e.sb.Org().Members()[0].ID
	cf := cloudformation.NewFromConfig(e.member(t, member))
	if _, err := owner.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("org-templates")}); err != nil {
		t.Fatal(err)
	}
	body := "Resources:\n  T: {Type: AWS::SNS::Topic}\nMetadata:\n  Pad: '" + strings.Repeat("x", 60_000) + "'\n"
	if _, err := owner.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("org-templates"), Key: aws.String("t.yaml"), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	url := "https://org-templates.s3.us-east-1.amazonaws.com/t.yaml"
	_, err := cf.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("from-url"), TemplateURL: aws.String(url)})
	if !contains(err, "S3 error: Access Denied") {
		t.Errorf("without a grant: %v", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::org-templates/*",
	  "Condition":{"StringEquals":{"aws:PrincipalOrgID":"` + e.sb.Org().ID + `"}}}]}`
	if _, err := owner.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("org-templates"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	createStackURL(t, cf, "from-url", url)
	got, err := cf.GetTemplate(ctx, &cloudformation.GetTemplateInput{StackName: aws.String("from-url")})
	if err != nil || aws.ToString(got.TemplateBody) != body {
		t.Errorf("GetTemplate: %d bytes, %v", len(aws.ToString(got.TemplateBody)), err)
	}
}

// TestCustomResourceAdmin sets a custom resource's answer through the admin API.
func TestCustomResourceAdmin(t *testing.T) {
	e := start(t, sandbox.Options{Seed: 5})
	if code := admin(t, e, "POST", "/_sandbox/custom-resources", `{"resourceType":"Custom::Vpc","data":{"VpcId":"vpc-0123456789abcdef0"}}`, nil); code != 200 {
		t.Fatalf("POST custom-resources: %d", code)
	}
	if code := admin(t, e, "POST", "/_sandbox/custom-resources", `{}`, nil); code != 400 {
		t.Errorf("an empty response: %d, want 400", code)
	}
	cf := cloudformation.NewFromConfig(e.cfg)
	createStack(t, cf, "lookup", "Resources:\n  V:\n    Type: Custom::Vpc\n    Properties: {ServiceToken: arn:aws:lambda:us-east-1:111111111111:function:f}\nOutputs:\n  Vpc: {Value: !GetAtt V.VpcId}\n")
	if got := outputs(t, cf, "lookup")["Vpc"]; got != "vpc-0123456789abcdef0" {
		t.Errorf("output Vpc = %q", got)
	}
}

// createStackURL creates a stack from a TemplateURL and waits for CREATE_COMPLETE.
func createStackURL(t *testing.T, c *cloudformation.Client, name, url string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateURL: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	w := cloudformation.NewStackCreateCompleteWaiter(c, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	})
	if err := w.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)}, waitFor); err != nil {
		t.Fatalf("stack %s: %v", name, err)
	}
}
