package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/stackfleet/stackfleet/internal/templates"
)

// templateStore puts templates too large for a CloudFormation request (over 51,200 bytes) in
// the artifact bucket of their region, content-addressed (templates/SHA256.template), once
// per process and region: an object already there is not written again. It is safe for
// concurrent use; concurrent requests for one template wait for one upload.
type templateStore struct {
	// bucket names the artifact bucket of a region.
	bucket func(region string) string
	// client returns an S3 client for a region, acting as the management account.
	client func(region string) *s3.Client

	uploads once
	mu      sync.Mutex
	checked map[string]error // region → HeadBucket's verdict
}

// once runs each keyed piece of work once at a time and once for good: callers with the same
// key wait for the one running and share its result; a failure is forgotten, so a later call
// tries again.
type once struct {
	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done chan struct{}
	val  string
	err  error
}

func (o *once) do(ctx context.Context, key string, work func() (string, error)) (string, error) {
	o.mu.Lock()
	if o.flights == nil {
		o.flights = map[string]*flight{}
	}
	f, ok := o.flights[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		o.flights[key] = f
	}
	o.mu.Unlock()
	if ok {
		select {
		case <-f.done:
			return f.val, f.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	f.val, f.err = work()
	if f.err != nil {
		o.mu.Lock()
		delete(o.flights, key)
		o.mu.Unlock()
	}
	close(f.done)
	return f.val, f.err
}

// newTemplateStore returns a store writing with the credentials base returns (called when a
// template is first stored, so a command that stores none needs none).
func newTemplateStore(bucket func(region string) string, base func() aws.Config) *templateStore {
	return &templateStore{
		bucket: bucket,
		client: func(region string) *s3.Client {
			cfg := base()
			return s3.NewFromConfig(cfg, func(o *s3.Options) {
				o.Region = region
				// A custom endpoint (the sandbox, an S3-compatible store) is addressed path-style.
				o.UsePathStyle = cfg.BaseEndpoint != nil
			})
		},
		checked: map[string]error{},
	}
}

// CheckBucket reports whether region's artifact bucket can take a template of size bytes,
// once per region: before anything deploys, rather than as every instance's failure.
func (s *templateStore) CheckBucket(ctx context.Context, region string, size int) error {
	s.mu.Lock()
	err, ok := s.checked[region]
	s.mu.Unlock()
	if ok {
		return err
	}
	bucket := s.bucket(region)
	if _, err = s.client(region).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		err = s.explain(size, bucket, region, err)
	}
	s.mu.Lock()
	s.checked[region] = err
	s.mu.Unlock()
	return err
}

// URL returns the TemplateURL of body in region, uploading it if the bucket lacks it, or ""
// for a template small enough to send in the request.
func (s *templateStore) URL(ctx context.Context, region string, body []byte) (string, error) {
	if s == nil || len(body) <= templates.MaxBodyBytes {
		return "", nil
	}
	sum := sha256.Sum256(body)
	key := "templates/" + hex.EncodeToString(sum[:]) + ".template"
	return s.uploads.do(ctx, region+"/"+key, func() (string, error) { return s.put(ctx, region, key, body) })
}

func (s *templateStore) put(ctx context.Context, region, key string, body []byte) (string, error) {
	bucket := s.bucket(region)
	c := s.client(region)
	url := "https://" + bucket + ".s3." + region + ".amazonaws.com/" + key
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err == nil {
		return url, nil
	}
	if code := s3Code(err); code != "NotFound" && code != "NoSuchKey" {
		return "", s.explain(len(body), bucket, region, err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String(templateContentType(body)),
	})
	if err != nil {
		return "", s.explain(len(body), bucket, region, err)
	}
	return url, nil
}

// explain says why a large template could not be put in the artifact bucket and what to do.
func (s *templateStore) explain(size int, bucket, region string, err error) error {
	why := fmt.Sprintf("the template is %d bytes, over the %d CloudFormation accepts in a request, so it goes through the artifact bucket %s", size, templates.MaxBodyBytes, bucket)
	switch s3Code(err) {
	case "NoSuchBucket", "NotFound":
		return fmt.Errorf("%s, which does not exist in %s: run 'stackfleet bootstrap' with bootstrap.management: true, or name an existing bucket in artifacts.bucket", why, region)
	case "AccessDenied", "Forbidden":
		return fmt.Errorf("%s in %s, which the management account may not write: %w", why, region, err)
	}
	return fmt.Errorf("%s in %s: %w", why, region, err)
}

// s3Code returns the error code of an S3 error; HEAD errors have only their status.
func s3Code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func templateContentType(body []byte) string {
	if strings.HasPrefix(strings.TrimSpace(string(body[:min(len(body), 64)])), "{") {
		return "application/json"
	}
	return "application/x-yaml"
}
