package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ipcplay/ipcplay/demos/race"
	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/web"
)

// The page and the reports in a real browser: Debian's Chromium driven
// with chromedp. Without a browser the tests skip, except in CI (CI set),
// where .ci/run installs chromium and a missing browser is a failure.

func findChromium() string {
	if p := os.Getenv("IPCPLAY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/lib/chromium/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and HOME in
// the test's temporary directory (it runs as uid 65534 in CI, where HOME
// may not be writable), and returns a tab's context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := findChromium()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no Chromium found, and CI is set: .ci/run installs Debian's chromium; the browser tests must run there")
		}
		t.Skip("no Chromium (chromium, chromium-browser or google-chrome on PATH, or IPCPLAY_CHROMIUM): browser tests skipped")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	for _, d := range []string{home, filepath.Join(home, ".config"), filepath.Join(home, ".cache")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Chromium leaves its singleton socket directory
	// (org.chromium.Chromium.XXXXXX) in TMPDIR when it is killed: a
	// TMPDIR of the test's own, removed with it. Short, under TMPDIR
	// rather than the test's directory: the socket's path must fit
	// sun_path (107 bytes), and Chromium refuses to start otherwise.
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_CACHE_HOME=" + filepath.Join(home, ".cache")}
	if tmp, err := os.MkdirTemp("", "chr"); err == nil {
		t.Cleanup(func() { os.RemoveAll(tmp) })
		if len(tmp+"/org.chromium.Chromium.XXXXXX/SingletonSocket") <= 107 {
			env = append(env, "TMPDIR="+tmp)
		}
	}
	var out syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1400, 1000),
		chromedp.Env(env...),
		chromedp.CombinedOutput(&out),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v\n%s", path, err, out.String())
	}
	return ctx
}

// shot saves a screenshot of the page, in IPCPLAY_SCREENSHOTS when set (to
// look at them), else in the test's temporary directory.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("IPCPLAY_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// poll waits (at most timeout) until the expression is truthy in the page,
// and returns its value. It evaluates again after a navigation or a reload
// (the run's page reloads itself when the run ends).
func poll[T any](t *testing.T, ctx context.Context, what, js string, timeout time.Duration) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[T]("(function(){var v=("+js+"); if(!v) throw new Error('not yet'); return v})()"))
		if err == nil {
			return v
		}
		lastErr = err
		if ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	t.Fatalf("%s: %v\npage text:\n%.2000s", what, lastErr, body)
	var zero T
	return zero
}

