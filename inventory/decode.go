package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Limits that keep a hostile file from costing more than a moment. An
// inventory of a thousand hosts is well under them. No inventory reaches
// maxDepth: the decoder goes one level down per field, list item, map
// value or alias, the types end at spec.hosts[i].ssh.sudo (5, or 10 with
// an alias at every level), and free-form values are yaml's to decode (it
// refuses 10000 levels). The limit is for a type that nests without end,
// should one be added (TestDecodeLimits).
const (
	maxFileBytes = 4 << 20
	maxDepth     = 32
	maxNodes     = 200_000
)

// decodeStrict parses data into out, a *Cluster (tests pass other
// pointers). Unknown keys, wrong types and excess documents are reported
// as Problems that carry the YAML path, so an operator sees
// "spec.hosts[1].adress: unknown field; did you mean address?" rather than
// a Go type name and a line number.
func decodeStrict(data []byte, out any) error {
	if len(data) > maxFileBytes {
		return Problems{{Path: "(file)", Message: fmt.Sprintf("the file is %d bytes; an inventory may be at most %d", len(data), maxFileBytes), Fix: "remove what is not inventory"}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Problems{{Path: "(file)", Message: "the file is empty", Fix: "run `kubeha inventory init` for a commented example"}}
		}
		return Problems{{Path: "(file)", Message: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Fix: "fix the syntax at the line named"}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return Problems{{Path: "(file)", Message: "more than one YAML document", Fix: "keep one Cluster document per file"}}
	} else if !errors.Is(err, io.EOF) {
		return Problems{{Path: "(file)", Message: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Fix: "fix the syntax at the line named"}}
	}
	d := &decoder{}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.value(root, reflect.ValueOf(out).Elem(), "", 0)
	if len(d.problems) > 0 {
		return d.problems
	}
	return nil
}

type decoder struct {
	problems Problems
	nodes    int
}

func (d *decoder) fail(path string, n *yaml.Node, msg, fix string) {
	if n != nil && n.Line > 0 {
		msg = fmt.Sprintf("%s (line %d)", msg, n.Line)
	}
	d.problems = append(d.problems, Problem{Path: displayPath(path), Message: msg, Fix: fix})
}

// plainKeyRE is a key that a problem's path shows as written.
var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)

// childPath is path.key, or path["key"] (Go-quoted) when key is not plain,
// so no key can put control characters or a fake path into a message.
func childPath(path, key string) string {
	switch {
	case !plainKeyRE.MatchString(key):
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

func displayPath(p string) string {
	if p == "" {
		return "(document)"
	}
	return p
}

// value decodes n into v, recording problems instead of stopping at the first.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, depth int) {
	d.nodes++
	switch {
	case d.nodes > maxNodes+1:
		// Reported once, at the node that crossed the limit: a problem
		// per node after it would cost what the limit is there to save.
		return
	case d.nodes > maxNodes:
		d.fail(path, n, fmt.Sprintf("more than %d YAML nodes, counting an alias each time it is used", maxNodes), "this is not an inventory; check for alias expansion")
		return
	case depth > maxDepth:
		d.fail(path, n, fmt.Sprintf("nested more than %d levels deep", maxDepth), "an inventory is a few levels deep; check the indentation")
		return
	}
	if n.Kind == yaml.AliasNode {
		d.value(n.Alias, v, path, depth+1)
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an explicit null leaves the zero value, which Default fills
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path, depth)
	case reflect.Struct:
		d.structValue(n, v, path, depth)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n, "expected a list, found "+describe(n), "write it as a YAML list (\"- item\" lines or [a, b])")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(path, n, "expected a mapping of names to values, found "+describe(n), "write it as key: value lines")
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := k.Value
			if m.MapIndex(reflect.ValueOf(key)).IsValid() {
				d.fail(childPath(path, key), k, "duplicate key", fmt.Sprintf("keep one %q here; YAML would silently use the last", key))
				continue
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			d.value(val, elem, childPath(path, key), depth+1)
			m.SetMapIndex(reflect.ValueOf(key), elem)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n, "expected a string, found "+describe(n), "write a single value")
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.fail(path, n, "expected a whole number, found "+describe(n), "write a number without quotes")
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil || i > math.MaxInt32 || i < math.MinInt32 {
			d.fail(path, n, fmt.Sprintf("number out of range: %q", truncate(n.Value, 40)), "use a smaller number")
			return
		}
		if i == 0 {
			// Zero is how an int field says "left out" (intRanges): a
			// written 0 would silently become the default.
			d.fail(path, n, "0 is out of range; leave the field out for the default", intRanges[lastKey(path)].fix)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.fail(path, n, "expected true or false, found "+describe(n), "write true or false")
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	case reflect.Interface:
		// Free-form values (kubelet and kube-proxy configuration passed
		// through to kubeadm): yaml decides the types; JSON must be able
		// to encode them for the inputs hash.
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(path, n, "cannot decode: "+err.Error(), "check the value's syntax")
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		panic(fmt.Sprintf("inventory: decoder has no case for %s", v.Kind()))
	}
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "expected a mapping of fields, found "+describe(n), "write it as field: value lines")
		return
	}
	fields := yamlFields(v.Type())
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		child := childPath(path, k.Value)
		if seen[k.Value] {
			d.fail(child, k, "duplicate key", fmt.Sprintf("keep one %q here; YAML would silently use the last", k.Value))
			continue
		}
		seen[k.Value] = true
		idx, ok := fields[k.Value]
		if !ok {
			fix := "remove it; known fields here: " + strings.Join(sortedKeys(fields), ", ")
			if s := closest(k.Value, fields); s != "" {
				fix = "did you mean " + s + "?"
			}
			d.fail(child, k, "unknown field", fix)
			continue
		}
		d.value(val, v.Field(idx), child, depth+1)
	}
}

// yamlFields maps each yaml tag name of t to its field index.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			m[tag] = i
		}
	}
	return m
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("the string %q", truncate(n.Value, 40))
		case "!!int", "!!float":
			if plainKeyRE.MatchString(n.Value) {
				return "the number " + truncate(n.Value, 40)
			}
		case "!!bool":
			if plainKeyRE.MatchString(n.Value) {
				return n.Value
			}
		}
		// Any other tag (or an explicit !!int on text): quoted, so control
		// characters stay inert.
		return fmt.Sprintf("%q", truncate(n.Value, 40))
	}
	return "something else"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// closest returns the known key within edit distance 2 of k, if exactly one
// is nearest, to turn a typo into a suggestion.
func closest(k string, known map[string]int) string {
	best, bestD := "", 3
	for cand := range known {
		if dist := editDistance(strings.ToLower(k), strings.ToLower(cand)); dist < bestD || (dist == bestD && cand < best) {
			best, bestD = cand, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
