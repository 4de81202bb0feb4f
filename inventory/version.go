package inventory

import (
	"fmt"
	"strconv"
)

// Version is a Kubernetes release, vMAJOR.MINOR.PATCH.
type Version struct{ Major, Minor, Patch int }

// ParseVersion reads a Kubernetes version as spec.kubernetesVersion and
// kubeadm write it ("v1.37.2"); pre-release suffixes are refused.
func ParseVersion(s string) (Version, error) {
	var v Version
	var rest string
	n, _ := fmt.Sscanf(s, "v%d.%d.%d%s", &v.Major, &v.Minor, &v.Patch, &rest)
	if n != 3 || s != v.String() {
		return Version{}, fmt.Errorf("%q is not a Kubernetes version like v1.37.2", s)
	}
	return v, nil
}

func (v Version) String() string {
	return "v" + strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Patch)
}

// Compare returns -1, 0 or 1 as v is older than, the same as or newer than w.
func (v Version) Compare(w Version) int {
	for _, d := range [][2]int{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		switch {
		case d[0] < d[1]:
			return -1
		case d[0] > d[1]:
			return 1
		}
	}
	return 0
}
