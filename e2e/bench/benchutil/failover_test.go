package benchutil

import (
	"reflect"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	ok := func(n int) Probe { return Probe{Sent: ms(n)} }
	bad := func(n int, err string) Probe { return Probe{Sent: ms(n), Err: err} }
	tests := []struct {
		name   string
		probes []Probe
		length time.Duration
		want   Window
	}{
		{"none failed", []Probe{ok(0), ok(20), ok(40)}, time.Second, Window{Requests: 3}},
		{
			"one run, closed by an answer",
			[]Probe{ok(0), bad(20, "timeout"), bad(40, "timeout"), ok(60), ok(80)},
			time.Second,
			Window{Requests: 5, Failed: 2, Longest: 40 * time.Millisecond, FirstFailure: 20 * time.Millisecond, LastFailure: 40 * time.Millisecond,
				Failures: []Failure{{At: 20 * time.Millisecond, Err: "timeout"}, {At: 40 * time.Millisecond, Err: "timeout"}}},
		},
		{
			"the longest of two runs, and a stray",
			[]Probe{bad(0, "a"), ok(20), bad(100, "b"), bad(200, "b"), bad(300, "b"), ok(400), bad(3500, "late")},
			4 * time.Second,
			Window{Requests: 7, Failed: 5, Longest: 500 * time.Millisecond, FirstFailure: 0, LastFailure: 3500 * time.Millisecond,
				Failures: []Failure{{At: 0, Err: "a"}, {At: 100 * time.Millisecond, Err: "b"}, {At: 200 * time.Millisecond, Err: "b"}, {At: 300 * time.Millisecond, Err: "b"}, {At: 3500 * time.Millisecond, Err: "late"}},
				Late:     1, LateKinds: map[string]int{"late": 1}},
		},
		{
			"a run still open at the window's end lasts to the end",
			[]Probe{ok(0), bad(600, "x")},
			time.Second,
			Window{Requests: 2, Failed: 1, Longest: 400 * time.Millisecond, FirstFailure: 600 * time.Millisecond, LastFailure: 600 * time.Millisecond,
				Failures: []Failure{{At: 600 * time.Millisecond, Err: "x"}}},
		},
		{
			"the answered requests' 99th percentile time",
			[]Probe{{Sent: ms(0), Took: 30 * time.Millisecond}, {Sent: ms(20), Took: 190 * time.Millisecond}, {Sent: ms(40), Took: 200 * time.Millisecond, Err: "response: i/o timeout"}},
			time.Second,
			Window{Requests: 3, Failed: 1, Longest: 960 * time.Millisecond, FirstFailure: 40 * time.Millisecond, LastFailure: 40 * time.Millisecond,
				Failures: []Failure{{At: 40 * time.Millisecond, Err: "response: i/o timeout"}}, OKp99: 190 * time.Millisecond},
		},
		{
			"probes outside the window are not counted",
			[]Probe{bad(-20, "before"), ok(0), bad(1000, "after")},
			time.Second,
			Window{Requests: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.probes, t0, tt.length)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// Failures keeps the first ones and every stray up to its bound, and
// counts what it leaves out.
func TestSummarizeBoundsFailures(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var probes []Probe
	for i := range 100 { // 100 failures in the first 2 s
		probes = append(probes, Probe{Sent: t0.Add(time.Duration(i) * 20 * time.Millisecond), Err: "early"})
	}
	probes = append(probes, Probe{Sent: t0.Add(2500 * time.Millisecond)})
	probes = append(probes, Probe{Sent: t0.Add(12 * time.Second), Err: "stray"})
	w := Summarize(probes, t0, 30*time.Second)
	if w.Failed != 101 || len(w.Failures) != maxFailures/2+1 || w.Omitted != 80 || w.Late != 1 {
		t.Fatalf("failed %d, listed %d, omitted %d; want 101, %d, 80", w.Failed, len(w.Failures), w.Omitted, maxFailures/2+1)
	}
	if s := w.Strays(); len(s) != 1 || s[0] != (Failure{At: 12 * time.Second, Err: "stray"}) {
		t.Errorf("strays %v, want the one at 12 s", s)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tt := range []struct{ p, want float64 }{{50, 5}, {90, 9}, {100, 10}, {0, 1}, {95, 10}} {
		if got := Percentile(v, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("no values should give 0")
	}
	if v[0] != 5 {
		t.Error("Percentile sorted its argument")
	}
	if got, want := Spread([]float64{1, 2, 3}, "%.1f"), "2.0 / 3.0 / 3.0"; got != want {
		t.Errorf("Spread = %q, want %q", got, want)
	}
}
