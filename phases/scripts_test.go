package phases

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"

	"github.com/kubeha/kubeha/bundle"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// plainValue stands for every inventory value (name, address, VIP, CIDR,
// mode, path, image) in the reference rendering of a script.
const plainValue = "10.0.0.1"

// hostileValues are inventory values that change a shell script's
// structure wherever one is interpolated raw: in a bare word, inside single
// or double quotes, inside a sed or awk program, or in a trap. Inventory
// validation refuses them; the scripts must not depend on that.
var hostileValues = []string{
	`10.0.0.1'; touch /tmp/pwned; echo '`,
	`$(touch /tmp/pwned)`,
	"`touch /tmp/pwned`",
	"10.0.0.1\ntouch /tmp/pwned",
	"10.0.0.1 #comment",
	"10.0.0.1#x",
	"10.0.0.1;touch /tmp/pwned",
	"10.0.0.1|touch /tmp/pwned",
	"10.0.0.1&touch /tmp/pwned",
	"10.0.0.1&&touch /tmp/pwned",
	"/etc/*",
	"10.0.0.?",
	"[ab]",
	"~root",
	"10.0.0.1 10.0.0.2",
	`10.0.0.1"; touch /tmp/pwned; echo "`,
	`10.0.0.1\`,
	`${IFS}x`,
	"$x",
	"a)b",
	"a}b",
	"a>b",
	"a<b",
	`'`,
	`"`,
	"\\\n",
	"a/b\\1&c",
}

// scriptHost is a master whose name and addresses are all v.
func scriptHost(v string) inventory.Host {
	return inventory.Host{Name: v, Address: v, InternalAddress: v, Role: inventory.RoleMaster}
}

// scriptCluster is a cluster in which every string kubeha may put in a
// script is v.
func scriptCluster(v string) *inventory.Cluster {
	return &inventory.Cluster{Spec: inventory.Spec{
		KubernetesVersion:    v,
		Hosts:                []inventory.Host{scriptHost(v), {Name: v, Address: v, InternalAddress: v, Role: inventory.RoleWorker}},
		ControlPlaneEndpoint: inventory.Endpoint{Name: v, Port: 6443},
		LoadBalancer: inventory.LoadBalancer{Mode: inventory.ModeKeepalivedHAProxy, Placement: inventory.PlacementMasters,
			VIP: v, Interface: v, Address: v},
		Etcd:    inventory.Etcd{Topology: inventory.EtcdStacked},
		Network: inventory.Network{PodSubnet: v, ServiceSubnet: v, KubeProxyMode: v},
	}}
}

// scriptCase renders one remote script with every inventory value set to v.
type scriptCase struct {
	name   string
	render func(v string) scripts.Script
}

// Deliberate shellcheck findings.
var (
	// `set -- $(cmd)` splits cmd's output into fields on purpose.
	splitsOutput = []string{"SC2046"}
	// Interface names (ls /sys/class/net...) hold no blank or newline:
	// the kernel refuses them.
	listsInterfaces = []string{"SC2045", "SC2010"}
	// shellcheckAllows names, per script, the findings it means to have.
	shellcheckAllows = map[string][]string{
		"cniCleanUp bridge":   listsInterfaces,
		"cniCleanUp manifest": listsInterfaces,
		"factsCommand":        splitsOutput,
		"smallFilesScript":    splitsOutput,
		"probeScript":         splitsOutput,
	}
)

