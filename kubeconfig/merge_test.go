package kubeconfig

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// admin is shaped like kubeadm's admin.conf after kubeha pointed it at the VIP.
const admin = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EtREFUQQ==
    server: https://192.168.1.10:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZLURBVEE=
`

// others is a kubeconfig as kubectl writes it, with entries of other
// names, a top-level field kubeha does not know and comments.
const others = `apiVersion: v1
clusters:
- cluster:
    certificate-authority: /home/u/.minikube/ca.crt
    extensions:
    - extension:
        provider: minikube.sigs.k8s.io
      name: cluster_info
    server: https://192.168.49.2:8443
  name: minikube
- cluster:
    server: https://prod.example.com # behind the VPN
  name: prod
contexts:
- context:
    cluster: minikube
    namespace: default
    user: minikube
  name: minikube
- context:
    cluster: prod
    user: prod-oidc
  name: prod
current-context: minikube
kind: Config
preferences:
  colors: true
users:
- name: minikube
  user:
    client-certificate: /home/u/.minikube/profiles/minikube/client.crt
    client-key: /home/u/.minikube/profiles/minikube/client.key
- name: prod-oidc
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      args:
      - oidc-login
      - get-token
      command: kubectl
x-custom-field:
  kept: yes
`

// stale has entries of kubeha's names from an older cluster of that name.
const stale = `apiVersion: v1
clusters:
- cluster:
    server: https://10.9.9.9:6443
  name: demo
- cluster:
    server: https://prod.example.com
  name: prod
contexts:
- context:
    cluster: demo
    namespace: kube-system
    user: demo-admin
  name: demo
- context:
    cluster: demo
    user: demo-admin
  name: demo
current-context: prod
kind: Config
preferences: {}
users:
- name: demo-admin
  user:
    token: old-token
`

func TestMergeFile(t *testing.T) {
	n := NamesFor("demo")
	for _, tc := range []struct {
		name     string
		existing *string // nil: no file, in a directory that does not exist
		mode     os.FileMode
		wantErr  string // the file must then be unchanged
		check    func(t *testing.T, out string)
	}{
		{name: "missing file and directory"},
		{name: "empty file", existing: ptr("")},
		{name: "only a comment", existing: ptr("# nothing yet\n"), check: func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "# nothing yet\n") {
				t.Errorf("comment lost:\n%s", out)
			}
		}},
		{name: "other contexts kept", existing: ptr(others), mode: 0o644, check: func(t *testing.T, out string) {
			// Every entry of another name and every other top-level
			// field is in the output exactly as it was written.
			for _, block := range []string{
				clustersOf(others),
				"current-context: demo\nkind: Config\npreferences:\n  colors: true\n",
				`- name: minikube
  user:
    client-certificate: /home/u/.minikube/profiles/minikube/client.crt
    client-key: /home/u/.minikube/profiles/minikube/client.key
- name: prod-oidc
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      args:
      - oidc-login
      - get-token
      command: kubectl
`,
				"x-custom-field:\n  kept: yes\n",
				`contexts:
- context:
    cluster: minikube
    namespace: default
    user: minikube
  name: minikube
- context:
    cluster: prod
    user: prod-oidc
  name: prod
- context:
    cluster: demo
    user: demo-admin
  name: demo
