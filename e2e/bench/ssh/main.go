// Command ssh benchmarks kubeha's SSH transport against the tools operators
// would otherwise use, in one run on one machine (docs/performance.md):
//
//	go run ./e2e/bench/ssh -hosts 50 -upload-mb 200 -rounds 3
//
// It starts one real OpenSSH sshd per host on 127.0.1.x:2222 (loopback
// only), logs in as a throwaway user whose shell is /bin/sh (so no rc file
// skews the numbers; its password field is "*", unusable but not locked,
// which sshd without PAM would refuse even for keys), and for each round
// runs, each in its own process so peak RSS is its own:
//   - kubeha's ssh.Pool running `true` on every host at once (connect included)
//   - a bare golang.org/x/crypto/ssh loop doing the same (the floor)
//   - parallel-ssh -p N doing the same
//   - kubeha running 10 commands per host over the reused connections
//   - OpenSSH scp of one file beside kubeha's SFTP upload of it
//
// Needs root, openssh-server and pssh. Medians of the rounds are printed as
// a Markdown table.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/ssh"
)

const port = 2222

func main() {
	child := flag.String("child", "", "internal: run one measurement and print its wall time in ns")
	dir := flag.String("dir", "", "internal: the bench directory")
	hosts := flag.Int("hosts", 50, "how many sshd hosts")
	uploadMB := flag.Int("upload-mb", 200, "size of the upload compared with scp")
	rounds := flag.Int("rounds", 3, "rounds; medians are reported")
	flag.Parse()
	if *child != "" {
		d, err := runChild(*child, *dir, *hosts)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(d.Nanoseconds())
		return
	}
	if err := bench(*hosts, *uploadMB, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func addr(i int) string { return fmt.Sprintf("127.0.1.%d", i+1) }

const user = "khbench"

func bench(n, uploadMB, rounds int) error {
	if err := sshd.Available(); err != nil {
		return err
	}
	if _, err := exec.LookPath("parallel-ssh"); err != nil {
		return errors.New("parallel-ssh missing: apt-get install pssh")
	}
	dir, err := os.MkdirTemp("", "kubeha-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	home := filepath.Join(dir, "home")
	if out, err := exec.Command("useradd", "-M", "-p", "*", "-d", home, "-s", "/bin/sh", user).CombinedOutput(); err != nil && !strings.Contains(string(out), "already exists") {
		return fmt.Errorf("useradd: %v %s", err, out)
	}
	defer exec.Command("userdel", user).Run()
	os.MkdirAll(home, 0o755)
	exec.Command("chown", user, home).Run()
	key, err := sshd.NewClientKey(filepath.Join(dir, "id"), "")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "starting %d sshd hosts on 127.0.1.x:%d …\n", n, port)
	servers := make([]*sshd.Server, n)
	var kh strings.Builder
	var mu sync.Mutex
	var wg sync.WaitGroup
	var startErr error
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := filepath.Join(dir, "h"+strconv.Itoa(i))
			os.MkdirAll(d, 0o755)
			s, err := sshd.Start(context.Background(), sshd.Options{Dir: d, Address: addr(i), Port: port, AuthorizedKeys: []xssh.PublicKey{key.Public},
				Extra: []string{"PrintMotd no", "PrintLastLog no"}})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				startErr = err
				return
			}
			servers[i] = s
			kh.WriteString(knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.HostKey) + "\n")
		}()
	}
	wg.Wait()
	defer func() {
		for _, s := range servers {
			if s != nil {
				s.Stop()
			}
		}
	}()
	if startErr != nil {
		return startErr
	}
	os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(kh.String()), 0o644)
	var hostsFile strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&hostsFile, "%s:%d\n", addr(i), port)
	}
	os.WriteFile(filepath.Join(dir, "hosts"), []byte(hostsFile.String()), 0o644)

	upload := filepath.Join(dir, "upload.bin")
	if err := writeRandom(upload, int64(uploadMB)<<20); err != nil {
		return err
	}
	dstDir := filepath.Join(dir, "dst")
	os.MkdirAll(dstDir, 0o755)
	exec.Command("chown", user, dstDir).Run()

	self, _ := os.Executable()
	results := map[string][]float64{}
	rss := map[string][]float64{}
	record := func(name string, d time.Duration, maxrssKB int64) {
		results[name] = append(results[name], d.Seconds())
		if maxrssKB > 0 {
			rss[name] = append(rss[name], float64(maxrssKB)/1024)
		}
		fmt.Fprintf(os.Stderr, "  %-28s %7.2fs", name, d.Seconds())
		if maxrssKB > 0 {
			fmt.Fprintf(os.Stderr, "  peak RSS %.1f MB", float64(maxrssKB)/1024)
		}
		fmt.Fprintln(os.Stderr)
	}
	childRun := func(mode string) error {
		cmd := exec.Command(self, "-child", mode, "-dir", dir, "-hosts", strconv.Itoa(n))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		ns, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		record(mode, time.Duration(ns), ru.Maxrss)
		return nil
	}
	sshOpts := fmt.Sprintf("-F /dev/null -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes",
		key.Path, filepath.Join(dir, "known_hosts"))
	for r := 1; r <= rounds; r++ {
		fmt.Fprintf(os.Stderr, "round %d/%d\n", r, rounds)
		for _, mode := range []string{"kubeha-true", "bare-true", "kubeha-10-commands"} {
			if err := childRun(mode); err != nil {
				return err
			}
		}
		start := time.Now()
		out, err := exec.Command("parallel-ssh", "-p", strconv.Itoa(n), "-t", "0", "-h", filepath.Join(dir, "hosts"),
			"-l", user, "-x", sshOpts, "true").CombinedOutput()
		if err != nil {
			return fmt.Errorf("pssh: %v\n%s", err, benchutil.Tail(string(out), 10))
		}
		record("pssh-true", time.Since(start), 0)

		dst := fmt.Sprintf("%s@%s:%s", user, addr(0), filepath.Join(dstDir, "scp.bin"))
		args := append(strings.Fields(sshOpts), "-P", strconv.Itoa(port), upload, dst)
		start = time.Now()
		if out, err := exec.Command("scp", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("scp: %v %s", err, out)
		}
		record("scp-upload", time.Since(start), 0)
		if err := childRun("kubeha-upload"); err != nil {
			return err
		}
		os.Remove(filepath.Join(dstDir, "scp.bin"))
		os.Remove(filepath.Join(dstDir, "kubeha.bin"))
	}

	med := func(name string) float64 { return benchutil.Median(results[name]) }
	mb := float64(uploadMB)
	fmt.Printf("\n%d sshd hosts on loopback, %d rounds, medians (%s)\n\n", n, rounds, time.Now().UTC().Format("2006-01-02"))
	fmt.Println("| measurement | wall time | peak RSS |")
	fmt.Println("|---|---|---|")
	for _, name := range []string{"kubeha-true", "bare-true", "pssh-true", "kubeha-10-commands"} {
		r := "—"
		if len(rss[name]) > 0 {
			r = fmt.Sprintf("%.1f MB", benchutil.Median(rss[name]))
		}
		fmt.Printf("| %s | %.2f s | %s |\n", name, med(name), r)
	}
	fmt.Printf("| scp-upload %d MB | %.2f s (%.0f MB/s) | — |\n", uploadMB, med("scp-upload"), mb/med("scp-upload"))
	fmt.Printf("| kubeha-upload %d MB | %.2f s (%.0f MB/s) | %.1f MB |\n", uploadMB, med("kubeha-upload"), mb/med("kubeha-upload"), benchutil.Median(rss["kubeha-upload"]))
	fmt.Printf("\nkubeha vs pssh: %.2fx faster (target ≥ 1.5x); kubeha vs bare x/crypto/ssh: %.2fx (target ≤ 1.2x); SFTP vs scp throughput: %.0f%% (target ≥ 80%%)\n",
		med("pssh-true")/med("kubeha-true"), med("kubeha-true")/med("bare-true"), 100*med("scp-upload")/med("kubeha-upload"))
	return nil
}

