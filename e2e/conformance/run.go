package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// NotRunHere is a [Conformance] spec this harness cannot run, and why.
type NotRunHere struct {
	// Pattern matches the spec's full name.
	Pattern string
	Reason  string
}

// NotRun lists the specs left out of every run, each with the reason
// docs/conformance.md gives. Each pattern must match at least one spec
// (checked against the suite's own list before a run).
var NotRun = []NotRunHere{
	{`ImageVolume should succeed with pod and pull policy of Always`,
		"needs image volumes, which containerd 1.6 (Debian bookworm's) lacks"},
}

// CISubset is one or more fast specs of each area, run in CI on the HA
// scenario's cluster (no [Serial], no [Slow]). Each entry is a regular
// expression ORed into --ginkgo.focus and matches exactly one spec
// (TestCISubsetAgainstTheSuite).
var CISubset = []string{
	`server version should find the server version`,
	`Discovery should validate PreferredVersion`,
	`Watchers should observe add, update, and delete watch notifications`,
	`Lease lease API should be available`,
	`CustomResourceDefinition resources .* Simple CustomResourceDefinition creating/deleting`,
	`AdmissionWebhook .* should be able to deny pod and configmap creation`,
	`Garbage collector should delete pods created by rc when not orphaning`,
	`ResourceQuota should create a ResourceQuota and capture the life of a pod`,
	`Deployment RollingUpdateDeployment should delete old pods and create new ones`,
	`StatefulSet .* should have a working scale subresource`,
	`ServiceAccounts should mount an API token into pods`,
	`Pods should be submitted and removed`,
	`Downward API should provide pod name, namespace and IP address as env vars`,
	`ConfigMap should be consumable from pods in volume with defaultMode set`,
	`EmptyDir volumes should support \(root,0644,tmpfs\)`,
	`Kubelet when scheduling a busybox command in a pod should print the output to logs`,
	`Networking Granular Checks: Pods should function for intra-pod communication: http`,
	`Networking Granular Checks: Pods should function for node-pod communication: udp`,
	`DNS should provide DNS for services`,
	`Services should serve a basic endpoint from pods`,
	`Services should be able to create a functioning NodePort service`,
	`Proxy version v1 should proxy through a service and a pod`,
	`Kubectl client Kubectl version should check is all data is printed`,
	`Conformance Tests should have at least two untainted nodes`,
	`EndpointSlice should create Endpoints and EndpointSlices for Pods matching a Service`,
}

// Spec is one [Conformance] spec of the suite and what a run made of it.
type Spec struct {
	Name string `json:"name"`
	// State is ginkgo's (passed, failed, skipped, timedout, ...), or
	// "not run": left out by NotRun (Reason says why) or by the focus.
	State   string  `json:"state"`
	Seconds float64 `json:"seconds,omitempty"`
	// Reason is NotRun's reason, or the first line of a failure.
	Reason string `json:"reason,omitempty"`
}

// Report is one run: what ran, on what, and every conformance spec.
type Report struct {
	Date        string  `json:"date"`
	Commit      string  `json:"commit"`
	KubeVersion string  `json:"kubeVersion"`
	Cluster     string  `json:"cluster"`
	Focus       string  `json:"focus"`
	Seconds     float64 `json:"seconds"`
	// Disruption says what happened to the cluster during the run (the VIP
	// holder's crash), empty for none.
	Disruption string `json:"disruption,omitempty"`
	// VIPTakeovers are the hosts that took the VIP during the run, oldest
	// first, as "m2 10m0.6s into the run": each moved it and reset every
	// connection made through it. nil when not looked at (no VIP, or a
	// report written before 2026-12-04).
	VIPTakeovers []string `json:"vipTakeovers,omitempty"`
	// SuiteFailures are failures outside any spec (BeforeSuite, ...).
	SuiteFailures []string `json:"suiteFailures,omitempty"`
	Specs         []Spec   `json:"specs"`
}

// Count returns how many specs are in state.
func (r Report) Count(state string) int {
	n := 0
	for _, s := range r.Specs {
		if s.State == state {
			n++
		}
	}
	return n
}

