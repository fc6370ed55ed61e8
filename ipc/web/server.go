package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ipcplay/ipcplay/ipc"
)

// Config is what the daemon gives the HTTP side.
type Config struct {
	Engine *ipc.Engine
	// Render draws a finished run's result (required).
	Render RenderFunc
	// Start turns the page's form (flag name -> value, plus "kind") into a
	// run request, with the CLI's parsing and validation; its error is the
	// CLI's (a UsageError for bad input). Nil: the page has no form.
	Start func(ctx context.Context, form url.Values) (ipc.RunRequest, error)
	// Forms describe the form's fields, one per kind of run.
	Forms []Form
	// Objects draws what `ipcplay watch` shows now. Nil: no objects view.
	Objects func() Table
	Log     hclog.Logger
}

// Form is one kind of run the page's form starts: its fields are flags of
// the CLI command (Name without the dashes).
type Form struct {
	Kind   string // "race", "bench", "demo"
	Label  string
	Fields []Field
}

// Field is one flag of a Form. Choices, when set, make it a list.
type Field struct {
	Name    string
	Label   string
	Value   string
	Help    string
	Choices []string
}

// Table is a table of text cells (the objects view).
type Table struct {
	Header   []string   `json:"header"`
	Rows     [][]string `json:"rows"`
	Warnings []string   `json:"warnings,omitempty"`
}

// Intervals of the live views.
const (
	runsPoll    = 250 * time.Millisecond
	objectsPoll = time.Second
	heartbeat   = 15 * time.Second
	// startWait bounds how long the form waits for its run to be accepted
	// (validated and queued) by the engine.
	startWait = 10 * time.Second
)

// Server is the HTTP side of a daemon.
type Server struct {
	cfg    Config
	log    hclog.Logger
	token  string
	cookie string
	url    string
	srv    *http.Server
	ln     net.Listener

	ctx    context.Context // ends at Shutdown: streams and form-started runs
	cancel context.CancelFunc
	runs   sync.WaitGroup
}

// Listen checks addr and binds it. An address without a host (":8080",
// "8080") is loopback (127.0.0.1). A host that is not loopback is refused
// with a UsageError unless allowRemote; the token is required either way.
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	if _, err := strconv.Atoi(addr); err == nil {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, ipc.Usagef("--http %q: want HOST:PORT or PORT, such as 127.0.0.1:8080 or 8080", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if !allowRemote {
		if ok, why := isLoopback(host); !ok {
			return nil, ipc.Usagef("--http %s: %s; the page serves only this machine unless --http-allow-remote is given (the token is still required)", addr, why)
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	return l, nil
}

// isLoopback reports whether every address host names is a loopback one.
func isLoopback(host string) (bool, string) {
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsLoopback() {
			return true, ""
		}
		return false, fmt.Sprintf("%s is not a loopback address", host)
	}
	if host == "localhost" {
		return true, ""
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false, fmt.Sprintf("cannot resolve %q to check that it is loopback", host)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false, fmt.Sprintf("%s resolves to %s, not a loopback address", host, ip)
		}
	}
	return true, ""
}

// New makes the server for the listener l (from Listen) with a fresh
// random token. It does not serve yet.
func New(l net.Listener, cfg Config) (*Server, error) {
	if cfg.Engine == nil || cfg.Render == nil {
		return nil, errors.New("web: Config.Engine and Config.Render are required")
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("web: token: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Log, token: hex.EncodeToString(b[:]), ln: l}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	addr := l.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	// Cookies are per host, not per port: name it after the port so that
	// two daemons on one machine do not overwrite each other's.
	s.cookie = "ipcplay_token_" + strconv.Itoa(addr.Port)
	s.url = "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port)) + "/?token=" + s.token
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          cfg.Log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	return s, nil
}

// URL is the page's address with the token, as the daemon logs it.
func (s *Server) URL() string { return s.url }

// Serve serves until Shutdown; it returns nil then.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown ends the live streams, cancels the runs started from the page,
// waits for them (their objects removed) and closes the server.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	err := s.srv.Shutdown(ctx)
	done := make(chan struct{})
	go func() { s.runs.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return err
}

// Handler is the page and its API, behind the token.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /run/{id}", s.runPage)
	mux.HandleFunc("GET /api/runs", s.apiRuns)
	mux.HandleFunc("GET /api/run/{id}", s.apiRun)
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("POST /api/start", s.start)
	return s.guard(mux)
}

// guard checks the token (query or cookie) and, for state-changing
// requests, the Origin; it sets the headers every answer carries.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		if q := r.URL.Query().Get("token"); q != "" {
			if !s.validToken(q) {
				s.refuse(w, r, http.StatusForbidden, "wrong token: open the URL the daemon logged, or the http_url of 'ipcplay status --json'")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			if r.Method == http.MethodGet {
				// Take the token out of the address bar (and of the history).
				u := *r.URL
				v := u.Query()
				v.Del("token")
				u.RawQuery = v.Encode()
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
		} else if c, err := r.Cookie(s.cookie); err != nil {
			s.refuse(w, r, http.StatusUnauthorized, "a token is required: open the URL the daemon logged (…/?token=…), or the http_url of 'ipcplay status --json'")
			return
		} else if !s.validToken(c.Value) {
			s.refuse(w, r, http.StatusForbidden, "wrong token (the daemon restarted?): open the URL it logged, or the http_url of 'ipcplay status --json'")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if o := r.Header.Get("Origin"); o == "" || o != "http://"+r.Host {
				s.refuse(w, r, http.StatusForbidden, fmt.Sprintf("cross-origin request refused (Origin %q is not this page's)", o))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) validToken(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.token)) == 1
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.log.Warn("http request refused", "status", code, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	http.Error(w, msg, code)
}

// pageCSP allows nothing from elsewhere: the page's CSS and JS are inline
// (the same template as the self-contained report), it talks only to
// itself.
const pageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) apiRuns(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"kind": "runs", "engine": s.cfg.Engine.Name(), "run_id": nil, "runs": s.cfg.Engine.Runs()})
}

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	res, err := s.cfg.Engine.Show(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": ipc.Explain(err)})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	p := &Page{Title: "ipcplay", Live: true, Forms: s.cfg.Forms, HasObjects: s.cfg.Objects != nil, Runs: s.cfg.Engine.Runs()}
	if s.cfg.Objects != nil {
		t := s.cfg.Objects()
		p.Objects = &t
	}
	s.writePage(w, p)
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	res, err := s.cfg.Engine.Show(r.PathValue("id"))
	if err != nil {
		http.Error(w, ipc.Explain(err), http.StatusNotFound)
		return
	}
	v := BuildView(res, s.cfg.Render)
	s.writePage(w, &Page{Title: "ipcplay " + res.Experiment + " " + res.RunID, Live: true, Views: []View{v}})
}