// The live page in Chromium: refused without the token, accepted with it;
// a race started from the command line shows up while it runs and its end
// too, without a reload; a finished race's timeline has one lane per
// worker and marks the lost updates the run recorded; the form refuses bad
// input with the CLI's message and starts a run with good input.
func TestBrowserLivePage(t *testing.T) {
	ctx := newBrowser(t)
	p := startPageDaemon(t)

	do(t, ctx, "open the page without the token", chromedp.Navigate(p.base+"/"))
	if body := eval[string](t, ctx, "document.body.innerText"); !strings.Contains(body, "a token is required") || strings.Contains(body, "Runs") {
		t.Fatalf("page without the token: %q", body)
	}
	do(t, ctx, "open the page with a wrong token", chromedp.Navigate(p.base+"/?token=nope"))
	if body := eval[string](t, ctx, "document.body.innerText"); !strings.Contains(body, "wrong token") {
		t.Fatalf("page with a wrong token: %q", body)
	}
	do(t, ctx, "open the page with the token", chromedp.Navigate(p.url), chromedp.WaitVisible(chromedp.CSS("#runs")))
	if loc := eval[string](t, ctx, "location.href"); loc != p.base+"/" {
		t.Errorf("address after login: %s, want the token taken out", loc)
	}
	if c := eval[string](t, ctx, "document.cookie"); strings.Contains(c, p.tok) {
		t.Errorf("the token cookie is readable from JavaScript (not HttpOnly): %q", c)
	}

	// A race from the command line, slow on purpose: 20000 increments per
	// worker with a 1ms sleep between load and store take at least 20 s.
	cli := cliCmd(t, "race", "--socket", p.socket, "--require-daemon", "--mode", "unsafe", "--procs", "2", "--iters", "20000", "--window", "1ms", "--cpus", "none", "--shm", "posix")
	var cliOut, cliErr syncBuffer
	cli.Stdout, cli.Stderr = &cliOut, &cliErr
	cliDone, err := startLocked(cli)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cli.Process.Kill(); <-cliDone }()
	id := poll[string](t, ctx, "the CLI's race on the page while it runs",
		`(function(){var r=document.querySelector('#runs tr[data-state="running"]'); return r && r.children[1].textContent==="race" && r.dataset.run})()`, time.Minute)
	if res, err := p.client(t).Show(context.Background(), id); err != nil || res.State != ipc.StateRunning {
		t.Fatalf("the page shows %s running; the engine says %+v %v", id, res, err)
	}
	// Its counter, a POSIX shared memory object, in the objects view.
	poll[bool](t, ctx, "the running race's POSIX shared memory in the objects view",
		`Array.prototype.some.call(document.querySelectorAll('#objects tbody tr'), function(tr){return tr.children[0].textContent==='posix-shm' && tr.children[2].textContent.indexOf('ipcplay.')>=0})`, 30*time.Second)
	shot(t, ctx, "page-race-running")
	if r := runCLI(t, "cancel", "--socket", p.socket, id); r.code != 0 {
		t.Fatalf("cancel %s: %s", id, r.stderr)
	}
	poll[bool](t, ctx, "the cancelled run's new state on the page, without a reload",
		fmt.Sprintf(`!!document.querySelector('#runs tr[data-run=%q][data-state="cancelled"]')`, id), time.Minute)
	<-cliDone

	// A finished race with recorded increments: its timeline.
	const procs = 3
	r := runCLI(t, "race", "--socket", p.socket, "--require-daemon", "--json", "--mode", "unsafe", "--procs", fmt.Sprint(procs), "--iters", "20000", "--yield", "--cpus", "none", "--record", "512", "--trace", filepath.Join(t.TempDir(), "trace.json"))
	if r.code != 0 {
		t.Fatalf("race: exit %d: %s", r.code, r.stderr)
	}
	id, _ = jsonDoc(t, r.stdout)["run_id"].(string)
	stored, err := p.client(t).Show(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var doc race.Result
	if err := json.Unmarshal(stored.Result, &doc); err != nil {
		t.Fatal(err)
	}
	recordedLost := 0
	if doc.Trace == nil {
		t.Fatal("the stored race has no trace")
	}
	for _, tr := range doc.Trace.Tracks {
		recordedLost += len(tr.Lost)
	}
	t.Logf("the run recorded %d increments in lost updates", recordedLost)
	do(t, ctx, "open the race's page", chromedp.Navigate(p.base+"/run/"+id), chromedp.WaitVisible(chromedp.CSS("pre.tables")))
	checkTimeline(t, ctx, procs, recordedLost > 0)
	shot(t, ctx, "page-race-result")

	// The form: bad input gets the CLI's message and creates nothing.
	before := len(p.runs(t))
	do(t, ctx, "open the page", chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(chromedp.CSS(`form[data-kind="race"]`)))
	do(t, ctx, "fill the race form with --procs 0",
		chromedp.SetValue(chromedp.CSS("#f-race-procs"), "0"),
		chromedp.Click(chromedp.CSS(`form[data-kind="race"] button[type="submit"]`)))
	msg := poll[string](t, ctx, "the form's refusal", `(function(){var e=document.querySelector('form[data-kind="race"] .form-error').textContent; return e.indexOf('ipcplay:')===0 && e})()`, 30*time.Second)
	want := runCLI(t, "race", "--procs", "0", "--socket", p.socket)
	if want.code != 2 || msg != strings.TrimSpace(want.stderr) {
		t.Fatalf("the form says %q; the CLI (exit %d) says %q", msg, want.code, strings.TrimSpace(want.stderr))
	}
	shot(t, ctx, "page-form-refused")
	if n := len(p.runs(t)); n != before {
		t.Fatalf("bad input started a run: %d runs, were %d", n, before)
	}
	if left := ledgerEntries(t, p.dir); len(left) != 0 {
		t.Fatalf("bad input left objects: %+v", left)
	}

	// Good input starts a race; its page shows the timeline once it ends.
	do(t, ctx, "start a race from the form",
		chromedp.SetValue(chromedp.CSS("#f-race-procs"), "2"),
		chromedp.SetValue(chromedp.CSS("#f-race-mode"), "unsafe"),
		chromedp.SetValue(chromedp.CSS("#f-race-iters"), "20000"),
		chromedp.Click(chromedp.CSS(`form[data-kind="race"] button[type="submit"]`)))
	poll[bool](t, ctx, "the started run's page, ended", `location.pathname.indexOf('/run/')===0 && !!document.querySelector('article.run[data-state="ok"]')`, 2*time.Minute)
	checkTimeline(t, ctx, 2, false)
	shot(t, ctx, "page-form-race")
	if n := len(p.runs(t)); n != before+1 {
		t.Fatalf("the form started %d runs, want 1", n-before)
	}
}