// scriptCases are every script builder of the package. Those that take no
// inventory value are here too, for sh -n and shellcheck.
func scriptCases() []scriptCase {
	return []scriptCase{
		// join.go
		{"localAdmin", func(v string) scripts.Script { return scripts.Legacy(localAdmin(scriptHost(v))) }},
		{"secretExistsScript", func(v string) scripts.Script {
			return scripts.Legacy(secretExistsScript(scriptHost(v), "bootstrap-token-abcdef"))
		}},
		{"credentialsScript", func(v string) scripts.Script {
			return scripts.Legacy(credentialsScript(scriptHost(v), "kubeadm init phase upload-certs --upload-certs --config"))
		}},
		{"revokeScript", func(v string) scripts.Script { return scripts.Legacy(localAdmin(scriptHost(v)) + revokeScript) }},
		// verify.go
		{"verifyScript", func(v string) scripts.Script {
			return scripts.Legacy(verifyScript(inventory.EtcdStacked, v, []inventory.Host{scriptHost(v), scriptHost(v)}))
		}},
		{"endpointReadyScript", func(v string) scripts.Script {
			return scripts.Legacy(endpointReadyScript(kubeadm.Endpoint(scriptCluster(v))))
		}},
		// join_control_plane.go
		{"slbCheckScript", func(v string) scripts.Script {
			return scripts.Legacy(slbCheckScript(kubeadm.Endpoint(scriptCluster(v))))
		}},
		{"joinScript worker", func(string) scripts.Script { return scripts.Legacy(joinScript(false)) }},
		{"joinScript control plane", func(string) scripts.Script {
			return scripts.Legacy(joinScript(true) + "\n" + waitReadyScript(180) + "\n" + waitEtcdScript)
		}},
		{"hostsScript", func(v string) scripts.Script { return scripts.Legacy(hostsScript(hostsBlock(scriptCluster(v), v))) }},
		// kubeadm_init.go
		{"initScript", func(string) scripts.Script { return scripts.Legacy(initScript()) }},
		{"resetInterruptedInitScript", func(string) scripts.Script { return scripts.Legacy(resetInterruptedInitScript()) }},
		{"teardownScript stacked", func(string) scripts.Script { return teardownScript(true) }},
		{"teardownScript external", func(string) scripts.Script { return teardownScript(false) }},
		// network.go
		{"podCIDRScript", func(v string) scripts.Script { return scripts.Legacy(podCIDRScript(scriptHost(v), v)) }},
		{"routesCleanUp", func(v string) scripts.Script { return routesCleanUp(scriptCluster(v).Spec.Network) }},
		{"routesProbeScript", func(string) scripts.Script { return routesProbeScript() }},
		{"routesApplyScript", func(string) scripts.Script { return routesApplyScript(false) }},
		{"routesApplyScript reload", func(string) scripts.Script { return routesApplyScript(true) }},
		{"cniCleanUp bridge", func(string) scripts.Script { return cniCleanUp(inventory.CNIBridge) }},
		{"cniCleanUp manifest", func(string) scripts.Script { return cniCleanUp(inventory.CNIManifest) }},
		{"cniPluginsScript", func(string) scripts.Script { return cniPluginsScript() }},
		// cleanup_test.go: the pieces every clean-up includes, alone.
		{"verifiedCleanUp", func(string) scripts.Script { return scripts.Render("phases/verified-cleanup", nil) }},
		{"netfilter", func(string) scripts.Script { return scripts.Render("phases/netfilter", nil) }},
		// kube_proxy.go
		{"setProxyModeScript", func(v string) scripts.Script { return scripts.Legacy(setProxyModeScript(v)) }},
		{"waitProxyModeScript", func(v string) scripts.Script { return waitProxyModeScript(v) }},
		{"proxyModeScript", func(string) scripts.Script { return proxyModeScript() }},
		{"kubeProxyCleanUp", func(string) scripts.Script { return kubeProxyCleanUp() }},
		// load_balancer.go
		{"lbCleanUpScript", func(v string) scripts.Script { return lbCleanUpScript(v) }},
		{"recordFoundLBScript", func(string) scripts.Script { return scripts.Legacy(recordFoundLBScript) }},
		// host_prep.go
		{"HostPrepScript", func(v string) scripts.Script {
			c := scriptCluster(v)
			return scripts.Legacy(HostPrepScript(c, c.Spec.Hosts[0], inventory.ProxyModeIPVS))
		}},
		{"readHostsBlock", func(string) scripts.Script { return scripts.Legacy(readHostsBlock) }},
		{"hostPrepCleanUp", func(string) scripts.Script { return hostPrepCleanUp() }},
		// facts.go
		{"factsCommand", func(v string) scripts.Script {
			s, err := factsCommand(&Env{Cluster: scriptCluster(v)}, v)
			if err != nil {
				panic(err)
			}
			return scripts.Legacy(s)
		}},
		// interrupted.go
		{"finishedScript worker", func(v string) scripts.Script { return scripts.Legacy(finishedScript(scriptHost(v), false)) }},
		{"finishedScript control plane", func(v string) scripts.Script { return scripts.Legacy(finishedScript(scriptHost(v), true)) }},
		{"removeEtcdMemberScript", func(v string) scripts.Script { return scripts.Legacy(removeEtcdMemberScript(v, scriptHost(v))) }},
		// artifacts.go: bundle paths and image names come from the bundle's
		// manifest, not the inventory, and are held to the same rule.
		{"artifactsProbeScript", func(v string) scripts.Script {
			return scripts.Legacy(artifactsProbeScript([]bundle.File{{Target: v}, {Target: "/usr/bin/kubeadm"}, {Kind: bundle.KindImage}}))
		}},
		{"importImageScript", func(v string) scripts.Script {
			return scripts.Legacy(installArtifactsPrelude + importImageScript(imageStage+"/"+filepath.Base(v), []string{v, "registry.k8s.io/pause:3.10"}))
		}},
		// remote.go
		{"hashScript", func(v string) scripts.Script { return scripts.Legacy(hashScript([]string{v, SysctlPath})) }},
		{"smallFilesScript", func(v string) scripts.Script {
			return scripts.Legacy(smallFilesScript([]fileSpec{{Path: v, Mode: 0o600, Content: []byte(v)}, {Path: SysctlPath, Content: []byte("x")}}))
		}},
		{"waitReadyScript", func(string) scripts.Script { return scripts.Legacy(waitReadyScript(180)) }},
		{"probeScript", func(v string) scripts.Script {
			fc, err := factsCommand(&Env{Cluster: scriptCluster(v)}, v)
			if err != nil {
				panic(err)
			}
			return scripts.Legacy(probeScript(fc, []string{v, SysctlPath}, readHostsBlock))
		}},
	}
}