// Options is one run of the suite.
type Options struct {
	// E2ETest, Kubectl and Ginkgo are the binaries (Ginkgo only with
	// Procs > 1).
	E2ETest, Kubectl, Ginkgo string
	Kubeconfig               string
	// ReportDir receives ginkgo's JSON report and the suite's log.
	ReportDir string
	// Focus are regular expressions ORed; empty means every [Conformance]
	// spec.
	Focus []string
	// Procs > 1 runs the non-serial specs in that many processes, then
	// the [Serial] ones alone, as upstream's conformance image does.
	Procs int
	// Progress receives one line per finished spec.
	Progress func(line string)
}

// List returns the full names of the suite's [Conformance] specs, from the
// list compiled into e2e.test (test/conformance/testdata/conformance.yaml).
func List(ctx context.Context, e2eTest string) ([]string, error) {
	out, err := exec.CommandContext(ctx, e2eTest, "--list-conformance-tests").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-conformance-tests: %w", e2eTest, err)
	}
	names, err := codenames(out)
	if err != nil {
		return nil, fmt.Errorf("%s --list-conformance-tests: %w", e2eTest, err)
	}
	return names, nil
}

// codenames are the specs' full names in a conformance.yaml list.
func codenames(list []byte) ([]string, error) {
	var entries []struct {
		Codename string `yaml:"codename"`
	}
	if err := yaml.Unmarshal(list, &entries); err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Codename)
	}
	return names, nil
}

