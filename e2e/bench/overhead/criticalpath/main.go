// Command criticalpath reads the JSON events of one kubeha apply on stdin
// (`kubeha apply --output json`) and prints two numbers of milliseconds on
// one line: kubeadm's critical path (benchutil.CriticalPath: init, each
// control-plane join in turn, worker joins past the last of them) and the
// sum of every kubeadm command's duration, for reference. run.sh, beside
// it, calls it after each apply from nothing, for both binaries it
// compares.
//
// It exits 1, saying why, when stdin is not JSON events or the events do
// not show the cluster built whole: no figure is better than a wrong one.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
	"github.com/kubeha/kubeha/events"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "criticalpath:", err)
		os.Exit(1)
	}
}

// run reads JSON events from r and writes "<critical path> <sum>", in
// milliseconds, to w.
func run(r io.Reader, w io.Writer) error {
	var evs []events.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("line %d is not a JSON event: %v", len(evs)+1, err)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	path, err := benchutil.CriticalPath(evs)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, path.Milliseconds(), benchutil.KubeadmSum(evs).Milliseconds())
	return err
}
