// Package benchutil holds what the benchmark programs share.
package benchutil

import (
	"sort"
	"strings"
)

// Median is the middle value of v, the mean of the middle two for an even
// count (two rounds must not report the slower one as their median), 0
// for none. v is left as it is.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[n/2]
}

// Tail is the last n lines of s, for error messages.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
