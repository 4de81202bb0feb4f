package inventory

import "testing"

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		ok   bool
	}{
		{"v1.37.2", Version{1, 37, 2}, true},
		{"v1.36.10", Version{1, 36, 10}, true},
		{"1.37.2", Version{}, false},
		{"v1.37", Version{}, false},
		{"v1.37.2-rc.0", Version{}, false},
		{"v1.037.2", Version{}, false},
		{"v1.37.2 ", Version{}, false},
	} {
		got, err := ParseVersion(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	a, b := Version{1, 36, 3}, Version{1, 37, 2}
	if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 || (Version{1, 37, 10}).Compare(b) != 1 {
		t.Error("Compare orders versions wrongly")
	}
}
