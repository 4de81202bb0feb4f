package benchutil

import "testing"

func TestReplaceSection(t *testing.T) {
	tests := []struct {
		name, doc, want string
		fails           bool
	}{
		{"replaced", "# F\n\n<!-- bench-failover -->\nold\ntable\n<!-- /bench-failover -->\n\nafter\n", "# F\n\n<!-- bench-failover -->\nNEW\n<!-- /bench-failover -->\n\nafter\n", false},
		{"empty section", "<!-- bench-failover -->\n<!-- /bench-failover -->\n", "", true}, // the begin marker must follow a newline
		{"no markers", "# F\n", "", true},
		{"reversed", "x\n<!-- /bench-failover -->\n<!-- bench-failover -->\n", "", true},
		{"twice", "x\n<!-- bench-failover -->\n<!-- /bench-failover -->\n<!-- bench-failover -->\n<!-- /bench-failover -->\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplaceSection(tt.doc, "bench-failover", "NEW\n")
			if (err != nil) != tt.fails || got != tt.want {
				t.Errorf("got %q, %v; want %q, fails %v", got, err, tt.want, tt.fails)
			}
		})
	}
}
