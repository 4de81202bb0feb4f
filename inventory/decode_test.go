package inventory

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimal = `apiVersion: kubeha.io/v1alpha1
kind: Cluster
metadata: {name: prod}
spec:
  hosts:
  - {name: k1, address: 192.168.8.191, role: master}
  loadBalancer: {vip: 192.168.8.10}
`

func TestParseMinimal(t *testing.T) {
	c, warns, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("unexpected warnings: %v", warns)
	}
	if c.Spec.Hosts[0].InternalAddress != "192.168.8.191" {
		t.Errorf("internalAddress not defaulted from address: %q", c.Spec.Hosts[0].InternalAddress)
	}
	if c.Spec.ControlPlaneEndpoint.Name != "prod-apiserver" {
		t.Errorf("endpoint name default: %q", c.Spec.ControlPlaneEndpoint.Name)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml, path, contain string
	}{
		{"typo with suggestion", strings.Replace(minimal, "address:", "adress:", 1), "spec.hosts[0].adress", "did you mean address?"},
		{"unknown top-level", minimal + "extra: 1\n", "extra", "unknown field"},
		{"string for int", minimal + "  controlPlaneEndpoint: {port: high}\n", "spec.controlPlaneEndpoint.port", "expected a whole number"},
		{"quoted int", minimal + "  controlPlaneEndpoint: {port: \"16443\"}\n", "spec.controlPlaneEndpoint.port", "expected a whole number"},
		{"list for string", minimal + "  kubernetesVersion: [v1]\n", "spec.kubernetesVersion", "expected a string"},
		{"scalar for list", strings.Replace(minimal, "  hosts:\n  - {name: k1, address: 192.168.8.191, role: master}\n", "  hosts: k1\n", 1), "spec.hosts", "expected a list"},
		{"duplicate section", minimal + "  loadBalancer: {staticPods: true}\n", "spec.loadBalancer", "duplicate key"},
		{"bool wrong type", strings.Replace(minimal, "{vip: 192.168.8.10}", "{vip: 192.168.8.10, staticPods: maybe}", 1), "spec.loadBalancer.staticPods", "expected true or false"},
		{"duplicate key", minimal + "  hosts: []\n", "spec.hosts", "duplicate key"},
		{"duplicate map key", minimal + "  kubeadm: {apiServerExtraArgs: {a: b, a: c}}\n", "spec.kubeadm.apiServerExtraArgs.a", "duplicate key"},
		{"two documents", minimal + "---\n" + minimal, "(file)", "more than one YAML document"},
		{"syntax error", "spec: [\n", "(file)", "not valid YAML"},
		{"empty", "", "(file)", "empty"},
		{"not a mapping", "- a\n- b\n", "(document)", "expected a mapping"},
		// A key or value is never shown raw: control characters in it
		// would reach the operator's terminal.
		{"hostile unknown key", minimal + "  \"x\\n\\e[2Jy\": 1\n", `spec["x\n\x1b[2Jy"]`, "unknown field"},
		{"hostile map key duplicated", minimal + "  kubeadm: {kubeletExtraArgs: {\"a b\": x, \"a b\": y}}\n", `spec.kubeadm.kubeletExtraArgs["a b"]`, "duplicate key"},
		{"tagged int text", minimal + "  controlPlaneEndpoint: {port: !!int \"1\\n2\"}\n", "spec.controlPlaneEndpoint.port", `"1\n2"`},
		{"huge number", minimal + "  controlPlaneEndpoint: {port: 99999999999999}\n", "spec.controlPlaneEndpoint.port", "out of range"},
		{"scalar for cni ports", minimal + "  cni: {plugin: manifest, manifest: x.yml, ports: 8472/udp}\n", "spec.cni.ports", "expected a list"},
		{"mapping in cni ports", minimal + "  cni: {plugin: manifest, manifest: x.yml, ports: [{port: 8472}]}\n", "spec.cni.ports[0]", "expected a string"},
		{"misspelt cni ports", minimal + "  cni: {plugin: manifest, manifest: x.yml, port: [8472/udp]}\n", "spec.cni.port", "did you mean ports?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.yaml))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			if strings.ContainsAny(ps.Error(), "\x1b\x00") || strings.Count(ps.Error(), "\n") != len(ps) {
				t.Errorf("problems show raw control characters: %q", ps.Error())
			}
			for _, p := range ps {
				if p.Path == tt.path && strings.Contains(p.Message+p.Fix, tt.contain) {
					return
				}
			}
			t.Fatalf("no problem at %s containing %q; got:\n%v", tt.path, tt.contain, ps)
		})
	}
}

