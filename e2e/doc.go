// Package e2e holds the test machines kubeha is proved on (DESIGN.md, "How
// kubeha is proved"). Its subpackage sshd starts real OpenSSH servers for the
// ssh package's tests; the network-namespace hosts and the systemd machines
// with containerd and Kubernetes built offline arrive with their issue.
package e2e