`,
			} {
				if !strings.Contains(out, block) {
					t.Errorf("output lacks, byte for byte:\n%s\noutput:\n%s", block, out)
				}
			}
			for _, list := range []string{"clusters", "users", "contexts"} {
				for _, name := range []string{"minikube", "prod", "prod-oidc"} {
					if a, b := entry(t, others, list, name), entry(t, out, list, name); a != b {
						t.Errorf("%s %s changed:\n%s\nnow:\n%s", list, name, a, b)
					}
				}
			}
		}},
		{name: "stale entries of the same names replaced", existing: ptr(stale), check: func(t *testing.T, out string) {
			for _, gone := range []string{"10.9.9.9", "old-token", "kube-system"} {
				if strings.Contains(out, gone) {
					t.Errorf("stale %q kept:\n%s", gone, out)
				}
			}
			if !strings.Contains(out, "- cluster:\n    server: https://prod.example.com\n  name: prod\n") {
				t.Errorf("prod changed:\n%s", out)
			}
			// Replaced where it stood: demo still comes before prod.
			if strings.Index(out, "name: demo") > strings.Index(out, "name: prod") {
				t.Errorf("demo moved after prod:\n%s", out)
			}
		}},
		{name: "flow lists and nulls", existing: ptr("apiVersion: v1\nkind: Config\nclusters: []\nusers: null\n")},
		{name: "not YAML", existing: ptr("clusters: [\n"), wantErr: "is not a valid kubeconfig"},
		{name: "a list", existing: ptr("- a\n- b\n"), wantErr: "the top level is not a mapping"},
		{name: "another kind", existing: ptr("apiVersion: v1\nkind: Pod\n"), wantErr: `kind is "Pod", not Config`},
		{name: "clusters not a list", existing: ptr("clusters:\n  demo: {}\n"), wantErr: "clusters is not a list"},
		{name: "entry without a name", existing: ptr("users:\n- user: {}\n"), wantErr: "an entry of users has no name"},
		{name: "two documents", existing: ptr("kind: Config\n---\nkind: Config\n"), wantErr: "more than one YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "kube", "config")
			if tc.existing != nil {
				mode := tc.mode
				if mode == 0 {
					mode = 0o600
				}
				if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(*tc.existing), mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
			}
			err := MergeFile(path, []byte(admin), n)
			if tc.wantErr != "" {
				var ie *InvalidError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) || !errors.As(err, &ie) {
					t.Fatalf("err = %v, want an *InvalidError naming %s and saying %q", err, path, tc.wantErr)
				}
				if got, _ := os.ReadFile(path); string(got) != *tc.existing {
					t.Errorf("file changed:\n%s", got)
				}
				if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
					t.Errorf("left files beside it: %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
			if tc.existing == nil {
				di, _ := os.Stat(filepath.Dir(path))
				if di.Mode().Perm() != 0o700 {
					t.Errorf("directory mode %v, want 0700", di.Mode().Perm())
				}
			}
			b, _ := os.ReadFile(path)
			out := string(b)
			checkMerged(t, out)
			if tc.check != nil {
				tc.check(t, out)
			}
			// Merging again changes nothing.
			if err := MergeFile(path, []byte(admin), n); err != nil {
				t.Fatal(err)
			}
			if again, _ := os.ReadFile(path); !bytes.Equal(again, b) {
				t.Errorf("second merge changed the file:\n%s\nthen:\n%s", b, again)
			}
		})
	}
}

// checkMerged checks what every successful merge guarantees: one entry of
// each of kubeha's names, holding admin's cluster and user, and the
// current context set to the cluster.
func checkMerged(t *testing.T, out string) {
	t.Helper()
	var c struct {
		Kind           string `yaml:"kind"`
		CurrentContext string `yaml:"current-context"`
		Clusters       []struct {
			Name    string `yaml:"name"`
			Cluster struct {
				Server string `yaml:"server"`
				CA     string `yaml:"certificate-authority-data"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			Name string `yaml:"name"`
			User struct {
				Cert string `yaml:"client-certificate-data"`
				Key  string `yaml:"client-key-data"`
			} `yaml:"user"`
		} `yaml:"users"`
		Contexts []struct {
			Name    string `yaml:"name"`
			Context struct {
				Cluster   string `yaml:"cluster"`
				User      string `yaml:"user"`
				Namespace string `yaml:"namespace"`
			} `yaml:"context"`
		} `yaml:"contexts"`
	}
	if err := yaml.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if c.CurrentContext != "demo" {
		t.Errorf("current-context %q", c.CurrentContext)
	}
	count := 0
	for _, cl := range c.Clusters {
		if cl.Name == "demo" {
			count++
			if cl.Cluster.Server != "https://192.168.1.10:6443" || cl.Cluster.CA != "Q0EtREFUQQ==" {
				t.Errorf("cluster demo is %+v", cl.Cluster)
			}
		}
	}
	for _, u := range c.Users {
		if u.Name == "demo-admin" {
			count++
			if u.User.Cert != "Q0VSVA==" || u.User.Key != "S0VZLURBVEE=" {
				t.Errorf("user demo-admin is %+v", u.User)
			}
		}
	}
	for _, x := range c.Contexts {
		if x.Name == "demo" {
			count++
			if x.Context.Cluster != "demo" || x.Context.User != "demo-admin" || x.Context.Namespace != "" {
				t.Errorf("context demo is %+v", x.Context)
			}
		}
	}
	if count != 3 {
		t.Errorf("want exactly one cluster, user and context of kubeha's names, found %d entries:\n%s", count, out)
	}
}

// entry is the named entry of list in kubeconfig text s, encoded alone.
func entry(t *testing.T, s, list, name string) string {
	t.Helper()
	root, err := parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	e := find(listOrNil(root, list), name)
	if e == nil {
		return ""
	}
	b, err := yaml.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// clustersOf is the clusters: block of kubeconfig text s up to its next
// top-level key.
func clustersOf(s string) string {
	i := strings.Index(s, "clusters:\n")
	j := strings.Index(s[i:], "\ncontexts:")
	return s[i : i+j+1]
}

func TestMergeAdminProblems(t *testing.T) {
	for _, tc := range []struct{ name, admin, want string }{
		{"empty", "", "admin kubeconfig: empty"},
		{"context missing", "current-context: x\ncontexts: []\n", `current context "x" is not among its contexts`},
		{"user missing", strings.Replace(admin, "- name: kubernetes-admin\n", "- name: someone\n", 1), `no user "kubernetes-admin"`},
		{"two clusters, no context", "clusters:\n- name: a\n  cluster: {}\n- name: b\n  cluster: {}\nusers:\n- name: u\n  user: {}\n", "not exactly one cluster and one user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Merge(nil, []byte(tc.admin), NamesFor("demo"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMergeFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real, link := filepath.Join(dir, "real"), filepath.Join(dir, "config")
	if err := os.WriteFile(real, []byte(others), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := MergeFile(link, []byte(admin), NamesFor("demo")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v %v", fi, err)
	}
	b, _ := os.ReadFile(real)
	checkMerged(t, string(b))
}

func TestDefaultPath(t *testing.T) {
	for _, tc := range []struct{ name, env, want string }{
		{"unset", "", "/home/u/.kube/config"},
		{"one", "/tmp/a", "/tmp/a"},
		{"first of several", "/tmp/a" + string(filepath.ListSeparator) + "/tmp/b", "/tmp/a"},
		{"empty first", string(filepath.ListSeparator) + "/tmp/b", "/tmp/b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DefaultPath(tc.env, "/home/u"); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	got := Credentials([]byte(admin + "- name: other\n  user:\n    token: tok\n"))
	if strings.Join(got, ",") != "S0VZLURBVEE=,tok" {
		t.Errorf("got %q", got)
	}
}

func ptr(s string) *string { return &s }
