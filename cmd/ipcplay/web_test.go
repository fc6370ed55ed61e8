package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
)

// pageDaemon is a daemon started with --http on a free loopback port.
type pageDaemon struct {
	*daemonProc
	url  string // with the token, as status --json gives it
	base string // http://127.0.0.1:PORT
	tok  string
}

func startPageDaemon(t *testing.T, args ...string) *pageDaemon {
	t.Helper()
	d := startDaemon(t, newStateDir(t), append([]string{"--http", "127.0.0.1:0"}, args...)...)
	r := runCLI(t, "status", "--json", "--require-daemon", "--socket", d.socket)
	if r.code != 0 {
		t.Fatalf("status: exit %d: %s", r.code, r.stderr)
	}
	u, _ := jsonDoc(t, r.stdout)["http_url"].(string)
	base, tok, ok := strings.Cut(u, "/?token=")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") || len(tok) < 32 {
		t.Fatalf("status --json: http_url %q: want http://127.0.0.1:PORT/?token=...", u)
	}
	if !strings.Contains(d.log.String(), u) {
		t.Fatalf("the daemon did not log the page's URL %s:\n%s", u, d.log.String())
	}
	return &pageDaemon{daemonProc: d, url: u, base: base, tok: tok}
}

func (p *pageDaemon) cookieName() string {
	return "ipcplay_token_" + p.base[strings.LastIndex(p.base, ":")+1:]
}

