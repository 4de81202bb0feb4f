package scripts

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"text/template"
	"text/template/parse"
)

// allowedLast are the functions an output action may end with: each turns
// its value into shell text that is one word (q), words (qs), a script
// (embed) or digits (int, octal).
var allowedLast = map[string]bool{"q": true, "qs": true, "embed": true, "int": true, "octal": true}

// rawOutput returns the output actions of tree that print a value without
// ending in an allowed function.
func rawOutput(tree *parse.Tree) []string {
	var bad []string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 {
				return // {{$x := ...}} prints nothing
			}
			last := n.Pipe.Cmds[len(n.Pipe.Cmds)-1]
			if id, ok := last.Args[0].(*parse.IdentifierNode); !ok || !allowedLast[id.Ident] {
				bad = append(bad, n.String())
			}
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(tree.Root)
	return bad
}

// TestOnlyQuotedOutput walks every template: an action that prints must end
// in an allowed function, so {{.Address}} or {{printf "%s" .X}} cannot put
// a value into a script unquoted.
func TestOnlyQuotedOutput(t *testing.T) {
	set, err := load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tmpl := range set.Templates() {
		if tmpl.Tree == nil {
			continue
		}
		for _, a := range rawOutput(tmpl.Tree) {
			t.Errorf("%s: %s prints a value without q, qs, embed, int or octal", tmpl.Name(), a)
		}
	}
}

// TestLintSeesRawOutput checks the lint itself on templates it must refuse.
func TestLintSeesRawOutput(t *testing.T) {
	for _, src := range []string{`echo {{.X}}`, `echo {{printf "%s" .X}}`, `{{if .X}}rm {{.X}}{{end}}`,
		`{{range .Xs}}{{.}}{{end}}`, `{{with .X}}{{.}}{{end}}`, `{{q .X | printf "%s"}}`} {
		tmpl, err := template.New("t").Funcs(funcs).Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if len(rawOutput(tmpl.Tree)) == 0 {
			t.Errorf("%s: the lint finds nothing", src)
		}
	}
	tmpl := template.Must(template.New("t").Funcs(funcs).Parse(`{{$x := .X}}echo {{q $x}} {{qs .Xs}} {{int .N}}`))
	if bad := rawOutput(tmpl.Tree); len(bad) > 0 {
		t.Errorf("the lint refuses quoted output: %v", bad)
	}
}

func TestRenderQuotesAndKeepsPrelude(t *testing.T) {
	s := Render("scripts-test/example", struct {
		Word  string
		Words []string
		Secs  int
	}{"a'b", []string{"x y", "$z"}, 1})
	got := s.String()
	if !strings.HasPrefix(got, prelude) {
		t.Fatalf("no prelude:\n%s", got)
	}
	want := "echo 'a'\\''b'\nfor w in 'x y' '$z'; do echo \"$w\"; done\nwait_until 1 'never true' false\n"
	if body := strings.TrimPrefix(got, prelude); body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	if !Rendered("scripts-test/example") {
		t.Error("Rendered does not record the rendering")
	}
}

// run runs a script with sh and returns its stdout, stderr and exit code.
func run(t *testing.T, script string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestPreludeHelpers(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body     string
		stdout, stderr string
		code           int
	}{
		{"wait_until succeeds at once", "wait_until 5 'x not ready' true; echo done", "done\n", "", 0},
		{"wait_until succeeds later", "n=0; f() { n=$((n+1)); [ $n -ge 3 ]; }; wait_until 10 'x not ready' f; echo $n", "3\n", "", 0},
		{"wait_until gives up", "wait_until 1 'x not ready' false; echo unreachable", "", "x not ready after 1 s\n", 1},
		{"set -u", "echo $undefined_var", "", "", 2},
		{"set -e", "false; echo unreachable", "", "", 1},
		{"hash_files", "printf a > " + dir + "/a; hash_files " + dir + "/a " + dir + "/missing",
			"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  " + dir + "/a\n", "", 0},
		{"hash_files none", "hash_files " + dir + "/missing; echo ok", "ok\n", "", 0},
		{"section", "echo before; section one; echo 1; section two; echo 2", "before\n@@kubeha-section one\n1\n@@kubeha-section two\n2\n", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, prelude+tc.body)
			if code != tc.code || out != tc.stdout {
				t.Errorf("exit %d, stdout %q; want %d, %q (stderr %q)", code, out, tc.code, tc.stdout, errOut)
			}
			if tc.stderr != "" && errOut != tc.stderr {
				t.Errorf("stderr %q, want %q", errOut, tc.stderr)
			}
		})
	}
}

func TestSectionsAndHashes(t *testing.T) {
	got := Sections("junk\n@@kubeha-section a\nx\ny\n@@kubeha-section b\n@@kubeha-section c\nz")
	want := map[string]string{"a": "x\ny\n", "b": "", "c": "z"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sections = %q, want %q", got, want)
	}
	h := ParseHashes("abc  /etc/a\ndef  /etc/b c\n")
	if !reflect.DeepEqual(h, map[string]string{"/etc/a": "abc", "/etc/b c": "def"}) {
		t.Errorf("ParseHashes = %q", h)
	}
}

// TestPreludeIsCleanShell: the owners' golden tests check each rendered
// script with sh -n and shellcheck; the prelude is checked once here.
func TestPreludeIsCleanShell(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck not installed (.ci/run installs it)")
	}
	out, err := exec.Command("shellcheck", "-s", "sh", "prelude.sh").CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck prelude.sh: %v\n%s", err, out)
	}
}
