package anycast

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the check in its own process group and makes the
// timeout kill the whole group, so helpers the check forked die with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
