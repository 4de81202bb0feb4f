package benchutil

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		busy, total uint64
		wantErr     bool
	}{
		{
			"idle and iowait are not busy, steal is; guest is in user already",
			"cpu  100 20 30 400 50 6 7 8 90 10\ncpu0 50 10 15 200 25 3 3 4 45 5\n",
			100 + 20 + 30 + 6 + 7 + 8, 100 + 20 + 30 + 400 + 50 + 6 + 7 + 8, false,
		},
		{"an old kernel's four fields", "cpu 10 0 5 85\n", 15, 100, false},
		{"a per-CPU line first", "cpu0 1 2 3 4 5\n", 0, 0, true},
		{"too few fields", "cpu 1 2 3\n", 0, 0, true},
		{"not a number", "cpu 1 2 x 4 5\n", 0, 0, true},
		{"empty", "", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			busy, total, err := ParseProcStat([]byte(tt.data))
			if (err != nil) != tt.wantErr || busy != tt.busy || total != tt.total {
				t.Errorf("got %d, %d, %v; want %d, %d, error %v", busy, total, err, tt.busy, tt.total, tt.wantErr)
			}
		})
	}
}

func TestParsePidStat(t *testing.T) {
	// Fields after comm: state ppid pgrp session tty_nr tpgid flags
	// minflt cminflt majflt cmajflt utime stime cutime cstime ...
	const rest = " S 1 1 1 0 -1 4194560 100 0 0 0 1234 567 89 10 20 0 12 0 345 0\n"
	tests := []struct {
		name    string
		data    string
		comm    string
		ticks   uint64
		wantErr bool
	}{
		{"plain", "4242 (etcd)" + rest, "etcd", 1234 + 567, false},
		{"spaces in comm", "7 (kube vip 1)" + rest, "kube vip 1", 1801, false},
		{"')' and '(' in comm: it ends at the last ')'", "9 (a) b (c))" + rest, "a) b (c)", 1801, false},
		{"a truncated comm", "12 (kube-controller)" + rest, "kube-controller", 1801, false},
		{"no parentheses", "12 etcd" + rest, "", 0, true},
		{"cut short before stime", "12 (etcd) S 1 1 1 0 -1 4194560 100 0 0 0 1234\n", "", 0, true},
		{"utime not a number", "12 (etcd) S 1 1 1 0 -1 4194560 100 0 0 0 x 567\n", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			comm, ticks, err := ParsePidStat([]byte(tt.data))
			if (err != nil) != tt.wantErr || comm != tt.comm || ticks != tt.ticks {
				t.Errorf("got %q, %d, %v; want %q, %d, error %v", comm, ticks, err, tt.comm, tt.ticks, tt.wantErr)
			}
		})
	}
}