// TestScriptsKeepTheirShapeWithHostileValues renders every script once
// with plain values and once per hostile value, and requires the same
// shell structure: the same commands, words per command, operators,
// redirections, expansions and sed, awk, grep, trap and printf programs.
// Only the contents of literal words may differ. A value interpolated raw
// anywhere fails it.
func TestScriptsKeepTheirShapeWithHostileValues(t *testing.T) {
	for _, sc := range scriptCases() {
		t.Run(sc.name, func(t *testing.T) {
			plain := sc.render(plainValue).String()
			want, err := shape(plain)
			if err != nil {
				t.Fatalf("the plain rendering does not parse: %v\n%s", err, plain)
			}
			for _, v := range hostileValues {
				got := sc.render(v).String()
				gs, err := shape(got)
				if err != nil {
					t.Errorf("value %q: the script no longer parses: %v\n%s", v, err, got)
					continue
				}
				if gs != want {
					t.Errorf("value %q changes the script's structure (%s)\n%s", v, firstDifference(want, gs), got)
				}
			}
		})
	}
}

// TestScriptsParse runs sh -n on every script, plain and hostile, and
// shellcheck (when installed) on the plain rendering and the one with a
// quote in every value: shellcheck takes about 20 ms a script, so the
// other hostile renderings, whose structure the shape test already holds
// to the plain one, are left to sh -n.
func TestScriptsParse(t *testing.T) {
	cases := scriptCases()
	values := append([]string{plainValue}, hostileValues...)
	dir := t.TempDir()
	type rendering struct{ c, v int }
	files := map[string]rendering{}
	var all, checked []string
	for i, sc := range cases {
		for j, v := range values {
			f := filepath.Join(dir, fmt.Sprintf("%02d-%02d.sh", i, j))
			if err := os.WriteFile(f, []byte(sc.render(v).String()), 0o644); err != nil {
				t.Fatal(err)
			}
			files[f] = rendering{i, j}
			all = append(all, f)
			if j <= 1 {
				checked = append(checked, f)
			}
		}
	}
	name := func(f string) string {
		r := files[f]
		return fmt.Sprintf("%s with %q", cases[r.c].name, values[r.v])
	}
	// One shell for every sh -n: a process per script is most of the cost.
	out, err := exec.Command("sh", append([]string{"-c", `for f; do sh -n "$f" 2>/dev/null || echo "$f"; done`, "sh"}, all...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(out)) {
		msg, _ := exec.Command("sh", "-n", f).CombinedOutput()
		t.Errorf("sh -n: %s: %s", name(f), msg)
	}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Log("shellcheck is not installed: skipping it")
		return
	}
	// SC2016 (no expansion in single quotes) is what kubeha means: trap
	// strings and awk programs expand later, on purpose.
	out, _ = exec.Command("shellcheck", append([]string{"-s", "sh", "-S", "warning", "-f", "gcc", "-e", "SC2016"}, checked...)...).CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		f, rest, _ := strings.Cut(l, ":")
		r, ok := files[f]
		if !ok {
			t.Errorf("shellcheck: %s", l)
			continue
		}
		code := rest[strings.LastIndex(rest, "[")+1:]
		code = strings.TrimSuffix(code, "]")
		if slices.Contains(shellcheckAllows[cases[r.c].name], code) {
			continue
		}
		t.Errorf("shellcheck: %s: %s", name(f), rest)
	}
}

