package inventory

import (
	"bytes"
	"reflect"

	yaml "go.yaml.in/yaml/v3"
)

// Marshal renders c as inventory YAML with two-space indentation. Unset
// optional fields are left out, so a defaulted inventory shows exactly the
// values kubeha will use.
func Marshal(c *Cluster) ([]byte, error) {
	return encodeYAML(c)
}

// encodeYAML is v as YAML with two-space indentation.
func encodeYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MarshalKeepingComments renders c as Marshal does, for a file that
// replaces orig, the inventory file c was loaded from: the operator's
// comments in orig are kept where what they sit on is still in c. A
// comment belongs to a key (the lines above it, the rest of its line) or
// to a value (the rest of its line); it is kept when the key's path exists
// in both files, whatever its value has become. Hosts are the same host
// when their names are; other lists of mappings match by position, lists
// of scalars by value. A comment on something c no longer has (a removed
// host, a field left out) is dropped with it.
//
// The layout of orig is kept only where it does not change the meaning:
// a mapping or list written in flow style ({...}, [...]) stays so, and a
// host added to a list of flow-style hosts is written in flow style too;
// an unchanged scalar keeps its quoting. Everything else is as Marshal
// writes it, so the result loads as c whatever orig held.
//
// orig that is empty, not YAML or larger than an inventory may be adds
// nothing: the result is then Marshal's. So does an orig whose comments
// would make the result read as anything but c: the result is checked by
// decoding it, and Marshal's is returned when it differs.
func MarshalKeepingComments(c *Cluster, orig []byte) ([]byte, error) {
	plain, err := Marshal(c)
	if err != nil {
		return nil, err
	}
	var old yaml.Node
	if len(orig) == 0 || len(orig) > maxFileBytes || yaml.Unmarshal(orig, &old) != nil {
		return plain, nil
	}
	var root yaml.Node
	if err := root.Encode(c); err != nil {
		return nil, err
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{&root}}
	keepComments(doc, &old, 0)
	kept, err := encodeYAML(doc)
	if err != nil {
		return plain, nil
	}
	var got, want Cluster
	if decodeStrict(kept, &got) != nil || decodeStrict(plain, &want) != nil || !reflect.DeepEqual(got, want) {
		return plain, nil
	}
	return kept, nil
}

// keepComments copies onto dst, a node Marshal renders, the comments of
// src, the node of the original file at the same path, and walks on into
// the nodes below both. Nodes of different kinds share nothing: a
// comment written for a scalar does not fit a mapping.
func keepComments(dst, src *yaml.Node, depth int) {
	if dst.Kind != src.Kind || depth > maxDepth {
		return
	}
	dst.HeadComment, dst.LineComment, dst.FootComment = src.HeadComment, src.LineComment, src.FootComment
	switch dst.Kind {
	case yaml.DocumentNode:
		if len(dst.Content) == 1 && len(src.Content) == 1 {
			keepComments(dst.Content[0], src.Content[0], depth+1)
		}
	case yaml.MappingNode:
		dst.Style |= src.Style & yaml.FlowStyle
		for i := 0; i+1 < len(dst.Content); i += 2 {
			k, v := dst.Content[i], dst.Content[i+1]
			sk, sv := lookup(src, k.Value)
			if sk == nil {
				continue
			}
			keepComments(k, sk, depth+1)
			keepComments(v, sv, depth+1)
		}
	case yaml.SequenceNode:
		dst.Style |= src.Style & yaml.FlowStyle
		used := make([]bool, len(src.Content))
		var flowItems, blockItems bool
		for _, it := range src.Content {
			if it.Kind == yaml.MappingNode {
				flowItems = flowItems || it.Style&yaml.FlowStyle != 0
				blockItems = blockItems || it.Style&yaml.FlowStyle == 0
			}
		}
		for i, it := range dst.Content {
			if j := sameItem(src, used, it, i); j >= 0 {
				used[j] = true
				keepComments(it, src.Content[j], depth+1)
			} else if it.Kind == yaml.MappingNode && flowItems && !blockItems {
				it.Style |= yaml.FlowStyle
			}
		}
	case yaml.ScalarNode:
		if dst.Value == src.Value && dst.Tag == src.Tag {
			dst.Style = src.Style
		}
	}
}

// lookup is the key and value nodes of key in the mapping m, nil when m
// has no such key.
func lookup(m *yaml.Node, key string) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// sameItem is the index of the item of the list src that item, at index i
// of the new list, stands for, or -1 when there is none. An item is
// matched at most once (used): a mapping with a name (a host) is the
// mapping of the same name, another mapping the one at the same index, a
// scalar the first unused one of the same value.
func sameItem(src *yaml.Node, used []bool, item *yaml.Node, i int) int {
	switch item.Kind {
	case yaml.MappingNode:
		if _, name := lookup(item, "name"); name != nil {
			for j, it := range src.Content {
				if used[j] || it.Kind != yaml.MappingNode {
					continue
				}
				if _, n := lookup(it, "name"); n != nil && n.Value == name.Value {
					return j
				}
			}
			return -1
		}
		if i < len(src.Content) && !used[i] && src.Content[i].Kind == yaml.MappingNode {
			return i
		}
	case yaml.ScalarNode:
		for j, it := range src.Content {
			if !used[j] && it.Kind == yaml.ScalarNode && it.Value == item.Value {
				return j
			}
		}
	}
	return -1
}
