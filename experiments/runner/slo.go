package runner

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/load"
)

// watchCalls starts counting the calls the service makes to the fault's
// upstream once the breaker the drill declares should be open
// (opensWithin after inEffect). The returned function stops counting and
// says how many calls there were since; -1 when the drill declares no
// maxCallShare for this fault, the upstream's calls cannot be counted, or
// the fault cleared before the breaker had to be open.
func (r *Runner) watchCalls(f *experiments.Fault, inEffect time.Time) func() int64 {
	none := func() int64 { return -1 }
	slo := r.d.Spec.Verify.SLO
	if slo == nil || slo.Breaker == nil || slo.Breaker.MaxCallShare == nil || !slo.Breaker.FailsCalls(f) || r.local == nil {
		return none
	}
	counter := r.local.calls(f.Upstream)
	if counter == nil {
		return none
	}
	from := make(chan int64, 1) // buffered: the timer never blocks
	t := time.AfterFunc(time.Until(inEffect.Add(slo.Breaker.OpensWithin.Duration)), func() { from <- counter() })
	return func() int64 {
		if t.Stop() {
			return -1
		}
		return counter() - <-from
	}
}

// notJudged says why each kind of SLO the drill does not judge for the
// faults of an episode is not judged: it is not declared, or it applies to
// none of them. It is the one place that decides what applies to which
// fault.
func (r *Runner) notJudged(faults []*experiments.Fault) []NotJudged {
	slo := r.d.Spec.Verify.SLO
	if slo == nil {
		slo = &experiments.SLO{}
	}
	var out []NotJudged
	add := func(kind, reason string) { out = append(out, NotJudged{Kind: kind, Reason: reason}) }
	for _, k := range []struct {
		kind     string
		declared bool
	}{{SLODuringFault, slo.DuringFault != nil}, {SLOIsolation, slo.Isolation != nil}, {SLOBreaker, slo.Breaker != nil}, {SLORecovery, slo.Recovery != nil}} {
		if !k.declared {
			add(k.kind, fmt.Sprintf("drill %s declares no %s SLO (verify.slo.%s): nothing to assert", r.d.Metadata.Name, k.kind, k.kind))
		}
	}
	if slo.Isolation != nil && !slices.ContainsFunc(faults, isStall) {
		add(SLOIsolation, "the isolation SLO applies to stalled clients; "+noneOf(faults, "is not one", "is one"))
	}
	if slo.Breaker != nil && !slices.ContainsFunc(faults, slo.Breaker.FailsCalls) {
		add(SLOBreaker, noneOf(faults, "does not make", "makes")+" an upstream's calls fail (see verify.slo.breaker.callTimeout): no breaker has to open")
	}
	return out
}

func isStall(f *experiments.Fault) bool { return f.Kind() == experiments.KindStall }

// noneOf says that none of an episode's faults has a property: "fault a
// <one>" for a fault alone, "none of faults a, b (held together) <many>".
func noneOf(faults []*experiments.Fault, one, many string) string {
	if len(faults) == 1 {
		return "fault " + faults[0].Name + " " + one
	}
	names := make([]string, len(faults))
	for i, f := range faults {
		names[i] = f.Name
	}
	return "none of faults " + strings.Join(names, ", ") + " (held together) " + many
}

// sloChecks judges the SLOs the drill declares for one fault or episode,
// each over its window of the load: duringFault over the fault's window
// (from the moment it was in effect to the moment its clear began; an
// episode's, from its first fault in effect to its last clear), isolation
// over each stalled-clients fault's own window, breaker from opensWithin
// into the window of the first fault that makes calls fail to its clear,
// recovery from the end of the last clear. A window without requests
// fails the SLO: nothing was shown.
func (r *Runner) sloChecks(fr *FaultResult, faults []*experiments.Fault, cleared, until time.Time, upstreamCalls int64) {
	rep := r.gen.Report()
	during := r.gen.Span(fr.InEffect, fr.Cleared)
	during.Phase = "fault:" + fr.Name
	fr.DuringFault = &during
	if st, ok := rep.Phase("recovery:" + fr.Name); ok {
		fr.Recovery = &st
	}
	slo := r.d.Spec.Verify.SLO
	if slo == nil {
		return
	}
	what := "the fault's window"
	if len(faults) > 1 {
		what = "the window of the faults held together"
	}
	window := spanText(fr.InEffect, fr.Cleared, fr.InEffect, what)
	if df := slo.DuringFault; df != nil {
		fr.SLOs = append(fr.SLOs, boundChecks(SLODuringFault, "during the fault", df, during, window)...)
	}
	// Isolation over each stalled-clients fault's own window: what the
	// other faults of an episode do to the load is not the stalled
	// clients' doing.
	for i, f := range faults {
		if iso := slo.Isolation; iso == nil || !isStall(f) || i >= len(fr.windows) || fr.windows[i][0].IsZero() {
			continue
		}
		w, what := fr.windows[i], "for the other clients"
		if len(faults) > 1 {
			what += " while " + f.Name + " stalls"
		}
		st := r.gen.Span(w[0], w[1])
		fr.SLOs = append(fr.SLOs, boundChecks(SLOIsolation, what, slo.Isolation, st, spanText(w[0], w[1], fr.InEffect, f.Name+"'s window"))...)
	}
	if b, w := slo.Breaker, fr.breakerWindow; b != nil && !w[0].IsZero() {
		name := "the fault"
		for i, fw := range fr.windows {
			if fw == w && len(faults) > 1 {
				name = faults[i].Name
			}
		}
		fr.SLOs = append(fr.SLOs, breakerChecks(b, name, fr.InEffect, w, rep, r.gen.Span(w[0].Add(b.OpensWithin.Duration), w[1]), upstreamCalls)...)
	}
	if rc := slo.Recovery; rc != nil {
		c := SLOCheck{
			Kind: SLORecovery, Name: fmt.Sprintf("recovery to %s success", rc.SuccessRate),
			Want: "within " + rc.Within.String(), Window: spanText(cleared, until, fr.InEffect, "after the clear"),
		}
		d, ok := rep.Recovery(cleared, until, rc.SuccessRate.Fraction())
		switch {
		case ok:
			c.Got, c.OK = d.Round(time.Millisecond).String(), d <= rc.Within.Duration
		case r.gen.Span(cleared, until).Requests == 0:
			c.Got = "no requests after the clear: nothing to judge"
		default:
			c.Got = "not recovered by the end of the window"
		}
		fr.SLOs = append(fr.SLOs, c)
	}
}