// TestShapeSeesInjection checks shape itself: a value interpolated raw
// into each template gives a different shape for the plain and the hostile
// value, and the same value quoted into the same place (where there is a
// safe place: none inside a program) gives the same shape.
func TestShapeSeesInjection(t *testing.T) {
	cases := []struct {
		name, raw, quoted, hostile string
	}{
		{"bare word", "curl https://%s/readyz", "curl https://%s/readyz", "a;touch /tmp/x"},
		{"single quotes", "echo 'on %s'", "echo 'on '%s", "a'; touch /tmp/x; echo '"},
		{"double quotes", `echo "on %s"`, `echo "on "%s`, "$(touch /tmp/x)"},
		{"backquotes", `echo "on %s"`, `echo "on "%s`, "`touch /tmp/x`"},
		{"newline", "ping %s", "ping %s", "a\ntouch /tmp/x"},
		{"comment", "ping %s -c 1", "ping %s -c 1", "a #"},
		{"glob", "rm -f %s", "rm -f %s", "/etc/*"},
		{"tilde", "ls %s", "ls %s", "~root"},
		{"space", "ping %s", "ping %s", "a b"},
		{"pipe", "ping %s", "ping %s", "a|b"},
		{"background", "ping %s", "ping %s", "a&b"},
		{"assignment", "x=%s; echo", "x=%s; echo", "a b"},
		{"sed program", `sed 's#^x.*#x %s#' f`, "", "a#e"},
		{"awk program", `awk '$1 == "%s"' f`, "", `a" || 1 == "1`},
		{"trap", "trap 'rm -f %s' EXIT", "", "a $(x)"},
	}
	shapeOf := func(template, v string) string {
		s, err := shape(fmt.Sprintf(template, v))
		if err != nil {
			return "parse error: " + err.Error()
		}
		return s
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if shapeOf(tc.raw, "plain") == shapeOf(tc.raw, tc.hostile) {
				t.Errorf("raw %q in %q: shape sees no difference", tc.hostile, tc.raw)
			}
			if tc.quoted == "" {
				return
			}
			plain, hostile := shapeOf(tc.quoted, ssh.Quote("plain")), shapeOf(tc.quoted, ssh.Quote(tc.hostile))
			if plain != hostile {
				t.Errorf("quoted %q in %q: shape sees a difference (%s)", tc.hostile, tc.quoted, firstDifference(plain, hostile))
			}
		})
	}
}

// shape describes the structure of a POSIX shell script, one token a line:
// the kind of each syntax node, the operators, each command's word count,
// and each word as its sequence of literal runs and expansions. Literal
// text is left out (a run of adjacent literal parts, quoted or not, is one
// L, marked L* when an unquoted part holds a glob or tilde), except in the
// programs of sed, awk, grep, trap, eval and the format of printf, which
// are printed whole: a value spliced into a program changes the program.
func shape(script string) (string, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX), syntax.KeepComments(true)).Parse(strings.NewReader(script), "")
	if err != nil {
		return "", err
	}
	var s shaper
	syntax.Walk(f, s.visit)
	return s.b.String(), nil
}

type shaper struct{ b strings.Builder }

func (s *shaper) line(format string, a ...any) { fmt.Fprintf(&s.b, format+"\n", a...) }

func (s *shaper) visit(n syntax.Node) bool {
	switch n := n.(type) {
	case nil:
		s.line(")")
		return true
	case *syntax.Word:
		s.word(n)
		return false
	case *syntax.Lit:
		// Names outside words: assignments, functions, for variables,
		// redirected file descriptors.
		s.line("name %s", n.Value)
		return false
	case *syntax.Stmt:
		s.line("stmt negated=%t background=%t (", n.Negated, n.Background)
		return true
	case *syntax.CallExpr:
		s.line("call %d (", len(n.Args))
		s.programs(n.Args)
		return true
	case *syntax.BinaryCmd:
		s.line("binary %s (", n.Op)
		return true
	case *syntax.Redirect:
		s.line("redirect %s (", n.Op)
		return true
	case *syntax.BinaryArithm:
		s.line("arithm %s (", n.Op)
		return true
	case *syntax.UnaryArithm:
		s.line("arithm %s post=%t (", n.Op, n.Post)
		return true
	case *syntax.ParamExp:
		s.line("param short=%t length=%t (", n.Short, n.Length)
		if n.Exp != nil {
			s.line("exp %s", n.Exp.Op)
		}
		return true
	case *syntax.CaseItem:
		s.line("case-item %s (", n.Op)
		return true
	}
	s.line("%T (", n)
	return true
}