// checkTimeline checks the first timeline of the page: one lane per
// worker, a mark per increment drawn, and lost updates marked when the
// run recorded some (mustLose); never a lost mark that the run did not
// record (the marks come from the document's own lost lists).
func checkTimeline(t *testing.T, ctx context.Context, workers int, mustLose bool) {
	t.Helper()
	poll[bool](t, ctx, "the timeline", `!!document.querySelector('.timeline .tl svg')`, 30*time.Second)
	lanes := eval[int](t, ctx, `document.querySelector('.timeline .tl').querySelectorAll('g.lane').length`)
	if lanes != workers {
		t.Errorf("timeline: %d lanes, want one per worker (%d)", lanes, workers)
	}
	marks := eval[int](t, ctx, `document.querySelector('.timeline .tl').querySelectorAll('g.mark').length`)
	lost := eval[int](t, ctx, `document.querySelector('.timeline .tl').querySelectorAll('g.mark.lost').length`)
	if marks == 0 {
		t.Errorf("timeline: no increments drawn")
	}
	if mustLose && lost == 0 {
		t.Errorf("timeline: the run has witnesses of lost updates but none is marked")
	}
	t.Logf("timeline: %d lanes, %d increments drawn, %d marked lost", lanes, marks, lost)
}

// The --html report opens from a file with the network off, makes no
// request, and shows the tables and the timeline.
func TestBrowserHTMLReportOffline(t *testing.T) {
	ctx := newBrowser(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "race.html")
	r := runCLI(t, "race", "--local", "--mode", "unsafe,futex", "--procs", "2", "--iters", "20000", "--yield", "--cpus", "none", "--html", report)
	if r.code != 0 || !strings.Contains(r.stdout, "report: "+report) {
		t.Fatalf("race --html: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<link", " src=", "@import", "url("} {
		if i := strings.Index(string(b), bad); i >= 0 {
			t.Errorf("the report refers to something outside: %q at %d", bad, i)
		}
	}
	checkOffline(t, ctx, report, func() {
		do(t, ctx, "wait for the tables", chromedp.WaitVisible(chromedp.CSS("pre.tables")))
		if txt := eval[string](t, ctx, `document.querySelector('pre.tables').textContent`); !strings.Contains(txt, "MODE") || !strings.Contains(txt, "futex") {
			t.Errorf("report tables: %q", txt)
		}
		// One timeline per mode, each with a lane per worker.
		n := eval[int](t, ctx, `document.querySelectorAll('.timeline .tl').length`)
		if n != 2 {
			t.Errorf("report: %d timelines, want 2 (unsafe, futex)", n)
		}
		checkTimeline(t, ctx, 2, false)
		// Safe modes never mark a lost update.
		if lost := eval[int](t, ctx, `document.querySelectorAll('.timeline .tl')[1].querySelectorAll('g.mark.lost').length`); lost != 0 {
			t.Errorf("the futex mode's timeline marks %d lost updates", lost)
		}
		do(t, ctx, "large text and dark", chromedp.Click(chromedp.CSS("#large")), chromedp.Click(chromedp.CSS("#theme")))
		if !eval[bool](t, ctx, `document.documentElement.classList.contains('large') && document.documentElement.dataset.theme==='dark'`) {
			t.Error("the large-text and theme switches did nothing")
		}
		shot(t, ctx, "report-race-offline")
	})
}

// checkOffline opens a file with the network off and fails on any request
// that is not the file itself.
func checkOffline(t *testing.T, ctx context.Context, path string, check func()) {
	t.Helper()
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}},
	}); err != nil {
		t.Fatalf("network off: %v", err)
	}
	var mu sync.Mutex
	var requests []string
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := chromedp.Listen(lctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	u := (&url.URL{Scheme: "file", Path: path}).String()
	do(t, ctx, "open the report", chromedp.Navigate(u))
	check()
	mu.Lock()
	defer mu.Unlock()
	for _, r := range requests {
		if r != u && !strings.HasPrefix(r, "data:") {
			t.Errorf("the report made a request: %s", r)
		}
	}
}

