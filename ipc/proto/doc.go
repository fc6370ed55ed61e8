// Package proto is the control protocol between the ipcplay CLI and the
// daemon, spoken over the daemon's Unix stream socket.
//
// # Framing
//
// Every message is one frame of package sockets: a 4-byte big-endian length
// and a JSON document. A request may have at most MaxRequestSize bytes; a
// response at most MaxResponseSize (results of big runs). A longer frame is
// refused from its header alone with an error reply, and the connection is
// closed.
//
// # Requests
//
//	{"v":1,"id":7,"op":"run","experiment":"race","params":{...}}
//	{"v":1,"id":8,"op":"show","run_id":"r-0123456789"}
//
// v is the protocol version (Version), id a number the client chooses and
// the daemon echoes in every response to that request, op one of ping,
// status, run, runs, show, cancel, objects, clean. The other fields depend
// on the op: experiment and params for run, run_id for show and cancel, all
// for objects, dry_run for clean. Unknown fields are ignored.
//
// # Responses
//
//	{"v":1,"id":7,"type":"event","event":{...}}
//	{"v":1,"id":7,"type":"result","result":{...}}
//	{"v":1,"id":7,"type":"error","error":{"code":"usage","message":"..."}}
//
// A run streams any number of events, then one result; every other op
// answers with one result or one error. The error codes are the Code*
// constants: "usage" (bad input: the CLI exits 2), "failed", "bad_request",
// "unsupported_version", "denied" and "internal".
//
// A request with another version is answered with an error of code
// "unsupported_version" that names the version the daemon speaks; a
// malformed frame or document with "bad_request". After either, the daemon
// closes the connection (the stream may be out of step) and keeps serving
// everyone else.
//
// # Connections
//
// A client may send several requests on one connection; responses carry
// their request's id. Closing the connection, or only its writing half
// (shutdown SHUT_WR), cancels the runs it asked for: that is how Ctrl-C in
// the CLI reaches a run in the daemon. The daemon still writes the final
// result of each cancelled run on the open half.
//
// The package does not import package ipc: bodies of events and results are
// raw JSON, encoded and decoded by the engine's server and client.
package proto
