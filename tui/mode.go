package tui

import "fmt"

// Output modes for --output.
const (
	ModeAuto  = "auto"
	ModeTTY   = "tty"
	ModePlain = "plain"
	ModeJSON  = "json"
)

// Terminal describes where output goes. Fill it from the real process with
// FromProcess; tests build it by hand.
type Terminal struct {
	IsTerminal bool
	Getenv     func(string) string
}

// Resolve turns the --output flag into a concrete mode. auto means tty on an
// interactive terminal, plain otherwise; CI=true and TERM=dumb count as not
// interactive. An unknown mode is an error naming the valid ones.
func Resolve(flag string, t Terminal) (string, error) {
	switch flag {
	case ModePlain, ModeJSON, ModeTTY:
		return flag, nil
	case ModeAuto, "":
		getenv := t.Getenv
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		if t.IsTerminal && getenv("TERM") != "dumb" && getenv("CI") == "" {
			return ModeTTY, nil
		}
		return ModePlain, nil
	}
	return "", fmt.Errorf("--output %q: use auto, tty, plain or json", flag)
}

// Color reports whether colour may be used: only on a tty, and never when
// NO_COLOR is set (https://no-color.org) or TERM is dumb.
func Color(mode string, t Terminal) bool {
	if mode != ModeTTY || t.Getenv == nil {
		return mode == ModeTTY
	}
	return t.Getenv("NO_COLOR") == "" && t.Getenv("TERM") != "dumb"
}
