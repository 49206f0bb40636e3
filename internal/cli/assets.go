package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stackfleet/stackfleet/internal/cdkasm"
	"github.com/stackfleet/stackfleet/internal/fleet"
)

// assetPublisher publishes a CDK stack's file assets in a target account and region before the
// stack deploys there, as 'cdk deploy' does: it checks the CDK bootstrap version, then puts
// each file (a directory zipped) in the bootstrap bucket through the file-publishing role,
// unless the object (its key is the content hash) is there already. A destination is handled
// once per process; a directory is zipped once. It is safe for concurrent use.
type assetPublisher struct {
	uploads once // by ACCOUNT/REGION/BUCKET/KEY
	mu      sync.Mutex
	packed  map[string]*packing
}

type packing struct {
	once sync.Once
	data []byte
	err  error
}

func newAssetPublisher() *assetPublisher {
	return &assetPublisher{packed: map[string]*packing{}}
}

// publish makes a's files available in target t, acting with cfg (credentials in t's account,
// region t.Region).
func (p *assetPublisher) publish(ctx context.Context, t fleet.Target, cfg aws.Config, a *fleet.Assets) error {
	if a == nil {
		return nil
	}
	if err := checkBootstrap(ctx, t, cfg, a); err != nil {
		return err
	}
	for _, f := range a.Files {
		bucket, key := cdkasm.Placeholders(f.Bucket, t.Account, t.Region), cdkasm.Placeholders(f.Key, t.Account, t.Region)
		_, err := p.uploads.do(ctx, t.Account+"/"+t.Region+"/"+bucket+"/"+key, func() (string, error) {
			return "", p.put(ctx, t, cfg, f, bucket, key)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *assetPublisher) put(ctx context.Context, t fleet.Target, cfg aws.Config, f fleet.FileAsset, bucket, key string) error {
	if role := cdkasm.Placeholders(f.Role, t.Account, t.Region); role != "" {
		cfg = cfg.Copy()
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), role, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "stackfleet-assets"
		}))
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil })
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err == nil {
		return nil
	}
	if code := s3Code(err); code != "NotFound" && code != "NoSuchKey" {
		return p.explain(t, f, bucket, err)
	}
	data, err := p.pack(f)
	if err != nil {
		return fmt.Errorf("asset %s: %w", f.Name, err)
	}
	ct := "application/octet-stream"
	if f.Zip {
		ct = "application/zip"
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data), ContentType: aws.String(ct)}); err != nil {
		return p.explain(t, f, bucket, err)
	}
	return nil
}

func (p *assetPublisher) explain(t fleet.Target, f fleet.FileAsset, bucket string, err error) error {
	switch s3Code(err) {
	case "NoSuchBucket", "NotFound":
		return fmt.Errorf("publish asset %s: the CDK bootstrap bucket %s does not exist in %s/%s: run cdk bootstrap aws://%s/%s", f.Name, bucket, t.Account, t.Region, t.Account, t.Region)
	}
	return fmt.Errorf("publish asset %s to %s in %s/%s: %w", f.Name, bucket, t.Account, t.Region, err)
}

// pack returns the bytes to upload for f: the file, or the directory as a zip (made once).
func (p *assetPublisher) pack(f fleet.FileAsset) ([]byte, error) {
	if !f.Zip {
		return os.ReadFile(f.Path)
	}
	p.mu.Lock()
	pk, ok := p.packed[f.Path]
	if !ok {
		pk = &packing{}
		p.packed[f.Path] = pk
	}
	p.mu.Unlock()
	pk.once.Do(func() { pk.data, pk.err = zipDir(f.Path) })
	return pk.data, pk.err
}

// zipDir zips a directory's files deterministically: sorted paths, fixed times, so the same
// directory gives the same bytes.
func zipDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	stamp := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: filepath.ToSlash(rel), Method: zip.Deflate, Modified: stamp}
		h.SetMode(info.Mode())
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// checkBootstrap refuses a target whose CDK bootstrap is missing or older than the stack needs.
func checkBootstrap(ctx context.Context, t fleet.Target, cfg aws.Config, a *fleet.Assets) error {
	if a.BootstrapVersion == 0 || a.BootstrapParameter == "" {
		return nil
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(a.BootstrapParameter)})
	var nf *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &nf):
		return fmt.Errorf("%s/%s is not CDK-bootstrapped (no SSM parameter %s): run cdk bootstrap aws://%s/%s", t.Account, t.Region, a.BootstrapParameter, t.Account, t.Region)
	case err != nil:
		return fmt.Errorf("read the CDK bootstrap version of %s/%s: %w", t.Account, t.Region, err)
	}
	v, err := strconv.Atoi(aws.ToString(out.Parameter.Value))
	if err != nil || v < a.BootstrapVersion {
		return fmt.Errorf("%s/%s has CDK bootstrap version %s; the stack needs %d or later: run cdk bootstrap aws://%s/%s", t.Account, t.Region, aws.ToString(out.Parameter.Value), a.BootstrapVersion, t.Account, t.Region)
	}
	return nil
}
