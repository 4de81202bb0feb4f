package conformance

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/e2e/kube"
)

const (
	specA = "[sig-node] Pods should be submitted and removed [NodeConformance] [Conformance]"
	specB = "[sig-storage] ImageVolume should succeed with pod and pull policy of Always [Conformance]"
	specC = "[sig-network] DNS should provide DNS for services  [Conformance]"
	specD = "[sig-apps] Job should run a job to completion [Conformance]"
)

func compile(t *testing.T, patterns ...string) []*regexp.Regexp {
	t.Helper()
	var res []*regexp.Regexp
	for _, p := range patterns {
		res = append(res, regexp.MustCompile(p))
	}
	return res
}

func TestOutcomes(t *testing.T) {
	names := []string{specD, specC, specB, specA}
	var patterns []string
	for _, n := range NotRun {
		patterns = append(patterns, n.Pattern)
	}
	notRun := compile(t, patterns...)
	tests := []struct {
		name    string
		results map[string]Spec
		focus   []string
		want    []Spec
	}{
		{
			name: "every spec, one failed, one left out, one the suite skipped",
			results: map[string]Spec{
				specA: {Name: specA, State: "passed", Seconds: 2},
				specC: {Name: specC, State: "failed", Seconds: 40, Reason: "timed out"},
				specB: {Name: specB, State: "skipped"},
				specD: {Name: specD, State: "skipped"},
			},
			want: []Spec{
				{Name: specD, State: "skipped"},
				{Name: specC, State: "failed", Seconds: 40, Reason: "timed out"},
				{Name: specA, State: "passed", Seconds: 2},
				{Name: specB, State: "not run", Reason: NotRun[0].Reason},
			},
		},
		{
			name:    "a focus: the others are not run, one the focus chose is missing from the report",
			results: map[string]Spec{specA: {Name: specA, State: "passed", Seconds: 2}},
			focus:   []string{"Pods should be submitted", "DNS should provide"},
			want: []Spec{
				{Name: specD, State: "not run", Reason: "not in the focus"},
				{Name: specC, State: "not run", Reason: "not in ginkgo's report"},
				{Name: specA, State: "passed", Seconds: 2},
				{Name: specB, State: "not run", Reason: NotRun[0].Reason},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := outcomes(names, tt.results, notRun, compile(t, tt.focus...))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// ginkgo's JSON report as e2e.test writes it, cut to the fields read and a
// BeforeSuite node, which is not a spec.
const ginkgoReport = `[{"SuiteDescription":"Kubernetes e2e suite","SpecReports":[
{"ContainerHierarchyTexts":null,"LeafNodeText":"","LeafNodeType":"SynchronizedBeforeSuite","State":"passed","RunTime":1000000000},
{"ContainerHierarchyTexts":null,"LeafNodeText":"","LeafNodeType":"SynchronizedAfterSuite","State":"panicked","RunTime":1000000000,"Failure":{"Message":"Test Panicked","ForwardedPanic":"runtime error: index out of range\ngoroutine 1"}},
{"ContainerHierarchyTexts":["[sig-node] Pods"],"LeafNodeText":"should be submitted and removed [NodeConformance] [Conformance]","LeafNodeType":"It","State":"passed","RunTime":2500000000},
{"ContainerHierarchyTexts":["[sig-network] DNS"],"LeafNodeText":"should provide DNS for services  [Conformance]","LeafNodeType":"It","State":"failed","RunTime":40000000000,"Failure":{"Message":"Unexpected error:\n    <*errors.errorString>: timed out"}},
{"ContainerHierarchyTexts":["[sig-apps] Job"],"LeafNodeText":"should run a job to completion [Conformance]","LeafNodeType":"It","State":"skipped","RunTime":0},
{"ContainerHierarchyTexts":["[sig-node] Probing"],"LeafNodeText":"should be restarted [Conformance]","LeafNodeType":"It","State":"skipped","RunTime":0,"Failure":{"Message":"Only supported for providers [gce]\n(not skeleton)"}}
]}]`

func TestReadGinkgo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serial.json")
	if err := os.WriteFile(path, []byte(ginkgoReport), 0o644); err != nil {
		t.Fatal(err)
	}
	// The Job spec ran in another pass (the parallel one): the skip of
	// this pass must not hide it.
	results := map[string]Spec{specD: {Name: specD, State: "passed", Seconds: 7}}
	failures, err := readGinkgo(path, results)
	if err != nil {
		t.Fatal(err)
	}
	const probe = "[sig-node] Probing should be restarted [Conformance]"
	want := map[string]Spec{
		specA: {Name: specA, State: "passed", Seconds: 2.5},
		specC: {Name: specC, State: "failed", Seconds: 40, Reason: "Unexpected error:"},
		specD: {Name: specD, State: "passed", Seconds: 7},
		probe: {Name: probe, State: "skipped", Reason: "Only supported for providers [gce]"},
	}
	if !reflect.DeepEqual(results, want) {
		t.Errorf("got\n%+v\nwant\n%+v", results, want)
	}
	if want := []string{"SynchronizedAfterSuite panicked: Test Panicked panic: runtime error: index out of range"}; !reflect.DeepEqual(failures, want) {
		t.Errorf("suite failures %q, want %q", failures, want)
	}
}

func TestProgressLines(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	w := &lineWriter{f: f, progress: func(l string) { got = append(got, l) }}
	out := "SSSS\n------------------------------\n" + specA + " [sig-node, Conformance]\n  STEP: creating the pod\n•"
	w.Write([]byte(out))
	w.Write([]byte(" [2.500 seconds]\n------------------------------\n[sig-network] DNS should provide DNS for services  [Conformance]\n• [FAILED] [40.0 seconds]\nRan 2 of 7000 Specs in 50.1 seconds\n"))
	want := []string{
		"• [2.500 seconds] " + specA + " [sig-node, Conformance]",
		"• [FAILED] [40.0 seconds] [sig-network] DNS should provide DNS for services  [Conformance]",
		"Ran 2 of 7000 Specs in 50.1 seconds",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	logged, _ := os.ReadFile(f.Name())
	if !strings.HasPrefix(string(logged), out) {
		t.Errorf("the log lost output: %q", logged)
	}
}

// In parallel runs the verdict comes first, the name after it.
func TestProgressLinesParallel(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	w := &lineWriter{f: f, progress: func(l string) { got = append(got, l) }, nameAfterVerdict: true}
	w.Write([]byte("SSSS\n------------------------------\n• [48.210 seconds]\n" + specA + "\nk8s.io/kubernetes@v1.37.2/test/e2e/common/node/pods.go:1\n\n  Timeline >>\n  STEP: x\n" +
		"------------------------------\n• [FAILED] [4.9 seconds]\n[sig-network] DNS [It] should provide DNS for services  [Conformance]\n"))
	want := []string{
		"• [48.210 seconds] " + specA,
		"• [FAILED] [4.9 seconds] [sig-network] DNS [It] should provide DNS for services  [Conformance]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestMarkdown(t *testing.T) {
	r := Report{
		Date: "2026-12-03", Commit: "abc1234", KubeVersion: "v1.37.2", Cluster: "3 masters, 2 workers",
		Focus: `\[Conformance\]`, Seconds: 3600, Disruption: "the VIP holder m1 went off the network",
		VIPTakeovers: []string{"m2 10m0.6s into the run", "m1 10m31.0s into the run"},
		Specs: []Spec{
			{Name: specD, State: "skipped"},
			{Name: specC, State: "failed", Seconds: 40, Reason: "a | b"},
			{Name: specA, State: "passed", Seconds: 2},
			{Name: specB, State: "not run", Reason: "no registry"},
			{Name: "[sig-x] Y [Conformance]", State: "not run", Reason: "not in the focus"},
		},
	}
	want := "Run of 2026-12-03 at commit abc1234: Kubernetes v1.37.2, 3 masters, 2 workers; focus `\\[Conformance\\]`; 60 minutes. During the run: the VIP holder m1 went off the network. Hosts took the VIP 2 times (each entering keepalived's MASTER state, claims undone within the second included): m2 10m0.6s into the run, m1 10m31.0s into the run.\n" +
		"\n" +
		"| outcome | specs |\n|---|---|\n" +
		"| passed | 1 |\n| failed | 1 |\n| skipped | 1 |\n| not run | 2 |\n" +
		"| all [Conformance] specs of the suite | 5 |\n" +
		"\nEvery spec that did not pass:\n\n| spec | outcome | why |\n|---|---|---|\n" +
		"| " + specD + " | skipped |  |\n" +
		"| " + specC + " | failed | a \\| b |\n" +
		"| " + specB + " | not run | no registry |\n" +
		"\nPassed:\n\n- " + specA + " (2.0 s)\n" +
		"\n1 specs were outside this run's focus.\n"
	if got := r.Markdown(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// Every pattern of the tables is a valid regular expression.
func TestPatternsCompile(t *testing.T) {
	for _, n := range NotRun {
		if _, err := regexp.Compile(n.Pattern); err != nil || n.Reason == "" {
			t.Errorf("NotRun %q: %v, reason %q", n.Pattern, err, n.Reason)
		}
	}
	for _, f := range CISubset {
		if _, err := regexp.Compile(f); err != nil {
			t.Errorf("CISubset %q: %v", f, err)
		}
	}
}

// suiteNames are the codenames of the module's conformance.yaml (the list
// compiled into e2e.test), when the module is in the module cache
// (e2e/kube/build.sh puts it there).
func suiteNames(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "k8s.io", "kubernetes@"+kube.Version, "test", "conformance", "testdata", "conformance.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("k8s.io/kubernetes@%s is not in the module cache (e2e/kube/build.sh fetches it): %v", kube.Version, err)
	}
	names, err := codenames(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 400 {
		t.Fatalf("%s: %d specs", path, len(names))
	}
	return names
}

// Each CI entry selects exactly one spec of the suite, neither [Serial]
// nor [Slow]; each NotRun pattern at least one.
func TestCISubsetAgainstTheSuite(t *testing.T) {
	names := suiteNames(t)
	for _, f := range CISubset {
		re := regexp.MustCompile(f)
		var matched []string
		for _, n := range names {
			if re.MatchString(n) {
				matched = append(matched, n)
			}
		}
		if len(matched) != 1 {
			t.Errorf("CISubset %q matches %d specs: %q", f, len(matched), matched)
			continue
		}
		if strings.Contains(matched[0], "[Serial]") || strings.Contains(matched[0], "[Slow]") {
			t.Errorf("CISubset %q is serial or slow: %s", f, matched[0])
		}
	}
	for _, n := range NotRun {
		if !matchesAny(regexp.MustCompile(n.Pattern), names) {
			t.Errorf("NotRun %q matches no spec", n.Pattern)
		}
	}
}
