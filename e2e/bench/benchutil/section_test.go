package benchutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

func TestPublish(t *testing.T) {
	var out strings.Builder
	if err := Publish(&out, "", "s", "table\n"); err != nil || out.String() != "table\n" {
		t.Fatalf("no doc: wrote %q, %v; want the table on out", out.String(), err)
	}
	doc := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(doc, []byte("# d\n<!-- s -->\nold\n<!-- /s -->\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Publish(&out, doc, "s", "new\n"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	if want := "# d\n<!-- s -->\nnew\n<!-- /s -->\nend\n"; string(got) != want || out.Len() != 0 {
		t.Errorf("doc %q, out %q; want doc %q and nothing on out", got, out.String(), want)
	}
}
