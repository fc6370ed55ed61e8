// Package ipc is the engine of ipcplay: the daemon's control server and its
// client, the wire protocol, worker processes and their supervision, the
// ledger of every IPC object a run creates, and the reaper that removes what
// a crashed run leaked.
//
// The same engine runs inside `ipcplay daemon` and, when no daemon answers,
// inside the CLI process itself. Experiments (package demos) are injected by
// cmd/ipcplay through Register; ipc never imports demos.
package ipc
