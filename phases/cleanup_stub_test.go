package phases

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/scripts"
)

// stubbedRun is the result of a script run with stubbed commands.
type stubbedRun struct {
	calls          []string // each stubbed command as "NAME ARGS", in order
	stdout, stderr string
	code           int
}

// harmlessTools are the commands scripts may run for real in
// a stubbedShell: they read and write only the files they are given.
var harmlessTools = []string{"awk", "basename", "cat", "cmp", "cp", "date", "grep", "ls", "rm", "rmdir", "sed", "sleep", "tr", "touch", "wc"}

// stubbedShell runs scripts with the commands it was made with replaced
// by one stub and no command in reach but those and harmlessTools (PATH
// holds nothing else), so nothing a script does reaches this machine's
// network or services. The stub records its call and then runs cases, the
// branches of a sh `case "NAME ARGS" in`, and exits with the branch's
// status (a call no branch takes fails). $STATE is a directory the branches
// may keep state in.
type stubbedShell struct{ bin, state, log string }

// newStubbedShell sets up the stubs; it must be called from the test's
// goroutine. Its run may be called from any goroutine, as a fake Hosts
// does.
func newStubbedShell(t *testing.T, cases string, names ...string) stubbedShell {
	t.Helper()
	dir := t.TempDir()
	s := stubbedShell{bin: filepath.Join(dir, "bin"), state: filepath.Join(dir, "state"), log: filepath.Join(dir, "calls")}
	for _, d := range []string{s.bin, s.state} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub := "#!/bin/sh\nc=\"${0##*/}${*:+ $*}\"\necho \"$c\" >> \"$STUB_LOG\"\ncase \"$c\" in\n" + cases + "\n*) exit 1 ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(s.bin, "stub"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.Symlink("stub", filepath.Join(s.bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range harmlessTools {
		if slices.Contains(names, n) {
			continue
		}
		p, err := exec.LookPath(n)
		if err != nil {
			t.Skipf("%s: %v", n, err)
		}
		if err := os.Symlink(p, filepath.Join(s.bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// run runs script. Its error is one of starting the shell, not the
// script's exit status, which is in the result. The calls are every call
// of a stub so far, this run's last.
func (s stubbedShell) run(script string) (stubbedRun, error) {
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + s.bin, "STUB_LOG=" + s.log, "STATE=" + s.state}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := stubbedRun{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		return r, err
	}
	b, _ := os.ReadFile(s.log)
	r.calls = strings.Split(strings.TrimSpace(string(b)), "\n")
	return r, nil
}

// runWithStubs runs script once in a new stubbedShell.
func runWithStubs(t *testing.T, script scripts.Script, cases string, names ...string) stubbedRun {
	t.Helper()
	r, err := newStubbedShell(t, cases, names...).run(script.String())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// leftMessage is a verified clean-up's stderr when things are left.
func leftMessage(what ...string) string {
	return "still present after the clean-up:\n  " + strings.Join(what, "\n  ") +
		"\nrun kubeha reset again; what stays after that, remove by hand (README, Reset)\n"
}

// TestCleanUpsSurviveFailedSteps runs clean-up scripts with their commands
// stubbed: removal steps fail, and the scripts, which run under set -e,
// must still try every other step and leave the verdict to their checks,
// as they did before set -e. The real-kernel test covers the same scripts
// where everything succeeds; hosts with ipvs, systemd units and a VIP are
// in e2e alone.
func TestCleanUpsSurviveFailedSteps(t *testing.T) {
	file := func(t *testing.T, p, content string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	type want struct {
		code   int
		stderr string   // exactly, when code is 1
		calls  []string // among the calls, in this order
		never  []string // calls that must not be made
	}
	check := func(t *testing.T, r stubbedRun, w want) {
		t.Helper()
		if r.code != w.code || (w.code == 1 && r.stderr != w.stderr) {
			t.Errorf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", r.code, r.stderr, w.code, w.stderr)
		}
		i := 0
		for _, c := range r.calls {
			if i < len(w.calls) && c == w.calls[i] {
				i++
			}
			for _, n := range w.never {
				if c == n {
					t.Errorf("the script ran %q", c)
				}
			}
		}
		if i < len(w.calls) {
			t.Errorf("the script did not run %q (in this order after %q); it ran:\n%s", w.calls[i], w.calls[:i], strings.Join(r.calls, "\n"))
		}
	}

	t.Run("routes: failed deletions stop none of the others", func(t *testing.T) {
		dir := t.TempDir()
		d := routesCleanUpData{
			Routes:    file(t, filepath.Join(dir, "routes"), "# Managed by kubeha\n\n10.244.1.0/24 via 10.0.0.2\n10.96.0.0/12 via 10.0.0.254\n"),
			Unit:      file(t, filepath.Join(dir, "kubeha-routes.service"), "[Unit]\n"),
			PodSubnet: "10.244.0.0/16", ServiceSubnet: "10.96.0.0/12",
		}
		r := runWithStubs(t, scripts.Render("phases/routes-cleanup", d), `
"ip route del "*) exit 2 ;;
"ip -4 route show root "*) exit 0 ;;`, "ip", "systemctl")
		check(t, r, want{code: 0, calls: []string{
			"ip route del 10.244.1.0/24", "ip route del 10.96.0.0/12",
			"ip -4 route show root 10.244.0.0/16", "ip -4 route show root 10.96.0.0/12",
			"systemctl disable --now -q kubeha-routes", "systemctl daemon-reload",
			"ip -4 route show root 10.244.0.0/16", "ip -4 route show root 10.96.0.0/12", "systemctl is-active -q kubeha-routes",
		}})
		if exists(d.Routes) || exists(d.Unit) {
			t.Error("the routes file or the unit is still there")
		}
	})

	t.Run("routes: a route that stays is named", func(t *testing.T) {
		dir := t.TempDir()
		d := routesCleanUpData{Routes: filepath.Join(dir, "routes"), Unit: filepath.Join(dir, "unit"), PodSubnet: "10.244.0.0/16", ServiceSubnet: "fd00:96::/112"}
		r := runWithStubs(t, scripts.Render("phases/routes-cleanup", d), `
"ip route del "*) exit 2 ;;
"ip -4 route show root 10.244.0.0/16") printf '%s\n' '10.244.3.0/24 via 10.0.0.4 dev eth0 linkdown' 'blackhole 10.244.9.0/24' '10.244.2.0/24 dev cni0 proto kernel scope link src 10.244.2.1' ;;
"ip -6 route show root fd00:96::/112") exit 0 ;;`, "ip", "systemctl")
		check(t, r, want{code: 1, stderr: leftMessage("routes into the Pod or Service CIDR"),
			calls: []string{"ip route del 10.244.3.0/24", "ip route del blackhole 10.244.9.0/24", "ip -6 route show root fd00:96::/112"},
			never: []string{"ip route del 10.244.2.0/24"}})
	})

	lbFiles := func(t *testing.T) (lbCleanUpData, string) {
		dir := t.TempDir()
		found := filepath.Join(dir, "found")
		file(t, filepath.Join(found, "haproxy.cfg"), "# the distribution's\n")
		file(t, filepath.Join(found, "keepalived.conf.absent"), "")
		file(t, filepath.Join(found, "haproxy.service"), "enabled\nactive\n")
		file(t, filepath.Join(found, "keepalived.service"), "disabled\ninactive\n")
		return lbCleanUpData{
			Own:    []string{file(t, filepath.Join(dir, "check_apiserver.sh"), "x"), filepath.Join(dir, "nginx.conf")},
			Distro: []string{file(t, filepath.Join(dir, "haproxy.cfg"), "# Managed by kubeha\n"), file(t, filepath.Join(dir, "keepalived.conf"), "# Managed by kubeha\n")},
			Found:  found, Managed: managedPattern, VIP: "10.0.0.100",
		}, dir
	}
	const vipLine = `"ip -o addr show") [ -e "$STATE/vip-gone" ] || echo '2: eth0    inet 10.0.0.100/32 scope global eth0\       valid_lft forever preferred_lft forever' ;;`

	t.Run("lb: failed services stop none of the others", func(t *testing.T) {
		d, _ := lbFiles(t)
		r := runWithStubs(t, scripts.Render("phases/lb-cleanup", d), vipLine+`
"ip addr del 10.0.0.100/32 dev eth0") touch "$STATE/vip-gone" ;;`, "ip", "systemctl")
		check(t, r, want{code: 0, calls: []string{
			"systemctl disable --now -q keepalived", "systemctl disable --now -q haproxy", "systemctl disable --now -q kubeha-nginx",
			"systemctl daemon-reload", "systemctl enable -q haproxy", "systemctl start haproxy",
			"ip -o addr show", "ip addr del 10.0.0.100/32 dev eth0", "systemctl is-active -q kubeha-nginx", "ip -o addr show",
		}, never: []string{"systemctl enable -q keepalived", "systemctl start keepalived"}})
		if b, _ := os.ReadFile(d.Distro[0]); string(b) != "# the distribution's\n" {
			t.Errorf("haproxy.cfg is %q, not the distribution's", b)
		}
		if exists(d.Distro[1]) || exists(d.Own[0]) {
			t.Error("kubeha's keepalived.conf or check script is still there")
		}
	})

	t.Run("lb: a VIP that stays is named", func(t *testing.T) {
		d, _ := lbFiles(t)
		r := runWithStubs(t, scripts.Render("phases/lb-cleanup", d), vipLine, "ip", "systemctl")
		check(t, r, want{code: 1, stderr: leftMessage("the VIP on an interface"),
			calls: []string{"ip addr del 10.0.0.100/32 dev eth0", "systemctl is-active -q kubeha-nginx"}})
	})

	t.Run("kube-proxy: failed deletions stop none of the others", func(t *testing.T) {
		r := runWithStubs(t, kubeProxyCleanUp(), `
"ip link show kube-ipvs0") [ ! -e "$STATE/ipvs0-gone" ] ;;
"ip link del kube-ipvs0") touch "$STATE/ipvs0-gone" ;;
"ip -o addr show dev kube-ipvs0") printf '%s\n' '9: kube-ipvs0    inet 10.96.0.1/32 scope global kube-ipvs0' '9: kube-ipvs0    inet 10.96.0.10/32 scope global kube-ipvs0' ;;
"ipvsadm -Sn") printf '%s\n' '-A -t 10.96.0.1:443 -s rr' '-a -t 10.96.0.1:443 -r 10.0.0.1:6443 -m -w 1' '-A -u 10.96.0.10:53 -s rr' '-A -t 192.0.2.5:80 -s rr' '-A -t 10.0.0.1:30080 -s rr' ;;
"ipvsadm -D "*) exit 1 ;;
"ipset list -n") [ -e "$STATE/ipsets-tried" ] || printf '%s\n' KUBE-CLUSTER-IP OPERATOR KUBE-LOOP-BACK ;;
"ipset destroy "*) touch "$STATE/ipsets-tried"; exit 1 ;;
"nft list table "*) exit 1 ;;`, "ip", "ipvsadm", "ipset", "nft")
		check(t, r, want{code: 0, calls: []string{
			"ipvsadm -D -t 10.96.0.1:443", "ipvsadm -D -u 10.96.0.10:53", "ipvsadm -D -t 10.0.0.1:30080",
			"ip link del kube-ipvs0", "ipset destroy KUBE-CLUSTER-IP", "ipset destroy KUBE-LOOP-BACK", "ipset list -n",
		}, never: []string{"ipvsadm -D -t 192.0.2.5:80", "ipset destroy OPERATOR"}})
	})

	// iptables-nft-save shows KUBE-FIREWALL in the filter table until
	// iptables-nft-restore has rewritten it.
	const saves = `"iptables-nft-save"|"iptables-nft-save -t filter")
  echo '*filter'; echo ':INPUT ACCEPT [0:0]'
  [ -e "$STATE/restored" ] || { echo ':KUBE-FIREWALL - [0:0]'; echo '-A INPUT -j KUBE-FIREWALL'; }
  echo COMMIT ;;
"ip link show kube-ipvs0"|"nft list table "*) exit 1 ;;`

	t.Run("kube-proxy: an emptied nft table that stays stops nothing", func(t *testing.T) {
		r := runWithStubs(t, kubeProxyCleanUp(), saves+`
"iptables-nft-restore -w -T filter") cat >/dev/null; touch "$STATE/restored" ;;
"nft delete table ip filter") exit 1 ;;`, "iptables-nft-save", "iptables-nft-restore", "nft", "ip")
		check(t, r, want{code: 0, calls: []string{
			"iptables-nft-restore -w -T filter", "nft delete table ip filter", "nft list table ip kube-proxy", "ip link show kube-ipvs0",
		}})
	})

	t.Run("kube-proxy: chains that stay are named", func(t *testing.T) {
		r := runWithStubs(t, kubeProxyCleanUp(), saves+`
"iptables-nft-restore -w -T filter") cat >/dev/null; exit 4 ;;`, "iptables-nft-save", "iptables-nft-restore", "nft", "ip")
		check(t, r, want{code: 1, stderr: leftMessage("iptables chains KUBE-*"),
			calls: []string{"iptables-nft-restore -w -T filter", "nft list table ip kube-proxy", "ip link show kube-ipvs0"}})
	})

	t.Run("teardown: a failed kubeadm reset is for the checks to judge", func(t *testing.T) {
		for _, p := range []string{"/etc/kubernetes", "/var/lib/kubelet/config.yaml", "/var/lib/etcd/member"} {
			if exists(p) {
				t.Skipf("%s exists on this machine: the checks would find it", p)
			}
		}
		dir := t.TempDir()
		marks := []string{file(t, filepath.Join(dir, "node.done"), ""), file(t, filepath.Join(dir, "control-plane.done"), "")}
		r := runWithStubs(t, scripts.Render("phases/teardown", teardownData{Marks: marks, StackedEtcd: true}), `
"ctr -n k8s.io tasks ls") echo 'TASK    PID    STATUS' ;;`, "kubeadm", "ctr")
		check(t, r, want{code: 0, calls: []string{"kubeadm reset -f --cleanup-tmp-dir", "ctr -n k8s.io tasks ls"}})
		if exists(marks[0]) || exists(marks[1]) {
			t.Error("kubeha's marks are still there")
		}
	})

	t.Run("host-prep: the hosts script stops at its own failure, the clean-up does not", func(t *testing.T) {
		dir := t.TempDir()
		d := hostPrepCleanUpData{
			FirewalldPorts: filepath.Join(dir, "firewalld-ports"),
			Sysctl:         file(t, filepath.Join(dir, "sysctl.conf"), "x"), Modules: filepath.Join(dir, "modules.conf"),
			ConfigDir: file(t, filepath.Join(dir, "kubeha", "x"), ""),
			// Never in /etc/hosts, which the test only reads.
			HostsBegin: "# kubeha test block that no /etc/hosts has",
			RemoveHostsBlock: scripts.Render("scripts-test/fail-between", struct{ Before, After []string }{
				[]string{"hosts", "before"}, []string{"hosts", "after"}}),
		}
		d.ConfigDir = filepath.Dir(d.ConfigDir)
		r := runWithStubs(t, scripts.Render("phases/host-prep-cleanup", d), "", "hosts")
		check(t, r, want{code: 0, calls: []string{"hosts before"}, never: []string{"hosts after"}})
		if exists(d.Sysctl) || exists(d.ConfigDir) {
			t.Error("host-prep's files are still there")
		}
	})
}