// TestDecodeCNIPorts: spec.cni.ports decodes from a flow list and from a
// block list alike, in the order written, a quoted entry as a plain one;
// a number alone decodes as its text, which Validate then refuses for
// its missing protocol, at its index.
func TestDecodeCNIPorts(t *testing.T) {
	tests := []struct {
		name, cni string
		want      []string
		problems  []string
	}{
		{"flow list", "  cni: {plugin: manifest, manifest: x.yml, ports: [8472/udp, \"4789/udp\", 30000-30100/tcp]}\n",
			[]string{"8472/udp", "4789/udp", "30000-30100/tcp"}, nil},
		{"block list", "  cni:\n    plugin: manifest\n    manifest: x.yml\n    ports:\n    - 179/tcp\n    - 4789/udp\n",
			[]string{"179/tcp", "4789/udp"}, nil},
		{"a number alone", "  cni: {plugin: manifest, manifest: x.yml, ports: [8472/udp, 4789]}\n",
			nil, []string{`spec.cni.ports[1]: "4789" is not PORT/PROTO or FROM-TO/PROTO (fix: ` + formPort.fix + ")"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse([]byte(minimal + tt.cni))
			if tt.problems == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(c.Spec.CNI.Ports, tt.want) {
					t.Errorf("ports %q, want %q", c.Spec.CNI.Ports, tt.want)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.problems) {
				t.Errorf("problems:\n%q\nwant:\n%q", got, tt.problems)
			}
		})
	}
}

// TestHostileInputs feeds inputs built to cost time or memory; each must be
// rejected quickly with a message, never accepted or crash.
func TestHostileInputs(t *testing.T) {
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	var bomb strings.Builder
	bomb.WriteString("a: &a [x, x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for i := 0; i < 9; i++ {
		name := string(rune('b' + i))
		bomb.WriteString(name + ": &" + name + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				bomb.WriteString(", ")
			}
			bomb.WriteString("*" + prev)
		}
		bomb.WriteString("]\n")
		prev = name
	}
	bombAsHosts := minimal + "  kubeadm: {apiServerExtraArgs: {x: y}}\n" + strings.ReplaceAll(bomb.String(), "\n", "\n  ")
	tests := []struct{ name, data string }{
		{"huge file", minimal + strings.Repeat("# padding\n", 500_000)},
		{"deep nesting", "spec: " + deep},
		{"alias bomb", bomb.String()},
		{"alias bomb inside spec", "spec:\n  " + bombAsHosts},
		{"alias bomb into hosts", bomb.String() + "spec: {hosts: *j}\n"},
		{"binary", "\x00\x01\x02\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, _, err := Parse([]byte(tt.data))
			if err == nil {
				t.Fatal("accepted")
			}
			if err.Error() == "" {
				t.Fatal("empty message")
			}
			t.Logf("%v after %v", firstLine(err.Error(), 1), time.Since(start))
		})
	}
}

// nodesInventory is an inventory in which the decoder counts exactly n
// nodes (n >= 9): one host, anchored, then used again through an alias as
// often as fits, five nodes a use (the alias, the host, its three fields),
// the rest made up with SANs of one node each. The SANs come first, so the
// node that crosses the limit is in an alias's expansion, on line 3.
func nodesInventory(n int) string {
	const base = 9 // the document, spec, kubeadm, its SAN list, hosts, the anchored host and its three fields
	aliases, sans := (n-base)/5, (n-base)%5
	return "spec:\n" +
		"  kubeadm: {apiServerCertSANs: [" + strings.TrimSuffix(strings.Repeat("a, ", sans), ", ") + "]}\n" +
		"  hosts: [&h {name: k1, address: 10.0.0.1, role: worker}" + strings.Repeat(", *h", aliases) + "]\n"
}

