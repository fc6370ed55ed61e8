package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

// Experiment is the transport lab, `ipcplay bench`.
var Experiment = ipc.Experiment{
	Name:     "bench",
	Validate: Validate,
	Run:      run,
}

func run(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, err := decode(raw, env.Limits)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	cells, skips := plan(p, env.Limits)
	res := &Result{
		Kind: "bench", Skipped: skips, Results: []Row{}, Warnings: []Warning{},
		Settings: Settings{
			Transports: p.Transports, Patterns: p.patterns(), Sizes: p.Sizes, DurationNs: p.DurationNs,
			Count: p.Count, WarmupNs: *p.WarmupNs, Repeat: p.Repeat, CPUs: p.CPUs, NumCPU: runtime.NumCPU(), Fault: p.Fault,
			RatePerSec: p.RatePerSec, Load: p.Load,
		},
	}
	if p.adaptive() {
		res.Settings.Spin = p.spinBudgets()
	}
	if res.Skipped == nil {
		res.Skipped = []Skip{}
	}
	st := &runState{env: env}
	for _, c := range cells {
		if strings.HasPrefix(c.t.name, "shm") {
			st.regionBytes = max(st.regionBytes, pairBytes(c.size))
		}
	}
	// The floor first, on a quiet machine (before any hog starts).
	if len(cells) > 0 {
		env.Progress(0, int64(len(cells)), "floor")
		f, err := measureFloor(ctx, st, p, uniqueSizes(cells))
		if ctx.Err() != nil {
			res.WallNs = int64(time.Since(began))
			return res, ctx.Err()
		}
		if err != nil {
			env.Log.Warn("floor not measured", "error", err)
			res.FloorError = err.Error()
		}
		res.Floor = f
	}
	hogCPUs, err := p.hogs()
	if err != nil {
		return nil, err
	}
	if len(hogCPUs) > 0 {
		stopHogs, err := startHogs(ctx, env, hogCPUs)
		if err != nil {
			return nil, err
		}
		defer stopHogs()
		res.Settings.LoadCPUs = hogCPUs
	}
	unavailable := map[string]string{} // transport -> why, once it failed that way
	total := int64(len(cells))
	for i, c := range cells {
		env.Progress(int64(i), total, c.String())
		if why, ok := unavailable[c.t.name]; ok {
			res.Skipped = append(res.Skipped, Skip{Transport: c.t.name, Pattern: c.pattern, Size: c.rowSize, Reason: why})
			continue
		}
		row, err := runCell(ctx, st, p, c)
		if ctx.Err() != nil {
			res.WallNs = int64(time.Since(began))
			return res, ctx.Err()
		}
		if errors.Is(err, errUnavailable) && p.all() {
			why := fmt.Sprintf("%s is unavailable on this system: %v", c.t.name, err)
			unavailable[c.t.name] = why
			res.Skipped = append(res.Skipped, Skip{Transport: c.t.name, Pattern: c.pattern, Size: c.rowSize, Reason: why})
			continue
		}
		if err != nil {
			env.Log.Warn("cell failed", "cell", c.String(), "error", err)
			res.Failed = append(res.Failed, Failure{Transport: c.t.name, Pattern: c.pattern, Size: c.rowSize, Error: err.Error()})
			continue
		}
		copied := c.size
		if !c.t.sized {
			copied = 0 // eventfd copies no payload
		}
		if fl := res.Floor.For(row.Pattern, copied); fl > 0 && row.Latency.P50 > 0 {
			row.XFloor = float64(row.Latency.P50) / fl
		}
		res.Results = append(res.Results, row)
	}
	env.Progress(total, total, "done")
	res.Settings.LoadAvg1 = loadAvg1()
	judge(res)
	res.WallNs = int64(time.Since(began))
	return res, res.Err()
}