func (s *Server) writePage(w http.ResponseWriter, p *Page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := WritePage(w, p); err != nil {
		s.log.Error("render page", "error", err)
	}
}

// events streams server-sent events: "runs" (the engine's runs, as
// `ipcplay runs --json` lists them) whenever they change, and "objects"
// (the watch table) every second, until the client leaves or Shutdown.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	ctx := r.Context()
	runsT := time.NewTicker(runsPoll)
	defer runsT.Stop()
	objT := time.NewTicker(objectsPoll)
	defer objT.Stop()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	last := "\x00" // never a key: the first list always goes out
	sendRuns := func() bool {
		runs := s.cfg.Engine.Runs()
		key := runsKey(runs)
		if key == last {
			return true
		}
		last = key
		return send("runs", runs)
	}
	sendObjects := func() bool {
		if s.cfg.Objects == nil {
			return true
		}
		return send("objects", s.cfg.Objects())
	}
	if !sendRuns() || !sendObjects() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-runsT.C:
			if !sendRuns() {
				return
			}
		case <-objT.C:
			if !sendObjects() {
				return
			}
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// runsKey changes when a run appears or changes state (not with its
// growing elapsed time, which the page counts itself).
func runsKey(runs []ipc.RunInfo) string {
	var b strings.Builder
	for _, r := range runs {
		b.WriteString(r.RunID + "=" + r.State + ";")
	}
	return b.String()
}

// start starts a run from the page's form. Bad input answers 400 with the
// CLI's message ("ipcplay: ..."), and nothing is created: Start and the
// engine validate before any run exists.
func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Start == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "this daemon starts no runs from the page"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ipcplay: bad form: " + err.Error()})
		return
	}
	req, err := s.cfg.Start(r.Context(), r.PostForm)
	if err != nil {
		s.startRefused(w, err)
		return
	}
	// The run belongs to the daemon, not to this request: it goes on when
	// the page is closed, and ends at Shutdown.
	accepted := make(chan string, 1)
	failed := make(chan error, 1)
	s.runs.Add(1)
	go func() {
		defer s.runs.Done()
		res, err := s.cfg.Engine.Run(s.ctx, req, func(ev ipc.Event) {
			if ev.Type == "state" {
				select {
				case accepted <- ev.RunID:
				default:
				}
			}
		})
		if res == nil {
			failed <- err
			return
		}
		s.log.Info("run started from the page finished", "run_id", res.RunID, "state", res.State)
	}()
	select {
	case id := <-accepted:
		s.log.Info("run started from the page", "run_id", id, "experiment", req.Experiment, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusAccepted, map[string]string{"run_id": id, "url": "/run/" + id})
	case err := <-failed:
		s.startRefused(w, err)
	case <-time.After(startWait):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "ipcplay: the engine did not accept the run in time"})
	}
}

func (s *Server) startRefused(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	if !ipc.IsUsage(err) {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, map[string]string{"error": "ipcplay: " + ipc.Explain(err)})
}
