// Package tui shows the event stream to people and programs: the plain line
// renderer (logs, pipes, CI), the JSON-lines renderer (machines, see
// docs/events.md), and the choice between them from --output and the
// terminal. It is one of the two places (with cmd/kubeha) that print.
package tui
