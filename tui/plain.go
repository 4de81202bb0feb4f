package tui

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cheggaaa/pb/v3"

	"github.com/kubeha/kubeha/events"
)

// Plain writes events as lines, prefixed with phase and host, for people
// reading logs. It is safe for concurrent use. Byte progress is shown at
// most every ProgressEvery per file and always at completion, so a large
// upload does not flood a log.
//
// Unless Verbose is set, what a host does inside a per-host step (from its
// host-started to its host-done or host-failed event) is folded: its done
// line, its info lines and its byte progress are not printed; when the
// phase ends one line counts its hosts done, failed, cancelled and
// pending, followed by each failed host's error in full. Everything else
// still prints as it comes: events with no host, command output, warnings,
// failures, skips and plan changes. A phase of 200 hosts so reads as a few
// lines plus what went wrong.
//
// A step cut short by Ctrl-C (an event marked Cancelled) is not a failure:
// its line says "cancelled", is folded like a done one, and has no error
// listed, so an interrupted run reads as one interruption, not as a
// failure on every host that was busy.
type Plain struct {
	mu            sync.Mutex
	w             io.Writer
	color         bool
	ProgressEvery time.Duration
	// Verbose prints every host's lines as they come, as well as the
	// phase's summary. Set it before the first Emit.
	Verbose      bool
	lastProgress map[string]time.Time
	tallies      map[string]*tally // per phase, from its first host step to its end
	// bars draws byte progress as pb/v3 bars, one line per update, instead
	// of plain counts: for people at a terminal, not for logs.
	bars   bool
	barMap map[string]*pb.ProgressBar
}

// NewPlain returns a plain renderer writing to w, with ANSI colour when
// color is true.
func NewPlain(w io.Writer, color bool) *Plain {
	return &Plain{w: w, color: color, ProgressEvery: 2 * time.Second, lastProgress: map[string]time.Time{}, tallies: map[string]*tally{}}
}

// NewTerminal returns the renderer for an interactive terminal: plain lines
// with colour when allowed, and uploads drawn as progress bars updated twice
// a second.
func NewTerminal(w io.Writer, color bool) *Plain {
	p := NewPlain(w, color)
	p.bars, p.barMap, p.ProgressEvery = true, map[string]*pb.ProgressBar{}, 500*time.Millisecond
	return p
}

// barLine renders one upload's progress with pb's full template (bar,
// percentage, speed, time left).
func (p *Plain) barLine(key string, e events.Event) string {
	bar := p.barMap[key]
	if bar == nil {
		// Static: the bar never draws by itself; each update renders one
		// line through String, so bars and log lines never interleave.
		bar = pb.Full.New(0).SetTotal(e.Total)
		bar.Set(pb.Bytes, true).Set(pb.Static, true).SetWidth(100).Set("prefix", e.Name)
		bar.Start()
		p.barMap[key] = bar
	}
	bar.SetCurrent(e.Bytes)
	line := bar.String()
	if e.Total > 0 && e.Bytes >= e.Total {
		bar.Finish()
		delete(p.barMap, key)
	}
	return line
}

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiYel   = "\x1b[33m"
	ansiDim   = "\x1b[2m"
)

func (p *Plain) paint(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + ansiReset
}

// Emit writes the lines e makes, if any.
func (p *Plain) Emit(e events.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range p.lines(e) {
		fmt.Fprintln(p.w, line)
	}
}

