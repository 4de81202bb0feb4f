// Command conformance turns `make conformance`'s JSON report
// (conformance.Report) into docs/conformance.md's generated section, the
// lines between "<!-- conformance -->" and "<!-- /conformance -->" (another
// name with -section).
//
//	go run ./e2e/bench/conformance -doc docs/conformance.md < docs/bench/conformance.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
	"github.com/kubeha/kubeha/e2e/conformance"
)

func main() {
	doc := flag.String("doc", "", "the Markdown file whose marked section the report replaces; stdout without it")
	section := flag.String("section", "conformance", "the section's name: it stands between <!-- NAME --> and <!-- /NAME --> lines")
	flag.Parse()
	var r conformance.Report
	if err := json.NewDecoder(os.Stdin).Decode(&r); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: read the report:", err)
		os.Exit(1)
	}
	if err := benchutil.Publish(os.Stdout, *doc, *section, r.Markdown()); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}
