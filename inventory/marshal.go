package inventory

import (
	"bytes"

	yaml "go.yaml.in/yaml/v3"
)

// Marshal renders c as inventory YAML with two-space indentation. Unset
// optional fields are left out, so a defaulted inventory shows exactly the
// values kubeha will use.
func Marshal(c *Cluster) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
