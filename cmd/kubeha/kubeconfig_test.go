package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testAdminConf = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EtREFUQQ==
    server: https://10.0.0.100:6443
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
    client-key-data: U0VDUkVULUtFWS1EQVRB
`

// TestKubeconfigCommand runs kubeha kubeconfig end to end on a temporary
// state dir holding what apply saves for the example inventory (cluster
// prod), with $HOME and $KUBECONFIG pointed into the test's directory.
func TestKubeconfigCommand(t *testing.T) {
	const key = "U0VDUkVULUtFWS1EQVRB"
	for _, tc := range []struct {
		name       string
		noAdmin    bool              // apply never ran
		env        map[string]string // KUBECONFIG; "~" is the test's HOME
		existing   map[string]string // files under HOME before the run
		args       []string
		wantCode   int
		wantStdout string // "~" is HOME; ADMIN is the admin kubeconfig
		wantStderr string // a substring; "" wants nothing on stderr
		wantFile   string // under HOME: must hold context prod after the run
	}{
		{
			name: "print", args: []string{"kubeconfig"},
			wantStdout: "ADMIN",
		},
		{
			name: "never applied", noAdmin: true, args: []string{"kubeconfig", "--merge"},
			wantCode: exitFailed, wantStderr: "cluster prod has not been applied yet; run `kubeha apply -i ",
		},
		{
			name: "merge into HOME/.kube/config", args: []string{"kubeconfig", "--merge"},
			wantStdout: "merged cluster prod into ~/.kube/config (cluster prod, user prod-admin, context prod) and made prod the current context; use: kubectl --context prod get nodes\n",
			wantFile:   ".kube/config",
		},
		{
			name: "merge into the first path of $KUBECONFIG", args: []string{"kubeconfig", "--merge"},
			env:        map[string]string{"KUBECONFIG": "~/a" + string(filepath.ListSeparator) + "~/b"},
			wantStdout: "merged cluster prod into ~/a (cluster prod, user prod-admin, context prod) and made prod the current context; use: kubectl --context prod get nodes\n",
			wantFile:   "a",
		},
		{
			name: "--kubeconfig overrides $KUBECONFIG", args: []string{"kubeconfig", "--merge", "--kubeconfig", "~/c"},
			env:        map[string]string{"KUBECONFIG": "~/a"},
			existing:   map[string]string{"c": "apiVersion: v1\nkind: Config\ncontexts:\n- context:\n    cluster: x\n    user: y\n  name: other\n"},
			wantStdout: "merged cluster prod into ~/c (cluster prod, user prod-admin, context prod) and made prod the current context; use: kubectl --context prod get nodes\n",
			wantFile:   "c",
		},
		{
			name: "not a kubeconfig", args: []string{"kubeconfig", "--merge"},
			existing: map[string]string{".kube/config": "clusters: [\n"},
			wantCode: exitFailed, wantStderr: "~/.kube/config is not a valid kubeconfig",
		},
		{
			name: "--kubeconfig without --merge", args: []string{"kubeconfig", "--kubeconfig", "x"},
			wantCode: exitUsage, wantStderr: "--kubeconfig needs --merge",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			home := filepath.Join(h.dir, "home")
			tilde := func(s string) string { return strings.ReplaceAll(s, "~", home) }
			t.Setenv("HOME", home)
			t.Setenv("KUBECONFIG", "")
			for k, v := range tc.env {
				t.Setenv(k, tilde(v))
			}
			for p, content := range tc.existing {
				p = filepath.Join(home, p)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.noAdmin {
				dir := filepath.Join(h.dir, "state", "prod")
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "admin.conf"), []byte(testAdminConf), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = tilde(a)
			}
			code, stdout, stderr := h.run(context.Background(), args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr)
			}
			want := strings.ReplaceAll(tilde(tc.wantStdout), "ADMIN", testAdminConf)
			if stdout != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
			}
			if tc.wantStderr == "" && stderr != "" || !strings.Contains(stderr, tilde(tc.wantStderr)) {
				t.Errorf("stderr %q, want %q", stderr, tilde(tc.wantStderr))
			}
			if strings.Contains(stderr, key) {
				t.Errorf("the client key is on stderr: %s", stderr)
			}
			for p, content := range tc.existing {
				if tc.wantCode != 0 {
					if b, _ := os.ReadFile(filepath.Join(home, p)); string(b) != content {
						t.Errorf("%s changed on failure:\n%s", p, b)
					}
				}
			}
			if tc.wantFile == "" {
				return
			}
			p := filepath.Join(home, tc.wantFile)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"current-context: prod\n", "- name: prod-admin\n", "    server: https://10.0.0.100:6443\n  name: prod\n", key} {
				if !strings.Contains(string(b), s) {
					t.Errorf("%s lacks %q:\n%s", p, s, b)
				}
			}
			if old := tc.existing[tc.wantFile]; old != "" && !strings.Contains(string(b), "  name: other\n") {
				t.Errorf("%s lost context other:\n%s", p, b)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v", p, fi.Mode().Perm())
			}
		})
	}
}
