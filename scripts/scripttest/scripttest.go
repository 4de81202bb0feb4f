// Package scripttest checks rendered scripts (package scripts) the same
// way wherever they are rendered: each script's structure must not change
// when an inventory value is hostile, each must pass sh -n and shellcheck,
// and each matches its golden file. Tests of the packages that render
// scripts call Check with their cases.
package scripttest

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

	"github.com/kubeha/kubeha/scripts"
)

var update = flag.Bool("update", false, "rewrite the golden files of rendered scripts")

// Case is one script rendering: Render renders the script with every
// inventory value set to v.
type Case struct {
	Name   string
	Render func(v string) scripts.Script
}

// Checks are the cases of one package and what they are held to.
type Checks struct {
	Cases []Case
	// Allow names, per case, the shellcheck findings it means to have.
	Allow map[string][]string
	// Templates is the prefix of the package's templates ("controlplane/"):
	// each must be rendered by a case.
	Templates string
	// Golden is the directory of the golden files, one per case.
	Golden string
}

// Check runs every check on every case as subtests of t.
func Check(t *testing.T, c Checks) {
	t.Run("shape", func(t *testing.T) { checkShapes(t, c.Cases) })
	t.Run("parse", func(t *testing.T) { checkParse(t, c.Cases, c.Allow) })
	t.Run("golden", func(t *testing.T) { checkGoldens(t, c) })
}

// PlainValue stands for every inventory value (name, address, VIP, CIDR,
// mode, path, image) in the reference rendering of a script.
const PlainValue = "10.0.0.1"

// HostileValues are inventory values that change a shell script's
// structure wherever one is interpolated raw: in a bare word, inside single
// or double quotes, inside a sed or awk program, or in a trap. Inventory
// validation refuses them; the scripts must not depend on that.
var HostileValues = []string{
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

// checkShapes renders every script once
// with plain values and once per hostile value, and requires the same
// shell structure: the same commands, words per command, operators,
// redirections, expansions and sed, awk, grep, trap and printf programs.
// Only the contents of literal words may differ. A value interpolated raw
// anywhere fails it.
func checkShapes(t *testing.T, cases []Case) {
	for _, sc := range cases {
		t.Run(sc.Name, func(t *testing.T) {
			plain := sc.Render(PlainValue).String()
			want, err := shape(plain)
			if err != nil {
				t.Fatalf("the plain rendering does not parse: %v\n%s", err, plain)
			}
			for _, v := range HostileValues {
				got := sc.Render(v).String()
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

// checkParse runs sh -n on every script, plain and hostile, and
// shellcheck (when installed) on the plain rendering and the one with a
// quote in every value: shellcheck takes about 20 ms a script, so the
// other hostile renderings, whose structure the shape test already holds
// to the plain one, are left to sh -n.
func checkParse(t *testing.T, cases []Case, allows map[string][]string) {
	values := append([]string{PlainValue}, HostileValues...)
	dir := t.TempDir()
	type rendering struct{ c, v int }
	files := map[string]rendering{}
	var all, checked []string
	for i, sc := range cases {
		for j, v := range values {
			f := filepath.Join(dir, fmt.Sprintf("%02d-%02d.sh", i, j))
			if err := os.WriteFile(f, []byte(sc.Render(v).String()), 0o644); err != nil {
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
		return fmt.Sprintf("%s with %q", cases[r.c].Name, values[r.v])
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
		if slices.Contains(allows[cases[r.c].Name], code) {
			continue
		}
		t.Errorf("shellcheck: %s: %s", name(f), rest)
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

// goldenName is the golden file of a case in dir.
func goldenName(dir, name string) string {
	return filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".sh.golden")
}

// checkGoldens renders every case with plain values and compares it with
// its golden file (go test -run ... -update rewrites them), so a change to
// any script shows in review as a diff of the shell itself. Every template
// under c.Templates must be rendered by some case: a template without one
// would escape the shape, sh -n and shellcheck checks.
func checkGoldens(t *testing.T, c Checks) {
	seen := map[string]bool{}
	for _, sc := range c.Cases {
		g := goldenName(c.Golden, sc.Name)
		if seen[g] {
			t.Fatalf("two cases share the golden file %s", g)
		}
		seen[g] = true
		got := sc.Render(PlainValue).Body()
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
			t.Errorf("%s: %v (run with -update)", sc.Name, err)
			continue
		}
		if got != string(want) {
			t.Errorf("%s differs from %s (run with -update and review the diff):\n%s", sc.Name, g, got)
		}
	}
	for _, name := range scripts.Names(c.Templates) {
		if !scripts.Rendered(name) {
			t.Errorf("template %s is rendered by no case", name)
		}
	}
	entries, _ := os.ReadDir(c.Golden)
	for _, e := range entries {
		if !seen[filepath.Join(c.Golden, e.Name())] {
			t.Errorf("%s belongs to no case: remove it", filepath.Join(c.Golden, e.Name()))
		}
	}
}
