// Package kubeconfig merges a cluster's admin kubeconfig into the file
// kubectl reads, the way `kind export kubeconfig` does, keeping everything
// else in that file as it was.
//
// The package never prints and never logs what it reads: the admin
// kubeconfig holds a client key.
package kubeconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kubeha/kubeha/state"
)

// Names are the entries a cluster gets in a merged kubeconfig: the
// cluster and the context are named after the cluster (metadata.name), the
// user NAME-admin. Merging replaces entries of exactly these names and
// nothing else.
type Names struct {
	Cluster, User, Context string
}

// NamesFor is the naming scheme for cluster name.
func NamesFor(name string) Names {
	return Names{Cluster: name, User: name + "-admin", Context: name}
}

// DefaultPath is the file kubectl uses: the first path of $KUBECONFIG
// when it names one, else ~/.kube/config under home.
func DefaultPath(kubeconfigEnv, home string) string {
	for _, p := range filepath.SplitList(kubeconfigEnv) {
		if p != "" {
			return p
		}
	}
	return filepath.Join(home, ".kube", "config")
}

// InvalidError is a kubeconfig that is not kubeconfig YAML. Merging into
// it is refused and the file is left untouched.
type InvalidError struct {
	Path string // empty when the bytes came from no file
	Err  error
}

func (e *InvalidError) Error() string {
	if e.Path == "" {
		return "not a kubeconfig: " + e.Err.Error()
	}
	return e.Path + " is not a valid kubeconfig: " + e.Err.Error()
}

func (e *InvalidError) Unwrap() error { return e.Err }

// MergeFile merges admin (a kubeconfig such as kubeadm's admin.conf) into
// the kubeconfig at path under names n, and makes n.Context the current
// context. A missing or empty file is created; its directory is created
// 0700 when missing. The file is written atomically (a temporary file in
// the same directory, synced, renamed) with mode 0600; a symlink is
// followed and its target written. A file that is not kubeconfig YAML is
// an *InvalidError naming path and is not written.
//
// MergeFile does not take kubectl's lock file: a kubectl writing the same
// file at the same moment may lose its change or this one.
func MergeFile(path string, admin []byte, n Names) error {
	target := path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		target = p
	}
	existing, err := os.ReadFile(target)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read kubeconfig: %w", err)
	}
	out, err := Merge(existing, admin, n)
	if err != nil {
		var ie *InvalidError
		if errors.As(err, &ie) && ie.Path == "" {
			ie.Path = path
		}
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return fmt.Errorf("create kubeconfig directory: %w", err)
	}
	return state.WriteFileAtomic(target, out, 0o600)
}

// Merge returns existing with admin's cluster, user and context under
// names n and current-context set to n.Context. Entries of other names
// and every other top-level field, comments included, are kept in their
// order; an entry of one of n's names is replaced where it stands, a new
// one is appended. Empty existing starts a new kubeconfig.
//
// An existing that is not kubeconfig YAML is an *InvalidError with no
// path; an admin without one resolvable cluster and user is an error.
func Merge(existing, admin []byte, n Names) ([]byte, error) {
	cluster, user, err := adminEntries(admin)
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig: %w", err)
	}
	root, err := parse(existing)
	if err != nil {
		return nil, &InvalidError{Err: err}
	}
	if root == nil {
		root = newConfig()
	}
	for _, f := range []struct {
		list, kind, name string
		body             *yaml.Node
	}{
		{"clusters", "cluster", n.Cluster, cluster},
		{"users", "user", n.User, user},
		{"contexts", "context", n.Context, mapping(
			"cluster", scalar(n.Cluster),
			"user", scalar(n.User),
		)},
	} {
		// Keys in kubectl's order: "cluster", "context" before "name", "user" after.
		e := mapping(f.kind, f.body, "name", scalar(f.name))
		if f.kind > "name" {
			e = mapping("name", scalar(f.name), f.kind, f.body)
		}
		setEntry(list(root, f.list), f.name, e)
	}
	set(root, "current-context", scalar(n.Context))

	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	enc.CompactSeqIndent() // kubectl's own layout: "clusters:\n- cluster:"
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Credentials returns the values in kubeconfig b's users that are secret
// (client-key-data, token, password), for the caller's redaction. Values
// it cannot parse are simply not returned.
func Credentials(b []byte) []string {
	root, err := parse(b)
	if err != nil || root == nil {
		return nil
	}
	var out []string
	for _, e := range listOrNil(root, "users") {
		u := get(e, "user")
		for _, k := range []string{"client-key-data", "token", "password"} {
			if v := get(u, k); v != nil && v.Kind == yaml.ScalarNode && v.Value != "" {
				out = append(out, v.Value)
			}
		}
	}
	return out
}

