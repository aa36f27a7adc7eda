package testenv

import "syscall"

// sysProcAttr makes the kernel kill a server started by a test binary that
// dies without running its cleanups (a panic, a -timeout), rather than
// leave it running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
