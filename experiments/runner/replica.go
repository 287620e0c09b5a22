package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// Replica is one process of the target, baselined, settled and judged on
// its own: a drill names its replicas (spec.target.replicas) or has one
// (spec.target.pprof); an engine that finds them itself (pods through the
// API server) hands them to the runner with WithReplicas.
type Replica struct {
	// Name names the replica in findings ("" for a target of one
	// process, whose findings name none).
	Name string
	// Pprof is its pprof base URL.
	Pprof string
	// Headers are sent with every pprof request.
	Headers http.Header
	// HTTPClient carries the pprof requests when set (a pod's pprof
	// reached through the API server's proxy); nil: the snapshot client's
	// own transport, one keep-alive connection.
	HTTPClient *http.Client
	// Identity, when set, reads what the platform knows of the process
	// that serves the replica now (a pod's UID and restart counts): the
	// drill reads it at the baseline and at each verdict, and a change is
	// a restart of its own, said with the record's Detail.
	Identity func(ctx context.Context) (ProcessRecord, error)
}

// ProcessRecord is what a platform says of the process that serves a
// replica.
type ProcessRecord struct {
	// Key stays the same while the process lives and changes when
	// another replaces it (a pod's UID and its containers' restart
	// counts).
	Key string
	// Detail says what the platform knows of the change, for the
	// finding: "restartCount 0 → 1, last state OOMKilled (exit 137)".
	Detail string
	// Gone: no process serves the replica any more (a pod deleted,
	// evicted, scaled down): what it held cannot be judged.
	Gone bool
}

// WithReplicas has the runner judge the replicas find returns at the
// preflight instead of those the drill names: the seam for engines that
// find a target's processes themselves (pods). An error fails the
// preflight (exit 3).
func WithReplicas(find func(ctx context.Context, d *experiments.Drill) ([]Replica, error)) Option {
	return func(c *config) { c.replicas = find }
}

// drillReplicas are the replicas a drill names: spec.target.replicas, or
// its one pprof.
func drillReplicas(_ context.Context, d *experiments.Drill) ([]Replica, error) {
	t := d.Spec.Target
	if len(t.Replicas) == 0 {
		return []Replica{{Pprof: t.Pprof, Headers: header(t.Headers)}}, nil
	}
	out := make([]Replica, len(t.Replicas))
	for i, x := range t.Replicas {
		h := header(t.Headers)
		for k, v := range x.Headers {
			h.Set(k, v)
		}
		out[i] = Replica{Name: x.Name, Pprof: x.Pprof, Headers: h}
	}
	return out, nil
}

// replica is a Replica in a run: its snapshot client, its baseline, what
// it pools, and the processes that answered it.
type replica struct {
	Replica
	client   *snapshot.Client
	base     *snapshot.Snapshot        // what the next fault is judged against
	curBase  *Baseline                 // base's figures
	pooled   int                       // peak HTTP/1 client connections under load; -1 unmeasured
	leakBase map[snapshot.GroupKey]int // the baseline's leaked goroutines by light group key; nil: no goroutineleak profile
	// gcs counts the GCs forced on the replica for the fault held now,
	// goroutineleak reads included: at most FaultGCs (see settle).
	gcs int
	// failed is the verdict snapshot of a fault the replica did not
	// return from, the next fault's baseline: that fault drains it and
	// reads the goroutineleak profile again before it starts
	// (rebaseAfterFailed), and carried counts those GCs into its own. A
	// drill's last fault reads nothing more. drainedSnap is the last
	// verdict snapshot read drained (judgeHeap).
	failed, drainedSnap *snapshot.Snapshot
	carried             int
	watch               procWatch
	// judged is how many of watch's restarts came before base was
	// taken: those after it are the current fault's.
	judged int
	// record is the platform's record of the process base was taken of.
	record *ProcessRecord
	// first is the drill's baseline of the replica.
	first *Baseline
	// warm is what the warmup left to the baseline's second GC (see
	// drainBaseline).
	warm heapFigures
}

// restarts are every restart caught on the replica, named.
func (rep *replica) restarts() []matchers.Restart {
	rs := rep.watch.all()
	for i := range rs {
		rs[i].Replica = rep.Name
	}
	return rs
}

// label names the replica in progress lines: "" or " shop-7f9c".
func (rep *replica) label() string {
	if rep.Name == "" {
		return ""
	}
	return " " + rep.Name
}

// procWatch follows the processes that answer one replica's captures,
// in the order the captures read them (snapshot.Process): every capture
// is compared with the latest one before it, so a restart is caught in
// whichever phase a capture comes, the sampler's too.
type procWatch struct {
	mu       sync.Mutex
	last     snapshot.Process
	lastIn   string // the phase of the last reading
	seen     bool
	restarts []matchers.Restart
}

// see compares p with the latest reading and records a restart, with
// where the drill stood, when they cannot come from one process.
func (w *procWatch) see(p snapshot.Process, at time.Time, stand func() (fault, phase string)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fault, phase := stand()
	if !w.seen {
		w.last, w.lastIn, w.seen = p, phase, true
		return
	}
	if p.Before(w.last) {
		return // read before the latest one: that one was compared already
	}
	if why, replaced := w.last.Replaced(p); replaced {
		w.restarts = append(w.restarts, matchers.Restart{Fault: fault, Phase: phase, At: at, Why: why, LastSeen: w.lastIn})
		w.last = snapshot.Process{} // start over with the new process
	}
	w.lastIn = phase
	// A reading without counters (a count-only capture) keeps the last
	// ones: they are what the next reading is compared with.
	if p.Counters != nil {
		w.last.Counters = p.Counters
		w.last = w.last.WithOrder(p)
	}
	if p.BuildID != "" || p.File != "" {
		w.last.BuildID, w.last.File = p.BuildID, p.File
	}
}

