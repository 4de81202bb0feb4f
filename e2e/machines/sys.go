package machines

import "syscall"

// detach starts a process in its own session, so it survives the caller.
func detach() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
