// Command kh-runc is the OCI runtime of the e2e machines on VMs like this
// project's, whose bounding set lacks CAP_SYS_RESOURCE. It rewrites the OCI
// spec runc is about to use, then execs runc with the same arguments:
//   - CAP_SYS_RESOURCE is removed from every capability set (asking for it
//     fails with "unable to apply caps: operation not permitted");
//   - a negative oomScoreAdj is clamped to 0 (pod sandboxes ask for -998,
//     which needs that capability; without the clamp every sandbox fails
//     with "can't get final child's PID from pipe: EOF").
//
// It edits <bundle>/config.json on `create`/`run` and the --process file on
// `exec`. Registered with dockerd (--add-runtime) on the host and as the
// runc BinaryName of containerd inside each machine. On an ordinary machine
// it is not needed and the harness does not install it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

func main() {
	args := os.Args[1:]
	if err := rewrite(args); err != nil {
		fmt.Fprintln(os.Stderr, "kh-runc:", err)
		os.Exit(1)
	}
	runc, err := findRunc()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kh-runc:", err)
		os.Exit(1)
	}
	if err := syscall.Exec(runc, append([]string{"runc"}, args...), os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "kh-runc: exec runc:", err)
		os.Exit(1)
	}
}

func findRunc() (string, error) {
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("runc not found")
}

// rewrite finds the spec files the runc command line refers to and fixes
// them in place.
func rewrite(args []string) error {
	sub, bundle, process := "", "", ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "--bundle" || a == "-b":
			bundle = next()
		case len(a) > 9 && a[:9] == "--bundle=":
			bundle = a[9:]
		case a == "--process" || a == "-p":
			process = next()
		case len(a) > 10 && a[:10] == "--process=":
			process = a[10:]
		case a == "--root" || a == "--log" || a == "--log-format" || a == "--criu" || a == "--pid-file" || a == "--console-socket":
			next()
		case sub == "" && len(a) > 0 && a[0] != '-':
			sub = a
		}
	}
	switch sub {
	case "create", "run":
		if bundle == "" {
			bundle = "."
		}
		return fixFile(filepath.Join(bundle, "config.json"), true)
	case "exec":
		if process != "" {
			return fixFile(process, false)
		}
	}
	return nil
}

// fixFile rewrites a spec (whole config.json when full, else a process
// object) keeping every field it does not touch.
func fixFile(path string, full bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	proc := doc
	if full {
		p, ok := doc["process"].(map[string]any)
		if !ok {
			return nil
		}
		proc = p
	}
	changed := fixProcess(proc)
	if !changed {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	tmp := path + ".kh-runc"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func fixProcess(proc map[string]any) bool {
	changed := false
	if caps, ok := proc["capabilities"].(map[string]any); ok {
		for set, v := range caps {
			list, ok := v.([]any)
			if !ok {
				continue
			}
			kept := list[:0:0]
			for _, c := range list {
				if c == "CAP_SYS_RESOURCE" {
					changed = true
					continue
				}
				kept = append(kept, c)
			}
			caps[set] = kept
		}
	}
	if adj, ok := proc["oomScoreAdj"].(float64); ok && adj < 0 {
		proc["oomScoreAdj"] = 0
		changed = true
	}
	return changed
}
