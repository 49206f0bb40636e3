package cdkasm_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackfleet/stackfleet/internal/cdkasm"
)

func TestLoadsTheFixture(t *testing.T) {
	st, err := cdkasm.Load("../cli/testdata/cdkasm", "HelloStack")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(st.Template), "AWS::Lambda::Function") || st.Assets.BootstrapVersion != 6 ||
		st.Assets.BootstrapParameter != "/cdk-bootstrap/hnb659fds/version" {
		t.Errorf("stack %+v", st.Assets)
	}
	if len(st.Assets.Files) != 1 || !st.Assets.Files[0].Zip || !strings.HasSuffix(st.Assets.Files[0].Key, ".zip") ||
		!strings.Contains(st.Assets.Files[0].Role, "file-publishing-role") {
		t.Errorf("files %+v, want the code directory only (not the template)", st.Assets.Files)
	}
	if !cdkasm.IsAssemblyRef("../cli/testdata/cdkasm/HelloStack") || cdkasm.IsAssemblyRef("../cli/testdata/cdkasm/manifest.json") {
		t.Error("IsAssemblyRef")
	}
}

func TestRefuses(t *testing.T) {
	for _, tc := range []struct{ name, manifest, assets, want string }{
		{"no such stack", `{"artifacts":{}}`, "", `has no stack "S"`},
		{"bound environment", `{"artifacts":{"S":{"type":"aws:cloudformation:stack","environment":"aws://111111111111/us-east-1","properties":{"templateFile":"t.json"}}}}`, "",
			"is bound to the environment aws://111111111111/us-east-1"},
		{"container images", `{"artifacts":{"S":{"type":"aws:cloudformation:stack","environment":"aws://unknown-account/unknown-region","properties":{"templateFile":"t.json"},"dependencies":["S.assets"]},"S.assets":{"type":"cdk:asset-manifest","properties":{"file":"S.assets.json"}}}}`,
			`{"files":{},"dockerImages":{"abc":{}}}`, "container image assets (abc), which stackfleet does not publish yet"},
		{"escaping path", `{"artifacts":{"S":{"type":"aws:cloudformation:stack","properties":{"templateFile":"../t.json"}}}}`, "", "leaves the cloud assembly"},
	} {
		dir := t.TempDir()
		write := func(name, data string) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("manifest.json", tc.manifest)
		write("t.json", `{"Resources":{}}`)
		if tc.assets != "" {
			write("S.assets.json", tc.assets)
		}
		_, err := cdkasm.Load(dir, "S")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