// The step player of a scheduled run (DESIGN.md's steps[]: worker, op,
// read, wrote, counter, blocked, note), from a document of that shape:
// play, pause, step and back move through the steps; the store that
// overwrote an increment is marked.
func TestBrowserStepPlayer(t *testing.T) {
	ctx := newBrowser(t)
	type step struct {
		Worker  string  `json:"worker"`
		Op      string  `json:"op"`
		Read    *uint64 `json:"read"`
		Wrote   *uint64 `json:"wrote"`
		Counter uint64  `json:"counter"`
		Blocked bool    `json:"blocked"`
		Note    string  `json:"note"`
	}
	u := func(v uint64) *uint64 { return &v }
	steps := []step{
		{"P1", "load", u(0), nil, 0, false, "P1 reads 0"},
		{"P2", "load", u(0), nil, 0, false, "P2 reads 0 too"},
		{"P1", "store", nil, u(1), 1, false, "P1 writes 1"},
		{"P2", "store", nil, u(1), 1, false, "P2 writes 1: P1's increment is lost"},
		{"P1", "load", u(1), nil, 1, false, ""},
		{"P1", "store", nil, u(2), 2, false, ""},
	}
	doc := map[string]any{"kind": "race", "cpus": 2, "results": []map[string]any{{
		"mode": "unsafe", "unit": "process", "procs": 2, "iters": 2, "shm": "memfd", "expected": 4, "actual": 2, "lost": 1,
		"trials": map[string]any{"count": 1}, "witnesses": []any{}, "steps": steps,
	}}}
	raw, _ := json.Marshal(doc)
	res := &ipc.RunResult{RunID: "r-0123456789", Experiment: race.Name, Engine: ipc.EngineLocal, State: ipc.StateOK, Result: raw, Started: time.Now()}
	report := filepath.Join(t.TempDir(), "steps.html")
	if err := web.WriteReport(report, "steps", []web.View{web.BuildView(res, webRender)}); err != nil {
		t.Fatal(err)
	}
	checkOffline(t, ctx, report, func() {
		do(t, ctx, "wait for the player", chromedp.WaitVisible(chromedp.CSS(".player")))
		if n := eval[int](t, ctx, `document.querySelector('.tl').querySelectorAll('g.lane').length`); n != 2 {
			t.Errorf("player: %d lanes, want 2", n)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('.tl g.mark.lost').length`); n != 1 {
			t.Errorf("player: %d stores marked as overwriting an increment, want 1", n)
		}
		counter := func() string { return eval[string](t, ctx, `document.querySelector('.player .counter').textContent`) }
		btn := func(i int) chromedp.Action[chromedp.Void] {
			return chromedp.Click(chromedp.CSS(fmt.Sprintf(".player button:nth-of-type(%d)", i)))
		}
		do(t, ctx, "step three times", btn(3), btn(3), btn(3))
		if c := counter(); c != "counter = 1" {
			t.Errorf("after 3 steps: %q, want counter = 1", c)
		}
		if note := eval[string](t, ctx, `document.querySelector('.player-note').textContent`); !strings.Contains(note, "P1 writes 1") {
			t.Errorf("note after 3 steps: %q", note)
		}
		do(t, ctx, "back twice", btn(1), btn(1))
		if c := counter(); c != "counter = 0" {
			t.Errorf("after back: %q, want counter = 0", c)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('.tl g.mark.future').length`); n != len(steps)-1 {
			t.Errorf("after step, step, step, back, back: %d steps hidden, want %d", n, len(steps)-1)
		}
		// The keyboard: → steps, ← goes back, in the focused player.
		do(t, ctx, "→ → ←", chromedp.Focus(chromedp.CSS(".tl[tabindex]")),
			chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowLeft))
		if c := eval[string](t, ctx, `document.querySelector('.player .pos').textContent`); c != "step 2/6" {
			t.Errorf("after step, step, step, back, back, →, →, ←: %q, want step 2/6", c)
		}
		do(t, ctx, "play", btn(2))
		poll[bool](t, ctx, "play to the end", `document.querySelector('.player .counter').textContent==='counter = 2' && document.querySelector('.player button:nth-of-type(2)').textContent.indexOf('Play')>=0`, 30*time.Second)
		shot(t, ctx, "report-step-player")
	})
}