// Err is the run's failure, if any: cells that failed, and transports that
// lost, corrupted or reordered messages.
func (r *Result) Err() error {
	var bad []string
	for _, row := range r.Results {
		if row.Bad() {
			bad = append(bad, fmt.Sprintf("%s %s %s (lost %d, corrupt %d, reordered %d)",
				row.Transport, row.Pattern, FormatSize(row.Size), row.Lost, row.Corrupt, row.Reordered))
		}
	}
	var errs []error
	if len(bad) > 0 {
		errs = append(errs, fmt.Errorf("messages were damaged in transit: %s", strings.Join(bad, "; ")))
	}
	if len(r.Failed) > 0 {
		var what []string
		for _, f := range r.Failed {
			what = append(what, fmt.Sprintf("%s %s %s: %s", f.Transport, f.Pattern, FormatSize(f.Size), f.Error))
		}
		errs = append(errs, fmt.Errorf("%s: %s", plural.Count(len(r.Failed), "cell failed", "cells failed"), strings.Join(what, "; ")))
	}
	return errors.Join(errs...)
}

// runCell measures one cell: it makes the cell's objects, starts the two
// workers (pinned if asked), waits for them and combines their phases.
func runCell(ctx context.Context, st *runState, p Params, c cell) (Row, error) {
	objs, err := st.setup(c)
	if err != nil {
		return Row{}, err
	}
	defer objs.release()

	spec := objs.spec
	spec.Transport, spec.Pattern, spec.Size = c.t.name, c.pattern, c.size
	spec.Count, spec.DurationNs, spec.WarmupNs, spec.Repeats = p.Count, p.DurationNs, *p.WarmupNs, p.Repeat
	spec.Histogram, spec.Fault = p.Histogram, p.Fault
	spec.Spin, spec.RatePerSec = c.spin, p.RatePerSec
	sender, receiver := spec, spec
	sender.Role, receiver.Role = roleSender, roleReceiver
	specs := []worker.Spec{
		{Kind: workerKind(c.t.name, roleSender), Name: "sender", Spec: sender, Files: objs.senderFiles},
		{Kind: workerKind(c.t.name, roleReceiver), Name: "receiver", Spec: receiver, Files: objs.receiverFiles},
	}
	if len(p.CPUs) == 2 {
		specs[0].CPUs, specs[1].CPUs = []int{p.CPUs[0]}, []int{p.CPUs[1]}
	}
	cctx := ctx
	if p.Count == 0 { // a watchdog: a cell never takes much longer than planned
		budget := time.Duration(*p.WarmupNs+int64(p.Repeat)*p.DurationNs)*3 + 30*time.Second
		if p.Load != "" { // hogs slow the workers' start and every wake-up
			budget *= 4
		}
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	g, err := st.env.StartWorkers(cctx, specs)
	if err != nil {
		return Row{}, err
	}
	// A worker blocked in a read(2) cannot see a stop request, and it holds
	// nothing that needs a goodbye: on cancel (or the watchdog), kill the
	// two at once rather than after the stop grace period.
	defer context.AfterFunc(cctx, g.Kill)()
	// The workers hold their descriptors now; ours would keep a dead
	// worker's peer from seeing EOF.
	closeErr := objs.closeFiles()
	results, err := g.Wait(cctx)
	if err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			return Row{}, fmt.Errorf("did not finish in time (a worker hung?): %w", err)
		}
		return Row{}, err
	}
	if closeErr != nil {
		return Row{}, closeErr
	}
	var snd, rcv workerResult
	if err := results[0].Decode(&snd); err != nil {
		return Row{}, fmt.Errorf("sender result: %w", err)
	}
	if err := results[1].Decode(&rcv); err != nil {
		return Row{}, fmt.Errorf("receiver result: %w", err)
	}
	if len(snd.Phases) != p.Repeat || len(rcv.Phases) != p.Repeat {
		return Row{}, fmt.Errorf("expected %d runs from each worker, got %d and %d", p.Repeat, len(snd.Phases), len(rcv.Phases))
	}
	row := combine(c, snd.Phases, rcv.Phases)
	if c.t.spins {
		b := c.spin
		row.Spin = &b
	}
	if p.RatePerSec > 0 {
		row.RatePerSec = p.RatePerSec
		row.LatencyKind = map[string]string{PingPong: "round_trip_from_schedule", Stream: "one_way_from_schedule"}[c.pattern]
	}
	return row, nil
}

