package lb

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubeha/kubeha/e2e/kube"
)

// openAPI is Kubernetes' OpenAPI v3 document of the core v1 API, the
// schema the apiserver publishes and `kubectl --validate=strict` checks
// objects against, taken from the k8s.io/kubernetes module of the version
// kubeha builds (api/openapi-spec/v3). It is in the module cache wherever
// e2e/kube/build.sh ran (CI runs it first); elsewhere the test is skipped.
func openAPI(t *testing.T) map[string]any {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "k8s.io", "kubernetes@"+kube.Version, "api", "openapi-spec", "v3", "api__v1_openapi.json")
	b, err := os.ReadFile(p)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: CI runs e2e/kube/build.sh, which downloads the module, before the tests", err)
		}
		t.Skipf("no OpenAPI schema: %v (%s downloads it)", err, kube.BuildCommand(kube.Version, "kubeadm"))
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc["components"].(map[string]any)["schemas"].(map[string]any)
}

// schemaErrors checks v, a value decoded from YAML, against the schema s
// of the OpenAPI document schemas, the way strict validation does: no
// field the schema lacks, every required field, the right types (and enum
// values, where the schema lists them). It returns each problem with its path.
func schemaErrors(schemas map[string]any, s map[string]any, v any, path string) []string {
	// A property with a default or a description of its own wraps its
	// type's $ref in allOf.
	for {
		if ref, ok := s["$ref"].(string); ok {
			s = schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
			continue
		}
		if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
			s = all[0].(map[string]any)
			continue
		}
		break
	}
	bad := func(format string, args ...any) []string { return []string{path + ": " + fmt.Sprintf(format, args...)} }
	if s["x-kubernetes-int-or-string"] == true {
		switch v.(type) {
		case int, string:
			return nil
		}
		return bad("%v is neither an integer nor a string", v)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		return bad("%v is not one of %v", v, enum)
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return bad("%v is not an object", v)
		}
		var errs []string
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := m[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required field %s missing", path, r))
			}
		}
		props, _ := s["properties"].(map[string]any)
		extra, _ := s["additionalProperties"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ps, ok := props[k].(map[string]any)
			if !ok {
				ps = extra
			}
			if ps == nil {
				errs = append(errs, fmt.Sprintf("%s: unknown field %q", path, k))
				continue
			}
			errs = append(errs, schemaErrors(schemas, ps, m[k], path+"."+k)...)
		}
		return errs
	case "array":
		l, ok := v.([]any)
		if !ok {
			return bad("%v is not a list", v)
		}
		var errs []string
		for i, e := range l {
			errs = append(errs, schemaErrors(schemas, s["items"].(map[string]any), e, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	case "string":
		if _, ok := v.(string); !ok {
			return bad("%v is not a string", v)
		}
	case "integer":
		if _, ok := v.(int); !ok {
			return bad("%v is not an integer", v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("%v is not a boolean", v)
		}
	}
	return nil
}

// podSchemaErrors checks a rendered manifest as a v1 Pod.
func podSchemaErrors(schemas map[string]any, manifest []byte) []string {
	var v map[string]any
	if err := yaml.Unmarshal(manifest, &v); err != nil {
		return []string{err.Error()}
	}
	if v["apiVersion"] != "v1" || v["kind"] != "Pod" {
		return []string{fmt.Sprintf("apiVersion %v kind %v, want a v1 Pod", v["apiVersion"], v["kind"])}
	}
	return schemaErrors(schemas, schemas["io.k8s.api.core.v1.Pod"].(map[string]any), v, "pod")
}

// TestManifestsMatchKubernetesSchema checks every static-pod manifest of
// every example against the v1 Pod of Kubernetes' OpenAPI schema: a field
// misspelt, misplaced or of the wrong type would have the kubelet refuse
// the manifest, on the machines, and only in its log.
func TestManifestsMatchKubernetesSchema(t *testing.T) {
	schemas := openAPI(t)
	// The checker itself: it must see what the kubelet would refuse.
	for name, bad := range map[string]string{
		"unknown field": "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{name: x, image: x, evn: []}]\n",
		"wrong type":    "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  hostNetwork: \"true\"\n  containers: [{name: x, image: x}]\n",
		"missing field": "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{image: x}]\n",
		"misplaced":     "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{name: x, image: x, hostAliases: []}]\n",
	} {
		if errs := podSchemaErrors(schemas, []byte(bad)); len(errs) == 0 {
			t.Errorf("the schema check passes a pod with a %s:\n%s", name, bad)
		}
	}
	examples, _ := filepath.Glob("../examples/*.yaml")
	checked := 0
	for _, ex := range examples {
		for _, f := range renderExample(t, ex) {
			if filepath.Dir(f.Path) != "/etc/kubernetes/manifests" {
				continue
			}
			for _, e := range podSchemaErrors(schemas, f.Content) {
				t.Errorf("%s %s %s: %s", filepath.Base(ex), f.Host, f.Path, e)
			}
			checked++
		}
	}
	if checked < 9 {
		t.Fatalf("only %d manifests checked", checked)
	}
	t.Logf("%d manifests match the v1 Pod schema of Kubernetes %s", checked, kube.Version)
}
