package race

import (
	"github.com/ipcplay/ipcplay/ipc"
)

// Name is the experiment's name.
const Name = "race"

// Experiment is the race lab, for the engine's experiment list.
var Experiment = ipc.Experiment{Name: Name, Validate: Validate, Run: run}
