package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Load reads, defaults and validates the inventory at path. On success it
// returns the cluster and any warnings. An invalid inventory returns a
// Problems error holding every error and warning found.
func Load(path string) (*Cluster, Problems, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read inventory: %w", err)
	}
	return Parse(data)
}

// Parse is Load for bytes already in memory.
func Parse(data []byte) (*Cluster, Problems, error) {
	var c Cluster
	if err := decodeStrict(data, &c); err != nil {
		return nil, nil, err
	}
	Default(&c)
	ps := Validate(&c)
	if len(ps.Errors()) > 0 {
		return nil, nil, ps
	}
	return &c, ps, nil
}

// LocalPath is p, a *local path* of the inventory, as this machine opens
// it: a leading ~/ is the home directory of the user running kubeha.
func LocalPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}
