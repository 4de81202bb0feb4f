package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"golang.org/x/sys/unix"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/ssh"
	"github.com/kubeha/kubeha/tui"
)

// pty is a pseudo-terminal: the code under test gets tty as its stdin and
// stdout, the test reads what it writes and types into it from the other
// end, as an operator would.
type pty struct {
	t   *testing.T
	tty *os.File

	ptm *os.File
	mu  sync.Mutex
	out bytes.Buffer
}

func newPTY(t *testing.T) *pty {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	// Through Control, not Fd, so ptm stays non-blocking and Close ends
	// the reader below.
	var n int
	rc, err := ptm.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
				n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
			}
		})
		err = errors.Join(err, cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	p := &pty{t: t, tty: tty, ptm: ptm}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		tty.Close()
		ptm.Close()
	})
	return p
}

// output is everything written to the terminal so far, escape sequences
// included.
func (p *pty) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// typeIn types s at the keyboard.
func (p *pty) typeIn(s string) {
	p.t.Helper()
	if _, err := p.ptm.WriteString(s); err != nil {
		p.t.Fatal(err)
	}
}

// waitFor waits until cond holds for the output, or fails the test.
func (p *pty) waitFor(what string, cond func(out string) bool) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(p.output()) {
		if time.Now().After(deadline) {
			p.t.Fatalf("waited for %s; the terminal shows:\n%q", what, p.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitMode waits until the terminal's line discipline is in mode, or fails
// the test.
func (p *pty) waitMode(mode termMode) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(p.tty.Fd()), unix.TCGETS)
		if err != nil {
			p.t.Fatal(err)
		}
		if modeOf(tio) == mode {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("terminal in mode %s, waited for %s; it shows:\n%q", modeOf(tio), mode, p.output())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// within waits for a value from ch, or fails the test.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10s for %s", what)
	}
	var zero T
	return zero
}

// termMode is what the line discipline does with keys: a full-screen
// program reads them one by one (raw), a password question reads a line
// without echo, and the shell's terminal reads lines and echoes them.
type termMode string

const (
	modeRaw     termMode = "raw"
	modeNoEcho  termMode = "line without echo"
	modeEchoing termMode = "line with echo"
)

func modeOf(tio *unix.Termios) termMode {
	switch {
	case tio.Lflag&unix.ICANON == 0:
		return modeRaw
	case tio.Lflag&unix.ECHO == 0:
		return modeNoEcho
	}
	return modeEchoing
}

// ansiSeq matches the escape sequences a terminal program writes: CSI
// (cursor, erase, modes), OSC (title) and the short ones.
var ansiSeq = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]`)

// writtenLines is out as the lines it wrote, without escape sequences: a
// carriage return starts the line again, as on the screen.
func writtenLines(out string) []string {
	s := strings.ReplaceAll(ansiSeq.ReplaceAllString(out, ""), "\r\n", "\n")
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.LastIndex(l, "\r"); i >= 0 {
			l = l[i+1:]
		}
		lines = append(lines, l)
	}
	return lines
}

// countLine is how many written lines of out are exactly line.
func countLine(out, line string) int {
	n := 0
	for _, l := range writtenLines(out) {
		if l == line {
			n++
		}
	}
	return n
}

// fakeView stands in for the live view's terminal: it logs every question
// it is given and answers it, after hold is closed when hold is set.
type fakeView struct {
	answer string
	err    error
	hold   chan struct{}

	mu        sync.Mutex
	questions []string
}

func (f *fakeView) ask(_ context.Context, question string) (string, error) {
	f.mu.Lock()
	f.questions = append(f.questions, question)
	f.mu.Unlock()
	if f.hold != nil {
		<-f.hold
	}
	return f.answer, f.err
}

// TestPrompter: a secret comes from its variable, else from a question on
// the terminal, through the live view when there is one (and straight on
// the terminal once the view has ended), never without a terminal nor once
// the command's context is done; it is registered for redaction before it
// is handed out, and asked for once.
func TestPrompter(t *testing.T) {
	cases := []struct {
		name     string
		env      string
		noTTY    bool
		stopped  bool // the command's context is done (Ctrl-C)
		view     *fakeView
		typed    string   // typed at the terminal after the question
		want     string   // the secret handed out
		wantErr  string   // or the whole error
		wantOut  []string // the lines written to the prompter's own writer
		wantView []string // the questions the view was given
	}{
		{name: "from the variable", env: "env-Secret-1", want: "env-Secret-1"},
		{name: "from the variable under the view", env: "env-Secret-1", view: &fakeView{}, want: "env-Secret-1"},
		{name: "asked on the terminal", typed: "typed-Secret-2", want: "typed-Secret-2",
			wantOut: []string{"SSH password: ", ""}},
		{name: "asked through the view", view: &fakeView{answer: "view-Secret-3"}, want: "view-Secret-3",
			wantView: []string{"SSH password"}},
		{name: "the view's question failed", view: &fakeView{err: errors.New("read SSH password: input/output error")},
			wantErr: "read SSH password: input/output error", wantView: []string{"SSH password"}},
		{name: "not asked once the view has ended", view: &fakeView{err: errViewEnded},
			wantErr: "SSH password needed and the live view has ended: set " + envSSHPassword, wantView: []string{"SSH password"}},
		{name: "not asked once the run is stopping", stopped: true,
			wantErr: "SSH password not asked: context canceled"},
		{name: "from the variable while the run is stopping", env: "env-Secret-1", stopped: true, want: "env-Secret-1"},
		{name: "no terminal", noTTY: true,
			wantErr: "SSH password needed: set " + envSSHPassword + " (no terminal to ask on)"},
		{name: "no terminal under the view", noTTY: true, view: &fakeView{},
			wantErr: "SSH password needed: set " + envSSHPassword + " (no terminal to ask on)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envSSHPassword, tc.env)
			pt := newPTY(t)
			var out bytes.Buffer
			p := &prompter{in: pt.tty, out: &out, secrets: &events.Secrets{}}
			if tc.noTTY {
				p.in = strings.NewReader("typed-on-stdin\n")
			}
			if tc.view != nil {
				p.view = tc.view
			}
			type result struct {
				v   string
				err error
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.stopped {
				cancel()
			}
			res := make(chan result, 1)
			go func() {
				v, err := p.secret(ctx, envSSHPassword, "SSH password")
				res <- result{v, err}
			}()
			if tc.typed != "" {
				pt.waitMode(modeNoEcho)
				pt.typeIn(tc.typed + "\n")
			}
			r := within(t, res, "the secret")
			if tc.wantErr != "" {
				if r.err == nil || r.err.Error() != tc.wantErr {
					t.Fatalf("got %q, %v; want the error %q", r.v, r.err, tc.wantErr)
				}
			} else if r.err != nil || r.v != tc.want {
				t.Fatalf("got %q, %v; want %q", r.v, r.err, tc.want)
			}
			var gotOut []string
			if out.Len() > 0 {
				gotOut = writtenLines(out.String())
			}
			if !slices.Equal(gotOut, tc.wantOut) {
				t.Errorf("written to the prompter's writer: %q, want %q", gotOut, tc.wantOut)
			}
			var gotView []string
			if tc.view != nil {
				gotView = tc.view.questions
			}
			if !slices.Equal(gotView, tc.wantView) {
				t.Errorf("questions through the view: %q, want %q", gotView, tc.wantView)
			}
			if tc.typed != "" && strings.Contains(pt.output(), tc.typed) {
				t.Errorf("the secret was echoed: %q", pt.output())
			}
			if r.err == nil {
				if got := p.secrets.Redact("pw " + r.v); got != "pw ***" {
					t.Errorf("not registered for redaction: %q", got)
				}
				// Had once, never asked again.
				before := out.Len()
				if v, err := p.secret(ctx, envSSHPassword, "SSH password"); err != nil || v != r.v || out.Len() != before {
					t.Errorf("second ask: %q, %v", v, err)
				}
				if tc.view != nil && len(tc.view.questions) != len(tc.wantView) {
					t.Errorf("second ask went to the view: %q", tc.view.questions)
				}
			}
		})
	}
}

// TestPrompterAsksOnceForConcurrentHosts: hosts that need the same secret
// at once get one question between them, the first asker's; those that
// waited take its answer.
func TestPrompterAsksOnceForConcurrentHosts(t *testing.T) {
	t.Setenv(envSudoPassword, "")
	pt := newPTY(t)
	view := &fakeView{answer: "sudo-Secret-5", hold: make(chan struct{})}
	p := &prompter{in: pt.tty, out: &bytes.Buffer{}, secrets: &events.Secrets{}, view: view}
	const hosts = 8
	got := make(chan string, hosts)
	for range hosts {
		go func() {
			v, err := p.secret(context.Background(), envSudoPassword, "sudo password")
			if err != nil {
				v = err.Error()
			}
			got <- v
		}()
	}
	// Let every host reach the prompter while the question is up.
	time.Sleep(100 * time.Millisecond)
	close(view.hold)
	for range hosts {
		if v := within(t, got, "a host's secret"); v != "sudo-Secret-5" {
			t.Errorf("a host got %q", v)
		}
	}
	if !slices.Equal(view.questions, []string{"sudo password"}) {
		t.Fatalf("questions: %q, want one", view.questions)
	}
}

// stubView is a full-screen program that draws one line.
type stubView struct{}

func (stubView) Init() tea.Cmd                       { return nil }
func (stubView) Update(tea.Msg) (tea.Model, tea.Cmd) { return stubView{}, nil }
func (stubView) View() string                        { return "the stub view" }

// TestViewTerminalLendsTheTerminal runs a real bubbletea program on a
// pseudo-terminal: the question appears only after the program has given
// the terminal back (cursor shown, keys read as a line without echo, its
// input reader stopped so the answer arrives whole), and the program takes
// the terminal again and redraws before the answer is handed out. A
// question asked before the program runs waits for it; one asked after it
// has ended is not asked.
func TestViewTerminalLendsTheTerminal(t *testing.T) {
	const (
		showCursor = "\x1b[?25h"
		hideCursor = "\x1b[?25l"
		question   = "SSH password: "
		view       = "the stub view"
	)
	cases := []struct {
		name     string
		askFirst bool // ask before the program runs
		endFirst bool // ask after the program has ended
	}{
		{name: "while the view runs"},
		{name: "before the view runs", askFirst: true},
		{name: "after the view has ended", endFirst: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pt := newPTY(t)
			prog := tea.NewProgram(stubView{}, tea.WithInput(pt.tty), tea.WithOutput(pt.tty), tea.WithoutSignalHandler())
			gone := make(chan struct{})
			vt := &viewTerminal{program: prog, gone: gone}
			start := func() {
				go func() {
					_, _ = prog.Run()
					close(gone)
				}()
				pt.waitFor("the view", func(out string) bool { return strings.Contains(out, view) })
			}
			// Quit, not Kill: Kill leaves the program's input reader on
			// the terminal the test closes next.
			t.Cleanup(func() {
				go prog.Quit()
				select {
				case <-gone:
				case <-time.After(5 * time.Second):
					prog.Kill()
				}
			})
			if !tc.askFirst {
				start()
				pt.waitMode(modeRaw)
			}
			if tc.endFirst {
				prog.Quit()
				<-gone
			}
			type result struct {
				v   string
				err error
			}
			res := make(chan result, 1)
			go func() {
				v, err := vt.ask(context.Background(), "SSH password")
				res <- result{v, err}
			}()
			if tc.endFirst {
				r := within(t, res, "the answer")
				if !errors.Is(r.err, errViewEnded) {
					t.Fatalf("got %q, %v; want errViewEnded", r.v, r.err)
				}
				time.Sleep(50 * time.Millisecond)
				if strings.Contains(pt.output(), "SSH password") {
					t.Fatalf("asked after the view ended:\n%q", pt.output())
				}
				return
			}
			if tc.askFirst {
				time.Sleep(50 * time.Millisecond)
				if out := pt.output(); out != "" {
					t.Fatalf("wrote %q before the view ran", out)
				}
				start()
			}
			pt.waitFor("the question", func(out string) bool { return strings.Contains(out, question) })
			pt.waitMode(modeNoEcho)
			pt.typeIn("typed-Secret-6\n")
			r := within(t, res, "the answer")
			if r.err != nil || r.v != "typed-Secret-6" {
				t.Fatalf("got %q, %v", r.v, r.err)
			}
			// Handed out only once the view has the terminal back.
			if tio, err := unix.IoctlGetTermios(int(pt.tty.Fd()), unix.TCGETS); err != nil || modeOf(tio) != modeRaw {
				t.Fatalf("terminal after the answer: %v, want the view's raw mode back", err)
			}
			pt.waitFor("the view drawn again", func(out string) bool {
				i := strings.LastIndex(out, question)
				return strings.Contains(out[i:], view)
			})
			out := pt.output()
			if n := countLine(out, question); n != 1 {
				t.Errorf("%d lines %q, want 1:\n%q", n, question, writtenLines(out))
			}
			if strings.Contains(out, "typed-Secret-6") {
				t.Errorf("the answer was echoed:\n%q", out)
			}
			// The order on the screen: the view, the terminal given back
			// (cursor shown), the question, the view's again (cursor
			// hidden), the view.
			q := strings.Index(out, question)
			firstView := strings.Index(out, view)
			released := strings.LastIndex(out[:q], showCursor)
			retaken := strings.Index(out[q:], hideCursor)
			redrawn := strings.Index(out[q:], view)
			if firstView < 0 || released < firstView || retaken < 0 || redrawn < retaken {
				t.Errorf("want view, release, question, restore, view; got view at %d, release %d, question %d, restore %d, view %d:\n%q",
					firstView, released, q, q+retaken, q+redrawn, out)
			}
		})
	}
}

// loginPhase stands in for the first phase that dials: on every host at
// once it needs the SSH password, then the sudo password.
type loginPhase struct {
	mu   sync.Mutex
	cfgs map[string]ssh.Config
	got  map[string]string // host -> "ssh-password sudo-password"
}

func (l *loginPhase) ID() string    { return "login" }
func (l *loginPhase) Title() string { return "Log in" }
func (l *loginPhase) Probe(_ context.Context, env *phases.Env) (phases.Work, error) {
	return phases.Work{Targets: env.Cluster.HostNames(), Pending: env.Cluster.HostNames()}, nil
}

func (l *loginPhase) Run(ctx context.Context, env *phases.Env, w phases.Work) error {
	return phases.ForEachHost(ctx, env, w.Pending, len(w.Pending), func(ctx context.Context, h string) error {
		l.mu.Lock()
		cfg := l.cfgs[h]
		l.mu.Unlock()
		pw, err := cfg.Password()
		if err != nil {
			return err
		}
		sudo, err := cfg.SudoPassword()
		if err != nil {
			return err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.got[h] = pw + " " + sudo
		return nil
	})
}

// TestApplyLiveViewAsksForPasswords: kubeha apply under the live view,
// with every host needing an SSH and a sudo password that the environment
// does not give, asks each once on the view's terminal, with the view
// paused, and the run succeeds; nothing goes to stderr, and neither
// answer is shown.
func TestApplyLiveViewAsksForPasswords(t *testing.T) {
	for _, env := range []string{envSSHPassword, envSudoPassword, envKeyPassphrase} {
		t.Setenv(env, "")
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "kubeha.yaml")
	if err := os.WriteFile(inv, inventory.Example, 0o644); err != nil {
		t.Fatal(err)
	}
	login := &loginPhase{cfgs: map[string]ssh.Config{}, got: map[string]string{}}
	a := &app{
		terminal: tui.Terminal{IsTerminal: true, Getenv: func(string) string { return "" }},
		registry: func() []phases.Phase { return []phases.Phase{login} },
		connect: func(ctx context.Context, c *inventory.Cluster, o connectOptions) (phases.Hosts, func() error, error) {
			cc := *c
			yes := true
			cc.Spec.SSH.User, cc.Spec.SSH.Sudo = "ops", &yes
			cc.Spec.SSH.KeyPath = filepath.Join(dir, "no-key")
			cc.Spec.SSH.KnownHostsPath = filepath.Join(dir, "known_hosts")
			cfgs, err := sshConfigs(ctx, &cc, o, fakeSSHConfig{})
			if err != nil {
				return nil, nil, err
			}
			for _, cfg := range cfgs {
				login.cfgs[cfg.Name] = cfg
			}
			return nil, nil, nil
		},
	}
	pt := newPTY(t)
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(context.Background(), []string{"apply", "-i", inv, "--state-dir", filepath.Join(dir, "state")}, pt.tty, pt.tty, &stderr, a)
	}()
	for _, q := range []struct{ question, answer string }{
		{"SSH password: ", "ssh-Typed-7"},
		{"sudo password: ", "sudo-Typed-8"},
	} {
		pt.waitFor("the question "+q.question, func(out string) bool { return countLine(out, q.question) > 0 })
		pt.waitMode(modeNoEcho)
		pt.typeIn(q.answer + "\n")
	}
	pt.waitFor("the end of the run", func(out string) bool { return strings.Contains(out, "press q to leave") })
	pt.typeIn("q")
	if c := within(t, code, "kubeha to exit"); c != exitOK {
		t.Fatalf("exit %d; stderr:\n%s\nterminal:\n%q", c, stderr.String(), pt.output())
	}
	out := pt.output()
	for _, q := range []string{"SSH password: ", "sudo password: "} {
		if n := countLine(out, q); n != 1 {
			t.Errorf("%d lines %q on the terminal, want 1:\n%q", n, q, writtenLines(out))
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %q, want nothing", stderr.String())
	}
	for _, secret := range []string{"ssh-Typed-7", "sudo-Typed-8"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s shown on the terminal:\n%q", secret, out)
		}
	}
	c, _, err := inventory.Parse(inventory.Example)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range c.HostNames() {
		if got := login.got[h]; got != "ssh-Typed-7 sudo-Typed-8" {
			t.Errorf("%s logged in with %q", h, got)
		}
	}
	if got := a.secrets.Redact("ssh-Typed-7 sudo-Typed-8"); got != "*** ***" {
		t.Errorf("answers not registered for redaction: %q", got)
	}
}

// termios is the terminal's line discipline settings now.
func (p *pty) termios() unix.Termios {
	p.t.Helper()
	tio, err := unix.IoctlGetTermios(int(p.tty.Fd()), unix.TCGETS)
	if err != nil {
		p.t.Fatal(err)
	}
	return *tio
}

// TestAskTerminal asks on a pseudo-terminal: the answer comes back and is
// never shown (echo off while asking, lines and Ctrl-C on); a cancelled
// context ends the question at once, as Ctrl-C does through the command's
// context, with an error that is context.Canceled; one cancelled before
// asks nothing. However it ends, the terminal is left exactly as it was
// found, and the shell's prompt starts on a line of its own.
func TestAskTerminal(t *testing.T) {
	const question = "SSH password: "
	cases := []struct {
		name      string
		setup     func(*unix.Termios) // the terminal as the shell left it
		cancel    bool                // cancelled before asking
		typed     string              // typed once the question is up
		interrupt bool                // the context is cancelled once the question is up
		want      string
		wantErr   string
		wantLines []string // written to the terminal
	}{
		{name: "answered", typed: "typed-Secret-9\n", want: "typed-Secret-9", wantLines: []string{question, ""}},
		{name: "Enter as CR on a terminal without ICRNL",
			setup: func(tio *unix.Termios) { tio.Iflag &^= unix.ICRNL },
			typed: "typed-Secret-10\r", want: "typed-Secret-10", wantLines: []string{question, ""}},
		{name: "an empty answer", typed: "\n", want: "", wantLines: []string{question, ""}},
		{name: "Ctrl-D on an empty line", typed: "\x04",
			wantErr: "read SSH password: EOF", wantLines: []string{question, ""}},
		{name: "interrupted while nobody types", interrupt: true,
			wantErr: "SSH password prompt interrupted: context canceled", wantLines: []string{question, ""}},
		{name: "interrupted halfway through the answer", typed: "half-Secret-11", interrupt: true,
			wantErr: "SSH password prompt interrupted: context canceled", wantLines: []string{question, ""}},
		{name: "cancelled before: not asked", cancel: true,
			wantErr: "SSH password not asked: context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pt := newPTY(t)
			if tc.setup != nil {
				tio := pt.termios()
				tc.setup(&tio)
				if err := unix.IoctlSetTermios(int(pt.tty.Fd()), unix.TCSETS, &tio); err != nil {
					t.Fatal(err)
				}
			}
			before := pt.termios()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			type result struct {
				v   string
				err error
			}
			res := make(chan result, 1)
			go func() {
				v, err := askTerminal(ctx, pt.tty, pt.tty, "SSH password")
				res <- result{v, err}
			}()
			if !tc.cancel {
				pt.waitFor("the question", func(out string) bool { return strings.Contains(out, question) })
				pt.waitMode(modeNoEcho)
				if asking := pt.termios(); asking.Lflag&unix.ISIG == 0 {
					t.Errorf("Ctrl-C sends no signal while asking: lflag %#x", asking.Lflag)
				}
			}
			if tc.typed != "" {
				pt.typeIn(tc.typed)
			}
			var cancelled time.Time
			if tc.interrupt {
				// Let the typed keys reach the line discipline first.
				time.Sleep(50 * time.Millisecond)
				cancelled = time.Now()
				cancel()
			}
			r := within(t, res, "the answer")
			if tc.interrupt {
				if d := time.Since(cancelled); d > time.Second {
					t.Errorf("returned %v after the cancel, want at once", d)
				}
			}
			if tc.wantErr != "" {
				if r.err == nil || r.err.Error() != tc.wantErr {
					t.Fatalf("got %q, %v; want the error %q", r.v, r.err, tc.wantErr)
				}
				if (tc.interrupt || tc.cancel) && !errors.Is(r.err, context.Canceled) {
					t.Errorf("%v is not context.Canceled", r.err)
				}
			} else if r.err != nil || r.v != tc.want {
				t.Fatalf("got %q, %v; want %q", r.v, r.err, tc.want)
			}
			if after := pt.termios(); after != before {
				t.Errorf("terminal not restored: lflag %#x iflag %#x, was %#x %#x", after.Lflag, after.Iflag, before.Lflag, before.Iflag)
			}
			// What the question wrote has reached the reader once the
			// pseudo-terminal has nothing left to give.
			time.Sleep(50 * time.Millisecond)
			out := pt.output()
			var got []string
			if out != "" {
				got = writtenLines(out)
			}
			if !slices.Equal(got, tc.wantLines) {
				t.Errorf("written to the terminal: %q, want %q", got, tc.wantLines)
			}
			if secret := strings.TrimRight(tc.typed, "\r\n\x04"); secret != "" && strings.Contains(out, secret) {
				t.Errorf("the answer was shown: %q", out)
			}
		})
	}
}

// TestAskTerminalLeavesNoReader: an interrupted question leaves nothing
// reading the terminal, so the next line typed goes to whoever asks next,
// not to a read still waiting for the old answer.
func TestAskTerminalLeavesNoReader(t *testing.T) {
	pt := newPTY(t)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := askTerminal(ctx, pt.tty, pt.tty, "SSH password")
		first <- err
	}()
	pt.waitMode(modeNoEcho)
	cancel()
	if err := within(t, first, "the interrupted question"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	pt.typeIn("next-Secret-12\n")
	next := make(chan string, 1)
	go func() {
		v, err := askTerminal(context.Background(), pt.tty, pt.tty, "sudo password")
		if err != nil {
			v = err.Error()
		}
		next <- v
	}()
	if got := within(t, next, "the next question"); got != "next-Secret-12" {
		t.Fatalf("the next question got %q, want the line typed after the interrupted one", got)
	}
}

// TestViewTerminalQuestionInterrupted: a question the live view lent the
// terminal for ends when the context is cancelled (Ctrl-C at it, the
// terminal being in line mode then, cancels the command's context), and
// the view takes the terminal back.
func TestViewTerminalQuestionInterrupted(t *testing.T) {
	pt := newPTY(t)
	prog := tea.NewProgram(stubView{}, tea.WithInput(pt.tty), tea.WithOutput(pt.tty), tea.WithoutSignalHandler())
	gone := make(chan struct{})
	vt := &viewTerminal{program: prog, gone: gone}
	go func() {
		_, _ = prog.Run()
		close(gone)
	}()
	t.Cleanup(func() {
		go prog.Quit()
		select {
		case <-gone:
		case <-time.After(5 * time.Second):
			prog.Kill()
		}
	})
	pt.waitFor("the view", func(out string) bool { return strings.Contains(out, "the stub view") })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan error, 1)
	go func() {
		_, err := vt.ask(ctx, "SSH password")
		res <- err
	}()
	pt.waitFor("the question", func(out string) bool { return strings.Contains(out, "SSH password: ") })
	pt.waitMode(modeNoEcho)
	cancelled := time.Now()
	cancel()
	err := within(t, res, "the interrupted question")
	if d := time.Since(cancelled); d > time.Second {
		t.Errorf("returned %v after the cancel, want at once", d)
	}
	if !errors.Is(err, context.Canceled) || err.Error() != "SSH password prompt interrupted: context canceled" {
		t.Fatalf("got %v, want the question interrupted", err)
	}
	pt.waitMode(modeRaw) // the view has the terminal back
}

// TestReadPasswordAbandoning runs the readSecret of systems without poll(2)
// on terminals (prompt_other.go) on a pseudo-terminal: the answer comes
// back without echo; a cancel while nobody types returns context.Canceled
// at once with the terminal as it was found, though the read it abandons
// still waits for Enter.
func TestReadPasswordAbandoning(t *testing.T) {
	cases := []struct {
		name      string
		typed     string
		interrupt bool
		want      string
		wantErr   string
	}{
		{name: "answered", typed: "typed-Secret-16\n", want: "typed-Secret-16"},
		{name: "interrupted while nobody types", interrupt: true, wantErr: "context canceled"},
		{name: "interrupted halfway through the answer", typed: "half-Secret-17", interrupt: true, wantErr: "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pt := newPTY(t)
			before := pt.termios()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				b   []byte
				err error
			}
			res := make(chan result, 1)
			go func() {
				b, err := readPasswordAbandoning(ctx, int(pt.tty.Fd()))
				res <- result{b, err}
			}()
			pt.waitMode(modeNoEcho)
			if tc.typed != "" {
				pt.typeIn(tc.typed)
			}
			var cancelled time.Time
			if tc.interrupt {
				time.Sleep(50 * time.Millisecond) // the keys reach the line discipline
				cancelled = time.Now()
				cancel()
			}
			r := within(t, res, "the answer")
			if tc.interrupt {
				if d := time.Since(cancelled); d > time.Second {
					t.Errorf("returned %v after the cancel, want at once", d)
				}
			}
			if tc.wantErr != "" {
				if r.err == nil || r.err.Error() != tc.wantErr || !errors.Is(r.err, context.Canceled) {
					t.Fatalf("got %q, %v; want the error %q", r.b, r.err, tc.wantErr)
				}
			} else if r.err != nil || string(r.b) != tc.want {
				t.Fatalf("got %q, %v; want %q", r.b, r.err, tc.want)
			}
			if after := pt.termios(); after != before {
				t.Errorf("terminal not restored: lflag %#x iflag %#x, was %#x %#x", after.Lflag, after.Iflag, before.Lflag, before.Iflag)
			}
			if secret := strings.TrimSuffix(tc.typed, "\n"); secret != "" && strings.Contains(pt.output(), secret) {
				t.Errorf("the answer was shown: %q", pt.output())
			}
			if tc.interrupt {
				// End the abandoned read before the terminal is closed,
				// so its own restore does not outlive the descriptor.
				pt.typeIn("\n")
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
