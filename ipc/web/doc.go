// Package web is the daemon's optional HTTP side (`ipcplay daemon --http`)
// and the renderer of self-contained HTML reports (`--html FILE`).
//
// The page and the reports come from the same templates (assets/, embedded
// with go:embed: no build step). Both render the documents `--json` prints
// (ipc.RunResult and the experiment's document in it): there is no second
// data model. Package web never imports package demos (DESIGN.md: ipc never
// does); cmd/ipcplay injects what needs the experiments' types, as it
// injects the experiments themselves: Config.Render turns a run's result
// into a View (the terminal's tables, SVG charts), Config.Start turns the
// page's form into a run request through the CLI's own flag parsing and
// validation, Config.Objects draws what `ipcplay watch` shows.
//
// Access: a random token made at start (Server.URL carries it, like
// Jupyter's). The first request with ?token= sets it as an HttpOnly,
// SameSite=Strict cookie; without a valid token or cookie every page and
// API answers 401 (none given) or 403 (wrong). State-changing requests must
// carry an Origin equal to the page's own; no CORS header is ever sent.
package web