// do sends a request to the page; token adds the cookie.
func (p *pageDaemon) do(t *testing.T, method, path string, body url.Values, withCookie bool, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(body.Encode())
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if withCookie {
		req.AddCookie(&http.Cookie{Name: p.cookieName(), Value: p.tok})
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// The token: refused without it (401) or wrong (403), on pages, the API
// and the event stream; given, it becomes an HttpOnly SameSite=Strict
// cookie and leaves the address. State-changing requests need the page's
// Origin; no CORS header is ever sent.
func TestPageRequiresTheToken(t *testing.T) {
	p := startPageDaemon(t)
	for _, path := range []string{"/", "/api/runs", "/events", "/run/r-0000000000"} {
		if resp, _ := p.do(t, "GET", path, nil, false, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %s, want 401", path, resp.Status)
		}
		if resp, _ := p.do(t, "GET", path+"?token=0123", nil, false, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s with a wrong token: %s, want 403", path, resp.Status)
		}
	}
	req, _ := http.NewRequest("GET", p.base+"/", nil)
	req.AddCookie(&http.Cookie{Name: p.cookieName(), Value: strings.Repeat("0", len(p.tok))})
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a wrong cookie: %v %v, want 403", resp, err)
	}
	if resp, _ := p.do(t, "POST", "/api/start", url.Values{"kind": {"race"}}, false, map[string]string{"Origin": p.base}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST without the token: %s, want 401", resp.Status)
	}

	resp, _ := p.do(t, "GET", "/?token="+p.tok, nil, false, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("GET /?token=...: %s to %q, want 303 to /", resp.Status, resp.Header.Get("Location"))
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == p.cookieName() {
			c = k
		}
	}
	if c == nil || c.Value != p.tok || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v: want the token, HttpOnly, SameSite=Strict", c)
	}
	resp, body := p.do(t, "GET", "/", nil, true, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="runs"`) {
		t.Fatalf("GET / with the cookie: %s\n%.300s", resp.Status, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// Origin: missing or foreign is refused, before anything runs.
	bad := url.Values{"kind": {"race"}, "procs": {"2"}, "iters": {"1000"}, "mode": {"unsafe"}}
	for _, o := range []string{"", "http://evil.example", "null"} {
		h := map[string]string{}
		if o != "" {
			h["Origin"] = o
		}
		resp, _ := p.do(t, "POST", "/api/start", bad, true, h)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST with Origin %q: %s, want 403", o, resp.Status)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("a CORS header was sent: %q", resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	if runs := p.runs(t); len(runs) != 0 {
		t.Fatalf("refused requests started runs: %+v", runs)
	}
	resp, _ = p.do(t, "GET", "/api/runs", nil, true, map[string]string{"Origin": "http://evil.example"})
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a CORS header was sent: %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func (p *pageDaemon) runs(t *testing.T) []ipc.RunInfo {
	t.Helper()
	runs, err := p.client(t).Runs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// The form goes through the CLI's own parsing and checks: bad input gets
// the CLI's message word for word, and creates nothing.
func TestPageFormRefusesBadInputWithTheCLIMessage(t *testing.T) {
	p := startPageDaemon(t, "--max-procs", "64")
	origin := map[string]string{"Origin": p.base}
	cases := []struct {
		form url.Values
		cli  []string
	}{
		{url.Values{"kind": {"race"}, "procs": {"0"}}, []string{"race", "--procs=0"}},
		{url.Values{"kind": {"race"}, "procs": {"abc"}}, []string{"race", "--procs=abc"}},
		// Above this daemon's --max-procs, and above any engine's: the
		// daemon's real range, as the CLI says it.
		{url.Values{"kind": {"race"}, "procs": {"100"}}, []string{"race", "--procs=100"}},
		{url.Values{"kind": {"race"}, "procs": {"5000"}}, []string{"race", "--procs=5000"}},
		{url.Values{"kind": {"race"}, "mode": {"nosuch"}}, []string{"race", "--mode=nosuch"}},
		{url.Values{"kind": {"bench"}, "size": {"12Q"}}, []string{"bench", "--size=12Q"}},
		{url.Values{"kind": {"bench"}, "duration": {"1h"}}, []string{"bench", "--duration=1h"}},
		{url.Values{"kind": {"demo"}, "lab": {"nosuch"}}, []string{"demo", "nosuch"}},
	}
	for _, c := range cases {
		resp, body := p.do(t, "POST", "/api/start", c.form, true, origin)
		var got struct{ Error string }
		_ = json.Unmarshal([]byte(body), &got)
		r := runCLI(t, append(c.cli, "--socket", p.socket)...)
		if r.code != 2 {
			t.Fatalf("ipcplay %v: exit %d, want 2: %s", c.cli, r.code, r.stderr)
		}
		if resp.StatusCode != http.StatusBadRequest || got.Error != strings.TrimSpace(r.stderr) {
			t.Errorf("form %v: %s %q\nthe CLI says: %q", c.form, resp.Status, got.Error, strings.TrimSpace(r.stderr))
		}
	}
	// Forms parsed at once (the commands' flags are shared variables):
	// each gets its own message.
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := fmt.Sprint(5000 + i)
			resp, body := p.do(t, "POST", "/api/start", url.Values{"kind": {"race"}, "procs": {n}}, true, origin)
			if want := "--procs " + n + ": must be between 1 and 64 (the daemon's --max-procs"; resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, want) {
				errs <- fmt.Sprintf("concurrent form %s: %s %s", n, resp.Status, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if runs := p.runs(t); len(runs) != 0 {
		t.Fatalf("bad input started runs: %+v", runs)
	}
	if left := ledgerEntries(t, p.dir); len(left) != 0 {
		t.Fatalf("bad input created objects: %+v", left)
	}
	if code := p.stop(t); code != 0 || strings.Contains(p.log.String(), "DATA RACE") {
		t.Fatalf("daemon exit %d after the forms:\n%s", code, p.log.String())
	}
}

// A non-loopback address is refused (exit 2) unless --http-allow-remote,
// before anything exists.
func TestDaemonRefusesNonLoopbackHTTP(t *testing.T) {
	dir := newStateDir(t)
	sock := filepath.Join(dir, "d.sock")
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:0", "[::]:0"} {
		r := runCLI(t, "daemon", "--socket", sock, "--http", addr)
		if r.code != 2 || !strings.Contains(r.stderr, "--http") {
			t.Errorf("daemon --http %s: exit %d, want 2: %s", addr, r.code, r.stderr)
		}
	}
	if r := runCLI(t, "daemon", "--socket", sock, "--http-allow-remote"); r.code != 2 {
		t.Errorf("--http-allow-remote alone: exit %d, want 2", r.code)
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Fatal("a refused --http left a socket")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a refused --http created %v", ents)
	}
	// Allowed: the token is still required.
	d := startDaemon(t, newStateDir(t), "--http", "0.0.0.0:0", "--http-allow-remote")
	r := runCLI(t, "status", "--json", "--socket", d.socket)
	u, _ := jsonDoc(t, r.stdout)["http_url"].(string)
	base, _, _ := strings.Cut(u, "/?token=")
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("remote-allowed page without the token: %s", resp.Status)
	}
}

// SIGTERM with the page open (an event stream connected) and a run started
// from the page: the daemon stops, exit 0, the run is cancelled, its
// objects and workers are gone, and so are the socket and the port.
func TestDaemonSIGTERMWithPageStopsCleanly(t *testing.T) {
	p := startPageDaemon(t)
	// A stream that stays open.
	req, _ := http.NewRequest("GET", p.base+"/events", nil)
	req.AddCookie(&http.Cookie{Name: p.cookieName(), Value: p.tok})
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	br := bufio.NewReader(stream.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "event: runs") {
		t.Fatalf("event stream: %q %v", line, err)
	}
	// A race that runs for at least 30 s: 30000 increments per worker,
	// each with a 1ms sleep between load and store.
	var started struct {
		RunID string `json:"run_id"`
	}
	resp, body := p.do(t, "POST", "/api/start", url.Values{"kind": {"race"}, "mode": {"unsafe"}, "procs": {"2"}, "iters": {"30000"}, "window": {"1ms"}}, true, map[string]string{"Origin": p.base})
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(body), &started) != nil || started.RunID == "" {
		t.Fatalf("start: %s %s", resp.Status, body)
	}
	// Wait until it runs (its counter is a memfd, which the ledger does not
	// hold: the check below is that nothing recorded is left).
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := p.client(t).Show(context.Background(), started.RunID)
		if err == nil && res.State == ipc.StateRunning {
			break
		}
		if err == nil && res.State != ipc.StateRunning && res.State != ipc.StateQueued {
			t.Fatalf("the page's run ended before SIGTERM: %+v", res)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page's run never ran: %+v %v", res, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := ledgerEntries(t, p.dir)
	if code := p.stop(t); code != 0 {
		t.Fatalf("daemon exit %d after SIGTERM\n%s", code, p.log.String())
	}
	assertClean(t, p.dir, before)
	if _, err := os.Lstat(p.socket); err == nil {
		t.Fatal("socket left behind")
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.base, "http://"), time.Second); err == nil {
		c.Close()
		t.Fatal("the page's port still answers after the daemon stopped")
	}
	if _, err := io.ReadAll(br); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Logf("event stream ended with %v", err)
	}
	if !strings.Contains(p.log.String(), "run started from the page") || !strings.Contains(p.log.String(), "state=cancelled") {
		t.Fatalf("the page's run was not logged as started and cancelled:\n%s", p.log.String())
	}
}

// --html: a directory that does not exist is bad input (exit 2, before
// anything runs) on every command that takes it; a demo writes its report.
func TestHTMLFlag(t *testing.T) {
	for _, args := range [][]string{{"race"}, {"bench"}, {"demo", "crash"}, {"tour"}} {
		r := runCLI(t, append(args, "--local", "--html", "/nonexistent/dir/r.html")...)
		if r.code != 2 || !strings.Contains(r.stderr, "--html /nonexistent/dir/r.html: the directory /nonexistent/dir does not exist") {
			t.Errorf("%v --html into a missing directory: exit %d: %s", args, r.code, r.stderr)
		}
	}
	report := filepath.Join(t.TempDir(), "crash.html")
	r := runCLI(t, "demo", "crash", "--local", "--html", report)
	if r.code != 0 || !strings.Contains(r.stdout, "report: "+report) {
		t.Fatalf("demo crash --html: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`http-equiv="Content-Security-Policy"`, "demo crash: ", "Behaved as explained", `"kind":"demo"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if st, _ := os.Stat(report); st.Mode().Perm() != 0o600 {
		t.Errorf("report mode %v, want 0600 like every file ipcplay creates", st.Mode().Perm())
	}
}

// race --schedule --html: the page plays the scheduled run's steps[]; --html
// must not turn on the recording a schedule refuses ("--schedule with
// --explain or --trace" for a command line that named neither).
func TestRaceScheduleHTML(t *testing.T) {
	report := filepath.Join(t.TempDir(), "s.html")
	r := runCLI(t, "race", "--local", "--mode", "unsafe", "--iters", "1", "--schedule", "P1,P2,P1,P2", "--html", report)
	if r.code != 0 || !strings.Contains(r.stdout, "report: "+report) || !strings.Contains(r.stdout, "lost 1") {
		t.Fatalf("race --schedule --html: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"steps":[`) {
		t.Errorf("the report lacks the run's steps[] for its step player:\n%.2000s", b)
	}
}

// The form starts a race, a demo and a bench; with --max-runs 1 the second
// waits as "queued" in the runs the page streams; each result's page has
// its tables (and the bench its charts).
func TestPageFormStartsRaceDemoAndBench(t *testing.T) {
	p := startPageDaemon(t, "--max-runs", "1")
	origin := map[string]string{"Origin": p.base}
	start := func(form url.Values) string {
		t.Helper()
		resp, body := p.do(t, "POST", "/api/start", form, true, origin)
		var got struct {
			RunID string `json:"run_id"`
		}
		if resp.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(body), &got) != nil || got.RunID == "" {
			t.Fatalf("start %v: %s %s", form, resp.Status, body)
		}
		return got.RunID
	}
	wait := func(id string, states ...string) ipc.RunResult {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			res, err := p.client(t).Show(context.Background(), id)
			if err == nil && slices.Contains(states, res.State) {
				return *res
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s: %+v %v, want %v", id, res, err, states)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// At least 30 s: 30000 increments, a 1ms sleep inside each.
	slow := start(url.Values{"kind": {"race"}, "mode": {"unsafe"}, "procs": {"2"}, "iters": {"30000"}, "window": {"1ms"}})
	wait(slow, ipc.StateRunning)
	demo := start(url.Values{"kind": {"demo"}, "lab": {"crash"}})
	wait(demo, ipc.StateQueued)
	_, body := p.do(t, "GET", "/api/runs", nil, true, nil)
	if !strings.Contains(body, `"state":"queued"`) || !strings.Contains(body, `"state":"running"`) {
		t.Fatalf("/api/runs: want a running and a queued run: %s", body)
	}
	if r := runCLI(t, "cancel", "--socket", p.socket, slow); r.code != 0 {
		t.Fatalf("cancel: %s", r.stderr)
	}
	if res := wait(demo, ipc.StateOK, ipc.StateFailed); res.State != ipc.StateOK {
		t.Fatalf("demo crash from the page: %+v", res)
	}
	if _, page := p.do(t, "GET", "/run/"+demo, nil, true, nil); !strings.Contains(page, "demo crash: ") || !strings.Contains(page, "Behaved as explained") {
		t.Fatalf("the demo's page lacks its tables:\n%.2000s", page)
	}
	bench := start(url.Values{"kind": {"bench"}, "transport": {"pipe,unix-stream"}, "pattern": {"pingpong"}, "size": {"64"}, "duration": {"20ms"}})
	if res := wait(bench, ipc.StateOK, ipc.StateFailed); res.State != ipc.StateOK {
		t.Fatalf("bench from the page: %+v", res)
	}
	_, page := p.do(t, "GET", "/run/"+bench, nil, true, nil)
	for _, want := range []string{"pingpong 64 B", `class="latency-chart"`, `data-transport="unix-stream"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the bench's page lacks %q", want)
		}
	}
}
