// Package runview is the live view of `kubeha apply` on a terminal: the
// phases with their state, a row per host with a spinner and its elapsed
// time, upload progress, the selected host's log, and at the end a summary
// or the error with the command that resumes.
//
// A host step or a phase cut short because the run was cancelled (an event
// marked Cancelled: Ctrl-C, or q here) shows as cancelled, with its own
// mark and colour, not as a failure; the hosts of a phase are counted as
// the plain renderer counts them (tui.HostSteps), so both say the same.
//
// Engine events reach the model through a channel that a re-arming command
// reads (Sink feeds it); nothing is package-global, so tests drive Model
// with direct Update calls.
package runview

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/tui"
)

// Status of a phase or a host row.
const (
	Pending = "pending"
	Running = "running"
	Done    = "done"
	Failed  = "failed"
	Skipped = "skipped"
	// Cancelled is a phase or a host step cut short by a cancelled run:
	// not a failure, the next run does it again.
	Cancelled = "cancelled"
)

// Phase is one row of the phase list.
type Phase struct {
	ID, Title string
	Status    string
	Note      string // the skip reason or the error
	Took      time.Duration
}

// hostRow is one host in the current phase.
type hostRow struct {
	name     string
	phase    string
	status   string
	started  time.Time
	took     time.Duration
	last     string // the last line it printed
	progName string
	done     int64
	total    int64
}

// Result ends the run: the error Apply returned (nil on success).
type Result struct{ Err error }

// eventMsg carries one engine event.
type eventMsg events.Event

// Summary is shown when the run ends, whatever the outcome.
type Summary struct {
	Kubeconfig string // the saved admin kubeconfig
	Endpoint   string // the API endpoint, name:port
	Resume     string // the command that runs again from where it stopped
	// FailedHosts lists the hosts named by the error, if any.
	FailedHosts func(error) []string
}

// Model is the run view.
type Model struct {
	events  <-chan events.Event
	result  <-chan Result
	cancel  func()
	summary Summary
	now     func() time.Time

	phases   []Phase
	index    map[string]int
	hosts    []*hostRow
	byName   map[string]*hostRow
	steps    map[string]*tui.HostSteps // per phase, its hosts' steps
	logs     map[string][]string
	selected int
	scroll   int // lines scrolled up from the log's end

	spin     spinner.Model
	bar      progress.Model
	width    int
	height   int
	help     bool
	confirm  bool // "stop the apply?" is asked
	stopping bool
	finished bool
	err      error
	started  time.Time
	ended    time.Time
}

// logLimit is how many lines of each host's output are kept.
const logLimit = 500

// New returns a run view over the phases (in order) that reads engine
// events from evs and the run's end from res; cancel stops the run.
func New(phases []Phase, evs <-chan events.Event, res <-chan Result, cancel func(), s Summary) Model {
	m := Model{events: evs, result: res, cancel: cancel, summary: s, now: time.Now,
		index: map[string]int{}, byName: map[string]*hostRow{}, steps: map[string]*tui.HostSteps{}, logs: map[string][]string{},
		spin: spinner.New(spinner.WithSpinner(spinner.Dot)), bar: progress.New(progress.WithWidth(24), progress.WithoutPercentage()),
		width: 100, height: 30}
	for i, p := range phases {
		if p.Status == "" {
			p.Status = Pending
		}
		m.phases = append(m.phases, p)
		m.index[p.ID] = i
	}
	return m
}

// Err is how the run ended, once it has.
func (m Model) Err() error { return m.err }

// Finished reports whether the run has ended.
func (m Model) Finished() bool { return m.finished }

func waitEvent(ch <-chan events.Event) tea.Cmd {
	return func() tea.Msg {
		e, ok := <-ch
		if !ok {
			return nil
		}
		return eventMsg(e)
	}
}

func waitResult(ch <-chan Result) tea.Cmd {
	return func() tea.Msg { return <-ch }
}

type tickMsg time.Time

