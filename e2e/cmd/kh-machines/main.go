// Command kh-machines builds and runs the e2e test machines.
//
//	kh-machines up [-n 5 | -names a,b] [-ip-base 11] [-baked]
//	                        build or reuse the images, start the machines,
//	                        write a key and known_hosts under /run/kh-e2e/keys
//	kh-machines images      build or reuse the images only
//	kh-machines clean       remove every container, namespace, link, route,
//	                        mount and process the harness made
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kubeha/kubeha/e2e/machines"
	"github.com/kubeha/kubeha/e2e/sshd"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[e2e %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kh-machines up|images|clean")
		os.Exit(2)
	}
	release, err := machines.Lock(ctx, logf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kh-machines:", err)
		os.Exit(1)
	}
	defer release()
	switch os.Args[1] {
	case "clean":
		err = machines.Clean(ctx, logf)
		if left := machines.Leftovers(ctx); len(left) > 0 {
			err = fmt.Errorf("left behind: %s", strings.Join(left, "; "))
		}
	case "images":
		_, _, err = images(ctx)
	case "up":
		fs := flag.NewFlagSet("up", flag.ExitOnError)
		n := fs.Int("n", 5, "machines (named node1…)")
		names := fs.String("names", "", "comma-separated machine names instead of -n")
		base := fs.Int("ip-base", 11, "last octet of the first machine's 10.213.0.x address")
		baked := fs.Bool("baked", false, "machines with Kubernetes baked in")
		fs.Parse(os.Args[2:])
		list := strings.Split(*names, ",")
		if *names == "" {
			list = nil
			for i := 0; i < *n; i++ {
				list = append(list, fmt.Sprintf("node%d", i+1))
			}
		}
		err = up(ctx, list, *base, *baked)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kh-machines:", err)
		os.Exit(1)
	}
}

// images builds or reuses the bare image and, when the Kubernetes binaries
// are built, the baked one.
func images(ctx context.Context) (*machines.Docker, string, error) {
	d, bare, err := machines.Prepare(ctx, logf, ".")
	if err != nil {
		return nil, "", err
	}
	if _, statErr := os.Stat(filepath.Join(machines.KubeDir(machines.KubeVersion), "kubeadm")); statErr == nil {
		if _, err := machines.BakedImage(ctx, d, logf, bare); err != nil {
			return nil, "", err
		}
	} else {
		logf("no Kubernetes binaries: baked image skipped (run e2e/kube/build.sh)")
	}
	return d, bare, nil
}

func up(ctx context.Context, names []string, base int, baked bool) error {
	d, tag, err := images(ctx)
	if err != nil {
		return err
	}
	if baked {
		if tag, err = machines.BakedImage(ctx, d, logf, tag); err != nil {
			return err
		}
	}
	keyDir := filepath.Join(machines.RunDir, "keys")
	os.MkdirAll(keyDir, 0o700)
	key, err := sshd.NewClientKey(filepath.Join(keyDir, "id_ed25519"), "")
	if err != nil {
		return err
	}
	ak, err := machines.WriteAuthorizedKeys(string(sshAuthorized(key)))
	if err != nil {
		return err
	}
	var specs []machines.Spec
	for i, name := range names {
		specs = append(specs, machines.Spec{Name: name, IP: fmt.Sprintf("10.213.0.%d", base+i), Image: tag, AuthorizedKeys: ak})
	}
	start := time.Now()
	ms, err := machines.StartMachines(ctx, d, logf, specs)
	if err != nil {
		return err
	}
	logf("%d machines SSH-ready in %s", len(names), time.Since(start).Round(10*time.Millisecond))
	kh := filepath.Join(keyDir, "known_hosts")
	os.WriteFile(kh, []byte(machines.KnownHosts(ms)), 0o600)
	for _, m := range ms {
		fmt.Printf("%s %s\n", m.Name, m.IP)
	}
	fmt.Printf("ssh -i %s -o UserKnownHostsFile=%s root@%s\n", key.Path, kh, ms[0].IP)
	return nil
}