func TestParseLoadAvg(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    float64
		wantErr bool
	}{
		{"the first field", "9.87 6.54 3.21 5/114 14629\n", 9.87, false},
		{"empty", "", 0, true},
		{"not a number", "x 1 2\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLoadAvg([]byte(tt.data))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// fakeProc is a /proc with the given stat line, loadavg and processes
// (pid → stat file).
func fakeProc(t *testing.T, stat, loadavg string, pids map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(path, data string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "stat"), stat)
	write(filepath.Join(dir, "loadavg"), loadavg)
	for pid, data := range pids {
		write(filepath.Join(dir, pid, "stat"), data)
	}
	return dir
}

func pidStat(comm string, utime, stime int) string {
	return "1 (" + comm + ") S 1 1 1 0 -1 0 0 0 0 0 " + strconv.Itoa(utime) + " " + strconv.Itoa(stime) + " 0 0 20 0 1 0 1 0\n"
}

// ReadProcs keeps every process it can parse, skips what is not a
// process, and reads the load average.
func TestReadProcs(t *testing.T) {
	dir := fakeProc(t, "cpu 1 1 1 1 1\n", "9.5 1 1 1/1 1\n", map[string]string{
		"10": pidStat("etcd", 300, 100), "11": pidStat("kubelet", 50, 50), "12": "garbage", "self": pidStat("x", 1, 1),
	})
	s, err := ReadProcs(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]procTicks{10: {"etcd", 400}, 11: {"kubelet", 100}}
	if !reflect.DeepEqual(s.procs, want) || s.Load1 != 9.5 || s.At.IsZero() {
		t.Errorf("got %+v, want procs %v and load 9.5", s, want)
	}
	if _, err := ReadProcs(filepath.Join(dir, "missing")); err == nil {
		t.Error("no error for a missing /proc")
	}
}

func TestTopCPU(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	snap := func(procs map[int]procTicks) ProcSnapshot { return ProcSnapshot{At: at, procs: procs} }
	start := snap(map[int]procTicks{
		1: {"etcd", 1000}, 2: {"etcd", 2000}, 3: {"kubelet", 500}, 4: {"gone", 900}, 5: {"reused", 800}, 6: {"idle", 70},
	})
	end := snap(map[int]procTicks{
		1: {"etcd", 1150}, 2: {"etcd", 2100}, // both etcd: 250 ticks
		3:  {"kubelet", 530}, // 30
		5:  {"bash", 20},     // the pid reused: all of its 20
		6:  {"idle", 70},     // nothing: left out
		7:  {"haproxy", 30},  // started in between: all of it, ties by name
		8:  {"kube-apiserver", 400},
		9:  {"a", 1},
		10: {"b", 1},
	})
	want := []CommCPU{{"kube-apiserver", 4}, {"etcd", 2.5}, {"haproxy", 0.3}, {"kubelet", 0.3}, {"bash", 0.2}, {"a", 0.01}}
	if got := TopCPU(start, end, 6); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if got := TopCPU(start, end, 2); !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("top 2: got %v, want %v", got, want[:2])
	}
	if got := TopCPU(ProcSnapshot{}, ProcSnapshot{}, 6); got != nil {
		t.Errorf("no snapshots: got %v, want none", got)
	}
}

func TestAddHostCPU(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// A sample every 100 ms from -2 s to 5 s: the host 50% busy before
	// 3 s and 100% busy from then on (2 CPUs: 20 ticks a sample).
	var samples []CPUSample
	var busy, total uint64
	for n := -2000; n <= 5000; n += 100 {
		samples = append(samples, CPUSample{At: ms(n), Busy: busy, Total: total})
		total += 20
		if n < 3000 {
			busy += 10
		} else {
			busy += 20
		}
	}
	probes := []Probe{
		{Sent: ms(-500), Took: 200 * time.Millisecond, Err: "before the window"},
		{Sent: ms(100), Took: 200 * time.Millisecond, Err: "dial: i/o timeout"},
		{Sent: ms(200), Took: 10 * time.Millisecond},
		{Sent: ms(3600), Took: 200 * time.Millisecond, Err: "handshake: i/o timeout"}, // the second to 3.8 s: 2 intervals at 50%, 8 at 100%
		{Sent: ms(4500), Took: 200 * time.Millisecond, Err: "response: i/o timeout"},  // to 4.7 s: all busy
		{Sent: ms(4900), Took: 200 * time.Millisecond, Err: "response: i/o timeout"},  // to 5.1 s: past the last sample
	}
	start := ProcSnapshot{At: t0, Load1: 3, procs: map[int]procTicks{1: {"etcd", 100}}}
	end := ProcSnapshot{At: ms(5000), Load1: 9.5, procs: map[int]procTicks{1: {"etcd", 400}, 2: {"kubelet", 50}}}
	w := Summarize(probes, t0, 5*time.Second)
	AddHostCPU(&w, probes, t0, 5*time.Second, samples, start, end)
	wantFailures := []Failure{
		{At: 100 * time.Millisecond, Err: "dial: i/o timeout", HostBusy: 0.5},
		{At: 3600 * time.Millisecond, Err: "handshake: i/o timeout", HostBusy: 0.9},
		{At: 4500 * time.Millisecond, Err: "response: i/o timeout", HostBusy: 1},
		{At: 4900 * time.Millisecond, Err: "response: i/o timeout"},
	}
	if !reflect.DeepEqual(w.Failures, wantFailures) {
		t.Errorf("failures:\ngot  %+v\nwant %+v", w.Failures, wantFailures)
	}
	// 50 intervals end in (0, 5 s]: 30 at 50%, 20 at 100%. The late
	// failures measured: 0.9 and 1, whose nearest-rank median is 0.9.
	wantHost := HostCPU{BusyP50: 0.5, BusyMax: 1, LateBusyP50: 0.9, Top: []CommCPU{{"etcd", 3}, {"kubelet", 0.5}}, Load1: 9.5}
	if !reflect.DeepEqual(w.Host, wantHost) {
		t.Errorf("host:\ngot  %+v\nwant %+v", w.Host, wantHost)
	}

	// Without snapshots or samples: not measured, and nothing else changes.
	w = Summarize(probes, t0, 5*time.Second)
	AddHostCPU(&w, probes, t0, 5*time.Second, nil, ProcSnapshot{}, ProcSnapshot{})
	if !reflect.DeepEqual(w, Summarize(probes, t0, 5*time.Second)) {
		t.Errorf("without measurements: got %+v, want the window as Summarize made it", w)
	}
}