// Run runs the [Conformance] specs o.Focus selects, leaving out NotRun's,
// and returns each spec of the suite with its outcome. An error means the
// suite could not run or report; failed specs are in the report, not the
// error.
func Run(ctx context.Context, o Options) (Report, error) {
	names, err := List(ctx, o.E2ETest)
	if err != nil {
		return Report{}, err
	}
	var notRun []*regexp.Regexp
	for _, n := range NotRun {
		re := regexp.MustCompile(n.Pattern)
		if !matchesAny(re, names) {
			return Report{}, fmt.Errorf("conformance: NotRun pattern %q matches no spec of %s: update the table", n.Pattern, o.E2ETest)
		}
		notRun = append(notRun, re)
	}
	var focus []*regexp.Regexp
	var focusText []string
	for _, f := range o.Focus {
		if f == "" {
			// An empty pattern would select every spec.
			continue
		}
		focusText = append(focusText, f)
		re, err := regexp.Compile(f)
		if err != nil {
			return Report{}, err
		}
		if !matchesAny(re, names) {
			return Report{}, fmt.Errorf("conformance: focus %q matches no [Conformance] spec", f)
		}
		focus = append(focus, re)
	}
	if err := os.MkdirAll(o.ReportDir, 0o755); err != nil {
		return Report{}, err
	}
	skip := make([]string, 0, len(NotRun))
	for _, n := range NotRun {
		skip = append(skip, n.Pattern)
	}
	focusRE := `\[Conformance\]`
	if len(focusText) > 0 {
		focusRE = "(" + strings.Join(focusText, "|") + `).*\[Conformance\]`
	}
	// ginkgo stops each pass itself before ctx ends, so that it still
	// writes its report (a killed ginkgo leaves none): a pass gets what is
	// left of ctx when it starts, less a margin.
	suiteTimeout := func() (time.Duration, error) {
		deadline, ok := ctx.Deadline()
		if !ok {
			return 6 * time.Hour, nil
		}
		left := time.Until(deadline) - 5*time.Minute
		if left < time.Minute {
			return 0, fmt.Errorf("conformance: less than 6 minutes left to run the suite")
		}
		return left.Round(time.Second), nil
	}
	common := []string{
		"--provider=skeleton", "--kubeconfig=" + o.Kubeconfig, "--kubectl-path=" + o.Kubectl,
		"--disable-log-dump", "--report-dir=" + o.ReportDir,
	}
	start := time.Now()
	var reports []string
	runOne := func(label string, args []string) error {
		logPath := filepath.Join(o.ReportDir, label+".log")
		f, err := os.Create(logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		// Interrupted, ginkgo reports what ran; then it has a minute.
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = time.Minute
		cmd.Stdout = &lineWriter{f: f, progress: o.Progress, nameAfterVerdict: label == "parallel"}
		cmd.Stderr = f
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(o.Kubectl)+":"+os.Getenv("PATH"))
		err = cmd.Run()
		reports = append(reports, filepath.Join(o.ReportDir, label+".json"))
		if _, statErr := os.Stat(filepath.Join(o.ReportDir, label+".json")); statErr != nil {
			return fmt.Errorf("conformance %s: %v, and no report (log: %s)", label, err, logPath)
		}
		// A non-zero exit with a report means specs failed: the report says which.
		return nil
	}
	skipRE := strings.Join(skip, "|")
	parallelSkip := `\[Serial\]`
	if skipRE != "" {
		parallelSkip += "|" + skipRE
	} else {
		// An empty --skip skips nothing; "a|" would skip everything.
		skipRE = `\A\z.`
	}
	if o.Procs > 1 {
		timeout, err := suiteTimeout()
		if err != nil {
			return Report{}, err
		}
		par := append([]string{o.Ginkgo, fmt.Sprintf("--procs=%d", o.Procs), "--timeout=" + timeout.String(), "--no-color", "-v",
			"--focus=" + focusRE, "--skip=" + parallelSkip,
			"--json-report=parallel.json", "--output-dir=" + o.ReportDir, o.E2ETest, "--"}, common...)
		if err := runOne("parallel", par); err != nil {
			return Report{}, err
		}
		// The framework labels [Serial] specs "Serial"; ginkgo ANDs a
		// label filter with the focus.
		if timeout, err = suiteTimeout(); err != nil {
			return Report{}, err
		}
		ser := append([]string{o.Ginkgo, "--timeout=" + timeout.String(), "--no-color", "-v", "--label-filter=Serial",
			"--focus=" + focusRE, "--skip=" + skipRE,
			"--json-report=serial.json", "--output-dir=" + o.ReportDir, o.E2ETest, "--"}, common...)
		if err := runOne("serial", ser); err != nil {
			return Report{}, err
		}
	} else {
		timeout, err := suiteTimeout()
		if err != nil {
			return Report{}, err
		}
		args := append([]string{o.E2ETest}, common...)
		args = append(args, "--ginkgo.focus="+focusRE, "--ginkgo.skip="+skipRE, "--ginkgo.timeout="+timeout.String(),
			"--ginkgo.no-color", "--ginkgo.v", "--ginkgo.json-report="+filepath.Join(o.ReportDir, "serial.json"))
		if err := runOne("serial", args); err != nil {
			return Report{}, err
		}
	}
	results := map[string]Spec{}
	var suiteFailures []string
	for _, p := range reports {
		failures, err := readGinkgo(p, results)
		if err != nil {
			return Report{}, err
		}
		suiteFailures = append(suiteFailures, failures...)
	}
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	for name := range results {
		if strings.Contains(name, "[Conformance]") && !known[name] {
			return Report{}, fmt.Errorf("conformance: ginkgo ran %q, which is not in the suite's list by that name: the names are joined differently", name)
		}
	}
	r := Report{Focus: focusRE, Seconds: time.Since(start).Seconds(), SuiteFailures: suiteFailures, Specs: outcomes(names, results, notRun, focus)}
	return r, nil
}

// outcomes is every spec of names with what results (ginkgo's reports, by
// name) made of it: a spec the suite ran keeps its state; one it skipped
// or never saw is "not run", with NotRun's reason, "not in the focus", or
// (when the focus chose it) the suite's skip. notRun are NotRun's
// patterns, compiled, in its order.
func outcomes(names []string, results map[string]Spec, notRun, focus []*regexp.Regexp) []Spec {
	var specs []Spec
	for _, name := range names {
		s, ok := results[name]
		switch {
		case ok && s.State != "skipped":
		case matchesAnyOf(name, notRun):
			s = Spec{State: "not run", Reason: NotRun[indexOf(name, notRun)].Reason}
		case len(focus) > 0 && !matchesAnyOf(name, focus):
			s = Spec{State: "not run", Reason: "not in the focus"}
		case ok:
			// Skipped by the suite itself (a missing feature, a provider).
		default:
			s = Spec{State: "not run", Reason: "not in ginkgo's report"}
		}
		s.Name = name
		specs = append(specs, s)
	}
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	return specs
}