// parse returns the top-level mapping of a kubeconfig, nil for an empty
// document (a new one when it holds comments), or an error saying why b is
// not kubeconfig YAML.
func parse(b []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return onlyComments(b), nil
		}
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return onlyComments(b), nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the top level is not a mapping", root.Line)
	}
	root.HeadComment = joinComments(doc.HeadComment, root.HeadComment)
	root.FootComment = joinComments(root.FootComment, doc.FootComment)
	if k := get(root, "kind"); k != nil && !(k.Kind == yaml.ScalarNode && (k.Value == "Config" || k.Value == "")) {
		return nil, fmt.Errorf("line %d: kind is %q, not Config", k.Line, k.Value)
	}
	for _, l := range []struct{ list, kind string }{{"clusters", "cluster"}, {"users", "user"}, {"contexts", "context"}} {
		v := get(root, l.list)
		if v == nil || isNull(v) {
			continue
		}
		if v.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("line %d: %s is not a list", v.Line, l.list)
		}
		for _, e := range v.Content {
			if e.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("line %d: an entry of %s is not a mapping", e.Line, l.list)
			}
			if name := get(e, "name"); name == nil || name.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: an entry of %s has no name", e.Line, l.list)
			}
		}
	}
	if v := get(root, "current-context"); v != nil && v.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("line %d: current-context is not a string", v.Line)
	}
	return root, nil
}

// adminEntries finds admin's current context and returns the bodies of
// the cluster and the user it names (kubeadm's admin.conf has one of
// each). With no current context, a file of exactly one cluster and one
// user is taken as it is.
func adminEntries(b []byte) (cluster, user *yaml.Node, err error) {
	root, err := parse(b)
	if err != nil {
		return nil, nil, err
	}
	if root == nil {
		return nil, nil, errors.New("empty")
	}
	clusters, users := listOrNil(root, "clusters"), listOrNil(root, "users")
	var clusterName, userName string
	if cur := get(root, "current-context"); cur != nil && cur.Value != "" {
		ctx := find(listOrNil(root, "contexts"), cur.Value)
		if ctx == nil {
			return nil, nil, fmt.Errorf("current context %q is not among its contexts", cur.Value)
		}
		body := get(ctx, "context")
		clusterName, userName = scalarValue(get(body, "cluster")), scalarValue(get(body, "user"))
	} else if len(clusters) == 1 && len(users) == 1 {
		clusterName, userName = scalarValue(get(clusters[0], "name")), scalarValue(get(users[0], "name"))
	} else {
		return nil, nil, errors.New("no current context, and not exactly one cluster and one user")
	}
	c, u := find(clusters, clusterName), find(users, userName)
	if c == nil || get(c, "cluster") == nil {
		return nil, nil, fmt.Errorf("no cluster %q", clusterName)
	}
	if u == nil || get(u, "user") == nil {
		return nil, nil, fmt.Errorf("no user %q", userName)
	}
	return get(c, "cluster"), get(u, "user"), nil
}

// onlyComments is nil for a YAML text b without content, or a new
// kubeconfig under b's comments when it has some.
func onlyComments(b []byte) *yaml.Node {
	var comments []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "#") {
			comments = append(comments, l)
		}
	}
	if len(comments) == 0 {
		return nil
	}
	root := newConfig()
	root.HeadComment = strings.Join(comments, "\n")
	return root
}

// joinComments joins two comment blocks, either of which may be empty.
func joinComments(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "\n\n" + b
}

func newConfig() *yaml.Node {
	return mapping(
		"apiVersion", scalar("v1"),
		"clusters", &yaml.Node{Kind: yaml.SequenceNode},
		"contexts", &yaml.Node{Kind: yaml.SequenceNode},
		"current-context", scalar(""),
		"kind", scalar("Config"),
		"preferences", &yaml.Node{Kind: yaml.MappingNode},
		"users", &yaml.Node{Kind: yaml.SequenceNode},
	)
}

// setEntry replaces the first entry of seq named name with e and drops
// any later entry of that name; with none, it appends e.
func setEntry(seq *yaml.Node, name string, e *yaml.Node) {
	var kept []*yaml.Node
	placed := false
	for _, old := range seq.Content {
		if scalarValue(get(old, "name")) != name {
			kept = append(kept, old)
			continue
		}
		if !placed {
			e.HeadComment, e.LineComment, e.FootComment = old.HeadComment, old.LineComment, old.FootComment
			kept = append(kept, e)
			placed = true
		}
	}
	if !placed {
		kept = append(kept, e)
	}
	seq.Content = kept
	seq.Style &^= yaml.FlowStyle // "clusters: []" becomes a block list
}

// list returns root's sequence under key, making it when absent or null.
func list(root *yaml.Node, key string) *yaml.Node {
	v := get(root, key)
	if v == nil || isNull(v) {
		v = &yaml.Node{Kind: yaml.SequenceNode}
		set(root, key, v)
	}
	return v
}

func listOrNil(root *yaml.Node, key string) []*yaml.Node {
	if v := get(root, key); v != nil && v.Kind == yaml.SequenceNode {
		return v.Content
	}
	return nil
}

// find returns the entry of entries whose name is name.
func find(entries []*yaml.Node, name string) *yaml.Node {
	for _, e := range entries {
		if scalarValue(get(e, "name")) == name {
			return e
		}
	}
	return nil
}

// get returns the value of key in mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// set replaces the value of key in mapping m, keeping the key's place and
// comments, or appends key.
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			old := m.Content[i+1]
			v.LineComment, v.FootComment = old.LineComment, old.FootComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}

func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i < len(kv); i += 2 {
		m.Content = append(m.Content, scalar(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return m
}

func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func scalarValue(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}
