// Package scripts renders the shell scripts kubeha runs on hosts.
//
// Every script is a template file under templates/ (NAME.sh.tmpl, rendered
// as "NAME" with the path below templates/, e.g. "phases/init"; pieces
// several scripts share are {{define}}d in templates/lib/), rendered
// from typed data by Render behind one prelude (prelude.sh: set -eu, and
// the helpers wait_until, section and hash_files). Values reach a script
// only through the template functions q and qs, the one quoting function:
// a test fails on any other output action, so no value, from the inventory
// or a host, can change a script's structure. A Script can be made only by
// Render, so a phase cannot run a command it built with fmt.Sprintf or +.
package scripts

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/kubeha/kubeha/ssh"
)

//go:embed prelude.sh
var prelude string

//go:embed templates
var files embed.FS

// Script is a rendered script. Its zero value is the empty script.
type Script struct{ body string }

// String is the script as a host runs it: the prelude, then the body.
func (s Script) String() string { return prelude + s.body }

// IsZero reports whether s is the empty script (templates test it with
// {{if not .X.IsZero}}).
func (s Script) IsZero() bool { return s.body == "" }

// Body is the script without the prelude, for golden files.
func (s Script) Body() string { return s.body }

// Funcs are the functions templates may call. q, qs, embed, int and octal
// are the only ones an output action may end with (TestOnlyQuotedOutput).
var funcs = template.FuncMap{
	// q quotes one value as a single shell word.
	"q": ssh.Quote,
	// qs quotes each value of a list and joins them with spaces.
	"qs": func(vs []string) string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = ssh.Quote(v)
		}
		return strings.Join(out, " ")
	},
	// embed puts another script's body here (its prelude is this one's).
	"embed": func(s Script) string { return s.body },
	// int prints a number; a string given to it is an error.
	"int": func(n int) string { return strconv.Itoa(n) },
	// octal prints a file mode as chmod takes it.
	"octal": func(m os.FileMode) string { return strconv.FormatUint(uint64(m.Perm()), 8) },
}

var (
	loadOnce sync.Once
	set      *template.Template
	names    []string
	loadErr  error
)

// load parses every template once. Each file is a template named after its
// path below templates/ without .sh.tmpl; a file may also define shared
// pieces with {{define}}, which every template can use.
func load() (*template.Template, error) {
	loadOnce.Do(func() {
		set = template.New("").Option("missingkey=error").Funcs(funcs)
		loadErr = fs.WalkDir(files, "templates", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			name, ok := strings.CutSuffix(strings.TrimPrefix(p, "templates/"), ".sh.tmpl")
			if !ok {
				return fmt.Errorf("scripts: %s: not a .sh.tmpl file", p)
			}
			b, err := files.ReadFile(p)
			if err != nil {
				return err
			}
			if _, err := set.New(name).Parse(string(b)); err != nil {
				return err
			}
			names = append(names, name)
			return nil
		})
		sort.Strings(names)
	})
	return set, loadErr
}

// Render renders the template name with data. Templates are fixed when
// kubeha is built and every one is rendered by the golden tests of the
// package that uses it, so a failure here is a bug in kubeha, not in its
// input: Render panics rather than make every caller handle it.
func Render(name string, data any) Script {
	t, err := load()
	if err != nil {
		panic(err)
	}
	if t.Lookup(name) == nil {
		panic(fmt.Sprintf("scripts: no template %q", name))
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		panic(err)
	}
	rendered.Store(name, true)
	return Script{body: strings.TrimLeft(b.String(), "\n")}
}

// rendered records which templates Render has rendered, for the test that
// every template has a golden rendering.
var rendered sync.Map

// Rendered reports whether Render has rendered name in this process.
func Rendered(name string) bool {
	_, ok := rendered.Load(name)
	return ok
}

// Names lists the templates whose name starts with prefix (e.g. "phases/").
// Pieces that several scripts share are {{define}}d in templates/lib/ and
// used with {{template}}; they are not scripts of their own.
func Names(prefix string) []string {
	if _, err := load(); err != nil {
		panic(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// sectionMarker starts each section of a script's output (the prelude's
// section function).
const sectionMarker = "@@kubeha-section "

// Sections splits the output of a script that calls section NAME into its
// sections, by name. Output before the first section is dropped.
func Sections(out string) map[string]string {
	sections := map[string]*strings.Builder{}
	var cur *strings.Builder
	for _, l := range strings.SplitAfter(out, "\n") {
		if name, ok := strings.CutPrefix(l, sectionMarker); ok {
			cur = &strings.Builder{}
			sections[strings.TrimSpace(name)] = cur
			continue
		}
		if cur != nil {
			cur.WriteString(l)
		}
	}
	m := make(map[string]string, len(sections))
	for k, v := range sections {
		m[k] = v.String()
	}
	return m
}

// ParseHashes reads hash_files' output: sha256 by path. Paths kubeha
// hashes hold no newline or backslash, so sha256sum prints them as they are.
func ParseHashes(out string) map[string]string {
	have := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if h, p, ok := strings.Cut(l, "  "); ok {
			have[p] = h
		}
	}
	return have
}