// add records a restart told otherwise (the platform's record, the
// judge).
func (w *procWatch) add(r matchers.Restart) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.restarts = append(w.restarts, r)
}

// since returns the restarts recorded after the first n.
func (w *procWatch) since(n int) []matchers.Restart {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n >= len(w.restarts) {
		return nil
	}
	return append([]matchers.Restart(nil), w.restarts[n:]...)
}

func (w *procWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.restarts)
}

func (w *procWatch) all() []matchers.Restart {
	return w.since(0)
}

// stand is where the drill stands, for a restart caught now.
func (r *Runner) stand() (fault, phase string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase == nil {
		return "", ""
	}
	return r.phase.Fault, r.phase.Phase
}

// restart is the restart of rep since its base was taken, if any: the
// first caught, the one a finding reports. It also asks the platform,
// when the replica has a record of its process.
func (r *Runner) restart(ctx context.Context, rep *replica) *matchers.Restart {
	if rep.Identity != nil && rep.record != nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		rec, err := rep.Identity(cctx)
		cancel()
		if err == nil && rec.Key != rep.record.Key {
			fault, phase := r.stand()
			rep.watch.add(matchers.Restart{Fault: fault, Phase: phase, At: time.Now(), Why: rec.Detail, Gone: rec.Gone, Platform: true})
			rep.record = &rec
		}
	}
	rs := rep.watch.since(rep.judged)
	if len(rs) == 0 {
		return nil
	}
	x := rs[0]
	x.Replica = rep.Name
	// The platform's word (a pod's last termination: OOMKilled, exit
	// 137) says why; a capture that caught the same restart earlier
	// says when.
	if i := slices.IndexFunc(rs, func(y matchers.Restart) bool { return y.Platform }); i > 0 {
		x.Why = rs[i].Why + " (" + x.Why + ")"
		x.Gone = x.Gone || rs[i].Gone
	}
	return &x
}

// rebase takes a new baseline of rep's process, after a restart: the
// next fault is judged against the process that serves now. It returns
// an error when none answers.
func (r *Runner) rebase(ctx context.Context, rep *replica) error {
	rep.judged = rep.watch.count()
	rep.base = nil
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	s, err := r.capture(cctx, rep, "full")
	if err != nil {
		return fmt.Errorf("a new baseline of%s after its restart: %w", rep.label(), err)
	}
	rep.judged = rep.watch.count()
	rep.base, rep.curBase = s, baselineOf(s)
	if rep.Identity != nil {
		if rec, err := rep.Identity(cctx); err == nil {
			rep.record = &rec
		}
	}
	return nil
}

// fileTag tells the replica's snapshot bundles apart: "" or "-shop-7f9c".
func (rep *replica) fileTag() string {
	if rep.Name == "" {
		return ""
	}
	return "-" + rep.Name
}

// settled is a replica's settle: the snapshot judged last, and how it
// ended.
type settled struct {
	now       *snapshot.Snapshot
	returned  bool
	restarted bool
}

// settleAll settles every replica, each on its own (a settle of its own,
// with its own polls, pace and state, at the same time as the others'),
// and gathers their verdicts into fr: the fault returned only when every
// replica did, and its findings name each replica.
func (r *Runner) settleAll(ctx context.Context, fr *FaultResult) ([]settled, error) {
	out := make([]settled, len(r.reps))
	if len(r.reps) == 1 {
		now, err := r.settle(ctx, r.reps[0], fr)
		out[0] = settled{now: now, returned: fr.Returned, restarted: fr.Findings != nil && fr.Findings.Restart != nil}
		return out, err
	}
	each := make([]*FaultResult, len(r.reps))
	errs := make([]error, len(r.reps))
	var wg sync.WaitGroup
	for i, rep := range r.reps {
		each[i] = &FaultResult{Name: fr.Name}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].now, errs[i] = r.settle(ctx, rep, each[i])
		}()
	}
	wg.Wait()
	var findings []*matchers.Findings
	fr.Returned = true
	for i, rep := range r.reps {
		e := each[i]
		f := e.Findings
		if f == nil { // not judged: said in e.Error
			fault, phase := r.stand()
			f = &matchers.Findings{Replica: rep.Name, Restart: &matchers.Restart{Replica: rep.Name, Fault: fault, Phase: phase,
				At: time.Now(), Gone: true, Why: cmp.Or(e.Error, fmt.Sprint(errs[i]))}}
		}
		findings = append(findings, f)
		out[i].returned, out[i].restarted = e.Returned, f.Restart != nil
		fr.Returned = fr.Returned && e.Returned
		fr.Settle = max(fr.Settle, e.Settle)
		fr.ProvedAfter = max(fr.ProvedAfter, e.ProvedAfter)
		fr.Replicas = append(fr.Replicas, ReplicaVerdict{Name: rep.Name, Returned: e.Returned, Settle: e.Settle,
			ProvedAfter: e.ProvedAfter, Restarted: f.Restart != nil, Error: e.Error})
	}
	fr.Findings = matchers.OfReplicas(findings)
	if !fr.Returned {
		fr.Culprits = fr.Findings.Culprits()
	}
	return out, errors.Join(errs...)
}
