package inventory

import _ "embed"

// Example is a commented inventory for `kubeha inventory init`: the
// keepalived+haproxy cluster of seed 001. It must always validate.
//
//go:embed example.yaml
var Example []byte
