package scripttest

import (
	"fmt"
	"testing"

	"github.com/kubeha/kubeha/ssh"
)

// TestShapeSeesInjection checks shape itself: a value interpolated raw
// into each template gives a different shape for the plain and the hostile
// value, and the same value quoted into the same place (where there is a
// safe place: none inside a program) gives the same shape.
func TestShapeSeesInjection(t *testing.T) {
	cases := []struct {
		name, raw, quoted, hostile string
	}{
		{"bare word", "curl https://%s/readyz", "curl https://%s/readyz", "a;touch /tmp/x"},
		{"single quotes", "echo 'on %s'", "echo 'on '%s", "a'; touch /tmp/x; echo '"},
		{"double quotes", `echo "on %s"`, `echo "on "%s`, "$(touch /tmp/x)"},
		{"backquotes", `echo "on %s"`, `echo "on "%s`, "`touch /tmp/x`"},
		{"newline", "ping %s", "ping %s", "a\ntouch /tmp/x"},
		{"comment", "ping %s -c 1", "ping %s -c 1", "a #"},
		{"glob", "rm -f %s", "rm -f %s", "/etc/*"},
		{"tilde", "ls %s", "ls %s", "~root"},
		{"space", "ping %s", "ping %s", "a b"},
		{"pipe", "ping %s", "ping %s", "a|b"},
		{"background", "ping %s", "ping %s", "a&b"},
		{"assignment", "x=%s; echo", "x=%s; echo", "a b"},
		{"sed program", `sed 's#^x.*#x %s#' f`, "", "a#e"},
		{"awk program", `awk '$1 == "%s"' f`, "", `a" || 1 == "1`},
		{"trap", "trap 'rm -f %s' EXIT", "", "a $(x)"},
	}
	shapeOf := func(template, v string) string {
		s, err := shape(fmt.Sprintf(template, v))
		if err != nil {
			return "parse error: " + err.Error()
		}
		return s
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if shapeOf(tc.raw, "plain") == shapeOf(tc.raw, tc.hostile) {
				t.Errorf("raw %q in %q: shape sees no difference", tc.hostile, tc.raw)
			}
			if tc.quoted == "" {
				return
			}
			plain, hostile := shapeOf(tc.quoted, ssh.Quote("plain")), shapeOf(tc.quoted, ssh.Quote(tc.hostile))
			if plain != hostile {
				t.Errorf("quoted %q in %q: shape sees a difference (%s)", tc.hostile, tc.quoted, firstDifference(plain, hostile))
			}
		})
	}
}