// boundChecks judges latency and error bounds over one window's requests.
func boundChecks(kind, what string, b *experiments.FaultSLO, st load.PhaseStats, window string) []SLOCheck {
	var out []SLOCheck
	window = fmt.Sprintf("%s, %d requests", window, st.Requests)
	empty := st.Requests == 0
	for _, q := range []struct {
		name string
		want experiments.Duration
		got  time.Duration
	}{{"p50", b.P50, st.P50}, {"p95", b.P95, st.P95}, {"p99", b.P99, st.P99}, {"max", b.Max, st.Max}} {
		if q.want.Duration <= 0 {
			continue
		}
		c := SLOCheck{Kind: kind, Name: "latency " + q.name + " " + what, Want: "≤ " + q.want.String(), Window: window}
		if empty {
			c.Got = "no requests in the window: nothing to judge"
		} else {
			c.Got, c.OK = q.got.Round(time.Millisecond).String(), q.got <= q.want.Duration
		}
		out = append(out, c)
	}
	if b.ErrorRate != nil {
		c := SLOCheck{Kind: kind, Name: "error rate " + what, Want: "≤ " + b.ErrorRate.String(), Window: window}
		if empty {
			c.Got = "no requests in the window: nothing to judge"
		} else {
			rate := 1 - st.SuccessRate
			c.Got = fmt.Sprintf("%.1f%% (%d of %d, codes %v)", 100*rate, st.Errors, st.Requests, st.Codes)
			c.OK = rate <= b.ErrorRate.Fraction()
		}
		out = append(out, c)
	}
	return out
}

// breakerChecks judges a breaker over the open part of the fault's window:
// every timeline slice's p50 under the bound (it stopped waiting), and the
// upstream's calls at most the share of the load's requests (it stopped
// calling).
func breakerChecks(b *experiments.BreakerSLO, name string, origin time.Time, fault [2]time.Time, rep load.Report, open load.PhaseStats, upstreamCalls int64) []SLOCheck {
	from, to := fault[0].Add(b.OpensWithin.Duration), fault[1]
	window := spanText(from, to, origin, fmt.Sprintf("once open (%s into %s) to its clear", b.OpensWithin, name))
	var out []SLOCheck
	if b.P50.Duration > 0 {
		c := SLOCheck{Kind: SLOBreaker, Name: "breaker: stops waiting on the upstream (p50 of every slice of the timeline)",
			Want: "≤ " + b.P50.String(), Window: fmt.Sprintf("%s, %d requests", window, open.Requests)}
		worst, n := time.Duration(-1), 0
		var at time.Time
		for _, k := range rep.Inside(from, to) {
			if k.Requests == 0 {
				continue
			}
			n++
			if k.P50 > worst {
				worst, at = k.P50, k.Start
			}
		}
		if n == 0 {
			c.Got = "no requests in the window: nothing to judge"
		} else {
			c.OK = worst <= b.P50.Duration
			c.Got = fmt.Sprintf("worst p50 %s (the %s slice at %s) over %d slices", worst.Round(time.Millisecond), rep.Bucket,
				offset(at, origin), n)
		}
		out = append(out, c)
	}
	if b.MaxCallShare != nil {
		c := SLOCheck{Kind: SLOBreaker, Name: "breaker: stops calling the upstream (its calls per request served)",
			Want: "≤ " + b.MaxCallShare.String(), Window: fmt.Sprintf("%s, %d requests", window, open.Requests)}
		switch {
		case upstreamCalls < 0:
			c.Got = "the upstream's calls could not be counted (cleared before the breaker had to be open?)"
		case open.Requests == 0:
			c.Got = "no requests in the window: nothing to judge"
		default:
			share := float64(upstreamCalls) / float64(open.Requests)
			c.Got = fmt.Sprintf("%.0f%% (%d upstream calls for %d requests)", 100*share, upstreamCalls, open.Requests)
			c.OK = share <= b.MaxCallShare.Fraction()
		}
		out = append(out, c)
	}
	return out
}

// spanText names a window by its offsets from the fault's start.
func spanText(from, to, inEffect time.Time, what string) string {
	return fmt.Sprintf("%s: %s to %s after the fault took effect", what, offset(from, inEffect), offset(to, inEffect))
}

func offset(t, origin time.Time) string {
	return t.Sub(origin).Round(10 * time.Millisecond).String()
}
