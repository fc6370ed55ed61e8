package ipc

// Bodies of the daemon's results (package proto carries them as raw JSON).

// Pong is the daemon's answer to a ping.
type Pong struct {
	Engine  string `json:"engine"`
	PID     int    `json:"pid"`
	Version string `json:"version,omitempty"`
	Proto   int    `json:"proto"`
}

type runsBody struct {
	Runs []RunInfo `json:"runs"`
}

type cancelBody struct {
	RunID string `json:"run_id"`
}

// objectsBody carries a listing that may be partial: Warning says what
// could not be read.
type objectsBody struct {
	Objects []Object `json:"objects"`
	Warning string   `json:"warning,omitempty"`
}

// cleanBody carries the clean report, and what failed.
type cleanBody struct {
	CleanReport
	Error string `json:"error,omitempty"`
}
