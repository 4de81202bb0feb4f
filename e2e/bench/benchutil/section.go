package benchutil

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// ReplaceSection puts content between doc's "<!-- name -->" and
// "<!-- /name -->" lines, which must each be there once, in that order:
// a generated table lives there, the prose around it is written by hand.
func ReplaceSection(doc, name, content string) (string, error) {
	beginMarker, endMarker := "<!-- "+name+" -->", "<!-- /"+name+" -->"
	begin := strings.Index(doc, "\n"+beginMarker+"\n")
	end := strings.Index(doc, "\n"+endMarker+"\n")
	if begin < 0 || end < begin || strings.Count(doc, beginMarker) != 1 || strings.Count(doc, endMarker) != 1 {
		return "", fmt.Errorf("want one %q line followed by one %q line", beginMarker, endMarker)
	}
	return doc[:begin+len(beginMarker)+2] + content + doc[end+1:], nil
}

// WriteSection replaces the section name of the Markdown file doc
// (ReplaceSection) with content, through a temporary file and a rename.
func WriteSection(doc, name, content string) error {
	old, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	updated, err := ReplaceSection(string(old), name, content)
	if err != nil {
		return fmt.Errorf("%s: %w", doc, err)
	}
	tmp := doc + ".tmp"
	if err := os.WriteFile(tmp, []byte(updated), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, doc)
}

// Publish is what a report generator does with its Markdown: into doc's
// section name (WriteSection), or to out when no doc is named.
func Publish(out io.Writer, doc, name, content string) error {
	if doc == "" {
		_, err := io.WriteString(out, content)
		return err
	}
	return WriteSection(doc, name, content)
}