// The sampler reads at once and then at each tick, and ends, its goroutine
// with it, when its context does or when it is stopped.
func TestHostSampler(t *testing.T) {
	dir := fakeProc(t, "cpu 10 0 10 80 0\n", "1 1 1 1/1 1\n", nil)
	t.Run("stopped", func(t *testing.T) {
		s := StartHostSampler(context.Background(), dir, time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		samples, err := s.Stop()
		if err != nil || len(samples) < 2 {
			t.Fatalf("got %d samples, %v; want several and no error", len(samples), err)
		}
		for i, smp := range samples {
			if smp.Busy != 20 || smp.Total != 100 || i > 0 && smp.At.Before(samples[i-1].At) {
				t.Fatalf("sample %d: %+v", i, smp)
			}
		}
		again, _ := s.Stop()
		if len(again) != len(samples) {
			t.Errorf("a second Stop: %d samples, want the same %d", len(again), len(samples))
		}
	})
	t.Run("its context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		s := StartHostSampler(ctx, dir, time.Hour)
		cancel()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Fatal("the sampler's goroutine still runs after its context ended")
		}
		if samples, err := s.Stop(); err != nil || len(samples) != 1 {
			t.Errorf("got %d samples, %v; want the first one", len(samples), err)
		}
	})
	t.Run("an unreadable stat is an error, not a sample", func(t *testing.T) {
		s := StartHostSampler(context.Background(), filepath.Join(dir, "missing"), time.Hour)
		if samples, err := s.Stop(); err == nil || len(samples) != 0 {
			t.Errorf("got %d samples, %v; want none and an error", len(samples), err)
		}
	})
}

// A window not measured writes no host fields, so a report reads as it
// did before them, and an old report reads as not measured.
func TestHostCPUJSON(t *testing.T) {
	w := Window{Requests: 1, Failed: 1, Failures: []Failure{{At: time.Second, Err: "x"}}}
	data, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Requests":1,"Failed":1,"Longest":0,"FirstFailure":0,"LastFailure":0,"Failures":[{"At":1000000000,"Err":"x"}],"Omitted":0,"Late":0,"OKp99":0}`
	if string(data) != want {
		t.Errorf("got  %s\nwant %s", data, want)
	}
	var back Window
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, w) {
		t.Errorf("read back %+v, %v; want %+v", back, err, w)
	}
	w.Host = HostCPU{BusyP50: 0.5, BusyMax: 1, Top: []CommCPU{{"etcd", 2.5}}, Load1: 9.5}
	w.Failures[0].HostBusy = 0.75
	data, _ = json.Marshal(w)
	want = `{"Requests":1,"Failed":1,"Longest":0,"FirstFailure":0,"LastFailure":0,"Failures":[{"At":1000000000,"Err":"x","HostBusy":0.75}],"Omitted":0,"Late":0,"OKp99":0,"Host":{"BusyP50":0.5,"BusyMax":1,"Top":[{"Comm":"etcd","Seconds":2.5}],"Load1":9.5}}`
	if string(data) != want {
		t.Errorf("got  %s\nwant %s", data, want)
	}
}
