// Package cdkasm reads CDK cloud assemblies (the cdk.out directory `cdk synth` writes): the
// template of one stack, the file assets it needs published, and the CDK bootstrap version it
// requires. It reads files only; publishing is the deployer's.
package cdkasm

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stackfleet/stackfleet/internal/fleet"
)

// Stack is one stack of an assembly.
type Stack struct {
	ID       string
	Template []byte
	Assets   *fleet.Assets
}

// IsAssemblyRef reports whether path names a stack of a cloud assembly: DIR/STACK where DIR
// holds a manifest.json and STACK is not a file.
func IsAssemblyRef(path string) bool {
	if _, err := os.Stat(path); err == nil {
		return false
	}
	_, err := os.Stat(filepath.Join(filepath.Dir(path), "manifest.json"))
	return err == nil
}

type manifest struct {
	Version   string              `json:"version"`
	Artifacts map[string]artifact `json:"artifacts"`
}

type artifact struct {
	Type         string          `json:"type"`
	Environment  string          `json:"environment"`
	Properties   json.RawMessage `json:"properties"`
	Dependencies []string        `json:"dependencies"`
	DisplayName  string          `json:"displayName"`
}

type stackProperties struct {
	TemplateFile                      string `json:"templateFile"`
	RequiresBootstrapStackVersion     int    `json:"requiresBootstrapStackVersion"`
	BootstrapStackVersionSSMParameter string `json:"bootstrapStackVersionSsmParameter"`
}

type assetManifestProperties struct {
	File string `json:"file"`
}

type assetManifest struct {
	Files map[string]struct {
		DisplayName string `json:"displayName"`
		Source      struct {
			Path       string `json:"path"`
			Packaging  string `json:"packaging"`
			Executable []string
		} `json:"source"`
		Destinations map[string]struct {
			BucketName    string `json:"bucketName"`
			ObjectKey     string `json:"objectKey"`
			AssumeRoleArn string `json:"assumeRoleArn"`
		} `json:"destinations"`
	} `json:"files"`
	DockerImages map[string]json.RawMessage `json:"dockerImages"`
}

// Load reads stack id of the assembly in dir.
func Load(dir, id string) (*Stack, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("read the cloud assembly: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: not a cloud assembly manifest: %v", filepath.Join(dir, "manifest.json"), err)
	}
	a, ok := m.Artifacts[id]
	if !ok || a.Type != "aws:cloudformation:stack" {
		return nil, fmt.Errorf("the cloud assembly %s has no stack %q (it has %s)", dir, id, strings.Join(stackIDs(m), ", "))
	}
	if env := a.Environment; env != "" && !strings.HasPrefix(env, "aws://unknown-account/") {
		return nil, fmt.Errorf("stack %s of %s is bound to the environment %s; stackfleet deploys a stack to many accounts and regions, so synthesize it environment-agnostic (no env on the stack)", id, dir, env)
	}
	var props stackProperties
	if err := json.Unmarshal(a.Properties, &props); err != nil || props.TemplateFile == "" {
		return nil, fmt.Errorf("stack %s of %s: no template file in the manifest", id, dir)
	}
	tmpl, err := readInside(dir, props.TemplateFile)
	if err != nil {
		return nil, fmt.Errorf("stack %s of %s: %w", id, dir, err)
	}
	out := &Stack{ID: id, Template: tmpl, Assets: &fleet.Assets{
		BootstrapVersion: props.RequiresBootstrapStackVersion, BootstrapParameter: props.BootstrapStackVersionSSMParameter,
	}}
	for _, dep := range a.Dependencies {
		d, ok := m.Artifacts[dep]
		if !ok || d.Type != "cdk:asset-manifest" {
			continue
		}
		files, err := loadAssets(dir, d, props.TemplateFile)
		if err != nil {
			return nil, fmt.Errorf("stack %s of %s: %w", id, dir, err)
		}
		out.Assets.Files = append(out.Assets.Files, files...)
	}
	return out, nil
}

// loadAssets reads an asset manifest: its file assets but the stack's own template (which
// stackfleet deploys from the assembly); container images are refused.
func loadAssets(dir string, a artifact, templateFile string) ([]fleet.FileAsset, error) {
	var p assetManifestProperties
	if err := json.Unmarshal(a.Properties, &p); err != nil || p.File == "" {
		return nil, errors.New("an asset manifest without a file")
	}
	data, err := readInside(dir, p.File)
	if err != nil {
		return nil, err
	}
	var am assetManifest
	if err := json.Unmarshal(data, &am); err != nil {
		return nil, fmt.Errorf("%s: %v", p.File, err)
	}
	if len(am.DockerImages) > 0 {
		return nil, fmt.Errorf("it has container image assets (%s), which stackfleet does not publish yet: build and push the images with 'cdk deploy' or 'cdk-assets', or use file assets only", strings.Join(slices.Sorted(maps.Keys(am.DockerImages)), ", "))
	}
	var out []fleet.FileAsset
	for _, id := range slices.Sorted(maps.Keys(am.Files)) {
		f := am.Files[id]
		if f.Source.Path == templateFile {
			continue
		}
		if len(f.Source.Executable) > 0 || f.Source.Path == "" {
			return nil, fmt.Errorf("asset %s is built by a command, which stackfleet does not run: synthesize it into a file", cmp.Or(f.DisplayName, id))
		}
		path, err := inside(dir, f.Source.Path)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("asset %s: %w", cmp.Or(f.DisplayName, id), err)
		}
		for _, dk := range slices.Sorted(maps.Keys(f.Destinations)) {
			d := f.Destinations[dk]
			out = append(out, fleet.FileAsset{
				ID: id, Name: cmp.Or(f.DisplayName, id), Path: path, Zip: f.Source.Packaging == "zip",
				Bucket: d.BucketName, Key: d.ObjectKey, Role: d.AssumeRoleArn,
			})
		}
	}
	return out, nil
}

// inside resolves rel within dir, refusing a path that leaves it.
func inside(dir, rel string) (string, error) {
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("path %q leaves the cloud assembly", rel)
	}
	abs, err := filepath.Abs(filepath.Join(dir, rel))
	if err != nil {
		return "", err
	}
	return abs, nil
}

func readInside(dir, rel string) ([]byte, error) {
	path, err := inside(dir, rel)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing from the cloud assembly", rel)
	}
	return data, err
}

func stackIDs(m manifest) []string {
	var out []string
	for id, a := range m.Artifacts {
		if a.Type == "aws:cloudformation:stack" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Placeholders replaces the CDK's ${AWS::AccountId}, ${AWS::Region} and ${AWS::Partition} in s.
func Placeholders(s, account, region string) string {
	return strings.NewReplacer("${AWS::AccountId}", account, "${AWS::Region}", region, "${AWS::Partition}", "aws").Replace(s)
}
