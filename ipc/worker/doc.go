// Package worker runs ipcplay's child processes: the binary re-executed
// (/proc/self/exe) as `ipcplay worker KIND`, with a registered function of
// that kind as its body.
//
// A parent describes each child with a Spec (kind, a JSON-able spec value,
// files to hand over) and starts a Group. Every child gets, as inherited
// descriptors:
//
//	fd 3  control socket: newline-delimited JSON both ways (spec, ready,
//	      events, result, stop); EOF means the parent died, and the child
//	      exits at once
//	fd 4  start barrier: the read end of a pipe the parent closes to let
//	      all children of a group go at the same instant
//	fd 5+ the Spec's Files, in order (see FileFD)
//
// Children run in their own process group with Pdeathsig SIGKILL (forked
// from a goroutine that holds its OS thread for the child's whole life,
// since Linux ties Pdeathsig to the forking thread), log JSON to stderr,
// which the parent re-logs with the child's pid, and are always reaped.
//
// A child need not be written in Go: with Spec.Command the parent runs
// another program (ipcplay's Python workers run python3 with an embedded
// script) under the same supervision. Such a child speaks the protocol by
// hand, one JSON object per line on fd 3:
//
//	parent -> child  {"type":"spec","data":{...}}   first line, always
//	child -> parent  {"type":"ready"}               prepared; then read fd 4
//	                                                until EOF (the barrier)
//	child -> parent  {"type":"event","data":{...}}  progress, any number
//	parent -> child  {"type":"stop"}                finish early
//	child -> parent  {"type":"result","data":{...}} or
//	                 {"type":"error","error":"...","usage":false}, then exit 0
//
// It exits when fd 3 reaches EOF (its parent died). Its stderr lines are
// re-logged; lines shaped like hclog's JSON ({"@level","@message",...})
// keep their level. A child given CPUs starts pinned to them: the parent
// sets the affinity before exec, so it has nothing to do.
package worker