// lines folds a host's step lines into its phase's tally (see Plain) and
// formats the rest; a phase's end brings its summary.
func (p *Plain) lines(e events.Event) []string {
	var out []string
	switch e.Kind {
	case events.HostStarted, events.HostDone, events.HostFailed, events.Info, events.Progress:
		if e.Host == "" {
			break
		}
		t := p.tallies[e.Phase]
		if t == nil {
			if e.Kind != events.HostStarted && e.Kind != events.HostFailed {
				break // not in a step: printed as it comes
			}
			t = newTally()
			p.tallies[e.Phase] = t
		}
		fold := !p.Verbose && t.inStep(e.Host)
		if e.Kind == events.HostStarted || e.Kind == events.HostDone || e.Kind == events.HostFailed {
			t.Record(e)
		}
		if fold && (e.Kind != events.HostFailed || e.Cancelled) {
			if e.Kind == events.Info {
				t.folded[e.Host] = append(t.folded[e.Host], p.format(e))
			}
			return nil
		}
	case events.PhaseDone, events.PhaseFailed:
		if t := p.tallies[e.Phase]; t != nil {
			delete(p.tallies, e.Phase)
			out = append(out, t.replay()...)
			sum, outcome := t.summary(e.Phase)
			code := ansiGreen
			switch outcome {
			case StepFailed:
				code = ansiRed
			case StepCancelled:
				code = ansiYel
			}
			for _, l := range sum {
				out = append(out, p.paint(code, l))
			}
		}
	}
	if line := p.format(e); line != "" {
		out = append(out, line)
	}
	return out
}

func (p *Plain) format(e events.Event) string {
	where := "[" + e.Phase + "]"
	if e.Phase == "" {
		where = "[kubeha]"
	}
	if e.Host != "" {
		where += " " + e.Host
	}
	d := ""
	if e.Duration > 0 {
		d = " in " + e.Duration.Round(10*time.Millisecond).String()
	}
	switch e.Kind {
	case events.RunStarted:
		return p.paint(ansiBold, "kubeha: "+e.Message)
	case events.RunDone:
		return p.paint(ansiGreen, "kubeha: done"+d)
	case events.RunFailed:
		return "" // the error is printed once, at the end, by the command
	case events.PhaseStarted:
		return p.paint(ansiBold, "==> "+where+" "+e.Message)
	case events.PhaseDone:
		return p.paint(ansiGreen, "<== "+where+" done"+d)
	case events.PhaseFailed:
		if e.Cancelled {
			return p.paint(ansiYel, "<== "+where+" cancelled"+d)
		}
		return p.paint(ansiRed, "!!! "+where+" failed"+d+": "+firstLine(e.Error))
	case events.PhaseSkipped:
		return p.paint(ansiDim, "--- "+where+" skipped: "+e.Message)
	case events.HostStarted:
		return ""
	case events.HostDone:
		return where + ": ok" + d
	case events.HostFailed:
		if e.Cancelled {
			return p.paint(ansiYel, where+": cancelled"+d)
		}
		return p.paint(ansiRed, where+": FAILED"+d+": "+firstLine(e.Error))
	case events.Output:
		return p.paint(ansiDim, where+" | "+e.Message)
	case events.Warning:
		return p.paint(ansiYel, where+": warning: "+e.Message)
	case events.PlanChange:
		return where + ": would " + e.Message
	case events.Progress:
		key := e.Host + "\x00" + e.Name
		now := time.Now()
		if e.Total == 0 || e.Bytes < e.Total {
			if now.Sub(p.lastProgress[key]) < p.ProgressEvery {
				return ""
			}
		}
		p.lastProgress[key] = now
		if p.bars && e.Total > 0 {
			return where + ": " + p.barLine(key, e)
		}
		return where + ": " + e.Name + " " + progressText(e.Bytes, e.Total)
	default:
		return where + ": " + e.Message
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func progressText(done, total int64) string {
	if total <= 0 {
		return humanBytes(done)
	}
	return fmt.Sprintf("%s / %s (%d%%)", humanBytes(done), humanBytes(total), done*100/total)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// JSON writes one JSON object per event and line. It is safe for
// concurrent use.
type JSON struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSON returns a JSON-lines renderer writing to w.
func NewJSON(w io.Writer) *JSON { return &JSON{enc: json.NewEncoder(w)} }

// Emit writes e as one line.
func (j *JSON) Emit(e events.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(e)
}