func runChild(mode, dir string, n int) (time.Duration, error) {
	keyPath := filepath.Join(dir, "id")
	known := ssh.NewKnownHosts(filepath.Join(dir, "known_hosts"), ssh.HostKeyStrict)
	ctx := context.Background()
	switch mode {
	case "kubeha-true", "kubeha-10-commands", "kubeha-upload":
		var cfgs []ssh.Config
		for i := 0; i < n; i++ {
			cfgs = append(cfgs, ssh.Config{Name: addr(i), Address: addr(i), Port: port, User: user, KeyPaths: []string{keyPath}, HostKeys: known})
		}
		pool := ssh.NewPool(cfgs)
		defer pool.Close()
		if mode == "kubeha-upload" {
			f, err := os.Open(filepath.Join(dir, "upload.bin"))
			if err != nil {
				return 0, err
			}
			defer f.Close()
			fi, _ := f.Stat()
			c, err := pool.Client(ctx, addr(0))
			if err != nil {
				return 0, err
			}
			start := time.Now()
			err = c.Upload(ctx, ssh.File{Path: filepath.Join(dir, "dst", "kubeha.bin"), Content: f, Size: fi.Size(), Owner: user, Group: user})
			return time.Since(start), err
		}
		perHost := 1
		if mode == "kubeha-10-commands" {
			// Connect first: this measures commands over reused connections.
			if err := fanOut(n, func(i int) error { _, err := pool.Run(ctx, addr(i), ssh.Command{Script: "true"}); return err }); err != nil {
				return 0, err
			}
			perHost = 10
		}
		start := time.Now()
		err := fanOut(n, func(i int) error {
			for k := 0; k < perHost; k++ {
				if _, err := pool.Run(ctx, addr(i), ssh.Command{Script: "true"}); err != nil {
					return err
				}
			}
			return nil
		})
		return time.Since(start), err
	case "bare-true":
		signer, err := loadSigner(keyPath)
		if err != nil {
			return 0, err
		}
		cb, err := knownhosts.New(filepath.Join(dir, "known_hosts"))
		if err != nil {
			return 0, err
		}
		cfg := &xssh.ClientConfig{User: user, Auth: []xssh.AuthMethod{xssh.PublicKeys(signer)}, HostKeyCallback: cb,
			HostKeyAlgorithms: []string{xssh.KeyAlgoED25519}}
		start := time.Now()
		err = fanOut(n, func(i int) error {
			c, err := xssh.Dial("tcp", net.JoinHostPort(addr(i), strconv.Itoa(port)), cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			s, err := c.NewSession()
			if err != nil {
				return err
			}
			defer s.Close()
			return s.Run("true")
		})
		return time.Since(start), err
	}
	return 0, fmt.Errorf("unknown mode %q", mode)
}

func fanOut(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(i) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func loadSigner(path string) (xssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return xssh.ParsePrivateKey(b)
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(f, rand.Reader, size)
	return err
}
