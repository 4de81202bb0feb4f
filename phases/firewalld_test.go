package phases

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

func TestFirewalldRules(t *testing.T) {
	load := func(t *testing.T, example string) *inventory.Cluster {
		t.Helper()
		c, _, err := inventory.Load("../examples/" + example)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rules := func(c *inventory.Cluster, host string) []string {
		h, ok := c.Host(host)
		if !ok {
			t.Fatalf("no host %s", host)
		}
		var out []string
		for _, r := range firewalldRules(c, h) {
			out = append(out, strings.TrimSpace(r.Zone+" "+r.Kind+" "+r.Value))
		}
		return out
	}
	nodeSources := []string{"source 10.244.0.0/16", "source 10.96.0.0/12", "forward yes"}
	flannelSources := []string{"source 10.200.0.0/16", "source 10.96.0.0/12", "forward yes"}
	master := []string{"port 6443/tcp", "port 2379-2380/tcp", "port 10250/tcp", "port 10257/tcp", "port 10259/tcp"}
	worker := []string{"port 10250/tcp", "port 30000-32767/tcp", "port 30000-32767/udp"}
	for _, tc := range []struct {
		example, host string
		want          []string
	}{
		// keepalived+haproxy on the masters, endpoint port 16443.
		{"keepalived-haproxy.yaml", "k1", slices.Concat(master, []string{"port 16443/tcp", "protocol vrrp"}, nodeSources)},
		{"keepalived-haproxy.yaml", "k4", slices.Concat(worker, nodeSources)},
		// Dedicated load balancers: the endpoint's port and VRRP there, no
		// Pod network; the masters' apiserver port only once.
		{"keepalived-haproxy-dedicated.yaml", "haproxy-1", []string{"port 6443/tcp", "protocol vrrp"}},
		{"keepalived-haproxy-dedicated.yaml", "kubemaster-1", slices.Concat(master, nodeSources)},
		// kube-vip: the endpoint is the apiserver's own 6443, open on every
		// master already, and no VRRP; the workers as ever.
		{"kube-vip.yaml", "master-1", slices.Concat(master, nodeSources)},
		{"kube-vip.yaml", "node-1", slices.Concat(worker, nodeSources)},
		// The local proxy listens on 127.0.0.1.
		{"local-proxy-haproxy.yaml", "w1", slices.Concat(worker, nodeSources)},
		// flannel's VXLAN port after the other ports, before VRRP: the
		// script opens a run of ports with one firewall-cmd.
		{"flannel.yaml", "k1", slices.Concat(master, []string{"port 16443/tcp", "port 8472/udp", "protocol vrrp"}, flannelSources)},
		{"flannel.yaml", "k4", slices.Concat(worker, []string{"port 8472/udp"}, flannelSources)},
	} {
		t.Run(tc.example+" "+tc.host, func(t *testing.T) {
			if got := rules(load(t, tc.example), tc.host); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestFirewalldRulesCNIPorts: spec.cni.ports are opened on the masters and
// the workers, after their other ports and in the inventory's order, and
// on no load balancer or etcd host; one that a port of the host's role
// opens already, as written or inside its range, is not added again; with
// a plugin other than manifest they are ignored.
func TestFirewalldRulesCNIPorts(t *testing.T) {
	const inv = `apiVersion: kubeha.io/v1alpha1
kind: Cluster
metadata: {name: ports}
spec:
  hosts:
  - {name: m1, address: 10.0.0.11, role: master}
  - {name: w1, address: 10.0.0.21, role: worker}
  - {name: lb1, address: 10.0.0.31, role: loadbalancer}
  - {name: e1, address: 10.0.0.41, role: etcd}
  - {name: e2, address: 10.0.0.42, role: etcd}
  - {name: e3, address: 10.0.0.43, role: etcd}
  controlPlaneEndpoint: {port: 6443}
  loadBalancer: {placement: dedicated, vip: 10.0.0.100}
  etcd: {topology: external}
  cni: {plugin: PLUGIN, manifest: kube-flannel.yml, ports: [8472/udp, 10250/tcp, 30080/udp, 2379/tcp, 4789/udp, 179/tcp]}
`
	nodeSources := []string{"source 10.244.0.0/16", "source 10.96.0.0/12", "forward yes"}
	master := []string{"port 6443/tcp", "port 2379-2380/tcp", "port 10250/tcp", "port 10257/tcp", "port 10259/tcp"}
	worker := []string{"port 10250/tcp", "port 30000-32767/tcp", "port 30000-32767/udp"}
	lb := []string{"port 6443/tcp", "protocol vrrp"}
	etcd := []string{"port 2379-2380/tcp"}
	for _, tc := range []struct {
		name, plugin, host string
		want               []string
	}{
		// 10250/tcp and 2379/tcp are open on a master already.
		{"master", inventory.CNIManifest, "m1", slices.Concat(master, []string{"port 8472/udp", "port 30080/udp", "port 4789/udp", "port 179/tcp"}, nodeSources)},
		// 10250/tcp as written, 30080/udp in the NodePort range.
		{"worker", inventory.CNIManifest, "w1", slices.Concat(worker, []string{"port 8472/udp", "port 2379/tcp", "port 4789/udp", "port 179/tcp"}, nodeSources)},
		{"load balancer", inventory.CNIManifest, "lb1", lb},
		{"etcd host", inventory.CNIManifest, "e1", etcd},
		{"master with bridge", inventory.CNIBridge, "m1", slices.Concat(master, nodeSources)},
		{"worker with none", inventory.CNINone, "w1", slices.Concat(worker, nodeSources)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := inventory.Parse([]byte(strings.Replace(inv, "PLUGIN", tc.plugin, 1)))
			if err != nil {
				t.Fatal(err)
			}
			h, _ := c.Host(tc.host)
			var got []string
			for _, r := range firewalldRules(c, h) {
				got = append(got, strings.TrimSpace(r.Zone+" "+r.Kind+" "+r.Value))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// firewallCmdStub is firewall-cmd for runWithStubs: zones keep their
// permanent and runtime ports, protocols, sources and forwarding ("yes")
// in $STATE, one file per configuration, zone and kind, one value a line.
// eth0 is in zone public, the default. One call may carry several
// --add-, --query- or --remove- flags, as firewall-cmd's do.
const firewallCmdStub = `
"systemctl is-active -q firewalld") exit 0 ;;
"ip -o addr show") echo '2: eth0    inet 10.0.0.1/24 brd 10.0.0.255 scope global eth0' ;;
"mkdir -p "*) exit 0 ;;
"firewall-cmd --get-zone-of-interface=eth0"|"firewall-cmd --get-default-zone") echo public ;;
"firewall-cmd "*)
  conf=runtime
  if [ "$1" = -q ]; then shift; fi
  if [ "$1" = --permanent ]; then conf=permanent; shift; fi
  zone=${1#--zone=}
  shift
  first=''
  for arg in "$@"; do
    op=${arg%%=*} value=${arg#*=}
    if [ "$op" = "$arg" ]; then value=yes; fi
    # Like firewall-cmd: one kind of change a call.
    if [ -n "$first" ] && [ "$op" != "$first" ]; then echo "firewall-cmd: error: argument $op: not allowed with argument $first" >&2; exit 2; fi
    first=$op
    case $op in
    --list-all)
      echo "$zone"
      for k in port protocol source; do
        printf '  %ss:' "$k"
        if [ -f "$STATE/$conf.$zone.$k" ]; then printf ' %s' $(cat "$STATE/$conf.$zone.$k"); fi
        echo
      done
      if grep -qx yes "$STATE/$conf.$zone.forward" 2>/dev/null; then echo '  forward: yes'; else echo '  forward: no'; fi ;;
    --add-*) echo "$value" >> "$STATE/$conf.$zone.${op#--add-}" ;;
    --query-*) grep -qxF "$value" "$STATE/$conf.$zone.${op#--query-}" 2>/dev/null || exit 1 ;;
    --remove-*)
      f="$STATE/$conf.$zone.${op#--remove-}"
      grep -vxF "$value" "$f" > "$f.new" || true
      cat "$f.new" > "$f"; rm -f "$f.new" ;;
    *) exit 2 ;;
    esac
  done ;;`

// TestFirewalldOpenAndClose runs phases/firewalld and host-prep's clean-up
// against a stubbed firewall-cmd: what the operator had open stays, in
// both configurations, through the opening and the reset; what kubeha
// adds is recorded, added to both, and removed from both at reset; a rerun
// adds nothing; nothing reloads firewalld.
func TestFirewalldOpenAndClose(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o755)
	record := filepath.Join(dir, "kubeha", "firewalld-ports")
	os.Mkdir(filepath.Dir(record), 0o755)
	// The last rule names another zone: what was collected for public is
	// added before it is listed.
	rules := []firewalldRule{{Kind: "port", Value: "6443/tcp"}, {Kind: "port", Value: "10250/tcp"}, {Kind: "port", Value: "10257/tcp"}, {Kind: "protocol", Value: "vrrp"},
		{Kind: "source", Value: "10.244.0.0/16"}, {Kind: "forward", Value: "yes"}, {Zone: "internal", Kind: "source", Value: "10.96.0.0/12"}}
	script := func(write bool) scripts.Script {
		return scripts.Render("phases/firewalld", firewalldData{Address: "10.0.0.1", Rules: rules, Record: record, RecordDir: filepath.Dir(record), Write: write})
	}
	// The runs share one $STATE: the stub's own is a fresh directory each
	// time, so the branches use this one.
	stub := strings.ReplaceAll(firewallCmdStub, "$STATE", state)
	// The operator's: 10250/tcp in both configurations, 6443/tcp in the
	// runtime one only, 22/tcp in both, an old kubeha's record of 8080/tcp.
	for f, content := range map[string]string{"permanent.public.port": "22/tcp\n10250/tcp\n8080/tcp\n", "runtime.public.port": "22/tcp\n10250/tcp\n6443/tcp\n8080/tcp\n"} {
		os.WriteFile(filepath.Join(state, f), []byte(content), 0o644)
	}
	read := func(name string) []string {
		b, _ := os.ReadFile(filepath.Join(state, name))
		l := strings.Fields(string(b))
		sort.Strings(l)
		return l
	}
	adds := func(r stubbedRun) []string {
		var out []string
		for _, c := range r.calls {
			if strings.Contains(c, " --add-") || strings.Contains(c, " --remove-") || strings.Contains(c, "--reload") {
				out = append(out, c)
			}
		}
		return out
	}

	r := runWithStubs(t, script(false), stub, "systemctl", "ip", "firewall-cmd", "mkdir")
	if want := "port 6443/tcp (public)\nport 10257/tcp (public)\nprotocol vrrp (public)\nsource 10.244.0.0/16 (public)\nforward yes (public)\nsource 10.96.0.0/12 (internal)\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("check: exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", r.code, r.stdout, want, r.stderr)
	}
	if a := adds(r); len(a) != 0 {
		t.Fatalf("the check changed firewalld: %q", a)
	}

	r = runWithStubs(t, script(true), stub, "systemctl", "ip", "firewall-cmd", "mkdir")
	if want := "firewalld: opened port 6443/tcp (public) port 10257/tcp (public) protocol vrrp (public) source 10.244.0.0/16 (public) forward yes (public) source 10.96.0.0/12 (internal)\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("open: exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", r.code, r.stdout, want, r.stderr)
	}
	if got, want := adds(r), []string{
		"firewall-cmd -q --permanent --zone=public --add-port=6443/tcp --add-port=10257/tcp", "firewall-cmd -q --zone=public --add-port=10257/tcp",
		"firewall-cmd -q --permanent --zone=public --add-protocol=vrrp", "firewall-cmd -q --zone=public --add-protocol=vrrp",
		"firewall-cmd -q --permanent --zone=public --add-source=10.244.0.0/16", "firewall-cmd -q --zone=public --add-source=10.244.0.0/16",
		"firewall-cmd -q --permanent --zone=public --add-forward", "firewall-cmd -q --zone=public --add-forward",
		"firewall-cmd -q --permanent --zone=internal --add-source=10.96.0.0/12", "firewall-cmd -q --zone=internal --add-source=10.96.0.0/12",
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("open changed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, conf := range []string{"permanent", "runtime"} {
		if got, want := read(conf+".public.port"), []string{"10250/tcp", "10257/tcp", "22/tcp", "6443/tcp", "8080/tcp"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s ports %q, want %q", conf, got, want)
		}
		for f, want := range map[string][]string{".public.source": {"10.244.0.0/16"}, ".public.forward": {"yes"}, ".internal.source": {"10.96.0.0/12"}} {
			if got := read(conf + f); !reflect.DeepEqual(got, want) {
				t.Errorf("%s%s: %q, want %q", conf, f, got, want)
			}
		}
	}
	b, _ := os.ReadFile(record)
	if got, want := string(b), "public port 6443/tcp permanent\npublic port 10257/tcp permanent runtime\npublic protocol vrrp permanent runtime\npublic source 10.244.0.0/16 permanent runtime\npublic forward yes permanent runtime\ninternal source 10.96.0.0/12 permanent runtime\n"; got != want {
		t.Errorf("record:\n%s\nwant:\n%s", got, want)
	}

	r = runWithStubs(t, script(true), stub, "systemctl", "ip", "firewall-cmd", "mkdir")
	if a := adds(r); r.code != 0 || r.stdout != "" || len(a) != 0 {
		t.Errorf("rerun: exit %d, stdout %q, changes %q: want none", r.code, r.stdout, a)
	}

	// Reset, with an old kubeha's line for 8080/tcp in the record too.
	os.WriteFile(record, append(b, "8080/tcp\n"...), 0o644)
	d := hostPrepCleanUpData{
		FirewalldPorts: record, Sysctl: filepath.Join(dir, "sysctl.conf"), Modules: filepath.Join(dir, "modules.conf"),
		ConfigDir: filepath.Dir(record), HostsBegin: "# kubeha test block that no /etc/hosts has",
		RemoveHostsBlock: scripts.Render("scripts-test/fail-between", struct{ Before, After []string }{nil, nil}),
	}
	r = runWithStubs(t, scripts.Render("phases/host-prep-cleanup", d), stub, "systemctl", "ip", "firewall-cmd", "mkdir", "hosts")
	if r.code != 0 {
		t.Fatalf("clean-up: exit %d\n%s", r.code, r.stderr)
	}
	for _, c := range r.calls {
		if strings.Contains(c, "--reload") {
			t.Errorf("the clean-up reloaded firewalld: %q", c)
		}
	}
	for conf, want := range map[string][]string{"permanent": {"10250/tcp", "22/tcp"}, "runtime": {"10250/tcp", "22/tcp", "6443/tcp"}} {
		if got := read(conf + ".public.port"); !reflect.DeepEqual(got, want) {
			t.Errorf("after reset, %s ports %q, want %q (the operator's)", conf, got, want)
		}
		if got := read(conf + ".public.protocol"); len(got) != 0 {
			t.Errorf("after reset, %s protocols %q", conf, got)
		}
		for _, f := range []string{".public.source", ".public.forward", ".internal.source"} {
			if got := read(conf + f); len(got) != 0 {
				t.Errorf("after reset, %s%s: %q", conf, f, got)
			}
		}
	}
}

// TestFirewalldPortRanges: a port counts as open when a listed range of its
// protocol covers it, and a range when a listed one covers all of it; a
// range that only overlaps, or the same numbers for another protocol, do
// not count. Covered ones are neither opened nor recorded.
func TestFirewalldPortRanges(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o755)
	record := filepath.Join(dir, "kubeha", "firewalld-ports")
	os.Mkdir(filepath.Dir(record), 0o755) // mkdir is stubbed
	var rules []firewalldRule
	for _, p := range []string{"6443/tcp", "6000/tcp", "7000/tcp", "6500-6600/tcp", "6443/udp", "6900-7001/tcp", "10250/tcp", "70000/tcp", "600/tcp"} {
		rules = append(rules, firewalldRule{Kind: "port", Value: p})
	}
	script := func(write bool) scripts.Script {
		return scripts.Render("phases/firewalld", firewalldData{Address: "10.0.0.1", Rules: rules, Record: record, RecordDir: filepath.Dir(record), Write: write})
	}
	stub := strings.ReplaceAll(firewallCmdStub, "$STATE", state)
	for _, conf := range []string{"permanent", "runtime"} {
		os.WriteFile(filepath.Join(state, conf+".public.port"), []byte("6000-7000/tcp\n10250/tcp\n"), 0o644)
	}
	r := runWithStubs(t, script(false), stub, "systemctl", "ip", "firewall-cmd", "mkdir")
	if want := "port 6443/udp (public)\nport 6900-7001/tcp (public)\nport 70000/tcp (public)\nport 600/tcp (public)\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("check: exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", r.code, r.stdout, want, r.stderr)
	}
	r = runWithStubs(t, script(true), stub, "systemctl", "ip", "firewall-cmd", "mkdir")
	if want := "firewalld: opened port 6443/udp (public) port 6900-7001/tcp (public) port 70000/tcp (public) port 600/tcp (public)\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("open: exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", r.code, r.stdout, want, r.stderr)
	}
	b, _ := os.ReadFile(record)
	if got, want := string(b), "public port 6443/udp permanent runtime\npublic port 6900-7001/tcp permanent runtime\npublic port 70000/tcp permanent runtime\npublic port 600/tcp permanent runtime\n"; got != want {
		t.Errorf("record:\n%s\nwant:\n%s", got, want)
	}
}