// A bench report: the terminal's tables and the two charts (latency
// percentiles per transport, throughput by size), one bar group or line
// per transport measured, offline.
func TestBrowserBenchReport(t *testing.T) {
	ctx := newBrowser(t)
	report := filepath.Join(t.TempDir(), "bench.html")
	r := runCLI(t, "bench", "--local", "--transport", "pipe,unix-stream", "--size", "64,4K", "--pattern", "both", "--count", "2000", "--warmup", "0", "--html", report)
	if r.code != 0 {
		t.Fatalf("bench --html: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	checkOffline(t, ctx, report, func() {
		do(t, ctx, "wait for the charts", chromedp.WaitVisible(chromedp.CSS("svg.latency-chart")))
		if txt := eval[string](t, ctx, `document.querySelector('pre.tables').textContent`); !strings.Contains(txt, "unix-stream") || !strings.Contains(txt, "pipe") {
			t.Errorf("bench tables: %q", txt)
		}
		// pingpong and stream, at 64 B and 4 KiB: four latency charts.
		if n := eval[int](t, ctx, `document.querySelectorAll('svg.latency-chart').length`); n != 4 {
			t.Errorf("%d latency charts, want 4 (2 patterns x 2 sizes)", n)
		}
		if n := eval[int](t, ctx, `document.querySelector('svg.latency-chart').querySelectorAll('g.bars').length`); n != 2 {
			t.Errorf("latency chart: %d transports, want 2", n)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('svg.throughput-chart').length`); n != 2 {
			t.Errorf("%d throughput charts, want 2 (stream, pingpong)", n)
		}
		if n := eval[int](t, ctx, `document.querySelector('svg.throughput-chart').querySelectorAll('g.series circle').length`); n != 4 {
			t.Errorf("throughput chart: %d points, want 4 (2 transports x 2 sizes)", n)
		}
		shot(t, ctx, "report-bench")
	})
}