// word prints w as runs of literal parts and the expansions between them.
func (s *shaper) word(w *syntax.Word) {
	s.line("word (")
	s.parts(w.Parts, true)
	s.line(")")
}

func (s *shaper) parts(parts []syntax.WordPart, unquoted bool) {
	lit, glob := false, false
	flush := func() {
		if lit {
			if glob {
				s.line("L*")
			} else {
				s.line("L")
			}
		}
		lit, glob = false, false
	}
	for i, p := range parts {
		if _, ok := literal(p); ok {
			if l, isLit := p.(*syntax.Lit); isLit && unquoted && hasGlob(l.Value, i == 0) {
				glob = true
			}
			lit = true
			continue
		}
		flush()
		if dq, ok := p.(*syntax.DblQuoted); ok {
			s.line(`dq (`)
			s.parts(dq.Parts, false)
			s.line(")")
			continue
		}
		syntax.Walk(p, s.visit)
	}
	flush()
}

// programs prints the program arguments of the commands that take one.
func (s *shaper) programs(args []*syntax.Word) {
	if len(args) == 0 {
		return
	}
	cmd, ok := wordLiteral(args[0])
	if ok {
		s.line("command %q", cmd)
	}
	switch cmd {
	case "sed", "awk", "grep", "trap", "eval":
		for i, a := range args[1:] {
			if i > 0 {
				if prev, _ := wordLiteral(args[i]); prev == "-v" {
					continue // an awk variable: data, not program
				}
			}
			if v, ok := wordLiteral(a); ok {
				s.line("program %q", v)
			}
		}
	case "printf":
		if len(args) > 1 {
			if v, ok := wordLiteral(args[1]); ok {
				s.line("format %q", v)
			}
		}
	}
}

// literal returns the text of a word part that expands to itself.
func literal(p syntax.WordPart) (string, bool) {
	switch p := p.(type) {
	case *syntax.Lit:
		return p.Value, true
	case *syntax.SglQuoted:
		return p.Value, !p.Dollar
	case *syntax.DblQuoted:
		var b strings.Builder
		for _, q := range p.Parts {
			l, ok := q.(*syntax.Lit)
			if !ok {
				return "", false
			}
			b.WriteString(l.Value)
		}
		return b.String(), true
	}
	return "", false
}

// wordLiteral returns w's text when every part of it is literal.
func wordLiteral(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, p := range w.Parts {
		l, ok := literal(p)
		if !ok {
			return "", false
		}
		b.WriteString(l)
	}
	return b.String(), true
}

// hasGlob reports whether unquoted literal text holds an unescaped glob
// character, or a tilde that starts the word.
func hasGlob(s string, first bool) bool {
	if first && strings.HasPrefix(s, "~") {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// firstDifference names the first line where two shapes part.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range min(len(w), len(g)) {
		if w[i] != g[i] {
			return fmt.Sprintf("shape line %d: want %q, got %q", i+1, w[i], g[i])
		}
	}
	return fmt.Sprintf("shapes of %d and %d lines", len(w), len(g))
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/scripts")

// goldenName is the golden file of a script case.
func goldenName(name string) string {
	return filepath.Join("testdata", "scripts", strings.ReplaceAll(name, " ", "-")+".sh")
}

// TestScriptGoldens renders every script with plain values and compares it
// with its golden file (go test ./phases -run TestScriptGoldens -update
// rewrites them), so a change to any script shows in review as a diff of
// the shell itself. It also requires every template of the phases to be
// rendered by some case: a template without one is unchecked by the shape,
// sh -n and shellcheck tests.
func TestScriptGoldens(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range scriptCases() {
		g := goldenName(sc.name)
		if seen[g] {
			t.Fatalf("two cases share the golden file %s", g)
		}
		seen[g] = true
		got := sc.render(plainValue).Body()
		if *update {
			if err := os.MkdirAll(filepath.Dir(g), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(g, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(g)
		if err != nil {
			t.Errorf("%s: %v (run with -update)", sc.name, err)
			continue
		}
		if got != string(want) {
			t.Errorf("%s differs from %s (run with -update and review the diff):\n%s", sc.name, g, got)
		}
	}
	for _, name := range scripts.Names("phases/") {
		if !scripts.Rendered(name) {
			t.Errorf("template %s is rendered by no case in scriptCases", name)
		}
	}
	entries, _ := os.ReadDir(filepath.Join("testdata", "scripts"))
	for _, e := range entries {
		if !seen[filepath.Join("testdata", "scripts", e.Name())] {
			t.Errorf("testdata/scripts/%s belongs to no case: remove it", e.Name())
		}
	}
}
