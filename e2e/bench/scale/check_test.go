package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/e2e/nshosts"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
)

// fakeHosts are hosts as nshosts.Start leaves them on the VM, without
// their namespaces and sshd: a root of private directories each and the
// first /etc/hosts; the first masters are masters, the rest workers.
func fakeHosts(t *testing.T, masters, workers int) ([]*nshosts.Host, *inventory.Cluster) {
	t.Helper()
	dir := t.TempDir()
	var hosts []*nshosts.Host
	for i := range masters + workers {
		name := fmt.Sprintf("m%d", i+1)
		if i >= masters {
			name = fmt.Sprintf("w%d", i-masters+1)
		}
		addr, err := nshosts.HostAddr(i)
		if err != nil {
			t.Fatal(err)
		}
		h := &nshosts.Host{Name: name, IP: addr, Root: filepath.Join(dir, "hosts", name)}
		for _, d := range nshosts.PrivateDirs {
			if err := os.MkdirAll(h.Path(d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(h.Path("/etc/hosts"), []byte(nshosts.HostsFile(name, addr)), 0o644); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	key, known := filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts")
	os.WriteFile(key, nil, 0o600)
	os.WriteFile(known, nil, 0o600)
	inv := filepath.Join(dir, "kubeha.yaml")
	if err := os.WriteFile(inv, []byte(inventoryYAML(hosts, masters, key, known)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := inventory.Load(inv)
	if err != nil {
		t.Fatal(err)
	}
	return hosts, c
}

// prepare writes want on every host as kubeha's host-prep leaves it.
func prepare(t *testing.T, hosts []*nshosts.Host, want map[string][]wantFile) {
	t.Helper()
	for _, h := range hosts {
		for _, f := range want[h.Name] {
			if err := os.WriteFile(h.Path(f.Path), f.Content, f.Mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(h.Path(f.Path), f.Mode)
		}
	}
}

// TestExpectedFiles pins what the bench holds every tool to, as literal
// text: a master's and a worker's files after kubeha's host-prep, with the
// bench's inventory (keepalived+haproxy on the masters, iptables mode).
func TestExpectedFiles(t *testing.T) {
	_, c := fakeHosts(t, 1, 1)
	want, err := expectedFiles(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	block := "# BEGIN kubeha\n10.214.0.254 k8s-api.scale.internal\n# END kubeha\n"
	node := "# Managed by kubeha.\nnet.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n"
	for _, tt := range []struct {
		host string
		want []wantFile
	}{
		{"m1", []wantFile{
			{phases.SysctlPath, []byte(node + "net.ipv4.ip_nonlocal_bind = 1\n"), 0o644},
			{phases.ModulesPath, []byte("# Managed by kubeha.\noverlay\nbr_netfilter\n"), 0o644},
			{"/etc/hosts", []byte("127.0.0.1 localhost\n10.214.0.11 m1\n" + block), 0o644},
		}},
		{"w1", []wantFile{
			{phases.SysctlPath, []byte(node), 0o644},
			{phases.ModulesPath, []byte("# Managed by kubeha.\noverlay\nbr_netfilter\n"), 0o644},
			{"/etc/hosts", []byte("127.0.0.1 localhost\n10.214.0.12 w1\n" + block), 0o644},
		}},
	} {
		t.Run(tt.host, func(t *testing.T) {
			got := want[tt.host]
			if len(got) != len(tt.want) {
				t.Fatalf("%d files, want %d: %v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				if got[i].Path != w.Path || string(got[i].Content) != string(w.Content) || got[i].Mode != w.Mode {
					t.Errorf("file %d: got %s %04o %q, want %s %04o %q", i, got[i].Path, got[i].Mode, got[i].Content, w.Path, w.Mode, w.Content)
				}
			}
		})
	}
	if got := nonlocalBindHosts(want); !slices.Equal(got, []string{"m1"}) {
		t.Errorf("ip_nonlocal_bind on %v, want on m1 only", got)
	}
}

// TestHostScripts: pssh and Ansible get, on each host, the facts script
// with that host's address and host-prep's script for that host, and the
// files that script writes are the files the bench checks.
func TestHostScripts(t *testing.T) {
	hosts, c := fakeHosts(t, 2, 2)
	scripts := hostScripts(c)
	want, err := expectedFiles(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := stageScripts(hosts, scripts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		t.Run(h.Name, func(t *testing.T) {
			ih, _ := c.Host(h.Name)
			facts, err := os.ReadFile(filepath.Join(h.Root, "root/.kubeha-bench/facts.sh"))
			if err != nil || string(facts) != "KH_ADDR='"+h.IP+"'\n"+phases.FactsScript {
				t.Errorf("facts script %.40q..., %v; want KH_ADDR='%s' then phases.FactsScript", facts, err, h.IP)
			}
			prep, err := os.ReadFile(filepath.Join(h.Root, "root/.kubeha-bench/prep.sh"))
			if err != nil || string(prep) != phases.HostPrepScript(c, ih, inventory.ProxyModeIPTables) {
				t.Errorf("prep script is not phases.HostPrepScript for %s (%v)", h.Name, err)
			}
			if !strings.Contains(string(prep), "'"+h.IP+"'") {
				t.Errorf("prep script lacks the host's own address %s", h.IP)
			}
			for _, f := range want[h.Name] {
				if f.Path != "/etc/hosts" && !strings.Contains(string(prep), "printf '%s' '"+string(f.Content)+"' > ") {
					t.Errorf("prep script does not write %s as the bench expects it", f.Path)
				}
			}
		})
	}
}

// TestCheckFiles: the check passes on hosts as kubeha's host-prep leaves
// them, and names the tool, the host and the file for every other state.
func TestCheckFiles(t *testing.T) {
	for _, tt := range []struct {
		name string
		// change alters the prepared hosts.
		change func(hosts []*nshosts.Host)
		// want are the lines the error must have; none: no error.
		want []string
	}{
		{name: "as kubeha leaves them"},
		{
			name: "a sysctl file differs by one byte",
			change: func(hosts []*nshosts.Host) {
				p := hosts[2].Path(phases.SysctlPath)
				b, _ := os.ReadFile(p)
				os.WriteFile(p, append(b[:len(b)-1], ' ', '\n'), 0o644)
			},
			want: []string{"after tool: w1: /etc/sysctl.d/99-kubeha.conf: content differs from kubeha host-prep's"},
		},
		{
			name: "the /etc/hosts block missing",
			change: func(hosts []*nshosts.Host) {
				os.WriteFile(hosts[0].Path("/etc/hosts"), []byte(nshosts.HostsFile("m1", hosts[0].IP)), 0o644)
			},
			want: []string{"after tool: m1: /etc/hosts: content differs"},
		},
		{
			name:   "a file missing",
			change: func(hosts []*nshosts.Host) { os.Remove(hosts[1].Path(phases.ModulesPath)) },
			want:   []string{"after tool: m2: /etc/modules-load.d/kubeha.conf: open ", "no such file or directory"},
		},
		{
			name:   "a mode differs",
			change: func(hosts []*nshosts.Host) { os.Chmod(hosts[3].Path(phases.ModulesPath), 0o600) },
			want:   []string{"after tool: w2: /etc/modules-load.d/kubeha.conf: mode 0600, want 0644"},
		},
		{
			name: "a temporary file left beside",
			change: func(hosts []*nshosts.Host) {
				os.WriteFile(hosts[3].Path("/etc/sysctl.d/99-kubeha.conf.kubeha-tmp"), nil, 0o644)
			},
			want: []string{"after tool: w2: /etc/sysctl.d/99-kubeha.conf.kubeha-tmp: not written by kubeha's host-prep"},
		},
		{
			name: "more differences than it names",
			change: func(hosts []*nshosts.Host) {
				for _, h := range hosts {
					for i := range 3 {
						os.WriteFile(h.Path(fmt.Sprintf("/etc/modules-load.d/extra%d.conf", i)), nil, 0o644)
					}
				}
			},
			want: []string{"after tool: m1: /etc/modules-load.d/extra0.conf", "and 2 more differences"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hosts, c := fakeHosts(t, 2, 2)
			want, err := expectedFiles(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			prepare(t, hosts, want)
			if tt.change != nil {
				tt.change(hosts)
			}
			err = checkFiles("tool", hosts, want)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestResetFiles: after a reset no host has host-prep's files or block, and
// files host-prep does not own (the staged scripts) stay.
func TestResetFiles(t *testing.T) {
	hosts, c := fakeHosts(t, 1, 2)
	want, err := expectedFiles(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := stageScripts(hosts, hostScripts(c)); err != nil {
		t.Fatal(err)
	}
	prepare(t, hosts, want)
	os.WriteFile(hosts[1].Path("/etc/sysctl.d/.99-kubeha.conf.kubeha-new"), nil, 0o600)
	if err := resetFiles(hosts, want); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		for _, d := range []string{"/etc/sysctl.d", "/etc/modules-load.d"} {
			if entries, _ := os.ReadDir(h.Path(d)); len(entries) != 0 {
				t.Errorf("%s: %s still holds %v", h.Name, d, entries)
			}
		}
		if b, _ := os.ReadFile(h.Path("/etc/hosts")); string(b) != nshosts.HostsFile(h.Name, h.IP) {
			t.Errorf("%s: /etc/hosts is %q", h.Name, b)
		}
		if _, err := os.Stat(h.Path(prepPath)); err != nil {
			t.Errorf("%s: staged script gone: %v", h.Name, err)
		}
	}
	if err := checkFiles("tool", hosts, want); err == nil {
		t.Error("reset hosts pass the check")
	}
}