// nested nests without end, as no inventory type does: the inventory's
// types bound how deep the decoder goes (decode.go, maxDepth), so the
// depth limit can be reached only through a type like this one.
type nested struct {
	N *nested `yaml:"n"`
	V string  `yaml:"v"`
}

// nestedYAML is n mappings nested in block style, one a line, around
// "v: x", which the decoder reaches at depth n+1, on line n+1.
func nestedYAML(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Repeat("  ", i) + "n:\n")
	}
	b.WriteString(strings.Repeat("  ", n) + "v: x\n")
	return b.String()
}

// TestDecodeLimits reaches the decoder's node and depth limits with
// inputs one node or level over them, and passes inputs exactly at them:
// a limit no test reaches would be a check that cannot fail. The problem
// names the limit and the line, and a file far over the node limit gets
// one problem, not one per node past it.
func TestDecodeLimits(t *testing.T) {
	const (
		tooManyNodes = "more than 200000 YAML nodes, counting an alias each time it is used (line 3)"
		nodesFix     = "this is not an inventory; check for alias expansion"
	)
	deepPath := strings.Repeat("n.", maxDepth) + "v"
	tests := []struct {
		name string
		data string
		into any
		want Problems // nil when the input must decode
	}{
		{"nodes at the limit", nodesInventory(maxNodes), &Cluster{}, nil},
		{"one node over the limit, in an alias", nodesInventory(maxNodes + 1), &Cluster{},
			Problems{{Path: "spec.hosts[39998].role", Message: tooManyNodes, Fix: nodesFix}}},
		{"far over the limit: one problem", nodesInventory(2 * maxNodes), &Cluster{},
			Problems{{Path: "spec.hosts[39999]", Message: tooManyNodes, Fix: nodesFix}}},
		{"depth at the limit", nestedYAML(maxDepth - 1), &nested{}, nil},
		{"one level over the limit", nestedYAML(maxDepth), &nested{},
			Problems{{Path: deepPath, Message: "nested more than 32 levels deep (line 33)", Fix: "an inventory is a few levels deep; check the indentation"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeStrict([]byte(tt.data), tt.into)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused an input at the limit: %.500v", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			if !reflect.DeepEqual(ps, tt.want) {
				t.Fatalf("got %d problems:\n%.1000v\nwant:\n%v", len(ps), ps, tt.want)
			}
		})
	}
}

func firstLine(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+2)
	if len(lines) > n+1 {
		lines = lines[:n+1]
	}
	return strings.Join(lines, " | ")
}

// TestBrokenFiles runs every file in testdata/broken. Each names, in a
// "# want: PATH" first line, the YAML path its rejection must name.
func TestBrokenFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/broken/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken inventories found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := bytes.Cut(data, []byte("\n"))
			want, ok := strings.CutPrefix(string(first), "# want: ")
			if !ok {
				t.Fatalf("first line must be '# want: PATH'")
			}
			_, _, err = Parse(data)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			for _, p := range ps.Errors() {
				if p.Path == want {
					return
				}
			}
			t.Fatalf("no error at %s; got:\n%v", want, ps)
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	seeds, _ := filepath.Glob("testdata/broken/*.yaml")
	examples, _ := filepath.Glob("../examples/*.yaml")
	for _, s := range append(seeds, examples...) {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse(data)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) {
				// Only reading the file can fail otherwise, and Parse reads none.
				t.Fatalf("non-Problems error: %v", err)
			}
			for _, p := range ps {
				if p.Path == "" || p.Message == "" {
					t.Fatalf("problem without path or message: %+v", p)
				}
			}
			return
		}
		if len(Validate(c).Errors()) != 0 {
			t.Fatal("Parse accepted an inventory that Validate rejects")
		}
		// An accepted inventory survives a round trip unchanged.
		out, err := Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, _, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse of marshalled inventory: %v\n%s", err, out)
		}
		out2, _ := Marshal(c2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the inventory:\n%s\n---\n%s", out, out2)
		}
	})
}
