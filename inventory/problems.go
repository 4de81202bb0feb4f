package inventory

import (
	"sort"
	"strings"
)

// Problem is one thing wrong with an inventory. Path is the YAML path of the
// field (spec.hosts[2].address); Fix says what to change. A Warning does not
// stop a run but is always shown.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
	Warning bool   `json:"warning,omitempty"`
}

func (p Problem) String() string {
	s := p.Path + ": " + p.Message
	if p.Fix != "" {
		s += " (fix: " + p.Fix + ")"
	}
	if p.Warning {
		s = "warning: " + s
	}
	return s
}

// Problems is every problem found in one inventory. As an error it means the
// inventory is invalid: callers map it to exit code 2.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, 0, len(ps))
	for _, p := range ps {
		lines = append(lines, p.String())
	}
	return "invalid inventory:\n  " + strings.Join(lines, "\n  ")
}

// Errors returns the problems that are not warnings.
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Warnings returns the problems that are warnings.
func (ps Problems) Warnings() Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