// combine turns the two workers' phases into the row of the median run.
func combine(c cell, snd, rcv []phase) Row {
	rows := make([]Row, len(snd))
	for i := range snd {
		rows[i] = rowOf(c, snd[i], rcv[i])
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rows[order[a]].MsgsPerS < rows[order[b]].MsgsPerS })
	med := rows[order[len(order)/2]]
	med.Repeats = len(rows)
	if len(rows) > 1 {
		sp := &Spread{MsgsPerSecMin: rows[order[0]].MsgsPerS, MsgsPerSecMax: rows[order[len(order)-1]].MsgsPerS,
			P50Min: med.Latency.P50, P50Max: med.Latency.P50}
		for _, r := range rows {
			sp.P50Min, sp.P50Max = min(sp.P50Min, r.Latency.P50), max(sp.P50Max, r.Latency.P50)
		}
		if med.MsgsPerS > 0 {
			sp.Relative = (sp.MsgsPerSecMax - sp.MsgsPerSecMin) / med.MsgsPerS
		}
		med.Spread = sp
		// Damage in any run counts, not only in the median one.
		med.Lost, med.Corrupt, med.Reordered = 0, 0, 0
		for _, r := range rows {
			med.Lost += r.Lost
			med.Corrupt += r.Corrupt
			med.Reordered += r.Reordered
		}
	}
	return med
}

// rowOf makes the row of one run from the sender's and receiver's views.
func rowOf(c cell, s, r phase) Row {
	row := Row{
		Transport: c.t.name, Pattern: c.pattern, Size: c.rowSize, Messages: s.Messages,
		Bytes: s.Messages * int64(c.rowSize), ElapsedNs: s.ElapsedNs,
		Lost: s.Lost + r.Lost, Corrupt: s.Corrupt + r.Corrupt, Reordered: s.Reordered + r.Reordered,
		Note: c.t.noteFor(c.pattern), Warnings: []Warning{},
	}
	if c.pattern == Stream {
		// The receiver's count is the truth about delivery: messages it
		// never saw are lost even if no later one revealed the gap.
		if missing := s.Messages - r.Messages - r.Lost; missing > 0 {
			row.Lost += missing
		}
	}
	secs := float64(s.ElapsedNs) / 1e9
	if secs > 0 {
		row.MsgsPerS = float64(s.Messages) / secs
		row.MBPerS = float64(row.Bytes) / secs / 1e6
	}
	if s.Messages > 0 {
		n := float64(s.Messages)
		row.SenderCPUNsPerMsg = float64(s.CPUNs) / n
		row.ReceiverCPUNsPerMsg = float64(r.CPUNs) / n
		row.CPUNsPerMsg = float64(s.CPUNs+r.CPUNs) / n
		row.CtxSwitchesPerMsg = float64(s.CtxSwitches+r.CtxSwitches) / n
	}
	row.SenderInvoluntaryCtx, row.ReceiverInvoluntaryCtx = s.InvolCtx, r.InvolCtx
	row.SenderVoluntaryCtx, row.ReceiverVoluntaryCtx = max(0, s.CtxSwitches-s.InvolCtx), max(0, r.CtxSwitches-r.InvolCtx)
	lat, hist := s.Latency, s.Histogram
	row.LatencyKind = "round_trip"
	row.LatencySamples = s.Samples
	if c.pattern == Stream {
		lat, hist = r.Latency, r.Histogram
		row.LatencyKind = "one_way_sampled"
		row.LatencySamples = r.Samples
	}
	if lat != nil {
		row.Latency = *lat
	}
	row.Histogram = hist
	return row
}