// lineWriter tees the suite's stdout to f and gives progress one line
// for each finished spec.
type lineWriter struct {
	f        *os.File
	progress func(string)
	buf      []byte
	spec     string
	// nameAfterVerdict: in parallel runs ginkgo prints each spec's verdict
	// first and its name on a later line; serially, the name comes first.
	nameAfterVerdict bool
	verdict          string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.f.Write(p)
	if w.progress == nil {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		// Verbose ginkgo names each spec at column 0 ("[sig-node] Pods
		// ...") and gives it a verdict ("• [12.3 seconds]", "• [FAILED]
		// [40.1 seconds]"): one progress line a spec.
		switch {
		case strings.HasPrefix(line, "Ran "):
			w.progress(line)
		case strings.HasPrefix(line, "[sig-") && w.nameAfterVerdict:
			if w.verdict != "" {
				w.progress(w.verdict + " " + line)
				w.verdict = ""
			}
		case strings.HasPrefix(line, "[sig-"):
			w.spec = line
		case strings.HasPrefix(line, "•") && w.nameAfterVerdict:
			w.verdict = line
		case strings.HasPrefix(line, "•"):
			w.progress(strings.TrimSpace(line + " " + w.spec))
			w.spec = ""
		}
	}
	return len(p), nil
}

// readGinkgo adds each spec of ginkgo's JSON report at path to results,
// by full name (its containers' texts and its own, space-separated, as
// conformance.yaml's codenames are), and returns the failures of nodes
// that are not specs (BeforeSuite, AfterSuite, ...): with such a failure
// the specs may not have run at all.
func readGinkgo(path string, results map[string]Spec) (suiteFailures []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var suites []struct {
		SpecReports []struct {
			ContainerHierarchyTexts []string
			LeafNodeText            string
			LeafNodeType            string
			State                   string
			RunTime                 int64
			Failure                 struct {
				Message        string
				ForwardedPanic string
			}
		}
	}
	if err := json.Unmarshal(b, &suites); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range suites {
		for _, sp := range s.SpecReports {
			reason := firstLine(sp.Failure.Message)
			if sp.Failure.ForwardedPanic != "" {
				reason = strings.TrimSpace(reason + " panic: " + firstLine(sp.Failure.ForwardedPanic))
			}
			if sp.LeafNodeType != "It" {
				if sp.State != "passed" && sp.State != "skipped" {
					suiteFailures = append(suiteFailures, fmt.Sprintf("%s %s: %s", sp.LeafNodeType, sp.State, reason))
				}
				continue
			}
			name := strings.Join(append(append([]string(nil), sp.ContainerHierarchyTexts...), sp.LeafNodeText), " ")
			spec := Spec{Name: name, State: sp.State, Seconds: time.Duration(sp.RunTime).Seconds()}
			if sp.State != "passed" {
				// A skip's message says why (a missing feature, a provider).
				spec.Reason = reason
			}
			// A spec in both runs (skipped in one): keep the one that ran.
			if old, ok := results[name]; ok && old.State != "skipped" {
				continue
			}
			results[name] = spec
		}
	}
	return suiteFailures, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func matchesAny(re *regexp.Regexp, names []string) bool {
	for _, n := range names {
		if re.MatchString(n) {
			return true
		}
	}
	return false
}

func matchesAnyOf(name string, res []*regexp.Regexp) bool { return indexOf(name, res) >= 0 }

func indexOf(name string, res []*regexp.Regexp) int {
	for i, re := range res {
		if re.MatchString(name) {
			return i
		}
	}
	return -1
}
