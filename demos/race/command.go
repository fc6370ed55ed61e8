package race

import (
	"fmt"

	"github.com/ipcplay/ipcplay/shm"
)

// ScheduleCommand is the command line of a scheduled run of mode with the
// run p's workers (unit, language, interpreter, shared memory, SEM_UNDO),
// procs workers of iters increments each, in the order schedule gives.
// Every replay line and every piece of advice that offers a schedule is
// written by it, so that it fits the run it is printed for.
func ScheduleCommand(mode string, p *Params, procs int, iters int64, schedule string) string {
	cmd := "ipcplay race --mode " + mode
	if p.Unit == UnitThread {
		cmd += " --unit thread"
	}
	if p.Lang != "" && p.Lang != LangGo {
		cmd += " --lang " + p.Lang
	}
	if p.Python != "" {
		cmd += " --python " + p.Python
	}
	if p.Shm != "" && p.Shm != string(shm.Memfd) {
		cmd += " --shm " + p.Shm
	}
	if mode == ModeSysVSem && !p.undo() {
		cmd += " --undo=false"
	}
	return cmd + fmt.Sprintf(" --procs %d --iters %d --schedule %s", procs, iters, schedule)
}
