// Command kh-machines builds and runs the e2e test machines.
//
//	kh-machines up [-n 5 | -names a,b] [-ip-base 11] [-baked [-kube-version v1.37.2]]
//	                        build or reuse the images, start the machines,
//	                        write a key and known_hosts under /run/kh-e2e/keys;
//	                        -kube-version picks the baked Kubernetes version
//	                        (built by KUBE_VERSION=... e2e/kube/build.sh)
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

	"github.com/kubeha/kubeha/e2e/kube"
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
		_, _, _, err = images(ctx, machines.KubeVersion)
	case "up":
		fs := flag.NewFlagSet("up", flag.ExitOnError)
		n := fs.Int("n", 5, "machines (named node1…)")
		names := fs.String("names", "", "comma-separated machine names instead of -n")
		base := fs.Int("ip-base", 11, "last octet of the first machine's 10.213.0.x address")
		baked := fs.Bool("baked", false, "machines with Kubernetes baked in")
		version := fs.String("kube-version", machines.KubeVersion, "the Kubernetes version baked in (with -baked), e.g. "+machines.UpgradeFrom)
		fs.Parse(os.Args[2:])
		list := strings.Split(*names, ",")
		if *names == "" {
			list = nil
			for i := 0; i < *n; i++ {
				list = append(list, fmt.Sprintf("node%d", i+1))
			}
		}
		if *version != machines.KubeVersion && !*baked {
			err = fmt.Errorf("-kube-version applies to -baked machines")
			break
		}
		err = up(ctx, list, *base, *baked, *version)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kh-machines:", err)
		os.Exit(1)
	}
}

// images builds or reuses the bare image and, when the binaries of
// Kubernetes version are built, the baked one of that version; baked is
// empty when they are not.
func images(ctx context.Context, version string) (d *machines.Docker, bare, baked string, err error) {
	d, bare, err = machines.Prepare(ctx, logf, ".")
	if err != nil {
		return nil, "", "", err
	}
	if _, statErr := os.Stat(filepath.Join(machines.KubeDir(version), "kubeadm")); statErr != nil {
		logf("no Kubernetes %s binaries: baked image skipped (run %s)", version, kube.BuildCommand(version))
		return d, bare, "", nil
	}
	if baked, err = machines.BakedImageFor(ctx, d, logf, bare, version); err != nil {
		return nil, "", "", err
	}
	return d, bare, baked, nil
}

func up(ctx context.Context, names []string, base int, baked bool, version string) error {
	d, tag, bakedTag, err := images(ctx, version)
	if err != nil {
		return err
	}
	if baked {
		if bakedTag == "" {
			return fmt.Errorf("-baked: Kubernetes %s is not built (run %s)", version, kube.BuildCommand(version))
		}
		tag = bakedTag
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