func tick() tea.Cmd {
	return tea.Tick(200*time.Millisecond, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Init starts reading events and the run's end.
func (m Model) Init() tea.Cmd {
	return tea.Batch(waitEvent(m.events), waitResult(m.result), m.spin.Tick, tick())
}

// Update applies one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case eventMsg:
		m.apply(events.Event(msg))
		return m, waitEvent(m.events) // re-arm: one read per event
	case Result:
		m.finished, m.err, m.ended = true, msg.Err, m.now()
		m.confirm = false
		if m.stopping {
			return m, tea.Quit
		}
		return m, nil
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case spinner.TickMsg:
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	case tickMsg:
		if m.finished {
			return m, nil
		}
		return m, tick()
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.confirm {
		switch k.String() {
		case "y", "Y":
			m.confirm, m.stopping = false, true
			if m.cancel != nil {
				m.cancel()
			}
		case "n", "N", "esc":
			m.confirm = false
		}
		return m, nil
	}
	switch k.String() {
	case "q", "ctrl+c":
		if m.finished {
			return m, tea.Quit
		}
		if k.String() == "ctrl+c" && m.stopping {
			return m, nil
		}
		m.confirm = true
	case "?":
		m.help = !m.help
	case "up", "k":
		if m.selected > 0 {
			m.selected--
			m.scroll = 0
		}
	case "down", "j", "tab":
		if m.selected < len(m.hosts)-1 {
			m.selected++
			m.scroll = 0
		} else if k.String() == "tab" {
			m.selected, m.scroll = 0, 0
		}
	case "pgup", "b":
		m.scroll += 5
	case "pgdown", "f":
		m.scroll = max(0, m.scroll-5)
	case "enter":
		m.scroll = 0
	}
	return m, nil
}

// apply folds one engine event into the model.
func (m *Model) apply(e events.Event) {
	if m.started.IsZero() {
		m.started = m.now()
	}
	if i, ok := m.index[e.Phase]; ok && e.Host == "" {
		p := &m.phases[i]
		switch e.Kind {
		case events.PhaseStarted:
			p.Status = Running
		case events.PhaseDone:
			p.Status, p.Took = Done, e.Duration
		case events.PhaseSkipped:
			p.Status, p.Note = Skipped, e.Message
		case events.PhaseFailed:
			p.Status, p.Note, p.Took = Failed, e.Error, e.Duration
			if e.Cancelled {
				p.Status = Cancelled
			}
		}
	}
	if e.Host == "" {
		return
	}
	h := m.byName[e.Host]
	if h == nil {
		h = &hostRow{name: e.Host, status: Pending}
		m.byName[e.Host] = h
		m.hosts = append(m.hosts, h)
		sort.Slice(m.hosts, func(i, j int) bool { return m.hosts[i].name < m.hosts[j].name })
	}
	switch e.Kind {
	case events.HostStarted, events.HostDone, events.HostFailed:
		st := m.steps[e.Phase]
		if st == nil {
			st = tui.NewHostSteps()
			m.steps[e.Phase] = st
		}
		st.Record(e)
	}
	switch e.Kind {
	case events.HostStarted:
		h.phase, h.status, h.started, h.took, h.total, h.done = e.Phase, Running, m.now(), 0, 0, 0
	case events.HostDone, events.HostFailed:
		// The row ends as the phase's count has it: a host failed in
		// an earlier step of the phase stays failed.
		h.phase, h.took = e.Phase, e.Duration
		switch m.steps[e.Phase].Status(e.Host) {
		case tui.StepFailed:
			h.status = Failed
		case tui.StepCancelled:
			h.status = Cancelled
		default:
			h.status = Done
		}
		switch {
		case e.Kind == events.HostFailed && e.Cancelled:
			h.last = "cancelled"
			m.log(e.Host, "cancelled: "+e.Error)
		case e.Kind == events.HostFailed:
			h.last = firstLine(e.Error)
			m.log(e.Host, "! "+e.Error)
		}
	case events.Output:
		h.last = e.Message
		m.log(e.Host, e.Message)
	case events.Info, events.Warning:
		h.last = e.Message
		prefix := ""
		if e.Kind == events.Warning {
			prefix = "warning: "
		}
		m.log(e.Host, prefix+e.Message)
	case events.Progress:
		h.progName, h.done, h.total = e.Name, e.Bytes, e.Total
	}
}

func (m *Model) log(host, line string) {
	l := append(m.logs[host], line)
	if len(l) > logLimit {
		l = l[len(l)-logLimit:]
	}
	m.logs[host] = l
}

var (
	bold  = lipgloss.NewStyle().Bold(true)
	dim   = lipgloss.NewStyle().Faint(true)
	red   = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	green = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	// yellow is cancelled, as in the plain renderer: nothing failed.
	yellow = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	box    = lipgloss.NewStyle().Border(lipgloss.NormalBorder()).Padding(0, 1)
)

func (m Model) mark(status string) string {
	switch status {
	case Running:
		return m.spin.View()
	case Done:
		return green.Render("✓")
	case Failed:
		return red.Render("✗")
	case Cancelled:
		return yellow.Render("⏸")
	case Skipped:
		return dim.Render("–")
	}
	return dim.Render("·")
}

// View draws the screen.
func (m Model) View() string {
	var b strings.Builder
	elapsed := time.Duration(0)
	if !m.started.IsZero() {
		end := m.now()
		if !m.ended.IsZero() {
			end = m.ended
		}
		elapsed = end.Sub(m.started).Round(time.Second)
	}
	b.WriteString(bold.Render("kubeha apply") + dim.Render(fmt.Sprintf("  %s  ? help  q quit", elapsed)) + "\n\n")
	for _, p := range m.phases {
		line := fmt.Sprintf("%s %-20s", m.mark(p.Status), p.ID)
		switch {
		case p.Status == Done:
			line += dim.Render(fmt.Sprintf(" %s", p.Took.Round(100*time.Millisecond)))
		case p.Status == Skipped:
			line += dim.Render(" " + truncate(p.Note, m.width-26))
		case p.Status == Failed:
			line += red.Render(" " + truncate(firstLine(p.Note), m.width-26))
		case p.Status == Cancelled:
			line += yellow.Render(" cancelled")
		case p.Status == Running:
			line += " " + p.Title
		}
		b.WriteString(line + "\n")
	}
	if len(m.hosts) > 0 {
		b.WriteString("\n" + bold.Render("hosts") + dim.Render("  ↑/↓ select") + "\n")
		for i, h := range m.hosts {
			cursor := "  "
			if i == m.selected {
				cursor = "> "
			}
			t := h.took
			if h.status == Running {
				t = m.now().Sub(h.started)
			}
			row := fmt.Sprintf("%s%s %-10s %-19s %6s  ", cursor, m.mark(h.status), h.name, h.phase, t.Round(100*time.Millisecond))
			if h.status == Running && h.total > 0 {
				row += m.bar.ViewAs(float64(h.done)/float64(h.total)) + dim.Render(fmt.Sprintf(" %s", truncate(h.progName, 30)))
			} else {
				row += dim.Render(truncate(h.last, m.width-len([]rune(row))-2))
			}
			b.WriteString(row + "\n")
		}
		b.WriteString(m.logPane())
	}
	if m.help {
		b.WriteString("\n" + box.Render("↑/k ↓/j  select a host     tab  next host\nb/pgup f/pgdown  scroll its log   enter  back to the end\n?  this help     q/ctrl+c  stop the apply (asks first)") + "\n")
	}
	if m.confirm {
		b.WriteString("\n" + bold.Render("Stop the apply? The journal stays consistent; rerun to continue. [y/N]") + "\n")
	}
	if m.stopping && !m.finished {
		b.WriteString("\n" + dim.Render("stopping: waiting for the running commands to end…") + "\n")
	}
	if m.finished {
		b.WriteString("\n" + m.end() + "\n")
	}
	return b.String()
}

// logPane is the selected host's last lines, scrolled.
func (m Model) logPane() string {
	if m.selected >= len(m.hosts) {
		return ""
	}
	h := m.hosts[m.selected]
	lines := m.logs[h.name]
	height := max(5, m.height-len(m.phases)-len(m.hosts)-10)
	end := max(0, len(lines)-m.scroll)
	start := max(0, end-height)
	var b strings.Builder
	b.WriteString("\n" + bold.Render("log: "+h.name) + dim.Render(fmt.Sprintf("  %d lines  b/f scroll", len(lines))) + "\n")
	for _, l := range lines[start:end] {
		b.WriteString("  " + truncate(l, m.width-4) + "\n")
	}
	return b.String()
}

// end is the summary on success. Otherwise it is the error, marked as an
// interruption rather than a failure when the run was cancelled (see
// interrupted); the line counting the hosts of each phase that failed or
// was cancelled, as the plain renderer prints it; the hosts the error
// names; and the command that resumes.
func (m Model) end() string {
	if m.err == nil {
		var b strings.Builder
		b.WriteString(green.Render("✓ the cluster is up") + "\n")
		if m.summary.Endpoint != "" {
			b.WriteString("  endpoint    https://" + m.summary.Endpoint + "\n")
		}
		if m.summary.Kubeconfig != "" {
			b.WriteString("  kubeconfig  " + m.summary.Kubeconfig + "\n")
			b.WriteString("  next        kubectl --kubeconfig " + m.summary.Kubeconfig + " get nodes\n")
		}
		b.WriteString(dim.Render("press q to leave"))
		return b.String()
	}
	var b strings.Builder
	if m.interrupted() {
		b.WriteString(yellow.Render("⏸ "+firstLine(m.err.Error())) + "\n")
	} else {
		b.WriteString(red.Render("✗ "+firstLine(m.err.Error())) + "\n")
	}
	for _, p := range m.phases {
		st := m.steps[p.ID]
		if st == nil || (p.Status != Failed && p.Status != Cancelled) {
			continue
		}
		line, outcome := st.Counts(p.ID)
		style := green // the plain renderer's colours for the same line
		switch outcome {
		case tui.StepFailed:
			style = red
		case tui.StepCancelled:
			style = yellow
		}
		b.WriteString("  " + style.Render(line) + "\n")
	}
	if m.summary.FailedHosts != nil {
		if hs := m.summary.FailedHosts(m.err); len(hs) > 0 {
			b.WriteString("  failed on  " + strings.Join(hs, ", ") + "\n")
		}
	}
	if m.summary.Resume != "" {
		b.WriteString("  resume      " + m.summary.Resume + "\n")
	}
	b.WriteString(dim.Render("press q to leave"))
	return b.String()
}

// interrupted reports whether the run that ended in error was cut short
// rather than failed: no phase failed, and a phase was cancelled or the
// operator stopped the run here (which may land between two phases, where
// no phase says so).
func (m Model) interrupted() bool {
	cancelled := m.stopping
	for _, p := range m.phases {
		switch p.Status {
		case Failed:
			return false
		case Cancelled:
			cancelled = true
		}
	}
	return cancelled
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func truncate(s string, n int) string {
	r := []rune(s)
	if n <= 1 || len(r) <= n {
		if n <= 1 {
			return ""
		}
		return s
	}
	return string(r[:n-1]) + "…"
}

// Sink passes engine events to the view through ch. Emit blocks while the
// view is behind (the engine waits rather than lose an event) and never
// after done is closed.
type Sink struct {
	ch   chan<- events.Event
	done <-chan struct{}
}

// NewSink returns a Sink writing to ch until done is closed.
func NewSink(ch chan<- events.Event, done <-chan struct{}) *Sink { return &Sink{ch: ch, done: done} }

// Emit sends e to the view.
func (s *Sink) Emit(e events.Event) {
	select {
	case s.ch <- e:
	case <-s.done:
	}
}
